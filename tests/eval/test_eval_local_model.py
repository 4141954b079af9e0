"""In-process generation (``simpletir-eval run --model DIR`` without ``--url``) on the tiny TIR model that
``recipes/train_tiny_cpu.sh`` trains.

Checked against what the in-process code did not compute: transformers' own greedy ``generate``, the tokenizer,
and the server path of the same command against a stand-in that serves the same weights token for token as vLLM
does (``generator_app``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from eval_standin import ServerThread, generator_app
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from simpletir.backends.hf_generation import HFGenerator
from simpletir.dev.tiny_model import TOOL_OPENING, prompt_messages, tiny_problems, write_datasets
from simpletir.eval.benchmarks import render_prompt
from simpletir.eval.cli import main
from simpletir.eval.completion import CompletionError
from simpletir.eval.local_model import LocalModel, LocalModelSettings
from simpletir.eval.records import EvalResult, load_result

RECIPE_LIMITS = ["--max-turns", "3", "--max-tokens-per-turn", "64", "--max-response-tokens", "256"]


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir


@pytest.fixture(scope="module")
def tokenizer(model_dir: Path) -> PreTrainedTokenizerFast:
    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def val_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recipe's held-out set (64 tiny arithmetic problems, verl parquet)."""
    return write_datasets(tmp_path_factory.mktemp("data"))["val"]


def prompts(tokenizer: PreTrainedTokenizerFast, count: int) -> list[str]:
    """Chat prompts of ``count`` tiny problems, as ``simpletir-eval`` renders them; every other one continues a
    turn that has begun to use the tool (the starting model seldom does by itself)."""
    return [
        render_prompt(prompt_messages(p), tokenizer) + (TOOL_OPENING if i % 2 else "")
        for i, p in enumerate(tiny_problems(count, seed=5))
    ]


def greedy_reference(model_dir: Path, tokenizer: PreTrainedTokenizerFast, prompt: str, n: int) -> list[int]:
    """The ids transformers' own greedy ``generate`` samples after ``prompt`` (EOS included, when reached)."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False)
    return out[0, ids.shape[1] :].tolist()


async def test_a_greedy_completion_is_what_transformers_generates(
    model_dir: Path, tokenizer: PreTrainedTokenizerFast
) -> None:
    async with LocalModel.load(LocalModelSettings(model_dir, device="cpu"), tokenizer) as backend:
        for prompt in prompts(tokenizer, 4):
            reference = greedy_reference(model_dir, tokenizer, prompt, 40)
            completion = await backend.complete(prompt, max_tokens=40, temperature=0.0, top_p=1.0)
            assert completion.text == tokenizer.decode(reference, skip_special_tokens=True)
            assert completion.completion_tokens == len(reference)
            assert completion.prompt_tokens == len(tokenizer.encode(prompt, add_special_tokens=False))
            ended = reference[-1] == tokenizer.eos_token_id
            assert (completion.finish_reason, completion.stop_string) == ("stop" if ended else "length", None)


async def test_a_stop_string_is_cut_from_the_text_and_its_tokens_are_counted(
    model_dir: Path, tokenizer: PreTrainedTokenizerFast
) -> None:
    checked = 0
    async with LocalModel.load(LocalModelSettings(model_dir, device="cpu"), tokenizer) as backend:
        for prompt in prompts(tokenizer, 6):
            reference = greedy_reference(model_dir, tokenizer, prompt, 40)
            texts = [
                tokenizer.decode(reference[:k], skip_special_tokens=True) for k in range(len(reference) + 1)
            ]
            fence_at = next((k for k, text in enumerate(texts) if "```" in text), None)
            if fence_at is None:
                continue
            completion = await backend.complete(
                prompt, max_tokens=40, temperature=0.0, top_p=1.0, stop=["```"]
            )
            assert completion.text == texts[fence_at][: texts[fence_at].index("```")]
            assert (completion.finish_reason, completion.stop_string) == ("stop", "```")
            assert completion.completion_tokens == fence_at  # the fence's tokens are counted, as vLLM does
            checked += 1
    assert checked >= 2  # the tiny TIR model opens a code block on most prompts


async def test_a_prompt_beyond_the_context_fails_the_request(
    model_dir: Path, tokenizer: PreTrainedTokenizerFast
) -> None:
    async with LocalModel.load(LocalModelSettings(model_dir, device="cpu"), tokenizer) as backend:
        prompt = prompts(tokenizer, 1)[0]
        backend.generator.max_model_len = len(tokenizer.encode(prompt, add_special_tokens=False))
        with pytest.raises(CompletionError, match=r"the prompt has \d+ tokens, the model's context"):
            await backend.complete(prompt, max_tokens=8, temperature=1.0, top_p=1.0)


def run_args(val_data: Path, out: Path, *extra: str) -> list[str]:
    """``simpletir-eval run`` on 8 problems of the recipe's val set with the recipe's limits."""
    return [
        "run", "--data", str(val_data), "--limit", "8", "--samples", "2", *RECIPE_LIMITS, "--seed", "3",
        "--output-dir", str(out), *extra,
    ]  # fmt: skip


def comparable(result: EvalResult) -> list[dict]:
    """Every trajectory of ``result`` without its timings."""
    return [
        t.model_dump(exclude={"elapsed_s": True, "turns": {"__all__": {"exec_duration_s"}}})
        for t in result.trajectories
    ]


def test_in_process_and_server_runs_give_the_same_trajectories(
    tmp_path: Path,
    model_dir: Path,
    tokenizer: PreTrainedTokenizerFast,
    val_data: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(run_args(val_data, tmp_path / "local", "--model", str(model_dir), "--concurrency", "16")) == 0
    assert "trajectories: 100%" in capsys.readouterr().err  # the progress bar of the server path
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    generator = HFGenerator(
        model,
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        eos_token_ids=[tokenizer.eos_token_id],
        pad_token_id=tokenizer.pad_token_id,
        max_model_len=2048,
    )
    with ServerThread(generator_app(generator, tokenizer)) as url:
        argv = run_args(val_data, tmp_path / "server", "--url", url, "--tokenizer", str(model_dir))
        assert main([*argv, "--no-progress"]) == 0
    local = load_result(tmp_path / "local" / "results.json")
    server = load_result(tmp_path / "server" / "results.json")
    assert comparable(local) == comparable(server)
    assert local.metrics == server.metrics
    assert (local.model, server.model) == (str(model_dir), "tiny-tir")
    assert local.settings["device"] == "cpu" and local.settings["url"] is None
    turns = [turn for t in local.trajectories for turn in t.turns]
    # the case covers what matters: code run, a code block continued past its opening fence, answers
    assert any(t.kind == "code" and t.requests == 2 for t in turns)
    assert any(t.end_reason == "answer" for t in local.trajectories)


def test_token_counts_are_the_tokenizer_s(
    tmp_path: Path, model_dir: Path, tokenizer: PreTrainedTokenizerFast, val_data: Path
) -> None:
    assert main(run_args(val_data, tmp_path / "o", "--model", str(model_dir), "--no-progress")) == 0
    result = load_result(tmp_path / "o" / "results.json")
    count = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
    for record in result.trajectories:
        assert record.prompt_tokens == count(record.prompt)
        for turn in record.turns:
            assert turn.observation_tokens == (count(turn.observation) if turn.observation else 0)
            assert 0 < turn.completion_tokens <= 64
        assert record.response_tokens == sum(t.completion_tokens + t.observation_tokens for t in record.turns)


def test_greedy_samples_agree_so_every_metric_is_the_share_of_problems_solved(
    tmp_path: Path, model_dir: Path, val_data: Path
) -> None:
    argv = run_args(val_data, tmp_path / "o", "--model", str(model_dir), "--no-progress")
    assert main([*argv, "--samples", "3", "--temperature", "0", "--concurrency", "24"]) == 0
    result = load_result(tmp_path / "o" / "results.json")
    by_problem: dict[str, set[str]] = {}
    for record in result.trajectories:
        by_problem.setdefault(record.problem_id, set()).add(record.response)
    assert len(by_problem) == 8 and all(len(responses) == 1 for responses in by_problem.values())
    solved = {r.problem_id for r in result.trajectories if r.correct}
    metrics = result.metrics["val"]
    assert metrics.avg == pytest.approx(len(solved) / 8)
    assert metrics.pass_at == pytest.approx({k: len(solved) / 8 for k in (1, 2, 3)})
    assert metrics.maj == pytest.approx(len(solved) / 8)
