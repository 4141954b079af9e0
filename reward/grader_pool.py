"""A pool of grader worker processes with a hard per-call time limit, safe to call from any thread.

The pool starts one template process (``python -m simpletir.reward.worker``, by fork+exec, so it is
safe to start from a threaded trainer) that imports sympy and math-verify and warms them up once; every
worker is then forked from it in milliseconds, already warm. A worker speaks one JSON line per request
over its own socket. A call that runs past its limit has its worker killed (SIGKILL) and the next call
forks a fresh one; the caller gets :class:`~simpletir.reward.equivalence.GradingTimeout`, never a hang,
and no ``signal.alarm`` is used. The template's one-time start-up (seconds) is not part of any call's
limit: :func:`start_default_pool` begins it ahead of need, and a call that arrives before it is done waits
for it first.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import weakref

from simpletir.reward.equivalence import FLOAT_ROUNDING, GradingError, GradingTimeout

DEFAULT_MAX_WORKERS = min(4, max(2, os.cpu_count() or 1))
"""Worker processes per pool unless ``SIMPLETIR_REWARD_WORKERS`` says otherwise."""

DEFAULT_MEMORY_LIMIT_MB = 4096
"""Address-space limit of the template and its workers (``SIMPLETIR_REWARD_WORKER_MEMORY_MB``; 0 = none)."""

DEFAULT_STARTUP_TIMEOUT_S = 60.0
"""How long the template may take to import and warm up sympy and math-verify before it counts as failed."""

PRESTART_ENV = "SIMPLETIR_REWARD_PRESTART"
"""Set to ``0`` to start the grader on first use instead of when :mod:`simpletir.reward` is imported."""

RETURN_MARGIN = 0.05
"""A worker's reply is awaited until this fraction of the time the comparison was given is left
(0.25 s of a 5 s limit), leaving time to kill the worker and return on a busy machine or through a
garbage-collection pause (the benchmark, with a large heap, returned up to 0.1 s after the wait ended)."""

_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_DEFAULT_POOL: WorkerPool | None = None
_DEFAULT_LOCK = threading.Lock()


def _wait_readable(fd: int, timeout_s: float) -> bool:
    """True when ``fd`` is readable (data, EOF or error) within ``timeout_s`` seconds."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0.0, timeout_s) * 1000))


class _Worker:
    """One forked worker: its pid and the parent's end of its socket."""

    def __init__(self, pid: int, conn: socket.socket) -> None:
        self.pid = pid
        self.conn = conn
        self._buffer = b""

    def _read_line(self, deadline: float) -> bytes | None:
        """Next line from the worker, ``None`` at ``deadline``; raises ``EOFError`` if it died."""
        while b"\n" not in self._buffer:
            if not _wait_readable(self.conn.fileno(), deadline - time.monotonic()):
                return None
            try:
                chunk = self.conn.recv(1 << 16)
            except OSError as exc:
                raise EOFError("grader worker exited") from exc
            if not chunk:
                raise EOFError("grader worker exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def request(self, payload: dict[str, object], deadline: float) -> dict[str, object] | None:
        """Send one request and wait until ``deadline`` for its reply; ``None`` on timeout."""
        try:
            self.conn.sendall(json.dumps(payload).encode() + b"\n")
        except OSError as exc:
            raise EOFError("grader worker exited") from exc
        line = self._read_line(deadline)
        return None if line is None else json.loads(line)

    def close(self) -> None:
        """Close the socket; an idle worker exits when it sees the end of its input."""
        with contextlib.suppress(OSError):
            self.conn.close()


class _Template:
    """The template process and the parent's end of its control socket (used under a lock)."""

    def __init__(self, memory_limit_mb: int) -> None:
        self.control, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env[PRESTART_ENV] = "0"
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "simpletir.reward.worker",
                    str(memory_limit_mb),
                    str(child_end.fileno()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(child_end.fileno(),),
                env=env,
            )
        finally:
            child_end.close()
        self.ready = False
        self._lock = threading.Lock()

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until the template has warmed up (or ``timeout_s``); False if it died or is still starting."""
        with self._lock:
            if not self.ready and _wait_readable(self.control.fileno(), timeout_s):
                with contextlib.suppress(OSError):
                    self.ready = self.control.recv(16) == b"ready"
            return self.ready

    def _ask(self, message: bytes, fds: tuple[int, ...] = ()) -> bytes:
        """Send one control message and return the reply; raises ``EOFError`` when the template is gone."""
        try:
            socket.send_fds(self.control, [message], list(fds))
            if not _wait_readable(self.control.fileno(), DEFAULT_STARTUP_TIMEOUT_S):
                raise EOFError("grader template stopped answering")
            reply = self.control.recv(64)
        except OSError as exc:
            raise EOFError("grader template exited") from exc
        if not reply:
            raise EOFError("grader template exited")
        return reply

    def fork(self) -> _Worker:
        """A new warm worker, forked from the template."""
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self._lock:
                pid = int(self._ask(b"fork", (child_end.fileno(),)))
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        return _Worker(pid, parent_end)

    def kill(self, worker: _Worker) -> None:
        """Have the template SIGKILL and reap ``worker`` (it never signals a pid it has reaped); the
        message has no reply, so the caller returns at once."""
        worker.close()
        with self._lock, contextlib.suppress(OSError):
            self.control.send(b"kill %d" % worker.pid)

    def close(self) -> None:
        """Close the control socket (a warm template exits; one still starting is killed) and reap it."""
        if not self.ready:
            self.proc.kill()
        with contextlib.suppress(OSError):
            self.control.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class WorkerPool:
    """Thread-safe pool of grader worker processes; :meth:`compare` runs one comparison in one of them."""

    def __init__(
        self,
        max_workers: int = DEFAULT_MAX_WORKERS,
        memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers
        self.memory_limit_mb = memory_limit_mb
        self.startup_timeout_s = startup_timeout_s
        self.pid = os.getpid()
        self.restarts = 0
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_workers)
        self._idle: list[_Worker] = []
        self._template: _Template | None = None
        self._closed = False
        _POOLS.add(self)

    def warm(self) -> None:
        """Start the template now (non-blocking), so that it is warm before the first comparison."""
        with self._lock:
            if self._template is None and not self._closed:
                self._template = _Template(self.memory_limit_mb)

    def wait_ready(self, timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S) -> bool:
        """Start the template if needed and block until it is warm (or ``timeout_s``); True when warm."""
        self.warm()
        with self._lock:
            template = self._template
        return template is not None and template.wait_ready(timeout_s)

    def _ready_template(self) -> _Template:
        """The running, warmed-up template, (re)started and waited for when needed."""
        with self._lock:
            if self._closed:
                raise GradingError("the grader worker pool is closed")
            if self._template is not None and self._template.proc.poll() is not None:
                self._template.close()
                self._template = None
            if self._template is None:
                self._template = _Template(self.memory_limit_mb)
            template = self._template
        if not template.wait_ready(self.startup_timeout_s):
            raise GradingError(
                f"grader template exited or did not start within {self.startup_timeout_s:.0f}s; "
                "run `python -c 'import math_verify, sympy'` in this environment to see why"
            )
        return template

    def _take(self, template: _Template) -> _Worker:
        """An idle worker, or a new one forked from ``template``."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return template.fork()
        except EOFError as exc:
            raise GradingError(
                "grader template died (memory limit or crash); it restarts on the next call"
            ) from exc

    def _give_back(self, worker: _Worker) -> None:
        """Return ``worker`` to the idle list, or close it when the pool is closed or already full."""
        with self._lock:
            keep = not self._closed and len(self._idle) < self.max_workers
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.close()

    def _discard(self, template: _Template, worker: _Worker) -> None:
        """Kill ``worker`` (the next call forks a fresh one)."""
        template.kill(worker)
        with self._lock:
            self.restarts += 1

    def compare(
        self, given: str, truth: str, timeout_s: float, float_rounding: int | None = FLOAT_ROUNDING
    ) -> bool:
        """Run :func:`~simpletir.reward.equivalence.symbolic_equal` in a worker within ``timeout_s``
        (waiting for a free worker counts; the template's one-time start-up does not); raises
        ``GradingTimeout`` or ``GradingError``."""
        reply = self.call({"given": given, "truth": truth, "float_rounding": float_rounding}, timeout_s)
        return bool(reply["equal"])

    def call(self, payload: dict[str, object], timeout_s: float) -> dict[str, object]:
        """Send one request (see :mod:`simpletir.reward.worker`) to a worker and return its reply within
        ``timeout_s``, as :meth:`compare` does; raises ``GradingTimeout`` or ``GradingError``."""
        template = self._ready_template()
        deadline = time.monotonic() + timeout_s
        if not self._slots.acquire(timeout=max(timeout_s, 0.0)):
            raise GradingTimeout(f"no grader worker became free within {timeout_s:.1f}s")
        try:
            worker = self._take(template)
            try:
                reply = worker.request(payload, deadline - RETURN_MARGIN * timeout_s)
            except EOFError as exc:
                self._discard(template, worker)
                raise GradingError("grader worker died (memory limit or crash)") from exc
            if reply is None:
                self._discard(template, worker)
                raise GradingTimeout(f"symbolic comparison exceeded {timeout_s:.1f}s")
            self._give_back(worker)
        finally:
            self._slots.release()
        if "error" in reply:
            raise GradingError(str(reply["error"]))
        return reply

    def close(self) -> None:
        """Close every idle worker and the template; busy workers are closed when they are handed back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            template, self._template = self._template, None
        for worker in idle:
            worker.close()
        if template is not None:
            template.close()


def default_pool() -> WorkerPool:
    """The process-wide pool (created and warmed on first use; re-created after a fork)."""
    global _DEFAULT_POOL
    with _DEFAULT_LOCK:
        if _DEFAULT_POOL is None or _DEFAULT_POOL.pid != os.getpid():
            _DEFAULT_POOL = WorkerPool(
                max_workers=int(os.environ.get("SIMPLETIR_REWARD_WORKERS", DEFAULT_MAX_WORKERS)),
                memory_limit_mb=int(
                    os.environ.get("SIMPLETIR_REWARD_WORKER_MEMORY_MB", DEFAULT_MEMORY_LIMIT_MB)
                ),
            )
            _DEFAULT_POOL.warm()
        return _DEFAULT_POOL


def start_default_pool() -> None:
    """Start the process-wide grader in the background unless ``SIMPLETIR_REWARD_PRESTART=0``."""
    if os.environ.get(PRESTART_ENV, "1") != "0":
        default_pool()


@atexit.register
def _close_all_pools() -> None:
    for pool in list(_POOLS):
        if pool.pid == os.getpid():
            pool.close()
