"""The grader's template process (``python -m simpletir.reward.worker MEMORY_LIMIT_MB CONTROL_FD``).

It caps its address space, imports sympy and math-verify and runs a few comparisons once, so that
parsers and caches are built, then says ``ready`` on its control socket (an ``AF_UNIX`` seqpacket
socket inherited as ``CONTROL_FD``). From then on it forks one warm worker per ``fork`` message, which
carries the worker's end of a fresh socket pair; a worker starts in milliseconds, inherits the cap, and
answers each JSON line until its socket closes: ``{"given", "truth", "float_rounding"}`` with
``{"equal": bool}``, ``{"op": "official", "response", "truths"}`` (the official grader,
:func:`simpletir.reward.official.grade_response`) with ``{"equal": bool, "pred": str}``, a failure with
``{"error": str}``. ``kill PID`` kills and reaps one of its workers (no reply: the pool does not wait for
it). The template
exits when the control socket closes, so it never outlives the process that started it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import resource
import signal
import socket
import sys
from typing import Any

WARMUP = (("\\frac{1}{2}", "0.5"), ("\\sqrt{8}", "2\\sqrt{2}"), ("(x+1)^2", "x^2+2x+1"), ("x \\geq 1", "x>1"))
"""Comparisons run once in the template: they build math-verify's parsers and sympy's caches."""


def _limit_memory(limit_mb: int) -> None:
    """Cap this process's (and its workers') address space at ``limit_mb`` MiB (0 = no cap)."""
    if limit_mb > 0:
        limit = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    """The reply to one request: an official grading, or a symbolic comparison."""
    from simpletir.reward.equivalence import symbolic_equal
    from simpletir.reward.official import grade_response

    if request.get("op") == "official":
        return grade_response(request["response"], request["truths"])
    return {"equal": symbolic_equal(request["given"], request["truth"], request.get("float_rounding", 6))}


def _serve(conn: socket.socket) -> None:
    """A forked worker: answer requests on ``conn`` until it closes, then exit."""
    with conn.makefile("rb") as lines:
        for line in lines:
            try:
                reply = _answer(json.loads(line))
            except (Exception, RecursionError, MemoryError) as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            conn.sendall(json.dumps(reply).encode() + b"\n")


def _reap(children: set[int]) -> None:
    """Reap every worker that has exited (they exit when the pool closes their socket)."""
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                children.discard(pid)


def _fork_worker(control: socket.socket, conn_fd: int) -> int:
    """Fork one worker serving on ``conn_fd``; returns its pid (the child never returns)."""
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            control.close()
            _serve(socket.socket(fileno=conn_fd))
        except BaseException:
            status = 1
        os._exit(status)
    os.close(conn_fd)
    return pid


def main(argv: list[str] | None = None) -> int:
    """Start up, then serve ``fork``/``kill`` messages on the control socket until it closes."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m simpletir.reward.worker MEMORY_LIMIT_MB CONTROL_FD", file=sys.stderr)
        return 2
    _limit_memory(int(args[0]))
    control = socket.socket(fileno=int(args[1]))
    os.dup2(2, 1)
    logging.disable(logging.CRITICAL)
    from simpletir.reward.equivalence import symbolic_equal
    from simpletir.reward.official import grade_response

    for given, truth in WARMUP:
        symbolic_equal(given, truth)
        grade_response(f"\\boxed{{{given}}}", [truth])
    gc.collect()
    gc.freeze()
    control.send(b"ready")
    children: set[int] = set()
    while True:
        message, fds, _, _ = socket.recv_fds(control, 64, 1)
        if not message:
            return 0
        _reap(children)
        if message == b"fork" and len(fds) == 1:
            pid = _fork_worker(control, fds[0])
            children.add(pid)
            control.send(str(pid).encode())
        elif message.startswith(b"kill ") and int(message[5:]) in children:
            pid = int(message[5:])
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            children.discard(pid)


if __name__ == "__main__":
    sys.exit(main())
