"""Batched token-in, token-out sampling with a Hugging Face transformers causal LM (CPU or CUDA).

The engine behind the ``hf`` rollout backend (``simpletir.backends.hf_rollout``), with vLLM's sampling semantics
as verl uses them: ``temperature`` (0 = greedy), ``top_p``, ``top_k`` (-1 = off), ``repetition_penalty``,
``max_tokens``, ``seed``, ``stop`` strings (the token that completes a stop string is the last returned
token; the text is matched on the decoded output, special tokens skipped), ``stop_token_ids``, EOS and
``ignore_eos``. Log-probs are vLLM's ``processed_logprobs`` (verl's default ``logprobs_mode``): the log-softmax of
the logits divided by the temperature *after* top-k/top-p have removed tokens, so within the kept set (vLLM's
``TopKTopPSampler``; with top-k 1 every log-prob is 0); of the raw logits when greedy. With verl's default
top-k -1 and top-p 1 that is what verl's actor recomputes. ``tests/backends/test_vllm_semantics.py`` pins each
of these against vLLM's CPU build.

Requests are generated together with left padding and one KV cache; a finished row leaves the batch at
the next step, so long rows do not keep short ones computing. ``GenerationQueue`` batches concurrent
asyncio callers onto one generator (the rollout server and ``simpletir-eval``'s in-process backend).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

logger = logging.getLogger(__name__)

FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_ABORT = "abort"
BATCH_WAIT_S = 0.005
"""How long a queue waits after a request arrives for others to join its batch."""

SAMPLING_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "repetition_penalty",
        "max_tokens",
        "max_new_tokens",
        "stop",
        "stop_token_ids",
        "ignore_eos",
        "seed",
        "logprobs",
    }
)
"""The vLLM sampling parameters ``SamplingSettings.from_params`` reads; others are ignored."""


@dataclass(frozen=True)
class SamplingSettings:
    """One request's sampling parameters (vLLM's names and defaults)."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    seed: int | None = None
    logprobs: bool = True

    @classmethod
    def from_params(cls, params: dict[str, Any], default_max_tokens: int) -> SamplingSettings:
        """Build from verl's ``sampling_params`` dict; unknown keys are logged once and ignored."""
        unknown = sorted(set(params) - SAMPLING_PARAMS)
        for key in unknown:
            _warn_once(
                f"sampling parameter {key!r} is not supported by the transformers generator and is ignored"
            )
        max_tokens = params.get("max_tokens", params.get("max_new_tokens"))
        stop = params.get("stop") or ()
        stop = (stop,) if isinstance(stop, str) else tuple(stop)
        settings = cls(
            max_tokens=int(default_max_tokens if max_tokens is None else max_tokens),
            temperature=float(params.get("temperature", 1.0)),
            top_p=float(params.get("top_p", 1.0)),
            top_k=int(_given(params, "top_k", -1)),
            repetition_penalty=float(_given(params, "repetition_penalty", 1.0)),
            stop=tuple(s for s in stop if s),
            stop_token_ids=tuple(int(t) for t in params.get("stop_token_ids") or ()),
            ignore_eos=bool(params.get("ignore_eos", False)),
            seed=None if params.get("seed") is None else int(params["seed"]),
            logprobs=params.get("logprobs", True) not in (None, False),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ``ValueError`` for values vLLM would reject."""
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k == 0 or self.top_k < -1:
            raise ValueError(f"top_k must be -1 (off) or >= 1, got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")


@dataclass
class Generation:
    """What one request produced: sampled ids, their log-probs, and why it stopped."""

    token_ids: list[int] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)
    finish_reason: str = FINISH_LENGTH


def _given(params: dict[str, Any], key: str, default: Any) -> Any:
    """``params[key]``, or ``default`` when it is absent or None."""
    value = params.get(key)
    return default if value is None else value


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """Log ``message`` as a warning the first time only."""
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning(message)


class StopStringMatcher:
    """Finds the step at which a stop string appears in a row's decoded output."""

    def __init__(self, decode: Callable[[list[int]], str], stops: Sequence[str]) -> None:
        self.decode = decode
        self.stops = tuple(stops)
        self.window = max((len(s) for s in self.stops), default=0) + 4

    def hit(self, ids: list[int]) -> bool:
        """True when the text of ``ids`` contains a stop string ending in its last token.

        Only the tail is decoded: a stop string of ``k`` characters spans at most ``k`` tokens, and the
        previous steps already ruled out every earlier occurrence.
        """
        if not self.stops:
            return False
        tail = self.decode(ids[-self.window :])
        before = self.decode(ids[-self.window : -1]) if len(ids) > 1 else ""
        return any(s in tail and tail.count(s) > before.count(s) for s in self.stops)


class HFGenerator:
    """Samples continuations of token-id prompts from ``model`` (a ``transformers`` causal LM)."""

    def __init__(
        self,
        model: torch.nn.Module,
        decode: Callable[[list[int]], str],
        eos_token_ids: Sequence[int],
        pad_token_id: int,
        max_model_len: int,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.decode = decode
        self.eos_token_ids = frozenset(int(t) for t in eos_token_ids)
        self.pad_token_id = int(pad_token_id)
        self.max_model_len = int(max_model_len)
        self.device = next(model.parameters()).device
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.aborted = False

    @classmethod
    def for_tokenizer(
        cls,
        model: torch.nn.Module,
        tokenizer: Any,
        max_model_len: int,
        seed: int = 0,
        generation_eos: int | Sequence[int] | None = None,
    ) -> HFGenerator:
        """A generator that decodes with ``tokenizer`` (special tokens skipped), stops at its EOS token and at
        ``generation_eos`` (a generation config's ``eos_token_id``), and pads with its pad token (else id 0)."""
        eos = [generation_eos] if isinstance(generation_eos, int) else list(generation_eos or [])
        eos_ids = {t for t in [*eos, tokenizer.eos_token_id] if t is not None}
        return cls(
            model,
            decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
            eos_token_ids=sorted(eos_ids),
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
            max_model_len=max_model_len,
            seed=seed,
        )

    @torch.no_grad()
    def generate(
        self, prompts: Sequence[list[int]], settings: Sequence[SamplingSettings]
    ) -> list[Generation]:
        """Sample one continuation per prompt; ``abort()`` from another thread ends all rows early."""
        if len(prompts) != len(settings):
            raise ValueError("one SamplingSettings per prompt")
        results = [Generation() for _ in prompts]
        budgets = [
            min(s.max_tokens, self.max_model_len - len(p)) for p, s in zip(prompts, settings, strict=True)
        ]
        active = [i for i, budget in enumerate(budgets) if budget > 0 and prompts[i]]
        if not active:
            return results
        generators = [
            torch.Generator(device="cpu").manual_seed(s.seed) if s.seed is not None else self.generator
            for s in settings
        ]
        matchers = [StopStringMatcher(self.decode, s.stop) for s in settings]
        history = [list(p) for p in prompts]

        width = max(len(prompts[i]) for i in active)
        input_ids = torch.full((len(active), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(active), width), dtype=torch.long)
        for row, i in enumerate(active):
            input_ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i])
            attention[row, width - len(prompts[i]) :] = 1
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True
        )
        cache, logits = out.past_key_values, out.logits[:, -1, :].float()

        while active and not self.aborted:
            tokens, logprobs = self._sample(
                logits,
                [settings[i] for i in active],
                [generators[i] for i in active],
                [history[i] for i in active],
            )
            keep = []
            for row, i in enumerate(active):
                token = int(tokens[row])
                result, setting = results[i], settings[i]
                result.token_ids.append(token)
                result.log_probs.append(float(logprobs[row]))
                history[i].append(token)
                stopped = (
                    (token in self.eos_token_ids and not setting.ignore_eos)
                    or token in setting.stop_token_ids
                    or matchers[i].hit(result.token_ids)
                )
                if stopped:
                    result.finish_reason = FINISH_STOP
                elif len(result.token_ids) >= budgets[i]:
                    result.finish_reason = FINISH_LENGTH
                else:
                    keep.append(row)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                attention, positions, tokens = attention[index], positions[index], tokens[keep]
                active = [active[row] for row in keep]
            attention = torch.cat([attention, attention.new_ones((len(active), 1))], dim=-1)
            positions = positions[:, -1:] + 1
            out = self.model(
                input_ids=tokens.view(-1, 1).to(self.device),
                attention_mask=attention,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
            )
            cache, logits = out.past_key_values, out.logits[:, -1, :].float()
        if self.aborted:
            for i in active:
                results[i].finish_reason = FINISH_ABORT
        return results

    def abort(self) -> None:
        """Make the running ``generate`` return at its next step (unfinished rows: ``abort``)."""
        self.aborted = True

    def resume(self) -> None:
        """Allow generation again after ``abort``."""
        self.aborted = False

    def _sample(
        self,
        logits: torch.Tensor,
        settings: list[SamplingSettings],
        generators: list[torch.Generator],
        history: list[list[int]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pick one token per row; return the tokens and their processed log-probs (CPU tensors)."""
        logits = logits.cpu()
        for row, setting in enumerate(settings):
            if setting.repetition_penalty != 1.0:
                seen = torch.tensor(sorted(set(history[row])), dtype=torch.long)
                values = logits[row, seen]
                logits[row, seen] = torch.where(
                    values > 0, values / setting.repetition_penalty, values * setting.repetition_penalty
                )
        tokens = torch.empty(len(settings), dtype=torch.long)
        chosen = torch.empty(len(settings), dtype=torch.float32)
        for row, setting in enumerate(settings):
            if setting.temperature == 0:
                row_logprobs = torch.log_softmax(logits[row], dim=-1)
                tokens[row] = int(torch.argmax(logits[row]))
            else:
                row_logits = _top_k_top_p(logits[row] / setting.temperature, setting.top_k, setting.top_p)
                row_logprobs = torch.log_softmax(row_logits, dim=-1)
                probs = torch.softmax(row_logits, dim=-1)
                tokens[row] = int(torch.multinomial(probs, 1, generator=generators[row]))
            chosen[row] = row_logprobs[tokens[row]]
        return tokens, chosen


def _top_k_top_p(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """``logits`` with everything outside the top-k and the top-p nucleus set to -inf (vLLM's order)."""
    if top_k == -1 and top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True)
    remove = torch.zeros_like(sorted_logits, dtype=torch.bool)
    if top_k != -1:
        remove[top_k:] = True
    if top_p < 1.0:
        probs = torch.softmax(sorted_logits.masked_fill(remove, float("-inf")), dim=-1)
        before = probs.cumsum(-1) - probs
        remove |= before >= top_p
    out = logits.clone()
    out[order[remove]] = float("-inf")
    return out


class GenerationQueue:
    """Batches concurrent requests onto one ``HFGenerator``: requests queued while a batch runs form the next
    batch (at most ``max_batch`` rows). Generation runs in a worker thread, holding ``lock`` (given, to keep
    e.g. weight loads out of a running batch) so the event loop stays free."""

    def __init__(self, generator: HFGenerator, max_batch: int, lock: asyncio.Lock | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.generator = generator
        self.max_batch = max_batch
        self.lock = lock or asyncio.Lock()
        self._pending: list[tuple[list[int], SamplingSettings, asyncio.Future[Generation]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, prompt_ids: list[int], settings: SamplingSettings) -> Generation:
        """Queue one request and return what it generated; an exception of its batch is raised here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Generation] = loop.create_future()
        self._pending.append((prompt_ids, settings, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Generate the queued requests, a batch at a time, until none is left."""
        while self._pending:
            await asyncio.sleep(BATCH_WAIT_S)
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if not batch:
                continue
            async with self.lock:
                try:
                    results = await asyncio.to_thread(
                        self.generator.generate, [b[0] for b in batch], [b[1] for b in batch]
                    )
                except Exception as exc:  # raised to each caller of the batch; later batches still run
                    logger.error("generation of a batch of %d requests failed: %r", len(batch), exc)
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
            for (_, _, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def abort_queued(self) -> int:
        """End every request that waits for a batch with an empty ``abort`` generation; return how many."""
        queued, self._pending = self._pending, []
        for _, _, future in queued:
            if not future.done():
                future.set_result(Generation(finish_reason=FINISH_ABORT))
        return len(queued)

    async def close(self) -> None:
        """End queued requests and the running batch (``abort``) and wait until the worker thread is free."""
        self.abort_queued()
        if self._drainer is not None and not self._drainer.done():
            self.generator.abort()
            await self._drainer
            self.generator.resume()
