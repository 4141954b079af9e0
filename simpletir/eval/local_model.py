"""In-process generation for ``simpletir-eval run --model DIR`` without ``--url``: a Hugging Face transformers
causal LM on CPU or CUDA, sampled by ``simpletir.backends.hf_generation`` (vLLM's sampling semantics), behind the same
``CompletionBackend`` interface as the server client, so the TIR loop is the same.

Concurrent requests (one per trajectory in flight) are generated in batches (``GenerationQueue``). Prompts are
tokenised with ``add_special_tokens=False``, as the training agent loop does (a chat template carries any BOS).
Token counts are exact: ``prompt_tokens`` is the number of prompt ids the model saw, ``completion_tokens`` the
number of sampled ids, the tokens of a stop string and EOS included (as vLLM counts them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from simpletir.backends.hf_generation import (
    FINISH_ABORT,
    FINISH_STOP,
    SAMPLING_PARAMS,
    GenerationQueue,
    HFGenerator,
    SamplingSettings,
)
from simpletir.eval.completion import Completion, CompletionError, one_line


class ModelLoadError(RuntimeError):
    """The model directory or the device cannot be used; the message says which and why."""


@dataclass(frozen=True)
class LocalModelSettings:
    """Which model to load, where, and how many requests to generate together."""

    path: Path
    """A Hugging Face model directory (``config.json`` and weights)."""
    device: str | None = None
    """A torch device (``cpu``, ``cuda``, ``cuda:1``); ``None``: CUDA when available, else CPU."""
    dtype: str | None = None
    """A torch dtype name (``bfloat16``, ``float16``, ``float32``); ``None``: float32 on CPU, the checkpoint's
    own dtype elsewhere."""
    max_batch: int = 64
    """Requests generated together at most."""
    seed: int | None = None
    """Seed of the requests sent without one; ``None``: fresh randomness."""


def resolve_device(name: str | None) -> torch.device:
    """The device ``name`` names (``None``: CUDA when available, else CPU); raises ``ModelLoadError`` when it is
    not a device or CUDA is not available."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ModelLoadError(f"--device {name!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"--device {name}: this machine has no usable CUDA device; use --device cpu")
    return device


def sampling_settings(
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    stop: list[str] | None = None,
    seed: int | None = None,
    extra: dict[str, Any] | None = None,
) -> SamplingSettings:
    """The generator's settings for one request; ``extra`` (vLLM names, e.g. ``top_k``) overrides the rest.
    Raises ``ValueError`` (or ``TypeError``, for a value of the wrong type) for a parameter the generator does
    not know or a value vLLM would reject."""
    unknown = sorted(set(extra or {}) - SAMPLING_PARAMS)
    if unknown:
        raise ValueError(
            f"sampling option(s) {unknown} are not supported in-process; supported: {sorted(SAMPLING_PARAMS)}"
        )
    params = {"temperature": temperature, "top_p": top_p, "stop": stop or [], "seed": seed, "logprobs": False}
    return SamplingSettings.from_params({**params, **(extra or {})}, default_max_tokens=max_tokens)


class LocalModel:
    """The ``CompletionBackend`` of a transformers model in this process; build it with ``load``."""

    def __init__(self, generator: HFGenerator, tokenizer: Any, name: str, max_batch: int) -> None:
        self.generator = generator
        self.tokenizer = tokenizer
        self.name = name
        self.queue = GenerationQueue(generator, max_batch)

    @classmethod
    def load(cls, settings: LocalModelSettings, tokenizer: Any) -> LocalModel:
        """Load the model of ``settings`` (local files only) to generate with ``tokenizer``; raises
        ``ModelLoadError`` when it cannot."""
        from transformers import AutoModelForCausalLM

        device = resolve_device(settings.device)
        dtype: Any = torch.float32 if device.type == "cpu" else "auto"
        if settings.dtype is not None:
            dtype = getattr(torch, settings.dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise ModelLoadError(
                    f"--dtype {settings.dtype!r} is not a torch dtype; use bfloat16, float16 or float32"
                )
        try:
            model = AutoModelForCausalLM.from_pretrained(settings.path, dtype=dtype, local_files_only=True)
            model = model.to(device).eval()
        except Exception as exc:  # OSError, ValueError, safetensors' and others: the model does not load
            raise ModelLoadError(
                f"cannot load a transformers causal LM from {settings.path}: {one_line(exc)}"
            ) from None
        max_model_len = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
        seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**63)
        generator = HFGenerator.for_tokenizer(
            model,
            tokenizer,
            max_model_len=int(max_model_len),
            seed=seed,
            generation_eos=model.generation_config.eos_token_id,
        )
        return cls(generator, tokenizer, str(settings.path), settings.max_batch)

    async def __aenter__(self) -> LocalModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop generating: queued and running requests end with ``CompletionError``."""
        await self.queue.close()

    async def resolve_model(self) -> str:
        """The model directory, as given."""
        return self.name

    def encode(self, text: str) -> list[int]:
        """The token ids the model sees for ``text``."""
        return list(self.tokenizer.encode(text, add_special_tokens=False))

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
        """One continuation of ``prompt``, batched with the requests sent meanwhile (``CompletionBackend``);
        at most ``max_tokens`` tokens and never past the model's context."""
        ids = self.encode(prompt)
        if len(ids) >= self.generator.max_model_len:
            raise CompletionError(
                f"the prompt has {len(ids)} tokens, the model's context {self.generator.max_model_len}"
            )
        try:
            settings = sampling_settings(
                max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed, extra=extra
            )
        except (TypeError, ValueError) as exc:
            raise CompletionError(f"sampling options: {one_line(exc)}") from None
        try:
            generation = await self.queue.submit(ids, settings)
        except RuntimeError as exc:  # e.g. CUDA out of memory: this batch's trajectories fail
            raise CompletionError(f"in-process generation failed: {one_line(exc)}") from exc
        if generation.finish_reason == FINISH_ABORT:
            raise CompletionError("in-process generation was stopped")
        text = self.generator.decode(generation.token_ids)
        stop_string = None
        found = [(text.find(s), s) for s in settings.stop if s in text]
        if generation.finish_reason == FINISH_STOP and found:
            cut, stop_string = min(found)
            text = text[:cut]
        return Completion(
            text=text,
            finish_reason=generation.finish_reason,
            prompt_tokens=len(ids),
            completion_tokens=len(generation.token_ids),
            stop_string=stop_string,
        )
