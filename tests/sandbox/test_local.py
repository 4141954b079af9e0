"""The local backend with real worker processes: statuses, limits, hostile programs, concurrency.

What a program can see of the host is tested in test_isolation.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from simpletir.sandbox import ExecStatus, SandboxError, create_sandbox
from simpletir.sandbox.local import LocalSandbox

from .procs import children, cmdlines_with, processes_of_uids, status, until, worker_pids, worker_uids

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox() -> AsyncIterator[LocalSandbox]:
    """One sandbox for the module's tests; those that run hostile programs check it stays usable."""
    sb = create_sandbox("local", max_workers=2, default_timeout=30.0, memory_mb=512, max_output_bytes=4096)
    assert isinstance(sb, LocalSandbox)
    await sb.start()
    yield sb
    await sb.close()


STATUS_CASES = [
    ("print(6 * 7)", ExecStatus.OK, 0, "42\n", ""),
    ("import sympy\nprint(sympy.factorint(360))", ExecStatus.OK, 0, "{2: 3, 3: 2, 5: 1}\n", ""),
    ("import numpy as np\nprint(int(np.arange(10).sum()))", ExecStatus.OK, 0, "45\n", ""),
    ("1/0", ExecStatus.ERROR, 1, "", "ZeroDivisionError: division by zero"),
    ("import sys\nsys.exit(4)", ExecStatus.ERROR, 4, "", ""),
    ("import sys\nsys.exit('bye')", ExecStatus.ERROR, 1, "", "bye"),
    ("import os\nos._exit(3)", ExecStatus.ERROR, 3, "", ""),
    ("while True:\n    pass", ExecStatus.TIMEOUT, None, "", ""),
    ("x = bytearray(2 * 1024**3)", ExecStatus.MEMORY, None, "", "MemoryError"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", ExecStatus.KILLED, -11, "", ""),
    ("def f():\n    return f()\nf()", ExecStatus.ERROR, 1, "", "RecursionError"),
    ("print(input())", ExecStatus.ERROR, 1, "", "EOFError"),
    ("print(__name__, __file__ if '__file__' in dir() else None)", ExecStatus.OK, 0, "__main__ None\n", ""),
]


@pytest.mark.parametrize(("code", "status", "returncode", "stdout", "stderr_tail"), STATUS_CASES)
async def test_status_table(
    sandbox: LocalSandbox,
    code: str,
    status: ExecStatus,
    returncode: int | None,
    stdout: str,
    stderr_tail: str,
) -> None:
    result = await sandbox.run(code, timeout=1.5 if status is ExecStatus.TIMEOUT else 30)
    assert result.status is status, result
    if returncode is not None:
        assert result.returncode == returncode
    assert result.stdout == stdout
    assert stderr_tail in result.stderr
    assert "zygote" not in result.stderr  # tracebacks show the program only


async def test_stdin_is_passed(sandbox: LocalSandbox) -> None:
    result = await sandbox.run("print(input()[::-1])", stdin="abc\n")
    assert (result.status, result.stdout) == (ExecStatus.OK, "cba\n")


async def test_traceback_points_at_the_program(sandbox: LocalSandbox) -> None:
    result = await sandbox.run("x = 1\ny = undefined_name")
    assert 'File "<code>", line 2' in result.stderr
    assert result.stderr.strip().endswith("NameError: name 'undefined_name' is not defined")


async def test_output_is_capped_with_a_marker(sandbox: LocalSandbox) -> None:
    result = await sandbox.run("print('x' * 100000)")
    assert result.status is ExecStatus.OK and result.truncated
    assert result.stdout.startswith("x" * 4096)
    assert "output truncated: 95905 more bytes" in result.stdout


async def test_binary_output_is_decoded_safely(sandbox: LocalSandbox) -> None:
    result = await sandbox.run("import sys\nsys.stdout.buffer.write(bytes(range(256)) + b'\\xff\\xfe end')")
    assert result.status is ExecStatus.OK
    assert result.stdout.endswith(" end") and "\ufffd" in result.stdout


async def test_environment_is_clean(sandbox: LocalSandbox) -> None:
    result = await sandbox.run("import os\nprint(sorted(os.environ), os.environ['HOME'] == os.getcwd())")
    keys = ["HOME", "LANG", "MPLBACKEND", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PATH", "TMPDIR"]
    assert result.stdout == f"{keys} True\n"  # nothing of the trainer's, nor of the worker's own start-up


async def test_stdio_streams_are_those_of_a_fresh_program(sandbox: LocalSandbox) -> None:
    code = (
        "import sys\n"
        "print([(s.seekable(), s.isatty(), s.encoding, s.errors) for s in (sys.stdin, sys.stdout, sys.stderr)])"
    )
    for _ in range(3):  # made once per worker: a run must not see what an earlier one did to them
        result = await sandbox.run(code + "\nsys.stdout.write('x'); sys.stdin.close()")
        assert result.stdout == f"{[(False, False, 'utf-8', 'replace')] * 3}\nx", result


async def test_each_run_is_a_fresh_program(sandbox: LocalSandbox) -> None:
    await sandbox.run(
        "import math, sys\nmath.pi = 3\nsys.modules['__main__'].left = 1\nopen('state.txt', 'w')"
    )
    result = await sandbox.run(
        "import math, os, sys\nprint(math.pi, os.path.exists('state.txt'), dir(sys.modules['__main__']))"
    )
    assert result.stdout.startswith("3.141592653589793 False ['__builtins__', '__doc__', "), result
    assert "left" not in result.stdout


async def test_functions_of_the_program_can_be_pickled_by_name(sandbox: LocalSandbox) -> None:
    # pickle finds them through sys.modules['__main__'], as for a script (multiprocessing relies on it)
    code = "import pickle\ndef double(x):\n    return 2 * x\nprint(pickle.loads(pickle.dumps(double))(21))"
    assert (await sandbox.run(code)).stdout == "42\n"


HOSTILE = {
    "infinite_loop": "while True:\n    pass",
    "fork_bomb": "import os\nwhile True:\n    os.fork()",
    "memory_bomb": "x = []\nwhile True:\n    x.append(' ' * 10**6)",
    "huge_output": "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)",
    "close_stdout": "import os\nos.close(1)\nos.close(2)\nwhile True:\n    pass",
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "kill_everything": "import os, signal\nos.kill(-1, signal.SIGKILL)",
    "os_exit": "import os\nos._exit(0)",
    "deep_recursion": "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1)\nf(0)",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_program_is_contained(sandbox: LocalSandbox, name: str) -> None:
    result = await asyncio.wait_for(sandbox.run(HOSTILE[name], timeout=1.5), 60)  # contained, never a hang
    assert result.status is not ExecStatus.SANDBOX_ERROR, result
    for _ in range(2):  # both workers
        after = await sandbox.run("print('still here')")
        assert (after.status, after.stdout) == (ExecStatus.OK, "still here\n")
    assert processes_of_uids(worker_uids(sandbox)) == []


@pytest.mark.parametrize("prefix", ["", "import scipy\n"], ids=["worker", "extras template"])
async def test_after_a_fork_bomb_the_next_program_has_its_full_process_allowance(
    sandbox: LocalSandbox, prefix: str
) -> None:
    if not (await sandbox.isolation())["uid"]:
        pytest.skip("the process limit binds only with the private uid")
    bomb = await sandbox.run(prefix + HOSTILE["fork_bomb"], timeout=1.5)
    assert bomb.status is not ExecStatus.SANDBOX_ERROR
    code = (
        "import subprocess\nps = [subprocess.Popen(['sleep', '0.2']) for _ in range(20)]\n"
        "print(sum(p.wait() == 0 for p in ps))"
    )
    for _ in range(2):  # both workers: killed leftovers were reaped, not left counting against the limit
        result = await sandbox.run(code, timeout=30)
        assert result.stdout == "20\n", result


async def test_no_process_survives_a_run_even_in_a_new_session(sandbox: LocalSandbox) -> None:
    marker = f"simpletir-{uuid.uuid4().hex}"
    code = (
        "import subprocess, time\n"
        f"a = subprocess.Popen(['sh', '-c', 'sleep 300; :', '{marker}'], start_new_session=True)\n"
        f"b = subprocess.Popen(['sh', '-c', 'sleep 301; :', '{marker}'])\n"
        "while a.poll() is not None or b.poll() is not None:\n    time.sleep(0.01)\n"
        "print('spawned', a.poll() is None and b.poll() is None)"
    )
    result = await sandbox.run(code, timeout=30)
    assert result.stdout == "spawned True\n"
    assert await until(lambda: cmdlines_with(marker) == []), cmdlines_with(marker)  # killed ones may linger


async def test_start_warms_every_worker_and_its_template() -> None:
    async with create_sandbox("local", max_workers=2) as sb:
        assert isinstance(sb, LocalSandbox)
        await sb.start()
        assert len(sb._workers) == 2
        for pid in worker_pids(sb):  # each has a child, its extras template, that has loaded scipy.optimize
            maps = [Path(f"/proc/{child}/maps").read_text() for child in children(pid)]
            assert any("scipy/optimize/" in text for text in maps)


async def test_worker_death_is_sandbox_error_then_recovers() -> None:
    async with create_sandbox("local", max_workers=1) as sb:
        await sb.run("print(1)")
        (worker,) = sb._workers
        worker.proc.kill()
        await worker.proc.wait()
        result = await sb.run("print(2)")
        assert result.status is ExecStatus.SANDBOX_ERROR
        again = await sb.run("print(3)")
        assert (again.status, again.stdout) == (ExecStatus.OK, "3\n")


@pytest.mark.slow
async def test_thousand_concurrent_requests_keep_their_results(sandbox: LocalSandbox) -> None:
    tokens = [uuid.uuid4().hex for _ in range(1000)]
    results = await asyncio.wait_for(asyncio.gather(*(sandbox.run(f"print({t!r})") for t in tokens)), 600)
    assert [r.stdout for r in results] == [f"{t}\n" for t in tokens]
    assert all(r.status is ExecStatus.OK for r in results)


async def test_worker_is_single_threaded_so_forking_it_is_safe(sandbox: LocalSandbox) -> None:
    await sandbox.run("import numpy, scipy.linalg\nprint(numpy.linalg.inv(numpy.eye(50)).sum())")
    for pid in worker_pids(sandbox):
        assert status(pid)["Threads"] == "1"


async def test_requests_are_served_in_arrival_order() -> None:
    async with create_sandbox("local", max_workers=1) as sb:
        await sb.run("print(0)")
        results = await asyncio.gather(*(sb.run(f"import time\nprint({i}, time.time())") for i in range(8)))
    started = [float(r.stdout.split()[1]) for r in results]
    assert [int(r.stdout.split()[0]) for r in results] == list(range(8))
    assert started == sorted(started)


async def test_bad_arguments_raise_clear_errors() -> None:
    sb = create_sandbox("local", max_workers=1)
    with pytest.raises(SandboxError, match="timeout must be positive"):
        await sb.run("print(1)", timeout=0)
    with pytest.raises(SandboxError, match="bad option"):
        create_sandbox("local", no_such_option=1)
    with pytest.raises(SandboxError, match="unknown sandbox backend"):
        create_sandbox("docker")
    await sb.close()
    with pytest.raises(SandboxError, match="closed"):
        await sb.run("print(1)")
    with pytest.raises(SandboxError, match="closed"):
        await sb.start()
