"""HTTP transport shared by the ``http`` and ``sandbox_fusion`` clients: retry only what did not run.

A ``Fleet`` is one or more servers behind one connection pool. A request goes to the server with the
fewest requests in flight among those not cooling down (ties in turn). A connection failure or a 503
proves the server did not take the program: that server cools down for ``cooldown_s`` and the request
moves on to the next server at once; only when every server has failed does it wait (exponential
backoff) before trying again.
Anything after the request was sent (a read timeout, another status, a broken reply) is final and
becomes ``sandbox_error``: a program is never run twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from simpletir.sandbox.base import ExecResult, ExecStatus, SandboxError

JSON = {"Content-Type": "application/json"}
TOKEN_ENV = "SIMPLETIR_SANDBOX_TOKEN"
"""Where the bearer token of the servers is read from when none is passed (it stays out of configs and logs)."""


def auth_headers(token: str | None) -> dict[str, str]:
    """The ``Authorization`` header for ``token``, or for ``$SIMPLETIR_SANDBOX_TOKEN`` when ``token`` is None.

    ``token=""`` sends none, even with the variable set.
    """
    token = os.environ.get(TOKEN_ENV) if token is None else token
    return {"Authorization": f"Bearer {token}"} if token else {}


def fault(message: str) -> ExecResult:
    """An infrastructure failure as a result."""
    return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=message)


def parse_urls(url: str | Sequence[str]) -> list[str]:
    """Server base URLs from one URL, a comma-separated string or a list; ``SandboxError`` if not http(s)."""
    raw = url.split(",") if isinstance(url, str) else list(url) if isinstance(url, Sequence) else []
    if not raw or not all(isinstance(u, str) and u.strip().startswith(("http://", "https://")) for u in raw):
        raise SandboxError(f"url must be an http(s) URL or a list of them, got {url!r}")
    return [u.strip().rstrip("/") for u in raw]


def check_request(code: str, timeout: float) -> float:
    """The time limit as a float; ``SandboxError`` for a non-str program or a non-positive limit (misuse)."""
    if not isinstance(code, str):
        raise SandboxError(f"code must be str, got {type(code).__name__}")
    limit = float(timeout)
    if not limit > 0:
        raise SandboxError(f"timeout must be positive, got {timeout!r}")
    return limit


class Fleet:
    """Servers sharing one ``httpx.AsyncClient``, with least-in-flight choice and a cooldown per failure."""

    def __init__(
        self,
        urls: list[str],
        *,
        headers: dict[str, str] | None = None,
        max_retries: int = 3,
        backoff_s: float = 0.2,
        cooldown_s: float = 5.0,
        max_connections: int = 256,
    ) -> None:
        if max_retries < 0 or backoff_s < 0 or cooldown_s < 0 or max_connections < 1:
            raise SandboxError("max_retries, backoff_s and cooldown_s must be >= 0, max_connections >= 1")
        self.urls = list(urls)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.cooldown_s = cooldown_s
        self.in_flight = dict.fromkeys(self.urls, 0)
        self.down_until = dict.fromkeys(self.urls, 0.0)
        self._turn = 0
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.client = httpx.AsyncClient(headers=headers or {}, limits=limits)

    def pick(self, tried: set[str]) -> str:
        """The least-loaded server not tried by this request and not cooling down, else the least bad one."""
        now = time.monotonic()
        for pool in (
            [u for u in self.urls if u not in tried and self.down_until[u] <= now],
            [u for u in self.urls if u not in tried],
            self.urls,
        ):
            if pool:
                self._turn += 1
                order = {u: (i - self._turn) % len(self.urls) for i, u in enumerate(self.urls)}
                return min(pool, key=lambda u: (self.down_until[u] > now, self.in_flight[u], order[u]))
        raise SandboxError("the fleet has no servers")

    async def post(
        self, path: str, payload: dict[str, Any], *, timeout: float
    ) -> httpx.Response | ExecResult:
        """POST ``payload`` until a server accepts it (any status but 503); a fault result otherwise."""
        body = json.dumps(payload).encode()  # ASCII escapes: lone surrogates in code travel intact
        tried: set[str] = set()
        delay, last_error = self.backoff_s, ""
        for _attempt in range(self.max_retries + 1):
            url = self.pick(tried)
            if url in tried:
                await asyncio.sleep(delay)
                delay *= 2
                tried.clear()
            tried.add(url)
            self.in_flight[url] += 1
            try:
                response = await self.client.post(f"{url}{path}", content=body, headers=JSON, timeout=timeout)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = f"{url}: cannot connect ({type(exc).__name__}: {exc})"
            except httpx.PoolTimeout:
                return fault(
                    f"no free connection within {timeout:.1f}s (max_connections); the program was not sent"
                )
            except httpx.HTTPError as exc:
                return fault(f"{url}: {type(exc).__name__} after the request was sent: {exc}")
            else:
                if response.status_code != 503:
                    self.down_until[url] = 0.0
                    return response
                last_error = f"{url}: 503 (not accepted): {response.text[:200]}"
            finally:
                self.in_flight[url] -= 1
            self.down_until[url] = time.monotonic() + self.cooldown_s
        return fault(
            f"no sandbox server accepted the request in {self.max_retries + 1} attempts; last: {last_error}"
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


def result_from(
    outcome: httpx.Response | ExecResult, decode: Callable[[dict[str, Any]], ExecResult]
) -> ExecResult:
    """The result of an accepted request: ``decode`` of a 200 JSON body, else a fault naming the problem."""
    if isinstance(outcome, ExecResult):
        return outcome
    if outcome.status_code == 401:
        return fault(
            f"{outcome.request.url}: HTTP 401 unauthorised: the server refused the bearer token "
            f"(set {TOKEN_ENV} to the server's token)"
        )
    if outcome.status_code != 200:
        return fault(f"{outcome.request.url}: HTTP {outcome.status_code}: {outcome.text[:500]}")
    try:
        return decode(outcome.json())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return fault(f"{outcome.request.url}: malformed reply: {exc}")
