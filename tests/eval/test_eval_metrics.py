"""Metrics: the unbiased pass@k estimator, majority voting, and per-benchmark aggregation."""

from __future__ import annotations

import itertools
import math

import pytest

from simpletir.eval.metrics import (
    benchmark_metrics,
    default_pass_ks,
    exact_same,
    majority_correct,
    pass_at_k,
    symbolic_same,
)
from simpletir.eval.records import TrajectoryRecord, TurnRecord


def closed_form(n: int, c: int, k: int) -> float:
    """``1 - C(n-c, k) / C(n, k)`` with exact integers."""
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def brute_force(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n samples (c of them correct) holding at least one correct sample."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_pass_at_k_matches_brute_force(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


@pytest.mark.parametrize(
    ("n", "c", "k"), [(32, 0, 1), (32, 1, 1), (32, 5, 8), (32, 31, 16), (200, 3, 100), (1000, 7, 500)]
)
def test_pass_at_k_matches_closed_form(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(closed_form(n, c, k), rel=1e-9, abs=1e-12)


def test_pass_at_1_is_the_mean_and_pass_at_n_is_any() -> None:
    assert pass_at_k(32, 8, 1) == pytest.approx(0.25)
    assert pass_at_k(32, 1, 32) == 1.0 and pass_at_k(32, 0, 32) == 0.0


@pytest.mark.parametrize(("n", "c", "k"), [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(n, c, k)


def test_default_pass_ks() -> None:
    assert default_pass_ks(32) == [1, 2, 4, 8, 16, 32]
    assert default_pass_ks(1) == [1] and default_pass_ks(6) == [1, 2, 4, 6]


@pytest.mark.parametrize(
    ("answers", "correct", "expected"),
    [
        (["42", "42", "41"], [True, True, False], True),
        (["8", "8", "7", "8"], [False, False, True, False], False),
        ([None, None, "7"], [False, False, True], True),  # unanswered samples do not vote
        ([None, None], [False, False], False),
        (["1", "2"], [False, True], False),  # tie: the group voted first wins
        (["2", "1"], [True, False], True),
        (["0.5", "\\frac{1}{2}", "1/3"], [True, True, False], True),
    ],
)
def test_majority_vote(answers: list[str | None], correct: list[bool], expected: bool) -> None:
    assert majority_correct(answers, correct, symbolic_same) is expected


def test_majority_groups_equivalent_answers_symbolically_not_exactly() -> None:
    answers, correct = ["\\frac{1}{2}", "0.5", "3", "3", "1/2"], [True, True, False, False, True]
    assert majority_correct(answers, correct, symbolic_same) is True
    assert majority_correct(answers, correct, exact_same) is False


def record(pid: str, sample: int, correct: bool, turns: int = 1, **kwargs) -> TrajectoryRecord:
    """A graded trajectory with ``turns`` code turns (status ``ok``) of which the last answers."""
    turn_list = [TurnRecord(index=i, text="t", kind="code", exec_status="ok") for i in range(turns - 1)] + [
        TurnRecord(index=turns - 1, text="t", kind="answer")
    ]
    base = dict(benchmark="b", problem_id=pid, sample_index=sample, data_source="b", question="q")
    base.update(
        ground_truth="1", prompt="p", end_reason="answer", answer="1" if correct else "2", correct=correct
    )
    base.update(kwargs)
    return TrajectoryRecord(turns=turn_list, **base)


def test_benchmark_metrics_aggregates() -> None:
    records = [
        record("a", 0, True, 2),
        record("a", 1, False),
        record("b", 0, False, 3),
        record("b", 1, False),
    ]
    records.append(record("c", 0, False, answer=None, void=True, end_reason="void"))
    records.append(record("c", 1, False, end_reason="failed"))
    m = benchmark_metrics(records, exact_same)
    assert (m.problems, m.samples_per_problem, m.avg) == (3, 2, pytest.approx(1 / 6))
    assert m.pass_at == pytest.approx({1: 1 / 6, 2: 1 / 3})
    assert m.maj == pytest.approx(1 / 3)  # a: tie 1 vs 2, "1" voted first and is right
    assert m.mean_code_executions == pytest.approx(3 / 6) and m.exec_status_rates == {"ok": 1.0}
    assert (m.void_rate, m.failed_rate, m.answer_rate) == (
        pytest.approx(1 / 6),
        pytest.approx(1 / 6),
        pytest.approx(5 / 6),
    )
    assert m.trajectories_by_turns == {1: 4, 2: 1, 3: 1} and m.accuracy_by_turns == pytest.approx(
        {1: 0, 2: 1, 3: 0}
    )


def test_benchmark_metrics_needs_equal_samples() -> None:
    with pytest.raises(ValueError, match="different sample counts"):
        benchmark_metrics([record("a", 0, True), record("a", 1, True), record("b", 0, True)])
    with pytest.raises(ValueError, match="no trajectories"):
        benchmark_metrics([])
