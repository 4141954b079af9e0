"""The transformers sampling engine of the ``hf`` rollout: vLLM's sampling semantics on a tiny real model.

Every claim is checked against an independent computation: log-probs against one unpadded, uncached
forward pass of the same model over prompt + sampled tokens (so the KV cache, left padding and the
pruning of finished rows must all be right), stop strings against the decoded text.
"""

from __future__ import annotations

import asyncio

import pytest
import torch

from simpletir.backends.hf_generation import (
    FINISH_ABORT,
    FINISH_LENGTH,
    FINISH_STOP,
    GenerationQueue,
    HFGenerator,
    SamplingSettings,
    _top_k_top_p,
)
from tests.tir.tir_fixtures import tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_model(len(tokenizer), seed=3).float()


def make_generator(model, tokenizer, seed: int = 0) -> HFGenerator:
    return HFGenerator(
        model,
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        eos_token_ids=[tokenizer.eos_token_id],
        pad_token_id=tokenizer.pad_token_id,
        max_model_len=4096,
        seed=seed,
    )


def prompts(tokenizer) -> list[list[int]]:
    texts = ["Let me compute", "```python\nprint(6 * 7)\n```\nCode execution result: 42", "x"]
    return [tokenizer.encode(t, add_special_tokens=False) for t in texts]


def reference_logprobs(model, prompt: list[int], sampled: list[int], temperature: float) -> torch.Tensor:
    """Log-probs of ``sampled`` from one full forward pass without cache or padding."""
    ids = torch.tensor([prompt + sampled])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
    scaled = logits / (temperature if temperature > 0 else 1.0)
    return torch.log_softmax(scaled, -1).gather(-1, torch.tensor(sampled).view(-1, 1)).squeeze(-1)


@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])
def test_batched_cached_logprobs_match_a_full_forward_pass(model, tokenizer, temperature) -> None:
    gen = make_generator(model, tokenizer)
    batch = prompts(tokenizer)
    settings = [
        SamplingSettings(max_tokens=n, temperature=temperature, ignore_eos=True) for n in (30, 12, 21)
    ]
    outputs = gen.generate(batch, settings)
    for prompt, setting, out in zip(batch, settings, outputs, strict=True):
        assert len(out.token_ids) == setting.max_tokens and out.finish_reason == FINISH_LENGTH
        expected = reference_logprobs(model, prompt, out.token_ids, temperature)
        assert torch.allclose(torch.tensor(out.log_probs), expected, atol=1e-5)


def test_greedy_takes_the_argmax_at_every_step(model, tokenizer) -> None:
    prompt = prompts(tokenizer)[0]
    out = make_generator(model, tokenizer).generate(
        [prompt], [SamplingSettings(max_tokens=15, temperature=0.0)]
    )[0]
    ids = list(prompt)
    for token in out.token_ids:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        assert token == int(torch.argmax(logits))
        ids.append(token)


def test_top_k_one_and_a_tiny_nucleus_are_greedy(model, tokenizer) -> None:
    batch = prompts(tokenizer)[:2]
    gen = make_generator(model, tokenizer)
    greedy = gen.generate(batch, [SamplingSettings(max_tokens=10, temperature=0.0, ignore_eos=True)] * 2)
    top_k = gen.generate(
        batch, [SamplingSettings(max_tokens=10, temperature=1.0, top_k=1, ignore_eos=True)] * 2
    )
    top_p = gen.generate(
        batch, [SamplingSettings(max_tokens=10, temperature=1.0, top_p=1e-6, ignore_eos=True)] * 2
    )
    assert [o.token_ids for o in greedy] == [o.token_ids for o in top_k] == [o.token_ids for o in top_p]


def test_a_seed_makes_a_request_reproducible(model, tokenizer) -> None:
    prompt = prompts(tokenizer)[2]

    def sample(seed: int) -> list[int]:
        settings = SamplingSettings(max_tokens=25, temperature=1.0, seed=seed, ignore_eos=True)
        return make_generator(model, tokenizer, seed=99).generate([prompt], [settings])[0].token_ids

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_stop_string_keeps_the_completing_token_and_nothing_after(model, tokenizer) -> None:
    gen = make_generator(model, tokenizer)
    prompt = prompts(tokenizer)[0]
    free = gen.generate([prompt], [SamplingSettings(max_tokens=60, temperature=0.0, ignore_eos=True)])[0]
    text = tokenizer.decode(free.token_ids, skip_special_tokens=True)
    stop = text[len(text) // 2 : len(text) // 2 + 2]  # a string the greedy continuation is known to contain
    out = gen.generate(
        [prompt], [SamplingSettings(max_tokens=60, temperature=0.0, ignore_eos=True, stop=(stop,))]
    )[0]
    assert out.finish_reason == FINISH_STOP
    assert out.token_ids == free.token_ids[: len(out.token_ids)]
    assert stop in tokenizer.decode(out.token_ids, skip_special_tokens=True)
    assert stop not in tokenizer.decode(out.token_ids[:-1], skip_special_tokens=True)


def test_eos_stops_unless_ignored(model, tokenizer) -> None:
    prompt = prompts(tokenizer)[0]
    greedy = SamplingSettings(max_tokens=8, temperature=0.0)
    first = make_generator(model, tokenizer).generate([prompt], [greedy])[0].token_ids[0]
    gen = make_generator(model, tokenizer)
    gen.eos_token_ids = frozenset({first})  # the token greedy decoding emits first plays EOS
    stopped = gen.generate([prompt], [greedy])[0]
    assert stopped.token_ids == [first] and stopped.finish_reason == FINISH_STOP
    ignored = gen.generate([prompt], [SamplingSettings(max_tokens=8, temperature=0.0, ignore_eos=True)])[0]
    assert len(ignored.token_ids) == 8 and ignored.finish_reason == FINISH_LENGTH
    by_id = gen.generate([prompt], [SamplingSettings(max_tokens=8, temperature=0.0, ignore_eos=True,
                                                      stop_token_ids=(first,))])[0]  # fmt: skip
    assert by_id.token_ids == [first] and by_id.finish_reason == FINISH_STOP


def test_the_context_limit_caps_max_tokens(model, tokenizer) -> None:
    gen = make_generator(model, tokenizer)
    gen.max_model_len = len(prompts(tokenizer)[0]) + 3
    out = gen.generate([prompts(tokenizer)[0]], [SamplingSettings(max_tokens=50, ignore_eos=True)])[0]
    assert len(out.token_ids) == 3 and out.finish_reason == FINISH_LENGTH


def test_abort_ends_the_running_batch(model, tokenizer) -> None:
    calls = []

    def decode(ids: list[int]) -> str:
        calls.append(1)
        if len(calls) == 10:  # abort mid-generation, as a weight update or verl's abort would
            gen.abort()
        return tokenizer.decode(ids, skip_special_tokens=True)

    gen = make_generator(model, tokenizer)
    gen.decode = decode
    batch = prompts(tokenizer)
    settings = [SamplingSettings(max_tokens=500, ignore_eos=True, stop=("never-said",))] * len(batch)
    outputs = gen.generate(batch, settings)
    assert all(o.finish_reason == FINISH_ABORT for o in outputs)
    assert all(0 < len(o.token_ids) < 500 for o in outputs)
    gen.resume()
    assert (
        gen.generate(batch[:1], [SamplingSettings(max_tokens=3, ignore_eos=True)])[0].finish_reason
        == FINISH_LENGTH
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
    ],
)
def test_invalid_parameters_are_refused(params, message) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingSettings.from_params(params, default_max_tokens=8)


def test_verl_sampling_params_are_read() -> None:
    settings = SamplingSettings.from_params(
        {"temperature": 0.5, "top_p": 0.9, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True,
         "max_tokens": 12, "stop": ["```"]},
        default_max_tokens=100,
    )  # fmt: skip
    assert settings == SamplingSettings(
        max_tokens=12, temperature=0.5, top_p=0.9, stop=("```",), logprobs=True
    )
    assert SamplingSettings.from_params({}, default_max_tokens=100).max_tokens == 100


def test_for_tokenizer_stops_at_both_eos_tokens_and_decodes_without_special_tokens(model, tokenizer) -> None:
    prompt = prompts(tokenizer)[0]
    greedy = SamplingSettings(max_tokens=8, temperature=0.0)
    first = make_generator(model, tokenizer).generate([prompt], [greedy])[0].token_ids[0]
    for generation_eos in (first, [first]):  # a generation config's eos_token_id: an id or a list
        gen = HFGenerator.for_tokenizer(model, tokenizer, max_model_len=64, generation_eos=generation_eos)
        assert gen.eos_token_ids == {first, tokenizer.eos_token_id}
        assert gen.generate([prompt], [greedy])[0].token_ids == [first]
    gen = HFGenerator.for_tokenizer(model, tokenizer, max_model_len=64)
    assert gen.eos_token_ids == {tokenizer.eos_token_id} and gen.pad_token_id == tokenizer.pad_token_id
    assert gen.decode([tokenizer.eos_token_id, *prompt]) == tokenizer.decode(prompt)


async def test_the_queue_batches_concurrent_requests_and_answers_each_its_own(
    model, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = make_generator(model, tokenizer)
    batch = prompts(tokenizer) * 3
    settings = [
        SamplingSettings(max_tokens=5 + i, temperature=0.0, ignore_eos=True) for i in range(len(batch))
    ]
    alone = [gen.generate([p], [s])[0].token_ids for p, s in zip(batch, settings, strict=True)]
    sizes: list[int] = []
    original = gen.generate

    def record(prompts_, settings_):
        sizes.append(len(prompts_))
        return original(prompts_, settings_)

    monkeypatch.setattr(gen, "generate", record)
    queue = GenerationQueue(gen, max_batch=4)
    outs = await asyncio.gather(*(queue.submit(p, s) for p, s in zip(batch, settings, strict=True)))
    assert [o.token_ids for o in outs] == alone
    assert sorted(sizes) == [1, 4, 4]  # nine requests sent together, at most four per batch


async def test_a_failed_batch_raises_in_its_callers_and_the_queue_goes_on(
    model, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = make_generator(model, tokenizer)
    original = gen.generate
    calls = []

    def fail_once(prompts_, settings_):
        calls.append(len(prompts_))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return original(prompts_, settings_)

    monkeypatch.setattr(gen, "generate", fail_once)
    queue = GenerationQueue(gen, max_batch=8)
    settings = SamplingSettings(max_tokens=3, ignore_eos=True)
    results = await asyncio.gather(
        *(queue.submit(p, settings) for p in prompts(tokenizer)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) and "out of memory" in str(r) for r in results)
    again = await queue.submit(prompts(tokenizer)[0], settings)
    assert len(again.token_ids) == 3 and again.finish_reason == FINISH_LENGTH


async def test_closing_the_queue_ends_the_running_batch_and_the_queued_requests(model, tokenizer) -> None:
    gen = make_generator(model, tokenizer)
    queue = GenerationQueue(gen, max_batch=1)
    long = SamplingSettings(max_tokens=100_000, ignore_eos=True, stop=("never-said",))
    gen.max_model_len = 200_000
    pending = [asyncio.ensure_future(queue.submit(p, long)) for p in prompts(tokenizer)[:2]]
    while not queue.lock.locked():  # the first request's batch is running
        await asyncio.sleep(0.01)
    await queue.close()
    outs = await asyncio.gather(*pending)
    assert [o.finish_reason for o in outs] == [FINISH_ABORT, FINISH_ABORT]
    assert len(outs[0].token_ids) < 100_000 and outs[1].token_ids == []
    assert not gen.aborted  # the generator serves again


@pytest.mark.parametrize(("top_k", "top_p"), [(1, 1.0), (5, 1.0), (-1, 0.6), (4, 0.8)])
def test_logprobs_are_within_the_kept_set_after_top_k_and_top_p(model, tokenizer, top_k, top_p) -> None:
    """vLLM's ``processed_logprobs``: renormalised over what top-k/top-p kept (``test_vllm_semantics`` pins vLLM)."""
    prompt = prompts(tokenizer)[0]
    setting = SamplingSettings(max_tokens=12, temperature=0.8, top_k=top_k, top_p=top_p, ignore_eos=True)
    out = make_generator(model, tokenizer).generate([prompt], [setting])[0]
    ids = torch.tensor([prompt + out.token_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float() / 0.8
    expected = [
        float(torch.log_softmax(_top_k_top_p(row, top_k, top_p), -1)[token])
        for row, token in zip(logits, out.token_ids, strict=True)
    ]
    assert out.log_probs == pytest.approx(expected, abs=1e-5)
    if top_k == 1:
        assert out.log_probs == [0.0] * 12
    full = torch.log_softmax(logits, -1).gather(-1, torch.tensor(out.token_ids).view(-1, 1)).squeeze(-1)
    assert all(kept >= whole for kept, whole in zip(out.log_probs, full.tolist(), strict=True))
