"""The warm worker of the local sandbox: imports libraries once, then forks one child per program.

Run as a separate process (``python zygote.py``) by :class:`simpletir.sandbox.local.LocalSandbox`;
it speaks length-prefixed JSON over its stdin/stdout and handles one request at a time. This file
imports nothing from ``simpletir`` so that it starts from any ``sys.path``.

When running as root, the worker itself enters new network and mount namespaces once, at start:
no network, every mount read-only, and private tmpfs scratch mounts (/tmp, /var/tmp, /dev/shm)
that are replaced by fresh ones after every program. Per child: its own session, an unprivileged
uid owned by this worker alone (so that after the run every process of that uid can be killed,
setsid escapes included), resource limits, a clean environment, output captured up to a cap.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import gc
import importlib.util
import io
import json
import os
import re
import resource
import select
import selectors
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable

PRELOAD = (
    "math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "re",
    "random", "statistics", "string", "heapq", "bisect", "json", "numpy", "sympy", "mpmath",
)  # fmt: skip
# Loaded only in the worker's extras template (see _ExtrasTemplate): their ~400 shared-library
# mappings would make every fork ~1 ms dearer, for the few programs that use them.
EXTRA_PRELOAD = ("scipy", "scipy.special", "scipy.optimize", "scipy.integrate", "scipy.linalg", "networkx")
EXTRA_NAMES = re.compile(r"\b(?:scipy|networkx)\b")  # a program that names one runs from the extras template
# Run once in the worker so that lazy imports and first-call set-up of common calls are paid once, not in
# every forked program. It must not compute what the benchmark corpus computes (sympy memoises results,
# and children inherit that cache): tests/sandbox/test_corpus.py checks that the two share no call.
WARMUP = """
import sympy as sp, numpy as np
a, b, n = sp.symbols('a b n')
sp.solve(a**2 + 3*a - 10, a); sp.solve([2*a - b - 1, a + b - 5], [a, b]); sp.solveset(a**3 - a, a)
sp.simplify((a**2 - 4)/(a + 2)); sp.factor(a**3 - 8); sp.expand((a - 2)**4); sp.cancel((a**2 - 1)/(a + 1))
sp.apart(1/(a*(a + 1))); sp.trigsimp(sp.sin(a)**2 + sp.cos(a)**2)
sp.integrate(a**2*sp.cos(a), a); sp.integrate(sp.exp(-a), (a, 0, sp.oo)); sp.diff(sp.log(a)*a**2, a)
sp.limit((1 - sp.cos(a))/a**2, a, 0); sp.summation(1/n**2, (n, 1, sp.oo)); sp.series(sp.sin(a), a, 0, 4)
sp.factorint(1001); sp.isprime(101); sp.divisors(84); sp.Rational(2, 5) + sp.Rational(1, 7); sp.nsimplify(0.25)
sp.sqrt(12); sp.N(sp.E, 15); sp.Matrix([[2, 0], [1, 3]]).det(); sp.Matrix([[1, 1], [0, 1]]).inv()
sp.binomial(12, 5); sp.latex(a**3); sp.Poly(a**3 - 2*a + 1, a).all_coeffs(); sp.nroots(a**3 - 2*a + 1)
np.linalg.solve(np.eye(3), [1, 2, 3]); np.linalg.eig(np.eye(3)); np.polyfit([0, 1, 2], [2, 4, 7], 2)
np.roots([1, 0, -2])
"""
EXTRA_WARMUP = """
from scipy.optimize import minimize_scalar, brentq
minimize_scalar(lambda t: (t + 1)**2); brentq(lambda t: t**3 - 2, 0, 2)
"""
UID_BASE = 61000
UID_SLOTS = 4096
UID_LOCK_DIR = "/tmp/simpletir-sandbox-uids"
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
# statvfs flags kept when a mount is remounted read-only (a bind remount replaces the per-mount flags)
_KEPT_MOUNT_FLAGS = (
    (os.ST_NOSUID, 0x2), (os.ST_NODEV, 0x4), (os.ST_NOEXEC, 0x8),
    (os.ST_NOATIME, 0x400), (os.ST_NODIRATIME, 0x800), (os.ST_RELATIME, 1 << 21),
)  # fmt: skip
# The only writable places a program sees (with namespaces): fresh tmpfs mounts, replaced after every run.
SCRATCH_DIRS = tuple(
    dict.fromkeys(os.path.realpath(d) for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d))
)
SCRATCH_OPTIONS = "size=64m,nr_inodes=65536,mode=1777"
WORKDIR = os.path.join(os.path.realpath("/tmp"), "work")
PROGRAM_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
}  # fmt: skip
TRUNCATION_MARKER = "\n[... output truncated: {omitted} more bytes not shown ...]\n"
MEMORY_EXIT = 0x7E  # exit code our child uses after an uncaught MemoryError
SESSION_RESTARTED = "[session restarted: the previous interpreter ended ({why}); its state is lost]\n"
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SESSION_CTL_FD = 3  # in a session child: cells arrive here
SESSION_STATUS_FD = 4  # in a session child: one reply per finished cell goes here
_HEADER = struct.Struct("!I")


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, for unshare(2), mount(2) and prctl(2)."""
    return ctypes.CDLL(None, use_errno=True)


def _probe_namespaces(setup: Callable[[], object]) -> bool:
    """True when a forked child can run ``setup`` (entering the namespaces): root, or allowed here."""
    pid = os.fork()
    if pid == 0:
        try:
            setup()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _enter_namespaces(hidden: list[tuple[str, str]]) -> tuple[bool, list[tuple[str, int]]]:
    """Move this process into new network and mount namespaces.

    Returns whether every mount is now read-only, and :func:`_python_dirs_in_scratch` (opened in the new
    namespace, before the scratch mounts hide them: a bind mount takes its source from the same namespace).

    In the new mount namespace: ``hidden`` entries (see :func:`_hidden_ancestors`) are re-exposed, every
    mount is remounted read-only, and each of SCRATCH_DIRS gets a private writable tmpfs. Raises OSError
    when the namespaces or the scratch mounts cannot be set up; a mount that cannot be made read-only
    only makes the result False.
    """
    libc = _libc()
    if libc.unshare(CLONE_NEWNET | CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")
    _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE)
    in_scratch = _python_dirs_in_scratch()
    staging = os.path.dirname(WORKDIR)
    _mount(libc, "tmpfs", staging, "tmpfs", 0, "size=1m,mode=0700")
    for i, (ancestor, entry) in enumerate(hidden):
        stage = os.path.join(staging, f"stage{i}")
        os.mkdir(stage)
        _mount(libc, f"{ancestor}/{entry}", stage, None, MS_BIND | MS_REC)
        _mount(libc, "tmpfs", ancestor, "tmpfs", 0, "size=1m,mode=0755")
        os.mkdir(f"{ancestor}/{entry}")
        _mount(libc, stage, f"{ancestor}/{entry}", None, MS_MOVE)
    readonly = _remount_readonly(libc)
    for path in SCRATCH_DIRS:
        if path == staging:  # replaced by a fresh scratch tmpfs before the first program
            continue
        _mount(libc, "tmpfs", path, "tmpfs", 0, SCRATCH_OPTIONS)
    return readonly, in_scratch


def _remount_readonly(libc: ctypes.CDLL) -> bool:
    """Remount every mount of this (private) mount namespace read-only, keeping its other flags; False if any failed."""
    with open("/proc/self/mountinfo") as fh:
        points = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4]) for line in fh]
    ok = True
    for point in points:
        ok &= _remount_readonly_at(libc, point)
    return ok


def _remount_readonly_at(libc: ctypes.CDLL, point: str) -> bool:
    """Remount the mount at ``point`` read-only, keeping its other flags; False if that failed."""
    try:
        kept = os.statvfs(point).f_flag
    except OSError:
        return False
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    for statvfs_flag, mount_flag in _KEPT_MOUNT_FLAGS:
        if kept & statvfs_flag:
            flags |= mount_flag
    return libc.mount(None, point.encode(), None, flags, None) == 0


def _in_scratch(path: str) -> bool:
    """True when ``path`` (a real path) lies strictly inside one of SCRATCH_DIRS."""
    return any(path.startswith(scratch + "/") for scratch in SCRATCH_DIRS)


def _python_dirs_in_scratch() -> list[tuple[str, int]]:
    """This Python's directories that lie inside a scratch directory, outermost only, each with an O_PATH fd.

    E.g. a virtual environment in a checkout under /tmp: the scratch tmpfs would hide it, so each fresh
    one gets these bound back, read-only (see ``Zygote._fresh_scratch``). The fds are kept for the
    worker's life.
    """
    inside = set()
    for path in {*sys.path[1:], sys.prefix, sys.base_prefix, sys.exec_prefix}:  # [0]: the worker's own dir
        real = os.path.realpath(path) if path and os.path.isdir(path) else None
        if real and _in_scratch(real):
            inside.add(real)
    outermost = sorted(p for p in inside if not any(p.startswith(q + "/") for q in inside))
    return [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in outermost]


def _claim_uid() -> tuple[int | None, object]:
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


def _hidden_ancestors() -> list[tuple[str, str]]:
    """(directory, entry) pairs: directories others cannot traverse that lead to Python's own files.

    E.g. ``("/root", ".pyenv")`` when Python is installed under a 0700 home; the child re-exposes
    just that entry behind a tmpfs so the unprivileged program can import the standard library.
    """
    pairs: list[tuple[str, str]] = []
    for path in {*sys.path, sys.prefix, sys.base_prefix, sys.exec_prefix}:
        if not path or not os.path.isdir(path):
            continue
        parts = os.path.realpath(path).strip("/").split("/")
        for depth in range(len(parts) - 1):
            ancestor = "/" + "/".join(parts[:depth])
            if not os.stat(ancestor).st_mode & 0o001:
                # inside a scratch dir, the path is rebuilt traversable instead (see _python_dirs_in_scratch)
                if ancestor != "/" and not _in_scratch(ancestor) and (ancestor, parts[depth]) not in pairs:
                    pairs.append((ancestor, parts[depth]))
                break
    return sorted(pairs)


class Zygote:
    """One warm worker; see the module docstring."""

    def __init__(self, inherited_fds: tuple[int, ...] = ()) -> None:
        """Set up isolation, load the libraries; ``inherited_fds`` are the caller's, closed in the extras template."""
        self.pid = os.getpid()
        self.session: dict | None = None
        self.session_lost: str | None = None
        self.uid, self._uid_lock = _claim_uid()  # the lock files live in the host's /tmp: before namespaces
        self.hidden = _hidden_ancestors()
        self.readonly_root, self.in_scratch = False, []
        self.namespaces = _probe_namespaces(self._isolate)
        if self.namespaces:
            self._isolate()
        if self.uid is not None and not self._probe_uid():
            self.uid = None  # the private uid cannot read Python here; fall back to namespaces only
        # Forked before the heavy imports, so killing a uid's processes costs a small fork, not a big one.
        self._reaper = _start_reaper(self.uid) if self.uid is not None else None
        # Orphans of a program (setsid ones included) become this worker's children, so an empty
        # children list after a run proves nothing survived and the uid-wide kill can be skipped.
        self._children_file = f"/proc/self/task/{self.pid}/children"
        self.subreaper = _libc().prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 and os.path.exists(self._children_file)
        self.preloaded = _preload(PRELOAD, WARMUP)
        # What every program gets, made once here so that a child only rebinds file descriptors: no
        # variable of the trainer (the worker already starts with a clean environment), and stdio streams.
        self.plain_malloc = os.environ.get("PYTHONMALLOC") == "malloc"
        os.environ.clear()
        os.environ.update(PROGRAM_ENV)
        if self.namespaces:
            os.environ.update({"HOME": WORKDIR, "TMPDIR": WORKDIR})
        self.streams = _program_streams()
        self.isolation = {
            "namespaces": self.namespaces,
            "readonly_root": self.readonly_root,
            "uid": self.uid,
            "subreaper": self.subreaper,
            "preloaded": self.preloaded,
            "python_in_scratch": [path for path, _ in self.in_scratch],
            "extras": [name for name in EXTRA_PRELOAD if "." not in name and importlib.util.find_spec(name)],
            "python": sys.version.split()[0],
        }
        _freeze_heap(self.plain_malloc)
        self.extras = _ExtrasTemplate(self, inherited_fds) if self.isolation["extras"] else None

    def _probe_uid(self) -> bool:
        """True when a child set up like a real one can read the standard library as the private uid."""
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
                with open(os.__file__, "rb"):
                    pass
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

    # -- child side -------------------------------------------------------------------------------
    def _child(self, req: dict, out_w: int, err_w: int, in_r: int, workdir: str, ctl: tuple) -> None:
        """Set up isolation and limits, then run the program (or serve session cells); never returns."""
        try:
            os.setsid()
            if self.uid is not None and not self.namespaces:
                os.chown(workdir, self.uid, self.uid)
            os.chdir(workdir)
            self._set_limits(req)
            if self.uid is not None:
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
            # Dies with its worker (set after setuid, which clears it); the worker may already be gone.
            _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != self.pid:
                os._exit(0x7D)
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in ctl]
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            for target, fd in zip((SESSION_CTL_FD, SESSION_STATUS_FD)[: len(high)], high, strict=True):
                os.dup2(fd, target)
            os.closerange(3 + len(ctl), 65536)
            if not self.namespaces:
                _block_sockets()
                os.environ["HOME"] = os.environ["TMPDIR"] = workdir
            sys.stdin, sys.stdout, sys.stderr = self.streams
            sys.argv = ["<code>"]
        except BaseException:
            with contextlib.suppress(BaseException):
                os.write(err_w, ("sandbox setup failed: " + traceback.format_exc()).encode())
            os._exit(0x7D)
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        if not ctl:
            os._exit(_exec_program(req["code"], namespace) & 0xFF)
        _serve_cells(namespace)

    def _isolate(self) -> None:
        """Enter the namespaces (see :func:`_enter_namespaces`) and give programs their first scratch space."""
        self.readonly_root, self.in_scratch = _enter_namespaces(self.hidden)
        self._fresh_scratch()

    def _fresh_scratch(self) -> None:
        """Replace the scratch tmpfs mounts a program may have written to, and recreate its working directory.

        /tmp (which holds the working directory) is always replaced; the others only when they hold anything
        besides this Python's own directories, which are bound back into each fresh one. Called after every
        program, when none of its processes is left.
        """
        libc = _libc()
        for path in SCRATCH_DIRS:
            exposed = [(target, fd) for target, fd in self.in_scratch if target.startswith(path + "/")]
            if path != os.path.dirname(WORKDIR):
                expected = {os.path.relpath(target, path).split("/")[0] for target, _ in exposed}
                with os.scandir(path) as entries:
                    if {entry.name for entry in entries} <= expected:
                        continue
            if libc.umount2(path.encode(), MNT_DETACH) != 0:
                raise OSError(ctypes.get_errno(), f"unmounting the scratch tmpfs on {path} failed")
            _mount(libc, "tmpfs", path, "tmpfs", 0, SCRATCH_OPTIONS)
            for target, fd in exposed:  # this Python's own files, read-only, where they were
                os.makedirs(target, 0o755, exist_ok=True)
                _mount(libc, f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
                if not _remount_readonly_at(libc, target):
                    raise OSError(ctypes.get_errno(), f"making {target} read-only failed")
        os.mkdir(WORKDIR, 0o700)
        if self.uid is not None:
            os.chown(WORKDIR, self.uid, self.uid)

    def _set_limits(self, req: dict) -> None:
        """CPU, memory, file size, open files and process count limits for the program."""
        cpu = max(1, int(req["timeout"]) + 1)
        cpu_hard = max(cpu + 1, int(req.get("session_cpu_s", 0)))
        mem = int(req["memory_mb"]) * 1024 * 1024
        limits = [
            (resource.RLIMIT_CPU, (cpu, cpu_hard)),
            (resource.RLIMIT_FSIZE, (int(req["max_file_mb"]) * 1024 * 1024,) * 2),
            (resource.RLIMIT_NOFILE, (256, 256)),
            (resource.RLIMIT_NPROC, (int(req["max_processes"]),) * 2),
            (resource.RLIMIT_CORE, (0, 0)),
        ]
        if mem > 0:
            limits.append((resource.RLIMIT_AS, (mem, mem)))
        for which, value in limits:
            resource.setrlimit(which, value)

    # -- parent side ------------------------------------------------------------------------------
    def run(self, req: dict) -> dict:
        """Run one program and return the result fields as a dict."""
        self.close_session()
        if self.extras is not None and EXTRA_NAMES.search(req["code"]) and self.extras.ready(wait=2.0):
            return self.extras.run(req)
        start = time.monotonic()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        workdir = WORKDIR if self.namespaces else tempfile.mkdtemp(prefix="simpletir-")
        pid = os.fork()
        if pid == 0:
            os.close(out_r), os.close(err_r), os.close(in_w)
            self._child(req, out_w, err_w, in_r, workdir, ())
        os.close(out_w), os.close(err_w), os.close(in_r)
        try:
            stdin = (req.get("stdin") or "").encode()
            if stdin:
                with contextlib.suppress(OSError):
                    os.set_blocking(in_w, False)
                    os.write(in_w, stdin[:65536])
            os.close(in_w)
            out, err, status, timed_out, _ = self._collect(
                pid, out_r, err_r, start + float(req["timeout"]), req
            )
        finally:
            self._cleanup(pid, workdir)
            os.close(out_r), os.close(err_r)
        if status is None:
            _, status = os.waitpid(pid, 0)
        return self._result(status, out, err, timed_out, time.monotonic() - start)

    # -- sessions ---------------------------------------------------------------------------------
    def _open_session(self, req: dict) -> None:
        """Fork a session child that keeps one interpreter state across cells."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        st_r, st_w = os.pipe()
        workdir = WORKDIR if self.namespaces else tempfile.mkdtemp(prefix="simpletir-")
        pid = os.fork()
        if pid == 0:
            for fd in (out_r, err_r, in_w, ctl_w, st_r):
                os.close(fd)
            self._child(req, out_w, err_w, in_r, workdir, (ctl_r, st_w))
        for fd in (out_w, err_w, in_r, in_w, ctl_r, st_w):
            os.close(fd)
        self.session = {
            "pid": pid,
            "out": out_r,
            "err": err_r,
            "ctl": ctl_w,
            "status": st_r,
            "workdir": workdir,
        }

    def close_session(self, reaped: bool = False) -> int | None:
        """End the open session, if any: kill its processes, remove its directory; its wait status."""
        session, self.session = self.session, None
        if session is None:
            return None
        try:
            self._cleanup(session["pid"], session["workdir"])
        finally:
            for key in ("out", "err", "ctl", "status"):
                os.close(session[key])
        return None if reaped else os.waitpid(session["pid"], 0)[1]

    def session_run(self, req: dict) -> dict:
        """Run one cell in the open session (opened, or reopened after a death, as needed)."""
        start = time.monotonic()
        note = ""
        if self.session is None:
            self._open_session(req)
            if self.session_lost:
                note, self.session_lost = SESSION_RESTARTED.format(why=self.session_lost), None
        session = self.session
        assert session is not None
        cell = json.dumps({"code": req["code"], "timeout": float(req["timeout"]), "stdin": req.get("stdin")})
        try:
            _write_all(session["ctl"], _HEADER.pack(len(cell.encode())) + cell.encode())
        except OSError:
            pass  # the child is dead; _collect sees its exit status
        out, err, status, timed_out, reply = self._collect(
            session["pid"],
            session["out"],
            session["err"],
            start + float(req["timeout"]),
            req,
            session["status"],
        )
        if reply is None:
            final = self.close_session(reaped=status is not None)
            result = self._result(
                final if status is None else status, out, err, timed_out, time.monotonic() - start
            )
            self.session_lost = result["status"]
        else:
            result = self._result(0, out, err, False, time.monotonic() - start, reply)
        result["stderr"] = note + result["stderr"]
        return result

    def _collect(
        self, pid: int, out_r: int, err_r: int, deadline: float, req: dict, status_r: int = -1
    ) -> tuple:
        """Read both pipes until the program exits (or a session cell reports on ``status_r``) or the deadline.

        Keeps at most ``max_output_bytes`` of each. Returns ``(stdout, stderr, exit status or None,
        timed_out, cell reply or None)``; the program counts as done when it exits, even if a process
        it left behind still holds the pipes open.
        """
        cap = int(req["max_output_bytes"])
        bufs = {out_r: bytearray(), err_r: bytearray()}
        dropped = {out_r: 0, err_r: 0}
        reply_buf = bytearray()
        sel = selectors.DefaultSelector()
        for fd in (out_r, err_r, status_r):
            if fd >= 0:
                sel.register(fd, selectors.EVENT_READ)
        status: int | None = None
        timed_out = False
        reply: dict | None = None

        def drain(wait: float) -> None:
            for key, _ in sel.select(wait):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                elif key.fd == status_r:
                    reply_buf.extend(chunk)
                else:
                    room = max(cap - len(bufs[key.fd]), 0)
                    bufs[key.fd] += chunk[:room]
                    dropped[key.fd] += len(chunk) - min(len(chunk), room)

        def finish_draining() -> None:
            for _ in range(64):  # what the program wrote before finishing is already in the pipes
                if not sel.get_map() or not sel.select(0):
                    break
                drain(0)

        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if sel.get_map():
                drain(min(remaining, 0.05))
            else:
                time.sleep(min(remaining, 0.001))
            if (
                len(reply_buf) >= _HEADER.size
                and len(reply_buf) >= _HEADER.size + _HEADER.unpack(reply_buf[:4])[0]
            ):
                size = _HEADER.unpack(reply_buf[: _HEADER.size])[0]
                reply = _parse_cell_reply(bytes(reply_buf[_HEADER.size : _HEADER.size + size]))
                finish_draining()
                break
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                finish_draining()
                break
        sel.close()
        return (bufs[out_r], dropped[out_r]), (bufs[err_r], dropped[err_r]), status, timed_out, reply

    def _cleanup(self, pid: int, workdir: str) -> None:
        """Kill what is left of the program, then give the next program fresh scratch space.

        Kills the program's session and, with a private uid and anything left, every process of that uid;
        without namespaces, the scratch space is the program's own temporary working directory.
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        leftovers = self._children() if self.subreaper else None
        if self._reaper is not None and leftovers != set():
            request_w, done_r, _ = self._reaper
            os.write(request_w, b"k")
            if not os.read(done_r, 1):
                raise RuntimeError("the reaper process died")
        if leftovers:
            self._reap_leftovers(pid)
        if self.namespaces:
            self._fresh_scratch()
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    def _reap_leftovers(self, program: int, wait_s: float = 1.0) -> None:
        """Kill and reap every process a program left behind (all are re-parented to this subreaper).

        Until reaped they would count against the private uid's process limit in the next program.
        Waits at most ``wait_s`` for killed ones to finish dying; any still dying are reaped next time.
        The program itself is left to the caller.
        """
        deadline = time.monotonic() + wait_s
        while True:
            left = self._children() - {program}
            if not left or time.monotonic() > deadline:
                return
            for child in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child, os.WNOHANG)
            time.sleep(0.001)

    def _children(self) -> set[int]:
        """This worker's child processes, its reaper and open session left out."""
        with open(self._children_file) as fh:
            pids = {int(p) for p in fh.read().split()}
        if self._reaper is not None:
            pids.discard(self._reaper[2])
        if self.extras is not None:
            pids.discard(self.extras.pid)
        if self.session is not None:
            pids.discard(self.session["pid"])
        return pids

    def _result(
        self, status: int, out: tuple, err: tuple, timed_out: bool, duration: float, cell: dict | None = None
    ) -> dict:
        """Classify the exit status (or a finished session cell's reply) into a result dict."""
        stdout, out_dropped = out
        stderr, err_dropped = err
        truncated = bool(out_dropped or err_dropped)
        text_out = stdout.decode("utf-8", errors="replace")
        text_err = stderr.decode("utf-8", errors="replace")
        if out_dropped:
            text_out += TRUNCATION_MARKER.format(omitted=out_dropped)
        if err_dropped:
            text_err += TRUNCATION_MARKER.format(omitted=err_dropped)
        returncode = os.waitstatus_to_exitcode(status) if cell is None else int(cell["returncode"])
        if cell is not None:
            kind = "memory" if cell["memory"] else ("ok" if returncode == 0 else "error")
        elif timed_out:
            kind = "timeout"
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            kind = "timeout" if sig == signal.SIGXCPU else "killed"
        elif returncode == MEMORY_EXIT and "MemoryError" in text_err:
            kind = "memory"
        elif returncode == 0x7D and text_err.startswith("sandbox setup failed"):
            kind = "sandbox_error"
        else:
            kind = "ok" if returncode == 0 else "error"
        return {
            "status": kind,
            "stdout": text_out,
            "stderr": text_err,
            "returncode": returncode,
            "duration_s": duration,
            "truncated": truncated,
        }


def _preload(modules: tuple[str, ...], warmup: str) -> list[str]:
    """Import ``modules`` (skipping those that fail) and run ``warmup``; the names that imported."""
    loaded = []
    for name in modules:
        try:
            __import__(name)
        except Exception:
            continue
        loaded.append(name)
    with contextlib.suppress(Exception):
        exec(warmup, {})
    return loaded


def _freeze_heap(plain_malloc: bool) -> None:
    """Prepare the warm heap for forking: children inherit it copy-on-write.

    Keeps the collector from touching (copying) it, and children's first allocations from landing in
    free chunks scattered over shared pages.
    """
    gc.collect()
    gc.freeze()
    if plain_malloc:
        _plug_heap_holes()


class _ExtrasTemplate:
    """A forked copy of the worker that has also imported EXTRA_PRELOAD; programs naming those run from it.

    Forked when the worker starts, it imports the extras while the worker already serves other
    programs, then answers the worker's own request protocol over two pipes with the same code
    (``Zygote.run``), so isolation, limits and clean-up are identical; the worker relays. It is only a
    shortcut: while it is not ready, or if it could not start, the worker runs such programs itself
    (they import the extras on their own). One that dies during a run is forked again, and that run
    gets ``sandbox_error``.
    """

    def __init__(self, zygote: Zygote, inherited_fds: tuple[int, ...]) -> None:
        self._zygote = zygote
        self._inherited_fds = inherited_fds
        self._start()

    def _start(self) -> None:
        req_r, self._req_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            for fd in (self._req_w, self._rep_r, *self._inherited_fds):
                os.close(fd)
            self._become_template(self._zygote, req_r, rep_w)
        os.close(req_r), os.close(rep_w)
        self._state = "starting"

    @staticmethod
    def _become_template(zygote: Zygote, req_r: int, rep_w: int) -> None:
        """Child side: load the extras, then serve runs; never returns."""
        try:
            _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != zygote.pid:
                os._exit(0)
            zygote.pid = os.getpid()
            zygote._children_file = f"/proc/self/task/{zygote.pid}/children"
            zygote.subreaper = zygote.subreaper and _libc().prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
            zygote.extras = None
            zygote.preloaded += _preload(EXTRA_PRELOAD, EXTRA_WARMUP)
            _freeze_heap(zygote.plain_malloc)
            _write_msg(rep_w, {"ready": True})
            _serve(zygote, req_r, rep_w)
        finally:
            os._exit(0)

    def ready(self, wait: float) -> bool:
        """True once the template has loaded the extras (waiting at most ``wait`` s); False if it cannot start."""
        if self._state == "starting":
            if not select.select([self._rep_r], [], [], wait)[0]:
                return False
            self._state = "ready" if _read_msg(self._rep_r, time.monotonic() + 1.0) is not None else "failed"
        return self._state == "ready"

    def run(self, req: dict) -> dict:
        """Run ``req`` in the (ready) template; a template that fails is replaced and the run is ``sandbox_error``."""
        try:
            _write_msg(self._req_w, req)
            # answers before the sandbox's own deadline for the worker (timeout + 10 s) runs out
            reply = _read_msg(self._rep_r, time.monotonic() + float(req["timeout"]) + 5.0)
            if reply is None:
                raise OSError("it stopped answering")
            return reply
        except OSError as exc:
            self.stop()
            self._start()
            return _sandbox_error(f"sandbox extras template failed: {exc}")

    def stop(self) -> None:
        """Kill the template and close its pipes."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self._req_w), os.close(self._rep_r)


def _read_msg(fd: int, deadline: float) -> dict | None:
    """One length-prefixed JSON message from ``fd``; None at EOF or when ``deadline`` passes first."""
    header = _read_exact(fd, _HEADER.size, deadline)
    body = _read_exact(fd, _HEADER.unpack(header)[0], deadline) if header else None
    return None if body is None else json.loads(body)


def _program_streams() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]:
    """UTF-8 (errors replaced) text streams over fds 0, 1 and 2, for programs to use as sys.stdin/stdout/stderr.

    Made once in the worker, never used by it: a child rebinds the fds and takes these as they are. They
    are opened while fds 0-2 are pipes, as they are in a program, so that nothing they cache (whether
    the stream is seekable, a tty) is stale there.
    """
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    read_end, write_end = os.pipe()
    try:
        os.dup2(read_end, 0)
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        return (
            open(0, encoding="utf-8", errors="replace", closefd=False),
            open(1, "w", encoding="utf-8", errors="replace", closefd=False),
            open(2, "w", encoding="utf-8", errors="replace", closefd=False),
        )
    finally:
        for fd, old in zip((0, 1, 2), saved, strict=True):
            os.dup2(old, fd)
            os.close(old)
        os.close(read_end)
        os.close(write_end)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")
    ]  # fmt: skip


def _plug_heap_holes(limit: int = 64 * 1024 * 1024) -> int:
    """Allocate, and never free, every free chunk inside glibc's heap; the bytes taken (0 without glibc).

    A forked program's first allocations would otherwise land in free chunks spread over pages it
    shares with the worker, each costing a copy-on-write fault (~25% of a child's faults here); with
    the holes taken they come from fresh memory at the top of the heap. Done once, after the warm-up:
    the worker's later allocations come from the top and are reused run after run.
    """
    libc = _libc()
    if not hasattr(libc, "mallinfo2"):
        return 0
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    taken = 0
    for size in range(8, 1040, 16):  # glibc's per-thread cache keeps up to 7 chunks of each small size
        for _ in range(7):
            libc.malloc(size)
            taken += size
    while taken < limit:
        info = libc.mallinfo2()
        if info.fordblks - info.keepcost < 64 and info.fsmblks == 0:
            break
        for _ in range(2048):
            libc.malloc(8)  # the smallest chunk: carves any free chunk up completely
        taken += 2048 * 32
    return taken


def _mount(
    libc: ctypes.CDLL, source: str, target: str, fstype: str | None, flags: int, data: str = ""
) -> None:
    """mount(2); raises OSError with the target on failure."""
    fs = fstype.encode() if fstype else None
    if libc.mount(source.encode(), target.encode(), fs, flags, data.encode() or None) != 0:
        raise OSError(ctypes.get_errno(), f"mount {source} on {target} failed")


def _exec_program(code: str, namespace: dict) -> int:
    """Execute ``code`` in ``namespace`` as ``python`` would a script; its exit code (MEMORY_EXIT on MemoryError)."""
    exit_code = 0
    try:
        exec(compile(code, "<code>", "exec"), namespace)
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            with contextlib.suppress(BaseException):
                print(exc.code, file=sys.stderr)
    except MemoryError as exc:
        _print_program_traceback(exc)
        exit_code = MEMORY_EXIT
    except BaseException as exc:
        _print_program_traceback(exc)
        exit_code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    return exit_code


def _serve_cells(namespace: dict) -> None:
    """Session child: run each cell from SESSION_CTL_FD in one namespace, reply on SESSION_STATUS_FD; never returns."""
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    server = os.getpid()
    while True:
        header = _read_exact(SESSION_CTL_FD, _HEADER.size)
        body = _read_exact(SESSION_CTL_FD, _HEADER.unpack(header)[0]) if header else None
        if body is None:
            os._exit(0)
        cell = json.loads(body)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(usage.ru_utime + usage.ru_stime + float(cell["timeout"])) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))
        sys.stdin = io.StringIO(cell.get("stdin") or "")
        exit_code = _exec_program(cell["code"], namespace)
        if os.getpid() != server:
            os._exit(exit_code & 0xFF)  # a process the cell forked finished the cell: it must not serve
        _write_msg(SESSION_STATUS_FD, {"returncode": exit_code & 0xFF, "memory": exit_code == MEMORY_EXIT})


def _parse_cell_reply(body: bytes) -> dict | None:
    """A session cell's reply, or None when it is not one (a program wrote to the status pipe itself)."""
    try:
        reply = json.loads(body)
        return {"returncode": int(reply["returncode"]), "memory": reply["memory"] is True}
    except (ValueError, TypeError, KeyError):
        return None


def _print_program_traceback(exc: BaseException) -> None:
    """Print ``exc`` as Python would for the program alone (the sandbox's own frame left out)."""
    with contextlib.suppress(BaseException):
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, tb)


def _start_reaper(uid: int) -> tuple[int, int, int]:
    """Fork a small helper that, per byte received, kills every process of ``uid`` and answers a byte.

    Returns ``(request fd, answer fd, helper pid)``.
    """
    req_r, req_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(req_w), os.close(done_r)
        while os.read(req_r, 1):
            killer = os.fork()
            if killer == 0:
                try:
                    os.setgid(uid)
                    os.setuid(uid)
                    for _ in range(3):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(killer, 0)
            os.write(done_w, b"d")
        os._exit(0)
    os.close(req_r), os.close(done_w)
    return req_w, done_r, pid


def _block_sockets() -> None:
    """Weaker network fallback without namespaces: make socket creation fail inside Python."""
    import socket

    def _denied(*_args: object, **_kwargs: object) -> None:
        raise PermissionError("network access is disabled in the sandbox")

    socket.socket = _denied  # type: ignore[assignment,misc]
    socket.create_connection = _denied  # type: ignore[assignment]
    socket.socketpair = _denied  # type: ignore[assignment]
    sys.modules["_socket"].socket = _denied  # type: ignore[attr-defined]


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytes | None:
    """Read exactly ``n`` bytes from ``fd``; None at EOF, or when ``deadline`` (monotonic) passes first."""
    data = bytearray()
    while len(data) < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_msg(fd: int, obj: dict) -> None:
    """Write one length-prefixed JSON message."""
    body = json.dumps(obj).encode()
    _write_all(fd, _HEADER.pack(len(body)) + body)


def _sandbox_error(text: str) -> dict:
    """A result dict for an infrastructure fault (never the program's own)."""
    return {"status": "sandbox_error", "stderr": text, "returncode": None, "stdout": "", "duration_s": 0.0,
            "truncated": False}  # fmt: skip


def _serve(zygote: Zygote, proto_in: int, proto_out: int) -> None:
    """Answer length-prefixed JSON requests from ``proto_in`` on ``proto_out`` until EOF."""
    while True:
        header = _read_exact(proto_in, _HEADER.size)
        body = _read_exact(proto_in, _HEADER.unpack(header)[0]) if header else None
        if body is None:
            zygote.close_session()
            return
        req = json.loads(body)
        op = req.get("op", "run")
        try:
            if op == "session_run":
                reply = zygote.session_run(req)
            elif op == "session_close":
                zygote.close_session()
                reply = {"closed": True}
            else:
                reply = zygote.run(req)
        except Exception:
            reply = _sandbox_error(traceback.format_exc())
        _write_msg(proto_out, reply)


def main() -> None:
    """Serve requests from stdin until EOF; replies go to the original stdout."""
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints of preloaded libraries go to stderr, never into the protocol
    zygote = Zygote(inherited_fds=(proto_in, proto_out))
    _write_msg(proto_out, {"ready": True, "isolation": zygote.isolation})
    _serve(zygote, proto_in, proto_out)


if __name__ == "__main__":
    main()
