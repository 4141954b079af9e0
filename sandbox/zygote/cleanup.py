"""After a run: kill every process the program left behind and reap it before the next program starts."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from .libc import PR_SET_CHILD_SUBREAPER, prctl


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


class Cleanup:
    """Kills a finished program's leftovers: its process group, its orphans, every process of the private uid.

    The worker is a child subreaper (or PID 1 of its namespace), so orphans of a program, ``setsid`` ones
    included, become its children: an empty children list after a run proves nothing survived, and the
    uid-wide kill (a fork of the small reaper helper, started before the heavy imports) is skipped.
    """

    def __init__(self, uid: int | None) -> None:
        self.reaper = _start_reaper(uid) if uid is not None else None
        self.subreaper = False
        self._children_fd = -1
        self.adopt_orphans()

    def adopt_orphans(self) -> None:
        """Make this process (the worker, or its extras template after the fork) the one orphans go to."""
        children_file = f"/proc/self/task/{os.getpid()}/children"
        self.subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1) and os.path.exists(children_file)
        if self._children_fd >= 0:
            os.close(self._children_fd)  # the forking process's file (in the extras template after its fork)
        # Opened once and re-read with pread: a few system calls and pages touched after every run fewer.
        self._children_fd = os.open(children_file, os.O_RDONLY) if self.subreaper else -1

    def children(self, keep: set[int]) -> set[int]:
        """This process's children but ``keep`` and the reaper helper (only when ``subreaper``)."""
        listed = os.pread(self._children_fd, 1 << 16, 0)
        if not listed:
            return set()
        return {int(p) for p in listed.split()} - keep - ({self.reaper[2]} if self.reaper else set())

    def after(self, program: int, keep: set[int]) -> None:
        """Kill everything ``program`` left (``keep``: this process's own helpers); reap what was left.

        Waits at most 1 s for killed leftovers to finish dying (until reaped they would count against the
        private uid's process limit in the next program); any still dying are reaped next time. The
        program itself is left to the caller.
        """
        leftovers = self.children(keep) if self.subreaper else None
        if leftovers == set():
            return  # reaped, and a subreaper inherits whatever a program leaves: nothing is left
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(program, signal.SIGKILL)
        if self.reaper is not None:
            request_w, done_r, _ = self.reaper
            os.write(request_w, b"k")
            if not os.read(done_r, 1):
                raise RuntimeError("the reaper process died")
        if leftovers is None:  # no subreaper: nothing to reap from here
            return
        deadline = time.monotonic() + 1.0
        while True:
            left = self.children(keep | {program})
            if not left or time.monotonic() > deadline:
                return
            for child in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child, os.WNOHANG)
            time.sleep(0.001)
