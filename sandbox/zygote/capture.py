"""The parent side of a run: capture a program's output while it runs, then classify how it ended."""

from __future__ import annotations

import os
import selectors
import signal
import time
from typing import Any

from . import framing
from .child import MEMORY_EXIT, SETUP_FAILED_EXIT

TRUNCATION_MARKER = "\n[... output truncated: {omitted} more bytes not shown ...]\n"
Output = tuple[bytearray, int]  # bytes kept, bytes dropped


def collect(
    pid: int, out_r: int, err_r: int, deadline: float, cap: int, status_r: int = -1
) -> tuple[Output, Output, int | None, bool, dict[str, Any] | None]:
    """Read both pipes until the program exits (or a session cell reports on ``status_r``) or the deadline.

    Keeps at most ``cap`` bytes of each. Returns ``(stdout, stderr, exit status or None, timed_out,
    cell reply or None)``; the program counts as done when it exits, even if a process it left behind
    still holds the pipes open.
    """
    bufs = {out_r: bytearray(), err_r: bytearray()}
    dropped = {out_r: 0, err_r: 0}
    reply_buf = bytearray()
    sel = selectors.DefaultSelector()
    for fd in (out_r, err_r, status_r):
        if fd >= 0:
            sel.register(fd, selectors.EVENT_READ)
    status: int | None = None
    timed_out = False
    reply: dict[str, Any] | None = None

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
        message = framing.split(reply_buf)
        if message is not None:
            reply = _cell_reply(message[0])
            finish_draining()
            break
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            finish_draining()
            break
    sel.close()
    return (bufs[out_r], dropped[out_r]), (bufs[err_r], dropped[err_r]), status, timed_out, reply


def _cell_reply(body: bytes) -> dict[str, Any] | None:
    """A session cell's reply, or None when it is not one (a program wrote to the status pipe itself)."""
    try:
        reply = framing.decode(body)
        return {"returncode": int(reply["returncode"]), "memory": reply["memory"] is True}
    except (ValueError, TypeError, KeyError):
        return None


def result(
    status: int,
    out: Output,
    err: Output,
    timed_out: bool,
    duration: float,
    cell: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Classify the exit status (or a finished session cell's reply) into a result dict."""
    stdout, out_dropped = out
    stderr, err_dropped = err
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
        kind = "timeout" if os.WTERMSIG(status) == signal.SIGXCPU else "killed"
    elif returncode == MEMORY_EXIT and "MemoryError" in text_err:
        kind = "memory"
    elif returncode == SETUP_FAILED_EXIT and text_err.startswith("sandbox setup failed"):
        kind = "sandbox_error"
    else:
        kind = "ok" if returncode == 0 else "error"
    return {
        "status": kind,
        "stdout": text_out,
        "stderr": text_err,
        "returncode": returncode,
        "duration_s": duration,
        "truncated": bool(out_dropped or err_dropped),
    }


def sandbox_error(text: str) -> dict[str, Any]:
    """A result dict for an infrastructure fault (never the program's own)."""
    return {"status": "sandbox_error", "stderr": text, "returncode": None, "stdout": "", "duration_s": 0.0,
            "truncated": False}  # fmt: skip
