"""HTTP transport shared by the ``http`` and ``sandbox_fusion`` clients: retry only what did not run.

Connection failures and 503 prove the server did not take the program, so they are retried on the
next server with exponential backoff. Anything after the request was sent (a read timeout, another
status, a broken reply) is final and becomes ``sandbox_error``: a program is never run twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from simpletir.sandbox.base import ExecResult, ExecStatus


def fault(message: str) -> ExecResult:
    """An infrastructure failure as a result."""
    return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=message)


async def post_accepted(
    client: httpx.AsyncClient,
    choose: Callable[[set[str]], str],
    path: str,
    payload: dict[str, Any],
    *,
    timeout: float,
    max_retries: int,
    backoff_s: float,
    in_flight: dict[str, int] | None = None,
) -> httpx.Response | ExecResult:
    """POST ``payload`` to ``choose(failed_urls) + path`` until a server accepts it; a fault result otherwise."""
    failed: set[str] = set()
    delay, last_error = backoff_s, ""
    for attempt in range(max_retries + 1):
        url = choose(failed)
        if in_flight is not None:
            in_flight[url] += 1
        try:
            response = await client.post(f"{url}{path}", json=payload, timeout=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last_error = f"{url}: cannot connect ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            return fault(f"{url}: {type(exc).__name__} after the request was sent: {exc}")
        else:
            if response.status_code != 503:
                return response
            last_error = f"{url}: 503 (not accepted)"
        finally:
            if in_flight is not None:
                in_flight[url] -= 1
        failed.add(url)
        if attempt < max_retries:
            await asyncio.sleep(delay)
            delay *= 2
    return fault(
        f"no sandbox server accepted the request after {max_retries + 1} attempts; last: {last_error}"
    )


def result_from(
    outcome: httpx.Response | ExecResult, decode: Callable[[dict[str, Any]], ExecResult]
) -> ExecResult:
    """The result of an accepted request: ``decode`` of a 200 JSON body, else a fault naming the problem."""
    if isinstance(outcome, ExecResult):
        return outcome
    if outcome.status_code != 200:
        return fault(f"{outcome.request.url}: HTTP {outcome.status_code}: {outcome.text[:500]}")
    try:
        return decode(outcome.json())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return fault(f"{outcome.request.url}: malformed reply: {exc}")
