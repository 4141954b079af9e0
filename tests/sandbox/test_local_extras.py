"""The worker's extras template: programs that name scipy/networkx run from a copy that preloaded them."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simpletir.sandbox import ExecStatus, create_sandbox
from simpletir.sandbox.local import LocalSandbox
from tests.sandbox.test_local import HOSTILE, _processes_of_uids

pytest.importorskip("scipy")

LOADED = "import sys\nprint(sorted(m for m in ('sci' + 'py.optimize', 'network' + 'x') if m in sys.modules))"


@pytest.fixture
async def sandbox() -> AsyncIterator[LocalSandbox]:
    sb = create_sandbox("local", max_workers=1, default_timeout=3.0, memory_mb=512)
    assert isinstance(sb, LocalSandbox)
    yield sb
    await sb.close()


def _status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines())}


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _template_pid(sandbox: LocalSandbox) -> int:
    """The extras template: the worker's child with the largest memory (the reaper is tiny)."""
    (worker,) = sandbox._workers
    sizes = {
        pid: _status(pid).get("VmRSS", "0 kB") for pid in _children(worker.proc.pid)
    }  # zombies: no VmRSS
    return max(sizes, key=lambda pid: int(sizes[pid].split()[0]))


@pytest.mark.parametrize(
    ("code", "loaded"),
    [
        (
            LOADED + "  # scipy",
            "['networkx', 'scipy.optimize']",
        ),  # naming one anywhere routes to the template
        (LOADED + "  # networkx", "['networkx', 'scipy.optimize']"),
        (LOADED, "[]"),  # everything else is forked from the lean worker
    ],
)
async def test_programs_that_name_the_extras_find_them_loaded(
    sandbox: LocalSandbox, code: str, loaded: str
) -> None:
    await sandbox.run("print('warm')")
    await asyncio.sleep(3)  # the template loads in the background
    result = await sandbox.run(code)
    assert (result.status, result.stdout) == (ExecStatus.OK, loaded + "\n"), result


async def test_a_program_that_hides_its_import_still_gets_it(sandbox: LocalSandbox) -> None:
    result = await sandbox.run("m = __import__('sci' + 'py.special', fromlist=['comb'])\nprint(m.comb(5, 2))")
    assert (result.status, result.stdout) == (ExecStatus.OK, "10.0\n"), result


@pytest.mark.parametrize(
    "name", ["fork_bomb", "kill_everything", "memory_bomb", "infinite_loop", "kill_parent"]
)
async def test_hostile_programs_through_the_template_are_contained(sandbox: LocalSandbox, name: str) -> None:
    result = await sandbox.run("import scipy\n" + HOSTILE[name], timeout=1.5)
    assert result.status is not ExecStatus.SANDBOX_ERROR, result
    after = await sandbox.run("import scipy\nprint('still here')")
    assert (after.status, after.stdout) == (ExecStatus.OK, "still here\n")
    uids = {w.isolation["uid"] for w in sandbox._workers} - {None}
    assert _processes_of_uids(uids) == []


async def test_a_template_killed_during_a_run_is_sandbox_error_then_replaced(sandbox: LocalSandbox) -> None:
    first = await sandbox.run("import scipy\nprint('ok')")
    assert first.stdout == "ok\n"
    template = _template_pid(sandbox)
    running = asyncio.ensure_future(sandbox.run("import scipy, time\ntime.sleep(20)", timeout=25))
    await asyncio.sleep(1.0)
    os.kill(template, signal.SIGKILL)
    result = await asyncio.wait_for(running, 10)
    assert result.status is ExecStatus.SANDBOX_ERROR and "extras template" in result.stderr, result
    again = await sandbox.run(LOADED + "  # scipy")
    assert (again.status, again.stdout) == (ExecStatus.OK, "['networkx', 'scipy.optimize']\n"), again
    assert _template_pid(sandbox) != template


async def test_a_template_that_cannot_start_leaves_programs_to_the_worker(sandbox: LocalSandbox) -> None:
    await sandbox.run("print('warm')")
    os.kill(_template_pid(sandbox), signal.SIGKILL)
    result = await sandbox.run(
        LOADED + "  # scipy\nimport scipy.optimize\nprint(scipy.optimize.brentq(lambda t: t - 1, 0, 2))"
    )
    assert (result.status, result.stdout) == (ExecStatus.OK, "[]\n1.0\n"), result
