"""The ``http`` backend: a client of one or more ``simpletir-sandbox serve`` servers (a fleet).

Requests go to the server with the fewest requests in flight. Only failures that prove the program
did not run are retried, on the next server: connection errors and 503 (see ``transport.Fleet``).
Anything else (a read timeout after the request was sent, another 5xx, a broken reply) becomes
``sandbox_error`` at once, so a program is never run twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from simpletir.sandbox.base import ExecResult, Sandbox, SandboxError
from simpletir.sandbox.transport import Fleet, auth_headers, check_request, parse_urls, result_from


class HttpSandbox(Sandbox):
    """Client for sandbox servers; see module docstring."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        token: str | None = None,
        default_timeout: float = 5.0,
        overhead_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.2,
        cooldown_s: float = 5.0,
        max_connections: int = 256,
    ) -> None:
        if default_timeout <= 0 or overhead_s <= 0:
            raise SandboxError("default_timeout and overhead_s must be positive")
        self.default_timeout = default_timeout
        self.overhead_s = overhead_s
        self.fleet = Fleet(
            parse_urls(url), headers=auth_headers(token), max_retries=max_retries, backoff_s=backoff_s,
            cooldown_s=cooldown_s, max_connections=max_connections,
        )  # fmt: skip

    @property
    def urls(self) -> list[str]:
        """The servers of the fleet."""
        return self.fleet.urls

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` on a server; transport faults become ``sandbox_error``, never exceptions."""
        limit = check_request(code, self.default_timeout if timeout is None else timeout)
        payload = {"code": code, "timeout": limit, "stdin": stdin}
        outcome = await self.fleet.post("/run", payload, timeout=limit + self.overhead_s)
        return result_from(outcome, ExecResult.from_dict)

    async def isolation(self) -> dict[str, Any]:
        """The isolation report of the first server that answers ``/health``; ``SandboxError`` if none does."""
        problems = []
        for url in self.urls:
            try:
                response = await self.fleet.client.get(f"{url}/health", timeout=self.overhead_s)
                if response.status_code == 200:
                    return dict(response.json().get("isolation") or {})
                problems.append(f"{url}: HTTP {response.status_code}")
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                problems.append(f"{url}: {type(exc).__name__}: {exc}")
        raise SandboxError(f"no sandbox server is healthy: {'; '.join(problems)}")

    async def close(self) -> None:
        """Close the connection pool."""
        await self.fleet.close()
