"""What separates a program from the host: namespaces, a minimal filesystem view, scratch, a private uid.

With root (:func:`namespaces_work`), the worker process enters a new PID namespace and forks the real
worker as its init, PID 1 (:func:`become_namespace_init`): programs see only that namespace's
processes and cannot signal anything outside it, and when the worker dies the kernel kills every
process left in it. The worker then enters new network, mount and IPC namespaces and pivots into a
minimal root built on a tmpfs (:func:`enter_view`): the system directories (``/usr`` and the ``/lib``,
``/bin`` links), the Python installation, a few ``/etc`` files written for it, five device nodes,
``/proc`` of its PID namespace, and scratch tmpfs mounts (``/tmp``, ``/var/tmp``, ``/dev/shm``) that
:func:`fresh_scratch` replaces after every program. Everything but the scratch is read-only; nothing
else of the host (home directories, the checkout, data, ``/run``, ``/var``, ``/opt``...) exists there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, NamedTuple

from .libc import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    PR_SET_PDEATHSIG,
    mount,
    pivot_root_here,
    prctl,
    remount_readonly,
    umount,
    unshare,
)

UID_BASE = 61000
UID_SLOTS = 4096
UID_LOCK_DIR = "/tmp/simpletir-sandbox-uids"
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")  # paths in the view
SCRATCH_OPTIONS = "size=64m,nr_inodes=65536,mode=1777"
WORKDIR = "/tmp/work"
_WORK_PARENT, _WORK_NAME = os.path.split(WORKDIR)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
ETC_COPIED = ("ld.so.cache", "localtime", "timezone")  # copied from the host when present
STASH = "/.python-in-scratch"  # read-only copies of Python directories that lie under a scratch dir
_STAGING = "/tmp"  # where the new root is built, hidden (in this mount namespace only) behind it


class Scratch(NamedTuple):
    """One scratch dir of the view."""

    path: str
    expected: frozenset[str]
    """What it holds when fresh, besides /tmp's working directory: the tops of ``exposed``."""
    exposed: tuple[tuple[str, str], ...]
    """(path, stash) of the Python directories inside it, bound back into every fresh tmpfs."""


@dataclass
class View:
    """The filesystem a worker's programs see (see the module docstring)."""

    readonly: bool = True
    """Whether every mount but the scratch ones is read-only."""
    visible: list[str] = field(default_factory=list)
    """What exists besides the scratch dirs, one line each (for ``simpletir-sandbox doctor``)."""
    python_in_scratch: list[tuple[str, str]] = field(default_factory=list)
    """(path in the view, its stash): Python directories bound back into every fresh scratch tmpfs."""
    scratch: list[Scratch] = field(default_factory=list)
    """The scratch dirs, worked out once from ``python_in_scratch``."""


def claim_uid() -> tuple[int | None, IO[str] | None]:
    """Reserve an unprivileged uid for this worker's lifetime (root only); returns (uid, lock handle)."""
    if os.geteuid() != 0:
        return None, None
    os.makedirs(UID_LOCK_DIR, mode=0o700, exist_ok=True)
    start = os.getpid() % UID_SLOTS
    for i in range(UID_SLOTS):
        uid = UID_BASE + (start + i) % UID_SLOTS
        handle = open(os.path.join(UID_LOCK_DIR, f"{uid}.lock"), "w")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return uid, handle
    return None, None


def _succeeds(setup: Callable[[], object]) -> bool:
    """True when a forked child can run ``setup`` without raising."""
    pid = os.fork()
    if pid == 0:
        try:
            setup()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def namespaces_work(uid: int | None) -> bool:
    """True when the whole set-up (PID namespace, then :func:`enter_view`) succeeds here, tried in a child."""

    def trial() -> None:
        unshare(CLONE_NEWPID)
        if not _succeeds(lambda: enter_view(uid)):
            raise OSError("the filesystem view could not be built")

    return _succeeds(trial)


def become_namespace_init(inherited_fds: tuple[int, ...]) -> None:
    """Fork the rest of this process's life into a new PID namespace, as its PID 1; returns in that child only.

    This process stays outside and waits, closing ``inherited_fds`` (its copies of the protocol pipes),
    then exits with the child's status; the child dies with it (``PR_SET_PDEATHSIG``).
    """
    unshare(CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        return
    for fd in inherited_fds:
        os.close(fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def interpreter_dirs() -> list[str]:
    """The real paths of this Python's installation: its prefixes and the ``sys.path`` entries inside them."""
    prefixes = {
        os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    }
    found = set(prefixes)
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and any(real == p or real.startswith(p + "/") for p in prefixes):
            found.add(real)
    return sorted(p for p in found if os.path.isdir(p))


def program_path() -> list[str]:
    """``sys.path`` for programs, less their working directory: the interpreter's entries, nothing of ours."""
    dirs = interpreter_dirs()
    return [
        entry
        for entry in dict.fromkeys(os.path.realpath(e) for e in sys.path if e)
        if any(entry == d or entry.startswith(d + "/") for d in dirs)
    ]


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` without those inside another one of them."""
    return [p for p in paths if not any(p.startswith(q + "/") for q in paths if q != p)]


def _under(path: str, dirs: tuple[str, ...] | list[str]) -> bool:
    """True when ``path`` is one of ``dirs`` or lies inside one."""
    return any(path == d or path.startswith(d + "/") for d in dirs)


def _etc_files(uid: int | None) -> dict[str, bytes]:
    """The ``/etc`` of the view: account and name-service files written for it, a few host files copied."""
    account = (
        f"sandbox:x:{uid}:{uid}:sandbox program:{WORKDIR}:/usr/sbin/nologin\n" if uid is not None else ""
    )
    files = {
        "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\n{account}".encode(),
        "group": f"root:x:0:\n{account.split(':', 1)[0]}:x:{uid}:\n".encode() if account else b"root:x:0:\n",
        "hosts": b"127.0.0.1 localhost\n::1 localhost\n",
        "nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files\n",
    }
    for name in ETC_COPIED:
        with contextlib.suppress(OSError), open(os.path.join("/etc", name), "rb") as fh:
            files[name] = fh.read()
    return files


def _sources() -> dict[str, int]:
    """What the view binds from the host, by path, each as an O_PATH fd (opened before /tmp is hidden).

    The real system directories, this Python's outermost directories not already inside one, five
    device nodes, and ``/etc/alternatives`` (symbolic links some distributions' libraries resolve through).
    """
    binds = [d for d in SYSTEM_DIRS if os.path.lexists(d) and not os.path.islink(d)]
    binds += [d for d in _outermost(interpreter_dirs()) if d != "/" and not _under(d, binds)]
    sources = {d: os.open(d, os.O_PATH | os.O_DIRECTORY) for d in binds}
    for path in [f"/dev/{name}" for name in DEVICES] + ["/etc/alternatives"]:
        if os.path.exists(path):
            sources[path] = os.open(path, os.O_PATH)
    return sources


def _bind_sources(root: str, sources: dict[str, int], view: View) -> None:
    """Bind each source at its path under ``root``; those under a scratch dir go to the stash instead."""
    for i, (path, fd) in enumerate(sources.items()):
        target = root + path
        if _under(path, SCRATCH_DIRS):  # bound into each fresh scratch tmpfs from the stash
            view.python_in_scratch.append((path, f"{STASH}/{i}"))
            target = f"{root}{STASH}/{i}"
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(target, 0o755, exist_ok=True)
        else:
            open(target, "w").close()
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        os.close(fd)
        if not path.startswith(("/dev/", "/etc/")):
            view.visible.append(f"{path} (read-only)")
    if view.python_in_scratch:
        os.chmod(f"{root}{STASH}", 0o700)


def _fill_etc_and_dev(root: str, etc: dict[str, bytes], view: View) -> None:
    """Write ``etc`` under ``root``/etc, and the standard links of ``/dev`` beside its bound device nodes."""
    os.makedirs(f"{root}/etc", 0o755, exist_ok=True)
    for name, content in etc.items():
        with open(f"{root}/etc/{name}", "wb") as fh:
            fh.write(content)
    os.symlink("/proc/self/mounts", f"{root}/etc/mtab")
    view.visible.append(f"/etc: {' '.join(sorted(os.listdir(f'{root}/etc')))}")
    links = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1"}
    links["stderr"] = "/proc/self/fd/2"
    os.makedirs(f"{root}/dev", 0o755, exist_ok=True)
    for name, target in links.items():
        os.symlink(target, f"{root}/dev/{name}")
    view.visible.append(f"/dev: {' '.join(sorted(os.listdir(f'{root}/dev')))}")


def enter_view(uid: int | None) -> View:
    """Enter new network, mount and IPC namespaces and pivot into the minimal root; raises OSError.

    Must run as PID 1 of a new PID namespace (its ``/proc`` is mounted from here). Gives programs their
    first scratch space (:func:`fresh_scratch`).
    """
    unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    sources = _sources()
    etc = _etc_files(uid)
    root = _STAGING
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    view = View()
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            os.symlink(os.readlink(d), root + d)
            view.visible.append(f"{d} -> {os.readlink(d)}")
    _bind_sources(root, sources, view)
    _fill_etc_and_dev(root, etc, view)
    for path in (*SCRATCH_DIRS, "/proc"):
        os.makedirs(root + path, 0o755, exist_ok=True)
    view.readonly = _remount_tree_readonly(root)
    for path in SCRATCH_DIRS:
        mount("tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV, SCRATCH_OPTIONS)
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    view.visible.append("/proc: this PID namespace only (read-only)")
    for path in SCRATCH_DIRS:
        exposed = tuple((target, stash) for target, stash in view.python_in_scratch if _under(target, [path]))
        expected = frozenset(os.path.relpath(target, path).split("/")[0] for target, _ in exposed)
        view.scratch.append(Scratch(path, expected, exposed))
    os.chdir(root)
    pivot_root_here()
    fresh_scratch(view, uid, first=True)
    return view


def _remount_tree_readonly(root: str) -> bool:
    """Remount ``root`` and every mount below it read-only; False if any failed."""
    with open("/proc/self/mountinfo") as fh:
        points = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4]) for line in fh]
    ok = True
    for point in points:
        if _under(point, [root]):
            ok &= remount_readonly(point)
    return ok


def _untouched(scratch: Scratch, uid: int | None) -> bool:
    """True when ``scratch`` holds only what it holds when fresh, and in /tmp an empty working directory.

    That directory is removed when this is True. Only with the private uid: a program that ran as root
    could have changed the scratch dir itself.
    """
    if uid is None:
        return False
    names = os.listdir(scratch.path)
    if scratch.path == _WORK_PARENT:
        if _WORK_NAME not in names:
            return False
        names.remove(_WORK_NAME)
        if not scratch.expected.issuperset(names):
            return False
        try:
            os.rmdir(WORKDIR)
        except OSError:  # not empty
            return False
        return True
    return scratch.expected.issuperset(names)


def fresh_scratch(view: View, uid: int | None, first: bool = False) -> None:
    """Give the next program scratch dirs as good as new, with a new empty working directory in /tmp.

    One left :func:`_untouched` is kept; any other is replaced by a fresh tmpfs (the Python directories
    that lie inside it bound back, read-only). Called after every program, when none of its processes
    is left (``first``: the scratch mounts of :func:`enter_view`, new, only get those directories).
    """
    for scratch in view.scratch:
        if not first:
            if _untouched(scratch, uid):
                continue
            umount(scratch.path)
            mount("tmpfs", scratch.path, "tmpfs", MS_NOSUID | MS_NODEV, SCRATCH_OPTIONS)
        for target, stash in scratch.exposed:  # this Python's own files, read-only, where they were
            os.makedirs(target, 0o755, exist_ok=True)
            mount(stash, target, None, MS_BIND | MS_REC)
            if not remount_readonly(target):
                raise OSError(0, f"making {target} read-only failed")
    os.mkdir(WORKDIR, 0o700)
    if uid is not None:
        os.chown(WORKDIR, uid, uid)


def uid_can_read_python(uid: int) -> bool:
    """True when a child set up like a program can read the standard library as ``uid``."""

    def trial() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        with open(os.__file__, "rb"):
            pass

    return _succeeds(trial)
