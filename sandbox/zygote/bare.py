"""The bench's reference: the same warm fork as the worker, with no isolation at all.

``python zygote --bare`` answers the worker's ``run`` and ``warm`` requests from a parent that preloaded
and warmed up the same libraries, prepared its heap the same way and routes the same programs to the
same extras template, but forks each program with nothing else: no namespaces, private uid, limits,
fresh scratch or clean-up of leftovers. ``simpletir-sandbox bench`` runs it beside the sandbox in the
same run, so the difference is what isolation costs on that machine. Never give it untrusted code.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from . import capture
from .child import exec_program, prepare_main, program_streams
from .extras import ExtrasTemplate
from .heap import EXTRA_NAMES, EXTRA_PRELOAD, EXTRA_WARMUP, PRELOAD, WARMUP, freeze_heap, preload


class BareFork:
    """A warm parent that forks one unisolated child per program; see the module docstring."""

    def __init__(self, *, extras: bool, inherited_fds: tuple[int, ...]) -> None:
        """Load the libraries as the worker does; ``inherited_fds`` (the protocol pipes) are closed in the template."""
        self.pid = os.getpid()
        self.preloaded = preload(PRELOAD, WARMUP)
        self.plain_malloc = os.environ.get("PYTHONMALLOC") == "malloc"
        self.streams = program_streams()
        prepare_main()
        self.isolation: dict[str, Any] = {"bare": True, "preloaded": self.preloaded}
        freeze_heap(self.plain_malloc)
        self.extras = ExtrasTemplate(self, inherited_fds) if extras else None

    def become_extras_template(self) -> None:
        """In the forked template: load the extras as the worker's template does."""
        self.pid = os.getpid()
        self.extras = None
        self.preloaded += preload(EXTRA_PRELOAD, EXTRA_WARMUP)
        freeze_heap(self.plain_malloc)

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        """Answer a ``warm`` or ``run`` request."""
        if req.get("op") == "warm":
            return {"warm": self.extras is None or self.extras.ready(wait=float(req["timeout"]))}
        if self.extras is not None and EXTRA_NAMES.search(req["code"]) and self.extras.ready(wait=2.0):
            return self.extras.run(req)
        start = time.monotonic()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            sys.stdin, sys.stdout, sys.stderr = self.streams
            os._exit(exec_program(req["code"], sys.modules["__main__"].__dict__) & 0xFF)
        os.close(out_w), os.close(err_w)
        out, err, status, timed_out, _ = capture.collect(
            pid, out_r, err_r, start + float(req["timeout"]), int(req["max_output_bytes"])
        )
        if status is None:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(out_r), os.close(err_r)
        return capture.result(status, out, err, timed_out, time.monotonic() - start)
