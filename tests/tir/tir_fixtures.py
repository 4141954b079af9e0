"""Test helpers: a tiny locally-built tokenizer and model, and stand-ins for verl's LLM server client.

The stand-ins speak the exact interface of ``verl.workers.rollout.llm_server.LLMServerClient.generate``
(keyword ``prompt_ids``/``sampling_params``, returns ``TokenOutput``) and honour ``max_tokens`` and
``stop`` the way vLLM does: generation halts at the token that completes a stop string, and that
token is part of the returned ids.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from omegaconf import OmegaConf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from verl.experimental.agent_loop.agent_loop import DictConfigWrap
from verl.workers.rollout.replica import TokenOutput

from simpletir.tir.protocol import TIR_INSTRUCTION

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    TIR_INSTRUCTION,
    "Let me compute this with Python.\n```python\nprint(6 * 7)\n```\n",
    "\nCode execution result: 42\n\nSo the answer is \\boxed{42}.",
    "```py\nimport sympy\nx = sympy.symbols('x')\nfinal_answer(sympy.solve(x**2 - 4, x))\n```",
    "Traceback (most recent call last): ZeroDivisionError: division by zero Timeout",
    "def final_answer(result): while True: pass 0123456789 abcdefghijklmnopqrstuvwxyz",
]


@functools.cache
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained here on TIR-like text, with a chat template and EOS."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 5, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_model(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised 2-layer causal LM (hidden 32), built locally."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
    )
    return LlamaForCausalLM(config).eval()


def _apply_stop(tokenizer: PreTrainedTokenizerFast, ids: list[int], stop: list[str] | None) -> list[int]:
    """Cut ``ids`` after the token that completes the first stop string, as vLLM does."""
    if not stop:
        return ids
    for k in range(1, len(ids) + 1):
        text = tokenizer.decode(ids[:k], skip_special_tokens=True)
        if any(s in text for s in stop):
            return ids[:k]
    return ids


class ScriptedServer:
    """Replays scripted model text (one string per call to the real model) as token ids.

    Like verl's ``LLMServerClient.generate`` it returns the server's weight version ``global_steps`` in
    ``extra_fields`` with ``min_global_steps``/``max_global_steps`` set to it; tests move ``global_steps``
    between calls to play a weight update during a trajectory.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast, script: list[str], logprob: float = -0.5) -> None:
        self.tokenizer = tokenizer
        self.pending = tokenizer.encode("".join(script), add_special_tokens=False)
        self.logprob = logprob
        self.global_steps = 7
        self.calls: list[dict[str, Any]] = []

    def queue_eos(self) -> None:
        """Append an EOS token to what the model will say."""
        self.pending.append(self.tokenizer.eos_token_id)

    async def generate(
        self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **kwargs: Any
    ) -> TokenOutput:
        """Return the next scripted tokens, honouring ``max_tokens``, ``stop`` and EOS."""
        self.calls.append(
            {
                "request_id": request_id,
                "prompt_ids": list(prompt_ids),
                "sampling_params": dict(sampling_params),
            }
        )
        budget = int(sampling_params.get("max_tokens", 10**9))
        ids = self.pending[:budget]
        if self.tokenizer.eos_token_id in ids:
            ids = ids[: ids.index(self.tokenizer.eos_token_id) + 1]
        ids = _apply_stop(self.tokenizer, ids, sampling_params.get("stop"))
        self.pending = self.pending[len(ids) :]
        steps = self.global_steps
        fields = {"global_steps": steps, "min_global_steps": steps, "max_global_steps": steps}
        return TokenOutput(
            token_ids=ids, log_probs=[self.logprob] * len(ids), stop_reason="completed", extra_fields=fields
        )


class ModelServer:
    """Samples from a tiny real transformers model (greedy or temperature sampling) on CPU."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerFast, model: LlamaForCausalLM, device: str = "cpu"
    ) -> None:
        self.tokenizer = tokenizer
        self.model = model.to(device)
        self.device = device

    async def generate(
        self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **kwargs: Any
    ) -> TokenOutput:
        """Sample up to ``max_tokens`` tokens with their log-probs; stop at EOS or a stop string."""
        budget = min(int(sampling_params.get("max_tokens", 32)), 48)
        generator = torch.Generator(device="cpu").manual_seed(len(prompt_ids))
        ids, logprobs = list(prompt_ids), []
        with torch.no_grad():
            for _ in range(budget):
                logits = self.model(torch.tensor([ids], device=self.device)).logits[0, -1].float().cpu()
                probs = torch.softmax(logits, dim=-1)
                token = int(torch.multinomial(probs, 1, generator=generator))
                ids.append(token)
                logprobs.append(float(torch.log(probs[token])))
                if token == self.tokenizer.eos_token_id:
                    break
        new = _apply_stop(self.tokenizer, ids[len(prompt_ids) :], sampling_params.get("stop"))
        return TokenOutput(token_ids=new, log_probs=logprobs[: len(new)], stop_reason="stop")


def trainer_config(response_length: int = 512, prompt_length: int = 1024, **simpletir: Any) -> DictConfigWrap:
    """A minimal trainer config with the fields the agent loop base class and our loop read."""
    config = OmegaConf.create(
        {
            "actor_rollout_ref": {
                "rollout": {"prompt_length": prompt_length, "response_length": response_length}
            },
            "data": {},
            "simpletir": simpletir,
        }
    )
    return DictConfigWrap(config)


def make_agent_loop(cls: type, server: Any, tokenizer: PreTrainedTokenizerFast, **config_kwargs: Any) -> Any:
    """Instantiate an agent loop the way verl's worker does (same keyword arguments)."""
    from verl.utils.dataset.rl_dataset import RLHFDataset

    return cls(
        trainer_config=trainer_config(**config_kwargs),
        server_manager=server,
        tokenizer=tokenizer,
        processor=None,
        dataset_cls=RLHFDataset,
        data_config=DictConfigWrap(OmegaConf.create({})),
    )
