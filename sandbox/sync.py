"""``SyncSandbox``: a blocking wrapper around any async sandbox, for scripts and notebooks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from simpletir.sandbox.base import ExecResult, SandboxError
from simpletir.sandbox.factory import create_sandbox


class SyncSandbox:
    """Runs an async sandbox on a private event-loop thread; usable as a context manager."""

    def __init__(self, backend: str = "local", **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simpletir-sandbox", daemon=True)
        self._thread.start()
        self._sandbox = create_sandbox(backend, **options)

    def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` and block until its result is ready."""
        coro = self._sandbox.run(code, timeout=timeout, stdin=stdin)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def session(self) -> SyncSession:
        """A blocking session whose ``run`` calls share interpreter state (backends with sessions only)."""
        session = getattr(self._sandbox, "session", None)
        if session is None:
            raise SandboxError(f"the {type(self._sandbox).__name__} backend has no session mode")
        return SyncSession(session(), self._loop)

    def close(self) -> None:
        """Close the sandbox and stop the loop thread; idempotent."""
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._sandbox.close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SyncSession:
    """Blocking view of an async session, driven on its ``SyncSandbox``'s loop thread."""

    def __init__(self, session: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._session = session
        self._loop = loop

    def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` as the session's next cell and block until its result is ready."""
        coro = self._session.run(code, timeout=timeout, stdin=stdin)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        """End the session; idempotent."""
        asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result()

    def __enter__(self) -> SyncSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
