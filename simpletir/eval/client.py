"""A minimal async client for an OpenAI-compatible ``/v1/completions`` endpoint (vLLM, SGLang, …).

Only the text-completions endpoint is used: the TIR loop continues the model's own text after each
observation, which chat-completions APIs do not offer in a portable way.
Transport errors, timeouts, 429 and 5xx responses are retried with exponential backoff; every
attempt has a hard wall-clock limit, so a hung server costs at most ``(retries + 1) * timeout``.
A server that refuses the request itself (no such endpoint or model, not authorised) stops the run.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from simpletir.eval.completion import Completion, CompletionError, UnsupportedServerError

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
REFUSING_STATUS = {
    401: "pass the server's key with --api-key (or OPENAI_API_KEY)",
    403: "pass the server's key with --api-key (or OPENAI_API_KEY)",
    404: "simpletir-eval uses only the text-completions endpoint /v1/completions, which vLLM and SGLang serve "
    "(chat-only servers are not supported); check --url and --model",
    405: "simpletir-eval uses only the text-completions endpoint /v1/completions; check --url",
}
"""Statuses that no retry or other request can fix, with what to do about each."""


@dataclass(frozen=True)
class ClientSettings:
    """Where the server is and how hard to try (defaults suit a local vLLM server)."""

    base_url: str
    """Server root, e.g. ``http://127.0.0.1:8000`` (``/v1`` is appended unless already there)."""
    model: str | None = None
    """Model name sent in requests; ``None`` asks the server (first entry of ``/v1/models``)."""
    api_key: str | None = None
    """Sent as ``Authorization: Bearer``; vLLM needs it only when started with ``--api-key``."""
    timeout_s: float = 1800.0
    """Wall-clock limit of one attempt (a 12k-token turn on a busy server can take many minutes)."""
    retries: int = 3
    """Extra attempts after a retryable failure."""
    backoff_s: float = 1.0
    """Delay before the first retry; doubles per retry."""


def _v1(base_url: str) -> str:
    """Normalise a server root to its ``/v1`` prefix."""
    root = base_url.rstrip("/")
    return root if root.endswith("/v1") else root + "/v1"


class CompletionClient:
    """The ``CompletionBackend`` of a server; use as ``async with CompletionClient(settings) as client``."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._http = httpx.AsyncClient(
            base_url=_v1(settings.base_url),
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self.model = settings.model

    async def __aenter__(self) -> CompletionClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def url(self, path: str) -> str:
        """The full URL of ``path`` under the server's ``/v1`` root (for messages)."""
        return f"{_v1(self.settings.base_url)}{path}"

    async def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Send one request with retries and return the decoded JSON body; raises ``CompletionError``, or
        ``UnsupportedServerError`` when the server refuses (``REFUSING_STATUS``)."""
        where = f"{method} {self.url(path)}"
        delay = self.settings.backoff_s
        last_error = ""
        for attempt in range(self.settings.retries + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2
            try:
                response = await asyncio.wait_for(
                    self._http.request(method, path, json=payload), timeout=self.settings.timeout_s
                )
            except (asyncio.TimeoutError, httpx.TransportError) as exc:
                last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                logger.warning("%s attempt %d: %s", where, attempt + 1, last_error)
                continue
            if response.status_code in RETRYABLE_STATUS:
                last_error = f"HTTP {response.status_code}: {response.text[:300]}"
                logger.warning("%s attempt %d: %s", where, attempt + 1, last_error)
                continue
            if response.status_code in REFUSING_STATUS:
                raise UnsupportedServerError(
                    f"{where} -> HTTP {response.status_code}: {response.text[:300]}; "
                    f"{REFUSING_STATUS[response.status_code]}"
                )
            if response.status_code >= 400:
                raise CompletionError(f"{where} -> HTTP {response.status_code}: {response.text[:500]}")
            try:
                return response.json()
            except ValueError as exc:
                raise CompletionError(f"{where}: response is not JSON: {exc}") from exc
        raise CompletionError(f"{where} failed after {self.settings.retries + 1} attempts: {last_error}")

    async def resolve_model(self) -> str:
        """Return the model name to use, asking the server's ``/v1/models`` when none was configured."""
        if self.model is None:
            body = await self._request("GET", "/models")
            try:
                self.model = str(body["data"][0]["id"])
            except (KeyError, IndexError, TypeError) as exc:
                raise CompletionError(
                    f"{self.url('/models')} lists no model ({body!r:.200}); pass --model"
                ) from exc
        return self.model

    async def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: list[str] | None = None,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """Generate one continuation of ``prompt``; raises ``CompletionError`` when it cannot."""
        payload: dict[str, Any] = {
            "model": await self.resolve_model(),
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "n": 1,
        }
        if stop:
            payload["stop"] = stop
        if seed is not None:
            payload["seed"] = seed
        payload.update(extra or {})
        body = await self._request("POST", "/completions", payload)
        try:
            choice = body["choices"][0]
            usage = body.get("usage") or {}
            matched = choice.get("stop_reason", choice.get("matched_stop"))
            return Completion(
                text=str(choice.get("text") or ""),
                finish_reason=choice.get("finish_reason"),
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                stop_string=matched if isinstance(matched, str) else None,
                reports_stop="stop_reason" in choice or "matched_stop" in choice,
            )
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise CompletionError(f"malformed completion response: {body!r:.300}") from exc
