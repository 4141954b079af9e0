"""The worker's extras template: programs that name scipy/networkx run from a copy that preloaded them."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from simpletir.sandbox import ExecStatus, create_sandbox
from simpletir.sandbox.local import LocalSandbox

from .procs import children, processes_of_uids, status, until, worker_pids, worker_uids
from .test_local import HOSTILE

pytest.importorskip("scipy")
pytestmark = pytest.mark.asyncio(loop_scope="module")

LOADED = "import sys\nprint(sorted(m for m in ('sci' + 'py.optimize', 'network' + 'x') if m in sys.modules))"
BOTH = "['networkx', 'scipy.optimize']\n"
IMPORTS_IT_ITSELF = (
    LOADED + "  # scipy\nimport scipy.optimize\nprint(scipy.optimize.brentq(lambda t: t - 1, 0, 2))"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox() -> AsyncIterator[LocalSandbox]:
    """One worker, started and warm (its template has loaded the extras)."""
    sb = create_sandbox("local", max_workers=1, default_timeout=30.0, memory_mb=512)
    assert isinstance(sb, LocalSandbox)
    await sb.start()
    yield sb
    await sb.close()


def _template_pid(sandbox: LocalSandbox) -> int:
    """The extras template: the worker's child with the largest memory (the reaper is tiny)."""
    (worker,) = worker_pids(sandbox)
    sizes = {pid: status(pid).get("VmRSS", "0 kB") for pid in children(worker)}  # zombies: no VmRSS
    return max(sizes, key=lambda pid: int(sizes[pid].split()[0]))


@pytest.mark.parametrize(
    ("code", "loaded"),
    [
        (LOADED + "  # scipy", BOTH),  # naming one anywhere routes to the template
        (LOADED + "  # networkx", BOTH),
        (LOADED, "[]\n"),  # everything else is forked from the lean worker
    ],
)
async def test_programs_that_name_the_extras_find_them_loaded(
    sandbox: LocalSandbox, code: str, loaded: str
) -> None:
    result = await sandbox.run(code)
    assert (result.status, result.stdout) == (ExecStatus.OK, loaded), result


async def test_a_program_that_hides_its_import_still_gets_it(sandbox: LocalSandbox) -> None:
    result = await sandbox.run("m = __import__('sci' + 'py.special', fromlist=['comb'])\nprint(m.comb(5, 2))")
    assert (result.status, result.stdout) == (ExecStatus.OK, "10.0\n"), result


@pytest.mark.parametrize(
    "name", ["fork_bomb", "kill_everything", "memory_bomb", "infinite_loop", "kill_parent"]
)
async def test_hostile_programs_through_the_template_are_contained(sandbox: LocalSandbox, name: str) -> None:
    result = await asyncio.wait_for(sandbox.run("import scipy\n" + HOSTILE[name], timeout=1.5), 60)
    assert result.status is not ExecStatus.SANDBOX_ERROR, result
    after = await sandbox.run("import scipy\nprint('still here')")
    assert (after.status, after.stdout) == (ExecStatus.OK, "still here\n")
    assert processes_of_uids(worker_uids(sandbox)) == []


async def test_a_template_killed_during_a_run_is_sandbox_error_then_replaced(sandbox: LocalSandbox) -> None:
    template = _template_pid(sandbox)
    running = asyncio.ensure_future(sandbox.run("import scipy, time\ntime.sleep(60)", timeout=60))
    assert await until(lambda: children(template), timeout=30)  # the program has been forked
    os.kill(template, signal.SIGKILL)
    result = await asyncio.wait_for(running, 30)
    assert result.status is ExecStatus.SANDBOX_ERROR and "extras template" in result.stderr, result
    await sandbox.start()  # waits until the new template has loaded the extras
    again = await sandbox.run(LOADED + "  # scipy")
    assert (again.status, again.stdout) == (ExecStatus.OK, BOTH), again
    assert _template_pid(sandbox) != template


async def test_a_template_that_cannot_start_leaves_programs_to_the_worker() -> None:
    async with create_sandbox("local", max_workers=1) as sb:
        assert isinstance(sb, LocalSandbox)
        await sb.isolation()  # the worker is up; its template has only just been forked
        os.kill(_template_pid(sb), signal.SIGKILL)
        result = await sb.run(IMPORTS_IT_ITSELF)
    assert (result.status, result.stdout) == (ExecStatus.OK, "[]\n1.0\n"), result


async def test_the_template_can_be_turned_off() -> None:
    async with create_sandbox("local", max_workers=1, extras_template=False) as sb:
        assert isinstance(sb, LocalSandbox)
        await sb.start()
        assert (await sb.isolation())["extras"] == []
        (worker,) = worker_pids(sb)
        rss = [int(status(pid).get("VmRSS", "0 kB").split()[0]) for pid in children(worker)]
        assert len(rss) <= 1 and max(rss, default=0) < 50_000  # at most the small reaper, no template
        result = await sb.run(IMPORTS_IT_ITSELF)
    assert (result.status, result.stdout) == (ExecStatus.OK, "[]\n1.0\n"), result
