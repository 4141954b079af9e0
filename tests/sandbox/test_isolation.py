"""What a program can see and change of the host: files, environment, processes, ``sys.path``, network.

Secrets are planted where a training node keeps them (home directories, the checkout and beside it,
world-readable files under /etc, /opt, /srv, /mnt, /run, /var, scratch dirs) and in the parent's
environment; a program must find none of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from simpletir.sandbox import create_sandbox
from simpletir.sandbox.local import LocalSandbox
from simpletir.sandbox.zygote.isolation import ETC_COPIED, SCRATCH_DIRS, STASH

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = f"simpletir-planted-secret-{uuid.uuid4().hex}"
ENV_SECRETS = {"HF_TOKEN": f"hf_{SECRET}", "WANDB_API_KEY": f"wandb-{SECRET}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox() -> AsyncIterator[LocalSandbox]:
    """Two workers started while the parent's environment holds secrets."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in ENV_SECRETS.items():
            env.setenv(name, value)
        sb = create_sandbox("local", max_workers=2, default_timeout=30.0)
        assert isinstance(sb, LocalSandbox)
        await sb.start()
    yield sb
    await sb.close()


async def _isolation(sandbox: LocalSandbox) -> dict[str, Any]:
    info = await sandbox.isolation()
    if not info["namespaces"]:
        pytest.skip("no namespaces here: programs see the host's files (simpletir-sandbox doctor says so)")
    return info


def _plant(path: Path, created: list[Path]) -> None:
    """Write a world-readable secret file at ``path`` (its folder made world-traversable if new)."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o755)
            created.append(path.parent)
        path.write_text(SECRET)
        path.chmod(0o644)
        created.append(path)
    except OSError:
        pass  # not writable here: that place is not tested


@pytest.fixture(scope="module")
def planted() -> Iterator[list[Path]]:
    """Secret files in the places the issue names; removed afterwards."""
    name = f".{SECRET}"
    places = [
        Path.home() / name,
        Path("/home") / f"simpletir-test-{uuid.uuid4().hex}" / ".netrc",
        REPO_ROOT / name,
        REPO_ROOT / "sandbox" / name,
        REPO_ROOT.parent / f".env{name}",  # a .env beside the checkout
        Path(sys.prefix).parent / name,  # beside the Python installation (a venv in the checkout)
        *(Path(d) / name for d in ("/etc", "/opt", "/srv", "/mnt", "/run", "/var", "/var/lib", "/var/cache")),
        *(Path(d) / name for d in (tempfile.gettempdir(), "/var/tmp", "/dev/shm")),
    ]
    created: list[Path] = []
    for path in dict.fromkeys(places):
        _plant(path, created)
    yield [p for p in created if p.is_file()]
    for path in reversed(created):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


async def test_planted_secret_files_do_not_exist_for_a_program(
    sandbox: LocalSandbox, planted: list[Path]
) -> None:
    await _isolation(sandbox)
    assert len(planted) >= 8, planted  # the places this machine let us write
    code = (
        "import sys\nfor path in sys.argv[1:] or PATHS:\n"
        "    try:\n        print(path, 'READ' if SECRET in open(path).read() else 'other')\n"
        "    except OSError as e:\n        print(path, type(e).__name__)\n"
    )
    prelude = f"SECRET = {SECRET!r}\nPATHS = {[str(p) for p in planted]!r}\n"
    for _ in range(2):  # both workers
        result = await sandbox.run(prelude + code)
        assert result.stdout == "".join(f"{p} FileNotFoundError\n" for p in planted), result


async def test_only_the_python_installation_and_system_files_are_there(sandbox: LocalSandbox) -> None:
    info = await _isolation(sandbox)
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    outside_scratch = [p for p in prefixes if not p.startswith(tuple(f"{d}/" for d in SCRATCH_DIRS))]
    system = {
        d for d in ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr") if os.path.lexists(f"/{d}")
    }
    expected_root = system | {"dev", "etc", "proc", "tmp", "var"} | {p.split("/")[1] for p in outside_scratch}
    if info["python_in_scratch"]:
        expected_root.add(STASH.strip("/"))
    expected_etc = {"group", "hosts", "mtab", "nsswitch.conf", "passwd"} | {
        name for name in (*ETC_COPIED, "alternatives") if os.path.exists(f"/etc/{name}")
    }
    inside_checkout = sorted({p.split("/")[0] for p in (os.path.relpath(q, REPO_ROOT) for q in prefixes)
                              if not p.startswith("..")})  # fmt: skip
    code = (
        "import os\nprint(sorted(os.listdir('/')), sorted(os.listdir('/var')))\n"
        f"print(sorted(os.listdir({str(REPO_ROOT)!r})) if os.path.isdir({str(REPO_ROOT)!r}) else [])\n"
        "print(sorted(os.listdir('/etc')))"
    )
    result = await sandbox.run(code)
    root, checkout, etc = result.stdout.splitlines()
    assert root == f"{sorted(expected_root)} ['tmp']", result
    assert checkout == str(inside_checkout)  # e.g. ['.venv'] for a venv inside the checkout, nothing else
    assert etc == str(sorted(expected_etc))  # written for the view; nothing else of the host's /etc


async def test_secrets_in_the_parents_environment_do_not_reach_a_program(sandbox: LocalSandbox) -> None:
    code = (
        "import os\nfound = [k for k, v in os.environ.items() if SECRET in v]\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    for what in ('environ', 'cmdline'):\n"
        "        try:\n            data = open(f'/proc/{pid}/{what}', 'rb').read()\n"
        "        except OSError:\n            continue\n"
        "        if SECRET.encode() in data:\n            found.append(f'{pid}/{what}')\n"
        "print(found)"
    )
    result = await sandbox.run(f"SECRET = {SECRET!r}\n" + code)
    assert result.stdout == "[]\n", result


async def test_a_program_sees_only_the_processes_of_its_own_namespace(sandbox: LocalSandbox) -> None:
    info = await _isolation(sandbox)
    assert info["pid_namespace"]
    code = "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), os.getppid())"
    result = await sandbox.run(code)
    pids, parent = result.stdout.rsplit(" ", 1)
    assert str(os.getpid()) not in pids.strip("[]").split(", ")  # the trainer is not there
    assert len(pids.split(",")) <= 6 and parent.strip() == "1", result  # worker, reaper, template, program


async def test_sys_path_holds_the_working_directory_and_the_interpreters_only(sandbox: LocalSandbox) -> None:
    code = (
        "import os, sys\nprint(sys.path[0] == os.getcwd())\n"
        "for name in ('corpus', 'local', 'worker', 'framing', 'zygote', '_simpletir_sandbox_worker'):\n"
        "    try:\n        __import__(name)\n        print(name, 'imported')\n"
        "    except ImportError:\n        pass\n"
        "print('\\n'.join(sys.path[1:]))"
    )
    result = await sandbox.run(code)
    first, *rest = result.stdout.splitlines()
    assert first == "True", result
    interpreter = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
    for entry in rest:
        assert any(entry.startswith(p) for p in interpreter), (entry, result)  # nothing of ours
        assert not entry.startswith(str(REPO_ROOT / "sandbox"))


@pytest.fixture
def world_writable_dir() -> Iterator[Path]:
    """A 1777 directory outside the scratch mounts (like /run/lock, or /scratch on a cluster)."""
    if os.geteuid() != 0 or not os.access("/run", os.W_OK):
        pytest.skip("needs root to create a world-writable directory under /run")
    path = Path(tempfile.mkdtemp(prefix="simpletir-world-", dir="/run"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


async def test_nothing_outside_scratch_can_be_written(
    sandbox: LocalSandbox, world_writable_dir: Path
) -> None:
    info = await _isolation(sandbox)
    assert info["readonly_root"]
    site = next(p for p in sys.path if p.endswith("-packages"))
    targets = [world_writable_dir / "planted", Path(site) / "planted.py", Path("/usr/lib/planted"),
               Path("/etc/planted"), Path("/planted"), REPO_ROOT / "planted"]  # fmt: skip
    code = (
        f"import os\nfor path in {[str(t) for t in targets]!r}:\n"
        "    try:\n        open(path, 'w')\n        print('WROTE')\n"
        "    except OSError as e:\n        print(os.strerror(e.errno))\n"
        "open('/tmp/scratch.txt', 'w').write('x')\nprint(open('/tmp/scratch.txt').read())"
    )
    result = await sandbox.run(code)
    *denied, scratch = result.stdout.splitlines()
    assert scratch == "x" and len(denied) == len(targets), result
    outside = [
        d for d, t in zip(denied, targets, strict=True) if not str(t).startswith(("/tmp/", "/var/tmp/"))
    ]
    assert set(outside) <= {"Read-only file system", "No such file or directory", "Permission denied"}, result
    assert not any(t.exists() for t in targets) and list(world_writable_dir.iterdir()) == []
    assert not Path("/tmp/scratch.txt").exists()


async def test_scratch_space_is_writable_then_fresh_for_the_next_program(sandbox: LocalSandbox) -> None:
    isolation = await _isolation(sandbox)
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
    mark = "import os\nos.chmod('.', 0o777)\ntry:\n    os.setxattr('.', 'user.note', b'x')\nexcept OSError:\n    pass"
    check = "import os\nprint(oct(os.stat('.').st_mode & 0o777), os.listxattr('.'))"
    for _ in range(2):  # an emptied working directory is a new one, not the old one reused
        assert (await sandbox.run(mark)).ok
        assert (await sandbox.run(check)).stdout == "0o700 []\n"


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


async def test_everyday_things_still_work(sandbox: LocalSandbox) -> None:
    code = (
        "import os, sys, subprocess, time, pwd, tempfile, multiprocessing\n"
        "open('/dev/null', 'w').write('x'); os.urandom(4); tempfile.mkstemp(); time.localtime()\n"
        "print(subprocess.run(['sh', '-c', 'echo shell'], capture_output=True, text=True).stdout.strip())\n"
        "print(subprocess.run([sys.executable, '-c', 'import sympy; print(1)'], capture_output=True).returncode)\n"
        "print(pwd.getpwuid(os.getuid()).pw_dir)\n"
        "with multiprocessing.Pool(2) as pool:\n    print(pool.map(abs, [-1, -2]))"
    )
    result = await sandbox.run(code, timeout=30)
    assert result.stdout.splitlines()[:2] == ["shell", "0"] and result.stdout.endswith("[1, 2]\n"), result


@pytest.mark.slow
async def test_a_python_installed_under_tmp_stays_importable_and_read_only(
    sandbox: LocalSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. CI that clones into /tmp: the scratch tmpfs over /tmp must not hide the worker's own Python
    if not Path(os.path.realpath(tmp_path)).is_relative_to("/tmp"):
        pytest.skip("tmp_path is not under /tmp here")
    await _isolation(sandbox)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "under_tmp_probe.py").write_text("WHERE = __file__\n")
    (tmp_path / "host-secret.txt").write_text("x")
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
