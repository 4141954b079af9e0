"""The extras template: a forked copy of the worker that has also imported scipy and networkx.

Programs that name them run from it (:data:`heap.EXTRA_NAMES`), so the lean worker every other
program is forked from stays cheap to fork.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from typing import Any, Protocol

from . import framing
from .capture import sandbox_error
from .libc import PR_SET_PDEATHSIG, prctl


class Forker(Protocol):
    """What the template needs of the process it copies: the worker (or the bench's bare fork).

    A ``settle()`` method, if it has one, runs after each reply (see ``framing.serve``).
    """

    pid: int

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        """Answer one request."""

    def become_extras_template(self) -> None:
        """In the forked copy: load the extras and take over as the template."""


class ExtrasTemplate:
    """A forked copy of a worker that also preloads the extras; programs naming them run from it.

    Forked when the worker starts, it imports the extras while the worker already serves other
    programs, then answers the worker's own request protocol over two pipes with the same code
    (``handle``), so isolation, limits and clean-up are identical; the worker relays. It is only a
    shortcut: while it is not ready, or if it could not start, the worker runs such programs itself
    (they import the extras on their own). One that dies during a run is forked again, and that run
    gets ``sandbox_error``.
    """

    def __init__(self, forker: Forker, inherited_fds: tuple[int, ...]) -> None:
        self._forker = forker
        self._inherited_fds = inherited_fds
        self._start()

    def _start(self) -> None:
        req_r, self._req_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            for fd in (self._req_w, self._rep_r, *self._inherited_fds):
                os.close(fd)
            self._become_template(self._forker, req_r, rep_w)
        os.close(req_r), os.close(rep_w)
        self._state = "starting"

    @staticmethod
    def _become_template(forker: Forker, req_r: int, rep_w: int) -> None:
        """Child side: load the extras, then serve runs; never returns."""
        try:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != forker.pid:
                os._exit(0)
            forker.become_extras_template()
            framing.write_message(rep_w, {"ready": True})
            framing.serve(forker.handle, req_r, rep_w, getattr(forker, "settle", None))
        finally:
            os._exit(0)

    def ready(self, wait: float) -> bool:
        """True once the template has loaded the extras (waiting at most ``wait`` s); False if it cannot start."""
        if self._state == "starting":
            if not select.select([self._rep_r], [], [], wait)[0]:
                return False
            ready = framing.read_message(self._rep_r, time.monotonic() + 1.0) is not None
            self._state = "ready" if ready else "failed"
        return self._state == "ready"

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run ``req`` in the (ready) template; a template that fails is replaced and the run is ``sandbox_error``."""
        try:
            framing.write_message(self._req_w, req)
            # answers before the sandbox's own deadline for the worker (timeout + 10 s) runs out
            reply = framing.read_message(self._rep_r, time.monotonic() + float(req["timeout"]) + 5.0)
            if reply is None:
                raise OSError("it stopped answering")
            return reply
        except OSError as exc:
            self.stop()
            self._start()
            return sandbox_error(f"sandbox extras template failed: {exc}")

    def stop(self) -> None:
        """Kill the template and close its pipes."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self._req_w), os.close(self._rep_r)
