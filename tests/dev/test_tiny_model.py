"""The tiny model the CPU recipe trains: built locally, deterministic, and a useful RL starting point."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pandas as pd
from transformers import AutoTokenizer
from verl.workers.config import HFModelConfig, RolloutConfig

from simpletir.backends.hf_rollout import HFRolloutServer
from simpletir.dev.tiny_model import (
    TinyModelSpec,
    build_tiny_model,
    demonstration,
    prompt_messages,
    tiny_problems,
    write_datasets,
)
from simpletir.reward import compute_score
from simpletir.tir import agent_loop as agent_loop_module
from simpletir.tir.agent_loop import SimpleTIRAgentLoop
from simpletir.tir.protocol import TurnKind, classify_turn
from tests.tir.tir_fixtures import make_agent_loop


def test_problems_are_distinct_deterministic_and_right() -> None:
    problems = tiny_problems(200, seed=1)
    assert problems == tiny_problems(200, seed=1) and problems != tiny_problems(200, seed=2)
    assert len({p.question for p in problems}) == 200
    for p in problems:
        assert p.answer == eval(p.expression)


def test_demonstrations_follow_the_protocol_and_earn_full_reward() -> None:
    problem = tiny_problems(1)[0]
    for style in range(3):
        pieces = demonstration(problem, style)
        text = "".join(t for t, _ in pieces)
        assert compute_score("tiny_arith", text, str(problem.answer))["score"] == 1.0
        trained_text = "".join(t for t, trained in pieces if trained)
        assert "Code execution result" not in trained_text  # observations are never trained on
    void = "".join(t for t, _ in demonstration(problem, 3))
    assert classify_turn(void) is TurnKind.VOID


def test_datasets_have_verl_columns(tmp_path: Path) -> None:
    paths = write_datasets(tmp_path, TinyModelSpec(num_problems=40, val_problems=8))
    train, val = pd.read_parquet(paths["train"]), pd.read_parquet(paths["val"])
    assert len(train) == 32 and len(val) == 8
    assert set(train.columns) == {
        "data_source",
        "prompt",
        "ability",
        "reward_model",
        "extra_info",
        "agent_name",
    }
    assert set(train["agent_name"]) == {"simpletir_agent"} and set(val["agent_name"]) == {
        "simpletir_agent_eval"
    }
    assert not set(train["extra_info"].map(lambda e: e["question"])) & set(
        val["extra_info"].map(lambda e: e["question"])
    )


def test_the_cache_is_reused(tmp_path: Path) -> None:
    spec = TinyModelSpec(
        num_problems=32, val_problems=8, warmup_steps=2, habit_steps=1, hidden_size=16, num_heads=2
    )
    first = build_tiny_model(spec, cache_dir=tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(spec, cache_dir=tmp_path) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert (
        build_tiny_model(
            TinyModelSpec(
                num_problems=32, val_problems=8, warmup_steps=3, habit_steps=1, hidden_size=16, num_heads=2
            ),
            cache_dir=tmp_path,
        )
        != first
    )


async def test_first_rollouts_hold_code_answers_and_void_turns(tiny_model_dir: Path) -> None:
    """What the recipe needs from the warm start: trajectories with code, with answers, and void ones.

    64 trajectories of the real agent loop (recipe settings: 3 turns of 64 tokens) against the hf
    rollout server on the tiny model, with the real local sandbox.
    """
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = RolloutConfig(name="hf", prompt_length=128, response_length=256, dtype="float32", seed=0)
    server = HFRolloutServer(config, HFModelConfig(path=str(tiny_model_dir)))
    loop = make_agent_loop(
        SimpleTIRAgentLoop, server, tokenizer, response_length=256, prompt_length=128,
        agent={"max_turns": 3, "max_tokens_per_turn": 64}, sandbox={"backend": "local", "options": {"max_workers": 2}},
    )  # fmt: skip
    try:
        outputs = await asyncio.gather(
            *(loop.run({"temperature": 1.0, "logprobs": True}, raw_prompt=prompt_messages(p)) for p in tiny_problems(64, seed=123))
        )  # fmt: skip
    finally:
        await asyncio.gather(*(sb.close() for sb in agent_loop_module._SANDBOXES.values()))
        agent_loop_module._SANDBOXES.clear()
    kinds = Counter(kind for o in outputs for kind in o.extra_fields["tir_turn_kinds"])
    void = sum(o.extra_fields["void_turn"] for o in outputs)
    assert kinds["code"] > 0 and kinds["answer"] > 0 and 0 < void < len(outputs), (kinds, void)
