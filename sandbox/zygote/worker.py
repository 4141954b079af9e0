"""The warm worker of the local sandbox: imports libraries once, then forks one child per program.

``python zygote`` (this package, run by path) speaks :mod:`framing` over its stdin/stdout and answers
one request at a time: ``run`` (a program), ``session_run`` / ``session_close`` (see session.py) and
``warm`` (wait until the extras template is loaded). It imports nothing from ``simpletir``, and
programs find nothing of ours on their ``sys.path``.

Where each part lives: isolation.py (namespaces, the filesystem view, scratch, the private uid),
heap.py (preloading and the warm heap), child.py (what a forked child does to become the program),
capture.py (output capture and how a run ended), cleanup.py (leftover processes), session.py,
extras.py (the scipy/networkx template), bare.py (the bench's unisolated reference), framing.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import IO, Any, NamedTuple

from . import capture, framing
from .bare import BareFork
from .child import (
    PROGRAM_ENV,
    ProgramSetup,
    become_program,
    exec_program,
    limits,
    prepare_main,
    program_streams,
)
from .cleanup import Cleanup
from .extras import ExtrasTemplate
from .heap import EXTRA_NAMES, EXTRA_PRELOAD, EXTRA_WARMUP, PRELOAD, WARMUP, freeze_heap, preload
from .isolation import (
    WORKDIR,
    become_namespace_init,
    claim_uid,
    enter_view,
    fresh_scratch,
    namespaces_work,
    program_path,
    uid_can_read_python,
)
from .session import Sessions, serve_cells

STDIN_LIMIT = 65536  # bytes of a run's stdin delivered to the program


class Spawned(NamedTuple):
    """A forked program (or session) child and the worker's ends of its pipes."""

    pid: int
    out: int
    err: int
    workdir: str
    ctl: int = -1
    status: int = -1

    def close(self) -> None:
        """Close the worker's pipe ends."""
        for fd in (self.out, self.err, self.ctl, self.status):
            if fd >= 0:
                os.close(fd)


class Worker:
    """One warm, isolated worker; see the module docstring."""

    def __init__(
        self, *, namespaces: bool, uid: int | None, uid_lock: IO[str] | None, extras: bool,
        inherited_fds: tuple[int, ...],
    ) -> None:  # fmt: skip
        """Set up isolation and load the libraries; ``inherited_fds`` (the protocol pipes) are closed in the template."""
        self.pid = os.getpid()
        self.namespaces = namespaces
        self._uid_lock = uid_lock
        self.view = enter_view(uid) if namespaces else None
        if uid is not None and not uid_can_read_python(uid):
            uid = None  # the private uid cannot read Python here; fall back to namespaces only
        self.uid = uid
        # Forked before the heavy imports, so killing a uid's processes costs a small fork, not a big one.
        self.leftovers = Cleanup(uid)
        self.preloaded = preload(PRELOAD, WARMUP)
        # What every program gets, made once here so that a child only rebinds file descriptors: no
        # variable of the trainer (the worker already starts with a clean environment), and stdio streams.
        self.plain_malloc = os.environ.get("PYTHONMALLOC") == "malloc"
        os.environ.clear()
        os.environ.update(PROGRAM_ENV)
        if namespaces:
            os.environ.update({"HOME": WORKDIR, "TMPDIR": WORKDIR})
        # the worker is PID 1 of its programs' PID namespace: when it dies, they die
        parent = None if namespaces else self.pid
        self.setup = ProgramSetup(parent, uid, namespaces, program_path(), program_streams())
        prepare_main()
        self.sessions = Sessions(self)
        self._unsettled: Spawned | None = None
        available = [name for name in EXTRA_PRELOAD if "." not in name and importlib.util.find_spec(name)]
        self.isolation: dict[str, Any] = {
            "namespaces": namespaces,
            "pid_namespace": namespaces,
            "readonly_root": bool(self.view and self.view.readonly),
            "view": self.view.visible if self.view else None,
            "uid": uid,
            "subreaper": self.leftovers.subreaper,
            "preloaded": self.preloaded,
            "program_path": self.setup.path,
            "python_in_scratch": [path for path, _ in self.view.python_in_scratch] if self.view else [],
            "extras": available if extras else [],
            "python": sys.version.split()[0],
        }
        freeze_heap(self.plain_malloc)
        self.extras = ExtrasTemplate(self, inherited_fds) if extras and available else None

    def become_extras_template(self) -> None:
        """In the forked template: take over as the process programs naming the extras are forked from."""
        self.pid = os.getpid()
        self.setup = dataclasses.replace(self.setup, parent=self.pid)
        self.leftovers.adopt_orphans()
        self.extras = None
        self.preloaded += preload(EXTRA_PRELOAD, EXTRA_WARMUP)
        freeze_heap(self.plain_malloc)

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        """Answer one request (see the module docstring); a fault of the worker becomes ``sandbox_error``."""
        op = req.get("op", "run")
        try:
            self.settle()
            if op == "warm":
                return {"warm": self.extras is None or self.extras.ready(wait=float(req["timeout"]))}
            if op == "session_run":
                return self.sessions.run(req)
            if op == "session_close":
                self.sessions.close()
                return {"closed": True}
            return self.run(req)
        except Exception:
            return capture.sandbox_error(traceback.format_exc())

    def spawn(self, req: dict[str, Any], session: bool = False) -> Spawned:
        """Fork a child that runs ``req`` (or, for a session, serves cells), and hand it its stdin."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        ctl_r, ctl_w, st_r, st_w = (*os.pipe(), *os.pipe()) if session else (-1, -1, -1, -1)
        workdir = WORKDIR if self.namespaces else tempfile.mkdtemp(prefix="simpletir-")
        rlimits = limits(req)
        pid = os.fork()
        if pid == 0:
            for fd in (out_r, err_r, in_w, ctl_w, st_r):
                if fd >= 0:
                    os.close(fd)
            ctl = (ctl_r, st_w) if session else ()
            namespace = become_program(self.setup, rlimits, (in_r, out_w, err_w), workdir, ctl)
            if session:
                serve_cells(namespace)
            os._exit(exec_program(req["code"], namespace) & 0xFF)
        for fd in (out_w, err_w, in_r, ctl_r, st_w):
            if fd >= 0:
                os.close(fd)
        stdin = b"" if session else (req.get("stdin") or "").encode()
        if stdin:
            try:
                os.set_blocking(in_w, False)
                os.write(in_w, stdin[:STDIN_LIMIT])
            except OSError:
                pass  # the program has gone or closed its stdin
        os.close(in_w)
        return Spawned(pid, out_r, err_r, workdir, ctl_w, st_r)

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run one program (from the extras template when it names one) and return the result fields."""
        self.sessions.close()
        if self.extras is not None and EXTRA_NAMES.search(req["code"]) and self.extras.ready(wait=2.0):
            return self.extras.run(req)
        start = time.monotonic()
        child = self._unsettled = self.spawn(req)
        out, err, status, timed_out, _ = capture.collect(
            child.pid, child.out, child.err, start + float(req["timeout"]), int(req["max_output_bytes"])
        )
        if status is None:  # timed out
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            _, status = os.waitpid(child.pid, 0)
        return capture.result(status, out, err, timed_out, time.monotonic() - start)

    def settle(self) -> None:
        """Clean up after the last program run, if not done yet: called once its reply is out.

        Its processes left behind are killed and reaped, and scratch is fresh, before the next request is
        read, so the next program finds everything as new; the reply just does not wait for it.
        """
        child, self._unsettled = self._unsettled, None
        if child is not None:
            try:
                self.cleanup(child)
            finally:
                child.close()

    def cleanup(self, child: Spawned) -> None:
        """Kill what is left of ``child``'s program, then give the next program fresh scratch space."""
        keep = {self.extras.pid} if self.extras is not None else set()
        if self.sessions.pid is not None:
            keep.add(self.sessions.pid)
        self.leftovers.after(child.pid, keep)
        if self.view is not None:
            fresh_scratch(self.view, self.uid)
        else:
            shutil.rmtree(child.workdir, ignore_errors=True)


def main(argv: list[str]) -> None:
    """Serve requests from stdin until EOF; replies go to the original stdout.

    ``argv``: ``--no-extras`` (no extras template), ``--bare`` (the bench's reference, see bare.py).
    """
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints of preloaded libraries go to stderr, never into the protocol
    protocol = (proto_in, proto_out)
    extras = "--no-extras" not in argv
    if "--bare" in argv:
        forker: Worker | BareFork = BareFork(extras=extras, inherited_fds=protocol)
    else:
        uid, uid_lock = claim_uid()  # the lock files live in the host's /tmp: before namespaces
        namespaces = namespaces_work(uid)
        if namespaces:
            become_namespace_init(protocol)
        forker = Worker(
            namespaces=namespaces, uid=uid, uid_lock=uid_lock, extras=extras, inherited_fds=protocol
        )
    framing.write_message(proto_out, {"ready": True, "isolation": forker.isolation})
    if isinstance(forker, Worker):
        framing.serve(forker.handle, proto_in, proto_out, after_reply=forker.settle)
        forker.sessions.close()
    else:
        framing.serve(forker.handle, proto_in, proto_out)
