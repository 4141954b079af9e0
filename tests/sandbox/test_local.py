"""The local backend with real worker processes: statuses, limits, hostile programs, concurrency."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from simpletir.sandbox import ExecStatus, SandboxError, SyncSandbox, create_sandbox
from simpletir.sandbox.local import LocalSandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[LocalSandbox]:
    sb = create_sandbox("local", max_workers=2, default_timeout=3.0, memory_mb=512, max_output_bytes=4096)
    assert isinstance(sb, LocalSandbox)
    yield sb
    await sb.close()


def _processes_with_marker(marker: str) -> list[int]:
    """Pids of live processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry))
    return found


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
    result = await sandbox.run(code, timeout=1.5)
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


async def test_environment_is_clean(sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
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
    await sandbox.run("import math\nmath.pi = 3\nopen('state.txt', 'w').write('x')")
    result = await sandbox.run("import math, os\nprint(math.pi, os.path.exists('state.txt'))")
    assert result.stdout == "3.141592653589793 False\n"


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
    result = await sandbox.run(HOSTILE[name], timeout=1.5)
    assert result.status is not ExecStatus.SANDBOX_ERROR, result
    assert result.duration_s < 5
    after = await sandbox.run("print('still here')")
    assert (after.status, after.stdout) == (ExecStatus.OK, "still here\n")
    uids = {w.isolation["uid"] for w in sandbox._workers} - {None}
    assert _processes_of_uids(uids) == []


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
        result = await sandbox.run(code)
        assert result.stdout == "20\n", result


def _processes_of_uids(uids: set[int]) -> list[str]:
    """``pid state`` of processes of ``uids`` that are not zombies (killed ones may take a moment to die)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = dict(
                line.split(":", 1) for line in Path(f"/proc/{entry}/status").read_text().splitlines()
            )
        except (OSError, ValueError):
            continue
        if int(status["Uid"].split()[0]) in uids and not status["State"].strip().startswith(("Z", "X")):
            found.append(f"{entry} {status['State'].strip()}")
    return found


async def test_no_process_survives_a_run_even_in_a_new_session(sandbox: LocalSandbox) -> None:
    marker = f"simpletir-{uuid.uuid4().hex}"
    code = (
        "import subprocess, time\n"
        f"a = subprocess.Popen(['sh', '-c', 'sleep 300; :', '{marker}'], start_new_session=True)\n"
        f"b = subprocess.Popen(['sh', '-c', 'sleep 301; :', '{marker}'])\n"
        "time.sleep(0.2)\n"
        "print('spawned', a.poll() is None and b.poll() is None)"
    )
    result = await sandbox.run(code)
    assert result.stdout == "spawned True\n"
    await asyncio.sleep(0.2)
    assert _processes_with_marker(marker) == []


async def test_files_outside_the_working_directory_are_untouched(
    sandbox: LocalSandbox, tmp_path: Path
) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("original")
    os.chmod(tmp_path, 0o755)
    code = (
        f"try:\n    open({str(target)!r}, 'w').write('pwned')\nexcept OSError as e:\n    print(type(e).__name__)\n"
        "open('/tmp/scratch.txt', 'w').write('x')\nprint(open('/tmp/scratch.txt').read())"
    )
    result = await sandbox.run(code)
    assert target.read_text() == "original"
    isolation = await sandbox.isolation()
    if isolation["uid"] is not None or isolation["namespaces"]:
        # denied by the private uid, or invisible behind the private /tmp
        assert result.stdout.split("\n")[0] in {"PermissionError", "FileNotFoundError"}
    if isolation["namespaces"]:
        assert not Path("/tmp/scratch.txt").exists()


@pytest.fixture
def world_writable_dir() -> Iterator[Path]:
    """A 1777 directory outside the scratch mounts (like /run/lock, or /scratch on a cluster)."""
    if os.geteuid() != 0 or not os.access("/run", os.W_OK):
        pytest.skip("needs root to create a world-writable directory under /run")
    path = Path(tempfile.mkdtemp(prefix="simpletir-world-", dir="/run"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


async def test_world_writable_directories_are_read_only(
    sandbox: LocalSandbox, world_writable_dir: Path
) -> None:
    if not (await sandbox.isolation())["readonly_root"]:
        pytest.skip("no read-only root on this machine (see simpletir-sandbox doctor)")
    target = world_writable_dir / "planted.txt"
    code = f"import os\ntry:\n    open({str(target)!r}, 'w')\nexcept OSError as e:\n    print(os.strerror(e.errno))"
    result = await sandbox.run(code)
    assert result.stdout == "Read-only file system\n", result
    assert list(world_writable_dir.iterdir()) == []


async def test_scratch_space_is_writable_then_fresh_for_the_next_program(sandbox: LocalSandbox) -> None:
    isolation = await sandbox.isolation()
    if not isolation["namespaces"]:
        pytest.skip("private scratch mounts need namespaces")
    # the worker's own Python, when it lies under a scratch dir (a checkout in /tmp), is bound back there
    python_in = {d: sorted({str(Path(p).relative_to(d)).split("/")[0] for p in isolation["python_in_scratch"]
                            if Path(p).is_relative_to(d)}) for d in ("/tmp", "/var/tmp", "/dev/shm")}  # fmt: skip
    write = (
        "import os, multiprocessing\nmultiprocessing.Lock()\n"  # a POSIX semaphore in /dev/shm
        "for d in ('/tmp', '/var/tmp', '/dev/shm', '.'):\n"
        "    open(os.path.join(d, 'left-behind'), 'w').write('x')\n"
        "print(sorted(os.listdir('/tmp')), os.getcwd())"
    )
    look = "import os\nprint([sorted(os.listdir(d)) for d in ('/tmp', '/var/tmp', '/dev/shm', '.')])"
    first = await sandbox.run(write)
    assert first.stdout == f"{sorted(['left-behind', 'work', *python_in['/tmp']])} /tmp/work\n", first
    fresh = [sorted(["work", *python_in["/tmp"]]), python_in["/var/tmp"], python_in["/dev/shm"], []]
    for _ in range(2):  # both workers
        after = await sandbox.run(look)
        assert after.stdout == f"{fresh}\n", after
    assert not Path("/tmp/left-behind").exists() and not Path("/dev/shm/left-behind").exists()


async def test_a_python_installed_under_tmp_stays_importable_and_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. CI that clones into /tmp: the scratch tmpfs over /tmp must not hide the worker's own Python
    if not Path(os.path.realpath(tmp_path)).is_relative_to("/tmp"):
        pytest.skip("tmp_path is not under /tmp here")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "under_tmp_probe.py").write_text("WHERE = __file__\n")
    (tmp_path / "host-secret.txt").write_text("x")
    async with create_sandbox("local", max_workers=1) as usual:
        if not (await usual.isolation())["namespaces"]:
            pytest.skip("no namespaces here: /tmp is not replaced")
    monkeypatch.setattr(sys, "executable", str(venv / "bin" / "python"))
    async with create_sandbox("local", max_workers=1) as sb:
        assert (await sb.isolation())["namespaces"]  # not a silent fall back to weaker isolation
        code = (
            "import os, under_tmp_probe\nprint(under_tmp_probe.WHERE)\n"
            f"print(os.path.exists({str(tmp_path / 'host-secret.txt')!r}))\n"
            f"try:\n    open({str(site / 'planted.py')!r}, 'w')\nexcept OSError as e:\n    print(type(e).__name__)"
        )
        result = await sb.run(code)
    lines = result.stdout.splitlines()
    assert lines[:2] == [str(site / "under_tmp_probe.py"), "False"], result
    assert lines[2:] in (["PermissionError"], ["OSError"]), result  # denied, or read-only file system
    assert not (site / "planted.py").exists()


async def test_network_is_blocked(sandbox: LocalSandbox) -> None:
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print('blocked', type(e).__name__)\n"
    )
    result = await sandbox.run(code)
    assert result.stdout.startswith("blocked"), result


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


async def test_thousand_concurrent_requests_keep_their_results() -> None:
    async with create_sandbox("local", max_workers=2) as sb:
        tokens = [uuid.uuid4().hex for _ in range(1000)]
        results = await asyncio.wait_for(
            asyncio.gather(*(sb.run(f"print({t!r})") for t in tokens)), timeout=120
        )
    assert [r.stdout for r in results] == [f"{t}\n" for t in tokens]
    assert all(r.status is ExecStatus.OK for r in results)


async def test_worker_is_single_threaded_so_forking_it_is_safe(sandbox: LocalSandbox) -> None:
    await sandbox.run("import numpy, scipy.linalg\nprint(numpy.linalg.inv(numpy.eye(50)).sum())")
    for worker in sandbox._workers:
        status = Path(f"/proc/{worker.proc.pid}/status").read_text()
        assert "\nThreads:\t1\n" in status


async def test_requests_are_served_in_arrival_order() -> None:
    async with create_sandbox("local", max_workers=1) as sb:
        await sb.run("print(0)")
        results = await asyncio.gather(*(sb.run(f"import time\nprint({i}, time.time())") for i in range(8)))
    started = [float(r.stdout.split()[1]) for r in results]
    assert [int(r.stdout.split()[0]) for r in results] == list(range(8))
    assert started == sorted(started)


async def test_bad_arguments_raise_clear_errors(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxError, match="timeout must be positive"):
        await sandbox.run("print(1)", timeout=0)
    with pytest.raises(SandboxError, match="bad option"):
        create_sandbox("local", no_such_option=1)
    with pytest.raises(SandboxError, match="unknown sandbox backend"):
        create_sandbox("docker")
    await sandbox.close()
    with pytest.raises(SandboxError, match="closed"):
        await sandbox.run("print(1)")


def test_sync_wrapper() -> None:
    with SyncSandbox("local", max_workers=1) as sb:
        assert sb.run("print(sum(range(10)))").stdout == "45\n"
        assert sb.run("raise ValueError('bad')").status is ExecStatus.ERROR
        with sb.session() as session:
            session.run("total = 40")
            assert session.run("print(total + 2)").stdout == "42\n"
