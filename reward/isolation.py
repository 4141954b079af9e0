"""A pool of grader worker processes with a hard per-call time limit, safe to call from any thread.

Each worker is ``python -m simpletir.reward.worker`` (a fresh interpreter started by fork+exec, so
it is safe to start from a threaded trainer) speaking one JSON line per request over pipes. A call
that runs past its limit kills its worker (SIGKILL) and starts a replacement at once; the caller gets
:class:`~simpletir.reward.equivalence.GradingTimeout`, never a hang, and no ``signal.alarm`` is used.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref

from simpletir.reward.equivalence import GradingError, GradingTimeout

DEFAULT_MAX_WORKERS = min(4, max(2, os.cpu_count() or 1))
"""Worker processes per pool unless ``SIMPLETIR_REWARD_WORKERS`` says otherwise."""

DEFAULT_MEMORY_LIMIT_MB = 4096
"""Address-space limit of each worker (``SIMPLETIR_REWARD_WORKER_MEMORY_MB``; 0 disables it)."""

DEFAULT_STARTUP_TIMEOUT_S = 60.0
"""How long a new worker may take to import sympy and math-verify before it counts as failed."""

_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_DEFAULT_POOL: WorkerPool | None = None
_DEFAULT_LOCK = threading.Lock()


class _Worker:
    """One worker process and the read buffer of its stdout pipe."""

    def __init__(self, memory_limit_mb: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simpletir.reward.worker", str(memory_limit_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            close_fds=True,
            env=env,
        )
        self.ready = False
        self._buffer = b""

    def _read_line(self, timeout_s: float) -> bytes | None:
        """Next line from the worker, ``None`` after ``timeout_s``; raises ``EOFError`` if it died."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
            if not poller.poll(remaining_ms):
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError("grader worker exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until the worker has finished its imports (or ``timeout_s``); True when ready."""
        if not self.ready:
            try:
                self.ready = self._read_line(timeout_s) is not None
            except EOFError:
                return False
        return self.ready

    def poll_ready(self) -> bool:
        """Non-blocking readiness check."""
        return self.wait_ready(0.0) if self.proc.poll() is None else False

    def request(self, given: str, truth: str, timeout_s: float) -> dict[str, object] | None:
        """Send one comparison and wait up to ``timeout_s`` for its reply; ``None`` on timeout."""
        assert self.proc.stdin is not None
        payload = json.dumps({"given": given, "truth": truth}).encode() + b"\n"
        try:
            self.proc.stdin.write(payload)
        except (BrokenPipeError, OSError) as exc:
            raise EOFError("grader worker exited") from exc
        line = self._read_line(timeout_s)
        return None if line is None else json.loads(line)

    def kill(self) -> None:
        """Kill the process and reap it."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


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
        self._closed = False
        _POOLS.add(self)

    def warm(self) -> None:
        """Start every worker now (non-blocking) so the first symbolic comparisons do not wait."""
        with self._lock:
            while len(self._idle) < self.max_workers and not self._closed:
                self._idle.append(_Worker(self.memory_limit_mb))

    def _take(self) -> _Worker:
        """An idle worker, preferring one that has finished starting; a new one if none is idle."""
        with self._lock:
            if self._closed:
                raise GradingError("the grader worker pool is closed")
            for index, worker in enumerate(self._idle):
                if worker.poll_ready():
                    return self._idle.pop(index)
            if self._idle:
                return self._idle.pop(0)
        return _Worker(self.memory_limit_mb)

    def _give_back(self, worker: _Worker) -> None:
        """Return ``worker`` to the idle list, or kill it when the pool is closed or already full."""
        with self._lock:
            keep = not self._closed and len(self._idle) < self.max_workers
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.kill()

    def _replace(self, worker: _Worker) -> None:
        """SIGKILL ``worker`` now; reap it and start its replacement in the background, so the caller
        returns at once."""
        with contextlib.suppress(ProcessLookupError):
            worker.proc.kill()
        with self._lock:
            self.restarts += 1

        def reap_and_respawn() -> None:
            worker.kill()
            self._give_back(_Worker(self.memory_limit_mb))

        threading.Thread(target=reap_and_respawn, name="simpletir-reward-respawn", daemon=True).start()

    def compare(self, given: str, truth: str, timeout_s: float) -> bool:
        """Run :func:`~simpletir.reward.equivalence.symbolic_equal` in a worker within ``timeout_s``
        (time spent waiting for a free worker counts); raises ``GradingTimeout`` or ``GradingError``."""
        started = time.monotonic()
        if not self._slots.acquire(timeout=max(timeout_s, 0.0)):
            raise GradingTimeout(f"no grader worker became free within {timeout_s:.1f}s")
        try:
            worker = self._take()
            if not worker.wait_ready(self.startup_timeout_s):
                self._replace(worker)
                raise GradingError(
                    f"grader worker exited or did not start within {self.startup_timeout_s:.0f}s; "
                    "run `python -m simpletir.reward.worker` in this environment to see why"
                )
            remaining = timeout_s - (time.monotonic() - started)
            try:
                reply = worker.request(given, truth, max(remaining, 0.0))
            except EOFError as exc:
                self._replace(worker)
                raise GradingError("grader worker died (memory limit or crash)") from exc
            if reply is None:
                self._replace(worker)
                raise GradingTimeout(f"symbolic comparison exceeded {timeout_s:.1f}s")
            self._give_back(worker)
        finally:
            self._slots.release()
        if "error" in reply:
            raise GradingError(str(reply["error"]))
        return bool(reply["equal"])

    def close(self) -> None:
        """Kill every idle worker; busy ones are killed when they are handed back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


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


@atexit.register
def _close_all_pools() -> None:
    for pool in list(_POOLS):
        if pool.pid == os.getpid():
            pool.close()
