"""verl's entry points: the result dict, options, loading by file path, and verl's own reward managers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from simpletir.reward import RewardConfig, compute_score, compute_score_batch

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "reward" / "compute_score.py"
RESULT_KEYS = {"score", "acc", "pred", "no_answer", "timeout", "grader_error"}

RESPONSE_CORRECT = "```python\nprint(6*7)\n```\nCode execution result: 42\nSo the answer is \\boxed{42}."
RESPONSE_WRONG = "I think it is \\boxed{41}."
RESPONSE_NONE = "I could not solve it."

SCORES = [
    (RESPONSE_CORRECT, "42", {}, 1.0, True),
    (RESPONSE_WRONG, "42", {}, 0.0, False),
    (RESPONSE_NONE, "42", {}, 0.0, False),
    (RESPONSE_CORRECT, "42", {"score_convention": "signed"}, 1.0, True),
    (RESPONSE_WRONG, "42", {"score_convention": "signed"}, -1.0, False),
    (RESPONSE_WRONG, "42", {"correct_score": 2, "incorrect_score": -0.5}, -0.5, False),
    (RESPONSE_CORRECT, "\\boxed{042}", {}, 1.0, True),
    (RESPONSE_CORRECT, ["41", "42"], {}, 1.0, True),
    (RESPONSE_CORRECT, np.array(["40", "41"]), {}, 0.0, False),
    (RESPONSE_CORRECT, 42, {}, 1.0, True),
    ("Total: 42", "42", {"last_number": False}, 0.0, False),
]


@pytest.mark.parametrize(("response", "truth", "kwargs", "score", "acc"), SCORES)
def test_compute_score(response: str, truth: object, kwargs: dict, score: float, acc: bool) -> None:
    result = compute_score("math", response, truth, {"index": 0}, **kwargs)
    assert set(result) == RESULT_KEYS
    assert result["score"] == score and result["acc"] is acc
    assert all(isinstance(v, (bool, float, str)) for v in result.values())


AFTER_OUTPUT = (
    "First guess \\boxed{3}.\n```python\nprint(2 + 2)\n```\n```output\n4\n```\n"
    "The computation confirms it, so the answer is \\boxed{4}."
)
MATRIX_IN_PROSE = "The product is $\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$."
LATE_FINAL_ANSWER = "Partial sum \\boxed{255}, then the rest.\nFinal Answer: $10,455$"
BOXED_LIST = "The primes are $\\boxed{3}$, $\\boxed{5}$, and $\\boxed{7}$."

# Whole responses against the answer a reader takes from them, and against the answer the first version
# took (now wrong): after an output block, without a box, several answers, primes, decimals.
ISSUE_RESPONSES = [
    (AFTER_OUTPUT, "4", {}, True),
    (AFTER_OUTPUT, "3", {}, False),
    ("Hence the count is $10^3$", "1000", {}, True),
    ("Hence the count is $10^3$", "3", {}, False),
    ("So $x=\\frac{2}{3}$", "\\frac{2}{3}", {}, True),
    ("So $x=\\frac{2}{3}$", "3", {}, False),
    ("The root is [$\\sqrt{4}$]", "2", {}, True),
    ("The root is [$\\sqrt{4}$]", "4", {}, False),
    ("Therefore $x \\geq 5$ is the solution", "[5,\\infty)", {}, True),
    ("Therefore $x \\geq 5$ is the solution", "5", {}, False),
    (MATRIX_IN_PROSE, "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", {}, True),
    (MATRIX_IN_PROSE, "4", {}, False),
    ("Final Answer: The largest $n$ is 34.", "34", {}, True),
    ("Only one option fits.\nAnswer: B", "B", {}, True),
    ("Only one option fits.\nAnswer: B", "C", {}, False),
    ("The answer is (B) 12.", "B", {}, True),
    (LATE_FINAL_ANSWER, "10455", {}, True),
    (LATE_FINAL_ANSWER, "255", {}, False),
    (BOXED_LIST, "3, 5, 7", {}, True),
    (BOXED_LIST, "7", {}, False),
    ("So $(p,q)=(3,2)$.", "(3,2)", {}, True),
    ("The solution is $x = 3, y = 2$.", "(3,2)", {}, True),
    ("The solution is $x = 3, y = 2$.", "(2,3)", {}, False),
    ("\\boxed{-793<a<10}", "(-793,10)", {}, True),
    ("\\boxed{x > 2}", "(2,\\infty)", {}, True),
    ("\\boxed{\\pm 2021}", "\\{-2021, 2021\\}", {}, True),
    ("So the answer is $3$ or $5$.", "\\{3,5\\}", {}, True),
    ("\\boxed{E'}", "E", {}, False),
    ("\\boxed{f'(x)}", "f(x)", {}, False),
    ("\\boxed{1.41421356}", "\\sqrt{2}", {}, True),
    ("\\boxed{1.41421356}", "\\sqrt{2}", {"float_rounding": None}, False),
    ("\\boxed{0.75}", "\\frac{3}{4}", {"float_rounding": None}, True),
    (
        "First guess: $\\boxed{32 \\%}$.\n```output\n32 \\%\n```\nCorrecting it, the answer is $\\boxed{33 \\%}$.",
        "32 \\%",
        {},
        False,
    ),
]


@pytest.mark.parametrize(("response", "truth", "kwargs", "acc"), ISSUE_RESPONSES)
def test_issue_responses(response: str, truth: str, kwargs: dict, acc: bool) -> None:
    result = compute_score("math", response, truth, None, **kwargs)
    assert result["timeout"] is False and result["grader_error"] is False, result
    assert result["acc"] is acc, result


# Issue 22: whole responses for each class, each against a gold it must match and one it must not.
ISSUE_22_RESPONSES = [
    ("So \\boxed{(5,2)} \\quad\\text{and}\\quad \\boxed{(7,2)}.", "\\{(5,2),(7,2)\\}", True),
    ("So \\boxed{(5,2)} \\quad\\text{and}\\quad \\boxed{(7,2)}.", "(5,2)", False),
    ("\\boxed{(5,2)} fails the check; the solution is \\boxed{(7,2)}.", "\\{(5,2),(7,2)\\}", False),
    ("\\boxed{(5,2)} fails the check; the solution is \\boxed{(7,2)}.", "(7,2)", True),
    ("The pairs are $\\boxed{p=5,q=2}$ or $\\boxed{p=7,q=2}$.", "(5,2),(7,2)", True),
    ("The pairs are $\\boxed{p=5,q=2}$ or $\\boxed{p=7,q=3}$.", "(5,2),(7,2)", False),
    ("Hence $p=5,q=2;p=7,q=2$.", "(5,2),(7,2)", True),
    ("Checking each option, only one fits.\nAnswer: \\text{(B)}", "B", True),
    ("Checking each option, only one fits.\nAnswer: \\text{(B)}", "C", False),
    ("The remainder is $\\boxed{17 \\bmod 5 = 2}$.", "2", True),
    ("The remainder is $\\boxed{17 \\bmod 5 = 2}$.", "3", False),
    ("So \\boxed{12 \\\\}", "12", True),
    ("Por lo tanto, la respuesta es $\\frac{1}{2}$ cuando n = 3.", "\\frac12", True),
    ("Por lo tanto, la respuesta es $\\frac{1}{2}$ cuando n = 3.", "3", False),
    ("所以答案是 $\\frac{1}{2}$，其中 n = 3。", "0.5", True),
    ("The solution set is $\\boxed{|z| > 2}$.", "(-\\infty,-2)\\cup(2,\\infty)", True),
    ("The solution set is $\\boxed{|z| \\ge 2}$.", "(-\\infty,-2)\\cup(2,\\infty)", False),
    ("The line is $\\boxed{2x - y + 3 = 0}$.", "y = 2x + 3", True),
    ("The line is $\\boxed{2x - y + 4 = 0}$.", "y = 2x + 3", False),
]


@pytest.mark.parametrize(("response", "truth", "acc"), ISSUE_22_RESPONSES)
def test_issue_22_responses(response: str, truth: str, acc: bool) -> None:
    result = compute_score("math", response, truth)
    assert result["timeout"] is False and result["grader_error"] is False, result
    assert result["acc"] is acc, result


def test_result_says_why() -> None:
    none = compute_score("math", RESPONSE_NONE, "42", last_number=False)
    assert none["no_answer"] is True and none["pred"] == ""
    wrong = compute_score("math", RESPONSE_WRONG, "42")
    assert wrong["no_answer"] is False and wrong["pred"] == "41" and not wrong["timeout"]
    slow = compute_score("math", "\\boxed{2^{2^{2^{2^{2^{2}}}}}}", "3", timeout_s=0.5)
    assert slow["timeout"] is True and slow["acc"] is False and slow["score"] == 0.0


def test_pred_is_capped_for_logging() -> None:
    result = compute_score("math", "\\boxed{" + "7" * 5000 + "}", "7")
    assert result["acc"] is False and 0 < len(result["pred"]) <= 2048


def test_verl_runtime_kwargs_are_accepted() -> None:
    result = compute_score(
        "math", RESPONSE_CORRECT, "42", None, reward_router_address=None, reward_model_tokenizer=None
    )
    assert result["acc"] is True


@pytest.mark.parametrize(
    "kwargs",
    [
        {"score_convention": "ternary"},
        {"timeout_s": 0},
        {"timeout_s": -1},
        {"correct_score": "high"},
        {"float_rounding": -1},
        {"float_rounding": 2.5},
        {"float_rounding": True},
    ],
)
def test_bad_options_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RewardConfig.from_kwargs(**kwargs)


def test_config_from_kwargs() -> None:
    config = RewardConfig.from_kwargs(score_convention="signed", timeout_s=2, answer_phrase=False)
    assert (config.correct_score, config.incorrect_score, config.timeout_s) == (1.0, -1.0, 2.0)
    assert config.extract.answer_phrase is False and config.extract.last_number is True
    assert RewardConfig() == RewardConfig.from_kwargs()
    assert RewardConfig.from_kwargs(float_rounding=None).float_rounding is None
    assert RewardConfig().float_rounding == 6


def test_batch_matches_single_in_order() -> None:
    responses = [
        RESPONSE_CORRECT,
        RESPONSE_WRONG,
        RESPONSE_NONE,
        "\\boxed{(x+1)^2}",
        "\\boxed{\\frac{1}{2}}",
    ] * 4
    truths = ["42", "42", "42", "x^2+2x+1", "0.5"] * 4
    batch = compute_score_batch(["math"] * len(responses), responses, truths, [{}] * len(responses))
    assert batch == [compute_score("math", r, t) for r, t in zip(responses, truths, strict=True)]
    assert [b["acc"] for b in batch[:5]] == [True, False, False, True, True]


def test_batch_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        compute_score_batch(["math"], ["a", "b"], ["1"])


def test_entry_file_uses_absolute_imports_only() -> None:
    source = ENTRY.read_text()
    assert "from ." not in source and "import ." not in source


def _verl_config(name: str, **reward_kwargs: object):
    return OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {"path": str(ENTRY), "name": name, "reward_kwargs": reward_kwargs}
            }
        }
    )


def test_loaded_by_verl_from_file_path() -> None:
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(_verl_config("compute_score", score_convention="signed"))
    assert fn is not None
    good = fn(data_source="math", solution_str=RESPONSE_CORRECT, ground_truth="42", extra_info={})
    bad = fn(data_source="math", solution_str=RESPONSE_WRONG, ground_truth="42", extra_info={})
    assert (good["score"], bad["score"]) == (1.0, -1.0)


def test_batch_loaded_by_verl_from_file_path() -> None:
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(_verl_config("compute_score_batch"))
    scores = fn(
        data_sources=np.array(["math", "math"], dtype=object),
        solution_strs=[RESPONSE_CORRECT, RESPONSE_WRONG],
        ground_truths=["42", "42"],
        extra_infos=np.array([{}, {}], dtype=object),
    )
    assert [s["score"] for s in scores] == [1.0, 0.0]


def test_documented_hydra_overrides_on_verls_ppo_trainer_config() -> None:
    import verl
    from hydra import compose, initialize_config_dir
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        config = compose(
            config_name="ppo_trainer",
            overrides=[
                f"reward.custom_reward_function.path={ENTRY}",
                "reward.custom_reward_function.name=compute_score",
                "+reward.custom_reward_function.reward_kwargs.score_convention=signed",
                "+reward.custom_reward_function.reward_kwargs.timeout_s=3",
            ],
        )
    fn = get_custom_reward_fn(config)
    result = fn(data_source="math", solution_str=RESPONSE_WRONG, ground_truth="42", extra_info={})
    assert result["score"] == -1.0 and result["pred"] == "41"


@pytest.fixture(scope="module")
def tokenizer():
    """A tiny byte-level BPE tokenizer trained here (lossless decode of any text)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [RESPONSE_CORRECT, RESPONSE_WRONG, "\\boxed{} answer is"], vocab_size=300, min_frequency=1
    )
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, pad_token="<pad>")


def _data(tokenizer, responses: list[str], truths: list[str]):
    """A DataProto shaped like verl's rollout output (left-padded prompts, right-padded responses)."""
    from verl import DataProto

    encoded = [tokenizer.encode(r) for r in responses]
    width = max(len(e) for e in encoded)
    prompts = torch.ones(len(responses), 3, dtype=torch.long)
    response_ids = torch.zeros(len(responses), width, dtype=torch.long)
    attention = torch.zeros(len(responses), 3 + width, dtype=torch.long)
    attention[:, :3] = 1
    for i, ids in enumerate(encoded):
        response_ids[i, : len(ids)] = torch.tensor(ids)
        attention[i, 3 : 3 + len(ids)] = 1
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": response_ids, "attention_mask": attention},
        non_tensors={
            "data_source": np.array(["math"] * len(responses), dtype=object),
            "reward_model": np.array([{"ground_truth": t} for t in truths], dtype=object),
            "extra_info": np.array([{} for _ in responses], dtype=object),
        },
    )


async def test_verl_naive_reward_manager_runs_it(tokenizer) -> None:
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(_verl_config("compute_score"))
    manager = NaiveRewardManager(OmegaConf.create({}), tokenizer, fn)
    data = _data(tokenizer, [RESPONSE_CORRECT, RESPONSE_WRONG], ["42", "42"])
    results = [await manager.run_single(data[i : i + 1]) for i in range(2)]
    assert [r["reward_score"] for r in results] == [1.0, 0.0]
    assert results[0]["reward_extra_info"]["pred"] == "42"


def test_verl_batch_reward_manager_runs_it(tokenizer) -> None:
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.workers.reward_manager.batch import BatchRewardManager

    fn = get_custom_reward_fn(_verl_config("compute_score_batch"))
    manager = BatchRewardManager(tokenizer, num_examine=0, compute_score=fn)
    data = _data(tokenizer, [RESPONSE_CORRECT, RESPONSE_WRONG, RESPONSE_NONE], ["42", "42", "42"])
    out = manager(data, return_dict=True)
    assert out["reward_tensor"].sum(dim=-1).tolist() == [1.0, 0.0, 0.0]
    assert out["reward_extra_info"]["no_answer"] == [False, False, True]
