"""What the TIR loop generates with: a completion backend, the completion it returns, and its errors.

Two backends implement ``CompletionBackend``: ``simpletir.eval.client.CompletionClient`` (an OpenAI-compatible
``/v1/completions`` server) and ``simpletir.eval.local_model.LocalModel`` (a transformers model in this
process). Both follow vLLM's completion semantics, so ``simpletir.eval.rollout`` runs the same loop on either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (whitespace collapsed), at most 300 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class CompletionError(RuntimeError):
    """A completion request failed for good (after retries, or with a non-retryable error)."""


class UnsupportedServerError(RuntimeError):
    """The backend cannot serve this evaluation (refuses requests, lacks an endpoint or a feature, fails
    everything); the whole run stops (unlike ``CompletionError``, which fails one trajectory)."""


@dataclass(frozen=True)
class Completion:
    """One continuation with its token usage (``None`` when a server does not report it)."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    stop_string: str | None = None
    """The stop string that ended generation (cut from ``text``); ``None`` for EOS, a length cut, or a
    server that does not report it (vLLM ``stop_reason``, SGLang ``matched_stop``)."""
    reports_stop: bool = True
    """False when the server's response has neither field, so a stop string cannot be told from EOS."""


class CompletionBackend(Protocol):
    """Text continuations of a prompt, as the TIR loop asks for them; used as ``async with backend:``, whose
    end releases what the backend holds (connections, the generation worker)."""

    async def __aenter__(self) -> CompletionBackend:
        """The backend itself."""
        ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Release the backend's resources."""
        ...

    async def resolve_model(self) -> str:
        """The model's name, as the result file records it."""
        ...

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
        """One continuation of ``prompt`` with vLLM's semantics: it ends at EOS, after ``max_tokens`` tokens, or
        at a stop string, which is cut from the text; ``extra`` holds further sampling options. Raises
        ``CompletionError`` when this request cannot be served, ``UnsupportedServerError`` when none can."""
        ...
