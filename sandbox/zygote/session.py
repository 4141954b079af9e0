"""Session mode: one long-lived child runs consecutive cells in one namespace (a Jupyter-like kernel).

The worker keeps at most one session open (:class:`Sessions`); a stateless run closes it. The child
side (:func:`serve_cells`) reads cells from SESSION_CTL_FD and answers each on SESSION_STATUS_FD.
"""

from __future__ import annotations

import io
import os
import resource
import sys
import time
from typing import TYPE_CHECKING, Any

from . import capture, framing
from .child import MEMORY_EXIT, SESSION_CTL_FD, SESSION_STATUS_FD, exec_program

if TYPE_CHECKING:
    from .worker import Spawned, Worker

SESSION_RESTARTED = "[session restarted: the previous interpreter ended ({why}); its state is lost]\n"


def serve_cells(namespace: dict[str, Any]) -> None:
    """Session child: run each cell from SESSION_CTL_FD in ``namespace``, reply on SESSION_STATUS_FD; never returns."""
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    server = os.getpid()
    while True:
        cell = framing.read_message(SESSION_CTL_FD)
        if cell is None:
            os._exit(0)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(usage.ru_utime + usage.ru_stime + float(cell["timeout"])) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))
        sys.stdin = io.StringIO(cell.get("stdin") or "")
        exit_code = exec_program(cell["code"], namespace)
        if os.getpid() != server:
            os._exit(exit_code & 0xFF)  # a process the cell forked finished the cell: it must not serve
        framing.write_message(
            SESSION_STATUS_FD, {"returncode": exit_code & 0xFF, "memory": exit_code == MEMORY_EXIT}
        )


class Sessions:
    """The worker's open session, if any, and how the last one ended when that was not by a close."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self.child: Spawned | None = None
        self._lost: str | None = None

    @property
    def pid(self) -> int | None:
        """The open session child's pid, or None."""
        return self.child.pid if self.child else None

    def close(self, reaped: bool = False) -> int | None:
        """End the open session, if any: kill its processes, refresh scratch; its wait status."""
        child, self.child = self.child, None
        if child is None:
            return None
        try:
            self._worker.cleanup(child)
        finally:
            child.close()
        return None if reaped else os.waitpid(child.pid, 0)[1]

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run one cell in the open session (opened, or reopened after a death, as needed)."""
        start = time.monotonic()
        note = ""
        if self.child is None:
            self.child = self._worker.spawn(req, session=True)
            if self._lost:
                note, self._lost = SESSION_RESTARTED.format(why=self._lost), None
        child = self.child
        cell = {"code": req["code"], "timeout": float(req["timeout"]), "stdin": req.get("stdin")}
        try:
            framing.write_message(child.ctl, cell)
        except OSError:
            pass  # the child is dead; collect sees its exit status
        out, err, status, timed_out, reply = capture.collect(
            child.pid, child.out, child.err, start + float(req["timeout"]), int(req["max_output_bytes"]),
            child.status,
        )  # fmt: skip
        if reply is None:
            final = self.close(reaped=status is not None)
            result = capture.result(
                final if status is None else status, out, err, timed_out, time.monotonic() - start
            )
            self._lost = result["status"]
        else:
            result = capture.result(0, out, err, False, time.monotonic() - start, reply)
        result["stderr"] = note + result["stderr"]
        return result
