"""The ``hf`` rollout server and adapter, driven the way verl drives them (without Ray: the same calls).

verl calls ``server.generate(prompt_ids=..., sampling_params=..., request_id=...)`` from its
``LLMServerClient`` and reads ``TokenOutput``; its naive checkpoint engine calls the adapter's
``update_weights`` with the actor's ``(name, tensor)`` pairs. The adapter is given the server object
in place of the Ray handle (``Remote`` makes ``.remote`` an awaitable, as on a Ray actor handle).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from verl.workers.config import HFModelConfig, RolloutConfig
from verl.workers.rollout.replica import TokenOutput

from simpletir.backends.hf_rollout import HFRolloutServer, HFServerAdapter, torch_dtype
from tests.tir.tir_fixtures import tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny")
    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer), seed=5).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def rollout_config(**overrides: Any) -> RolloutConfig:
    values = {"name": "hf", "prompt_length": 64, "response_length": 32, "dtype": "float32", "max_num_seqs": 8}
    return RolloutConfig(**{**values, **overrides})


def make_server(model_dir: Path, **overrides: Any) -> HFRolloutServer:
    return HFRolloutServer(rollout_config(**overrides), HFModelConfig(path=str(model_dir)), replica_rank=0)


class Remote:
    """``handle.method.remote(...)`` on a local object, awaitable like a Ray call."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.target, name)
        return type("Method", (), {"remote": staticmethod(lambda *a, **k: method(*a, **k))})


PROMPT = [5, 17, 42, 8, 99]


async def test_generate_returns_verl_token_output(model_dir: Path) -> None:
    server = make_server(model_dir)
    out = await server.generate(
        prompt_ids=PROMPT,
        sampling_params={"temperature": 1.0, "max_tokens": 6, "logprobs": True},
        request_id="r",
    )
    assert isinstance(out, TokenOutput)
    assert 0 < len(out.token_ids) <= 6 and len(out.log_probs) == len(out.token_ids)
    assert out.stop_reason == "completed"
    assert out.extra_fields == {"global_steps": 0}
    no_logprobs = await server.generate(PROMPT, {"max_tokens": 3, "logprobs": False}, "r")
    assert no_logprobs.log_probs is None


async def test_concurrent_requests_share_batches(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = make_server(model_dir)
    sizes: list[int] = []
    original = server.generator.generate

    def record(prompts, settings):
        sizes.append(len(prompts))
        return original(prompts, settings)

    monkeypatch.setattr(server.generator, "generate", record)
    params = {"temperature": 0.0, "max_tokens": 4, "ignore_eos": True}
    outs = await asyncio.gather(*(server.generate(PROMPT[: 2 + i % 3], params, f"r{i}") for i in range(12)))
    assert all(len(o.token_ids) == 4 for o in outs)
    assert sum(sizes) == 12 and max(sizes) > 1 and max(sizes) <= 8  # batched, within max_num_seqs


async def test_the_response_budget_is_the_default_max_tokens(model_dir: Path) -> None:
    server = make_server(model_dir, response_length=5)
    out = await server.generate(PROMPT, {"ignore_eos": True}, "r")
    assert len(out.token_ids) == 5


async def test_weight_update_through_the_adapter_changes_generation_and_version(model_dir: Path) -> None:
    server = make_server(model_dir)
    adapter = HFServerAdapter(
        rollout_config(), HFModelConfig(path=str(model_dir)), device_mesh=None, replica_rank=0
    )
    adapter._server = Remote(server)
    greedy = {"temperature": 0.0, "max_tokens": 8, "ignore_eos": True}
    before = await server.generate(PROMPT, greedy, "r")
    actor = tiny_model(len(tiny_tokenizer()), seed=11)
    await adapter.update_weights(((n, t) for n, t in actor.state_dict().items()), global_steps=3)
    after = await server.generate(PROMPT, greedy, "r")
    assert after.extra_fields["global_steps"] == 3
    for name, tensor in actor.state_dict().items():
        assert torch.equal(server.model.state_dict()[name], tensor)
    assert after.token_ids != before.token_ids


async def test_an_incomplete_or_foreign_weight_update_is_an_error(model_dir: Path) -> None:
    server = make_server(model_dir)
    with pytest.raises(KeyError, match="not in the rollout model"):
        await server.load_weights([("model.layers.9.bogus", torch.zeros(1))])
    first = next(iter(server.model.state_dict().items()))
    await server.load_weights([first])
    with pytest.raises(RuntimeError, match="missing"):
        await server.finish_weight_update(global_steps=1)


async def test_abort_returns_aborted_and_parks_new_requests_until_resume(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server(model_dir, response_length=512)
    started = threading.Event()
    original = server.generator.generate

    def generate(prompts, settings):
        started.set()
        return original(prompts, settings)

    monkeypatch.setattr(server.generator, "generate", generate)
    long = {"max_tokens": 400, "ignore_eos": True}
    running = asyncio.ensure_future(server.generate(PROMPT, long, "a"))
    while not started.is_set():
        await asyncio.sleep(0.01)
    queued = asyncio.ensure_future(server.generate(PROMPT, long, "q"))  # waits for the next batch
    while not server._queue._pending:
        await asyncio.sleep(0)
    result = await server.abort_all_requests()
    assert result["aborted_count"] == 1  # the queued request; the running one is stopped by the generator
    assert (await running).stop_reason == "aborted"
    assert (await queued).stop_reason == "aborted" and (await queued).token_ids == []
    parked = asyncio.ensure_future(server.generate(PROMPT, {"max_tokens": 2}, "b"))
    for _ in range(20):  # no thread is involved before a request is queued: these turns of the loop suffice
        await asyncio.sleep(0)
    assert not parked.done() and not server._queue._pending  # parked before the queue, not generated
    await server.resume_generation()
    assert (await parked).stop_reason == "completed"


@pytest.mark.parametrize(
    ("name", "dtype"), [("bf16", torch.bfloat16), ("float32", torch.float32), ("fp32", torch.float32)]
)
def test_dtype_names(name: str, dtype: torch.dtype) -> None:
    assert torch_dtype(name) is dtype


def test_unknown_dtype_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"rollout\.dtype"):
        torch_dtype("float7")
