"""The ``http`` backend: a client of one or more ``simpletir-sandbox serve`` servers (a fleet).

Requests go to the server with the fewest requests in flight. Only failures that prove the program
did not run are retried, with exponential backoff, on the next server: connection errors and 503.
Anything else (a read timeout after the request was sent, a 5xx, a broken reply) becomes
``sandbox_error`` at once, so a program is never run twice.
"""

from __future__ import annotations

import httpx

from simpletir.sandbox.base import ExecResult, Sandbox, SandboxError
from simpletir.sandbox.transport import post_accepted, result_from

DEFAULT_PROGRAM_TIMEOUT = 5.0


class HttpSandbox(Sandbox):
    """Client for sandbox servers; see module docstring."""

    def __init__(
        self,
        url: str | list[str],
        *,
        token: str | None = None,
        default_timeout: float = DEFAULT_PROGRAM_TIMEOUT,
        overhead_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.2,
        max_connections: int = 256,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        if not urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
            raise SandboxError(f"url must be an http(s) URL or a list of them, got {url!r}")
        self.urls = [u.rstrip("/") for u in urls]
        self.default_timeout = default_timeout
        self.overhead_s = overhead_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.in_flight = dict.fromkeys(self.urls, 0)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(headers=headers, limits=limits)

    def _pick(self, avoid: set[str]) -> str:
        """The server with the fewest requests in flight, preferring ones that have not just failed."""
        candidates = [u for u in self.urls if u not in avoid] or self.urls
        return min(candidates, key=lambda u: self.in_flight[u])

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` on a server; transport faults become ``sandbox_error``, never exceptions."""
        limit = self.default_timeout if timeout is None else float(timeout)
        outcome = await post_accepted(
            self._client, self._pick, "/run", {"code": code, "timeout": limit, "stdin": stdin},
            timeout=limit + self.overhead_s, max_retries=self.max_retries, backoff_s=self.backoff_s,
            in_flight=self.in_flight,
        )  # fmt: skip
        return result_from(outcome, ExecResult.from_dict)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
