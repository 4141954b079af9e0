"""The embedded ``local`` backend: a pool of warm worker processes that fork one child per program.

Each worker is a separate process (the ``zygote`` package, run by path) started with a clean
environment, so nothing a program does — fork bombs, memory bombs, killing its parent — can touch the
caller's process. Workers take one request at a time; requests wait in FIFO order for a free worker.
A worker that dies or stops answering is replaced and the request gets ``sandbox_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simpletir.sandbox.base import ExecResult, ExecStatus, Sandbox, SandboxError
from simpletir.sandbox.zygote import framing

logger = logging.getLogger(__name__)

ZYGOTE_PATH = Path(__file__).with_name("zygote")
_WORKER_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    # Objects on glibc's heap in transparent huge pages: a fork copies ~2x fewer page-table entries.
    "PYTHONMALLOC": "malloc",
    "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
}


@dataclass(frozen=True)
class LocalSandboxConfig:
    """Options of the local backend (keyword arguments of ``create_sandbox("local", ...)``)."""

    max_workers: int | None = None
    """Concurrent programs (= warm worker processes); default: the number of CPU cores."""
    default_timeout: float = 5.0
    """Wall-clock limit (s) when ``run`` gets no ``timeout``; CPU time is capped at this + 1 s."""
    memory_mb: int = 1024
    """Address-space limit per program (MiB); 0 disables it."""
    max_output_bytes: int = 256 * 1024
    """Bytes kept of stdout and of stderr each; the rest is dropped and a marker says how much."""
    max_file_mb: int = 16
    """Largest file a program may write (MiB)."""
    max_processes: int = 32
    """Processes the program's private uid may run at once (binds only with uid isolation)."""
    startup_timeout: float = 60.0
    """Time allowed for a worker to import its libraries and report ready."""
    session_cpu_s: int = 600
    """CPU seconds a session's interpreter may use over its whole life (each cell also gets the timeout)."""
    extras_template: bool = True
    """Fork programs that name scipy/networkx from a second warm copy per worker that preloaded them
    (~135 MB each, mostly shared); False saves that memory, and such programs import them themselves."""


class _Worker:
    """One warm worker process and its pipes."""

    def __init__(self, proc: asyncio.subprocess.Process, isolation: dict[str, Any]) -> None:
        self.proc = proc
        self.isolation = isolation

    @classmethod
    async def start(cls, startup_timeout: float, args: tuple[str, ...] = ()) -> _Worker:
        """Spawn a worker (``args``: its command-line flags) and wait for its ready message."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ZYGOTE_PATH),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=_WORKER_ENV,
            cwd="/",
            start_new_session=True,
        )
        worker = cls(proc, {})
        try:
            hello = await asyncio.wait_for(worker._read(), startup_timeout)
        except BaseException:
            await worker.kill()
            raise
        worker.isolation = hello.get("isolation", {})
        return worker

    async def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        header = await self.proc.stdout.readexactly(framing.HEADER.size)
        return framing.decode(await self.proc.stdout.readexactly(framing.HEADER.unpack(header)[0]))

    async def request(self, req: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send one request and wait for its reply; raises on a dead or hung worker."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(framing.encode(req))
        await self.proc.stdin.drain()
        return await asyncio.wait_for(self._read(), deadline)

    async def kill(self) -> None:
        """Kill the worker (and its process group) and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 9)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 5)

    async def stop(self) -> None:
        """Ask the worker to exit (EOF on its stdin), then kill it if it lingers."""
        if self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 2)
        except (asyncio.TimeoutError, Exception):
            await self.kill()


class LocalSandbox(Sandbox):
    """Runs programs in forked children of warm local worker processes (see module docstring)."""

    def __init__(self, **options: Any) -> None:
        try:
            self.config = LocalSandboxConfig(**options)
        except TypeError as exc:
            raise SandboxError(f"bad option for the local sandbox: {exc}") from None
        self.max_workers = self.config.max_workers or os.cpu_count() or 1
        if self.max_workers < 1:
            raise SandboxError("max_workers must be at least 1")
        self._idle: asyncio.Queue[_Worker | None] | None = None
        self._workers: set[_Worker] = set()
        self._closed = False
        self._start_lock: asyncio.Lock | None = None

    async def _ensure_started(self) -> asyncio.Queue[_Worker | None]:
        """Create the idle queue with one slot per worker; workers start lazily on first use."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.max_workers):
                self._idle.put_nowait(None)  # a slot whose worker is not started yet
        return self._idle

    async def isolation(self) -> dict[str, Any]:
        """Describe the isolation the workers have (namespaces, private uid, preloaded modules)."""
        idle = await self._ensure_started()
        worker = await idle.get()
        try:
            worker = worker or await self._spawn()
            return dict(worker.isolation)
        finally:
            idle.put_nowait(worker)

    async def start(self) -> None:
        """Start every worker now and wait until each is warm (its extras template loaded); else on first use.

        Waits for running programs and open sessions to give their workers back. Raises ``SandboxError``
        when a worker cannot start.
        """
        idle = await self._ensure_started()
        slots = [await idle.get() for _ in range(self.max_workers)]

        async def warm(i: int) -> None:
            limit = self.config.startup_timeout
            try:
                slots[i] = slots[i] or await self._spawn()
                await slots[i].request({"op": "warm", "timeout": limit}, deadline=limit + 10.0)
            except Exception as exc:
                await self._retire(slots[i])
                slots[i] = None
                raise SandboxError(f"a sandbox worker could not start: {exc!r}") from None

        try:
            await asyncio.gather(*(warm(i) for i in range(len(slots))))
        finally:
            for worker in slots:
                idle.put_nowait(worker)

    def _worker_args(self) -> tuple[str, ...]:
        """Command-line flags of the worker processes."""
        return () if self.config.extras_template else ("--no-extras",)

    async def _spawn(self) -> _Worker:
        worker = await _Worker.start(self.config.startup_timeout, self._worker_args())
        self._workers.add(worker)
        return worker

    def _request(self, code: str, timeout: float | None, stdin: str | None) -> dict[str, Any]:
        """Validate the arguments and build the worker request."""
        if not isinstance(code, str):
            raise SandboxError(f"code must be str, got {type(code).__name__}")
        limit = self.config.default_timeout if timeout is None else float(timeout)
        if limit <= 0:
            raise SandboxError("timeout must be positive")
        return {
            "code": code,
            "timeout": limit,
            "stdin": stdin,
            "memory_mb": self.config.memory_mb,
            "max_output_bytes": self.config.max_output_bytes,
            "max_file_mb": self.config.max_file_mb,
            "max_processes": self.config.max_processes,
            "session_cpu_s": self.config.session_cpu_s,
        }

    async def _exchange(
        self, worker: _Worker | None, req: dict[str, Any]
    ) -> tuple[_Worker | None, ExecResult]:
        """Send ``req`` to ``worker`` (started if None); a failed worker is retired and None returned."""
        try:
            if worker is None:
                worker = await self._spawn()
            reply = await worker.request(req, deadline=float(req["timeout"]) + 10.0)
            return worker, ExecResult.from_dict(reply)
        except (asyncio.CancelledError, KeyboardInterrupt):
            await self._retire(worker)
            raise
        except Exception as exc:
            logger.warning("local sandbox worker failed (%s); replacing it", type(exc).__name__)
            await self._retire(worker)
            return None, ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=f"sandbox worker failed: {exc!r}")

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` in a fresh child of a warm worker; faults of the worker become ``sandbox_error``."""
        req = self._request(code, timeout, stdin)
        idle = await self._ensure_started()
        worker = await idle.get()
        try:
            worker, result = await self._exchange(worker, req)
        except BaseException:
            worker = None
            raise
        finally:
            idle.put_nowait(worker)
        return result

    def session(self) -> LocalSession:
        """A Jupyter-like session: consecutive ``run`` calls share one interpreter's state."""
        return LocalSession(self)

    async def _retire(self, worker: _Worker | None) -> None:
        if worker is not None:
            self._workers.discard(worker)
            await worker.kill()

    async def close(self) -> None:
        """Stop every worker; idempotent."""
        self._closed = True
        workers, self._workers = list(self._workers), set()
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)


class LocalSession:
    """Cells that share interpreter state, in one long-lived child under the same limits and isolation.

    The session holds one worker (one unit of the sandbox's concurrency) from its first ``run`` until
    ``close``. Cells run one at a time, in call order. A cell that times out, runs out of memory or
    kills its interpreter ends the state; the next cell starts a fresh interpreter and its stderr
    begins with a "session restarted" line.
    """

    def __init__(self, sandbox: LocalSandbox) -> None:
        self._sandbox = sandbox
        self._worker: _Worker | None = None
        self._held = False
        self._closed = False
        self._lock = asyncio.Lock()

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` as the next cell of this session."""
        req = {**self._sandbox._request(code, timeout, stdin), "op": "session_run"}
        async with self._lock:
            if self._closed or self._sandbox._closed:
                raise SandboxError("the session is closed")
            if not self._held:
                idle = await self._sandbox._ensure_started()
                self._worker = await idle.get()
                self._held = True
            try:
                self._worker, result = await self._sandbox._exchange(self._worker, req)
            except BaseException:
                self._worker = None
                raise
            return result

    async def close(self) -> None:
        """End the session and give its worker back to the pool; idempotent."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._held or self._sandbox._idle is None:
                return
            worker, self._worker = self._worker, None
            if worker is not None:
                try:
                    await worker.request({"op": "session_close"}, deadline=10.0)
                except Exception:
                    await self._sandbox._retire(worker)
                    worker = None
            self._sandbox._idle.put_nowait(worker)

    async def __aenter__(self) -> LocalSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
