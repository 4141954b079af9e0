"""Session mode of the local backend: shared state across cells, same limits, restarts, cleanup."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from simpletir.sandbox import ExecStatus, SandboxError, create_sandbox
from simpletir.sandbox.local import LocalSandbox

from .procs import cmdlines_with, processes_of_uids, until, worker_uids

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox() -> AsyncIterator[LocalSandbox]:
    """One worker for the module's sessions (each test closes its own)."""
    sb = create_sandbox("local", max_workers=1, default_timeout=30.0, memory_mb=512, max_output_bytes=4096)
    assert isinstance(sb, LocalSandbox)
    await sb.start()
    yield sb
    await sb.close()


CELLS = [
    ("x = 6\nprint('set')", ExecStatus.OK, "set\n", ""),
    ("import sympy as sp\ny = sp.Symbol('y')", ExecStatus.OK, "", ""),
    ("print(sp.solve(y**2 - x * 6, y))", ExecStatus.OK, "[-6, 6]\n", ""),
    ("1 / 0", ExecStatus.ERROR, "", "ZeroDivisionError"),
    ("print(x)", ExecStatus.OK, "6\n", ""),
    ("import sys\nsys.exit(3)", ExecStatus.ERROR, "", ""),
    ("x += 1\nprint(x)", ExecStatus.OK, "7\n", ""),
    ("print('a' * 10000)", ExecStatus.OK, "a" * 4096, ""),
    ("print(input())", ExecStatus.OK, "from stdin\n", ""),
]


async def test_cells_share_state_and_survive_errors(sandbox: LocalSandbox) -> None:
    async with sandbox.session() as session:
        for code, status, stdout_head, stderr_part in CELLS:
            result = await session.run(code, stdin="from stdin\n" if "input" in code else None)
            assert result.status is status, (code, result)
            assert result.stdout.startswith(stdout_head), (code, result)
            assert stderr_part in result.stderr


async def test_output_cap_applies_per_cell(sandbox: LocalSandbox) -> None:
    async with sandbox.session() as session:
        big = await session.run("print('a' * 10000)")
        small = await session.run("print('b')")
    assert big.truncated and "output truncated" in big.stdout
    assert (small.truncated, small.stdout) == (False, "b\n")


@pytest.mark.parametrize(
    ("fatal", "status"),
    [
        ("while True:\n    pass", ExecStatus.TIMEOUT),
        ("import os\nos._exit(0)", ExecStatus.OK),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", ExecStatus.KILLED),
        ("x = bytearray(2 * 1024**3)", ExecStatus.MEMORY),
    ],
)
async def test_a_fatal_cell_restarts_the_session(
    sandbox: LocalSandbox, fatal: str, status: ExecStatus
) -> None:
    async with sandbox.session() as session:
        assert (await session.run("x = 1")).ok
        result = await session.run(fatal, timeout=1.0)
        assert result.status is status, result
        after = await session.run("print('x' in dir())")
    if status is ExecStatus.MEMORY:
        assert after.stdout == "True\n"  # a caught MemoryError keeps the interpreter
    else:
        assert after.stdout == "False\n"
        assert after.stderr.startswith("[session restarted")
    assert (await sandbox.run("print(2)")).stdout == "2\n"


async def test_session_leaves_no_process_and_frees_its_worker(sandbox: LocalSandbox) -> None:
    marker = uuid.uuid4().hex
    session = sandbox.session()
    code = f"import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 100; :', '{marker}'], start_new_session=True)"
    assert (await session.run(code)).ok
    assert await until(lambda: cmdlines_with(marker))  # alive while the session is open
    await session.close()
    await session.close()
    with pytest.raises(SandboxError, match="session is closed"):
        await session.run("print(1)")
    assert await until(lambda: cmdlines_with(marker) == []), cmdlines_with(marker)
    assert (await sandbox.run("print(3)")).stdout == "3\n"


@pytest.mark.slow
async def test_sessions_are_isolated_from_each_other_and_stateless_runs() -> None:
    async with create_sandbox("local", max_workers=2) as sb, sb.session() as a, sb.session() as b:
        await a.run("v = 'a'")
        await b.run("v = 'b'")
        assert (await a.run("print(v)")).stdout == "a\n"
        assert (await b.run("print(v)")).stdout == "b\n"
    async with create_sandbox("local", max_workers=1) as sb:
        async with sb.session() as s:
            await s.run("w = 1")
        assert (await sb.run("print('w' in dir())")).stdout == "False\n"
        open_session = sb.session()
        await open_session.run("z = 1")
    with pytest.raises(SandboxError, match="session is closed"):
        await open_session.run("print(z)")
    await open_session.close()


@pytest.mark.parametrize(
    "hostile",
    [
        "import os\nwhile True:\n    os.fork()",
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
        "import os\nif os.fork() == 0:\n    while True:\n        pass",
        "import os\nos.write(4, b'\\x00\\x00\\x00\\x07garbage')\nwhile True:\n    pass",
    ],
    ids=["fork_bomb", "kill_parent", "background_spin", "forged_status"],
)
async def test_hostile_cells_are_contained(sandbox: LocalSandbox, hostile: str) -> None:
    async with sandbox.session() as session:
        await session.run("state = 1")
        result = await asyncio.wait_for(session.run(hostile, timeout=1.0), 60)
        assert result.status is not ExecStatus.SANDBOX_ERROR, result
        after = await session.run("print('alive')")
        assert after.stdout == "alive\n", after
    uids = worker_uids(sandbox)
    assert await until(lambda: processes_of_uids(uids) == []), processes_of_uids(uids)
    assert (await sandbox.run("print(5)")).stdout == "5\n"
