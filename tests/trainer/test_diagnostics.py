"""Stability diagnostics on hand-made log-prob arrays with known shares and known per-turn splits."""

from __future__ import annotations

import math

import pytest
import torch

from simpletir.tir.protocol import EndReason
from simpletir.tir.record import TIRRecord
from simpletir.trainer.diagnostics import DiagnosticsConfig, compute_diagnostics, token_labels, turn_rates

P = math.log  # log-prob of a token sampled with probability p

# Trajectory A: turn 1 = tokens 0-3, observation 4-5, turn 2 = tokens 6-9 (an answer).
A = TIRRecord(
    turn_kinds=["code", "answer"],
    turn_spans=[(0, 4), (6, 10)],
    code_statuses=["ok"],
    end_reason=EndReason.ANSWER,
)
A_LOGPROBS = torch.tensor([P(0.5), P(0.5), P(1e-4), P(0.5), 0.0, 0.0, P(1e-6), P(1e-4), P(0.5), P(0.5)])
# Trajectory B: a single void turn of 3 tokens.
B = TIRRecord(turn_kinds=["void"], turn_spans=[(0, 3)], end_reason=EndReason.VOID)
B_LOGPROBS = torch.tensor([P(0.9), P(2e-6), P(0.9)])

CONFIG = DiagnosticsConfig(post_observation_tokens=2)


def test_token_labels_mark_turns_and_the_tokens_after_an_observation() -> None:
    turn, post = token_labels(A, 10, post_observation_tokens=2)
    assert turn.tolist() == [1, 1, 1, 1, 0, 0, 2, 2, 2, 2]
    assert post.tolist() == [False] * 6 + [True, True, False, False]
    turn, post = token_labels(A, 7, post_observation_tokens=2)  # a response cut at verl's length limit
    assert turn.tolist() == [1, 1, 1, 1, 0, 0, 2] and post.tolist() == [False] * 6 + [True]


def test_no_observation_between_turns_means_nothing_is_post_obs() -> None:
    record = TIRRecord(turn_kinds=["code", "code"], turn_spans=[(0, 3), (3, 5)], code_statuses=["ok", "ok"])
    assert not token_labels(record, 5, post_observation_tokens=4)[1].any()  # the program printed nothing


def test_known_shares_per_turn_and_split() -> None:
    m = compute_diagnostics([A_LOGPROBS, B_LOGPROBS], [A, B], CONFIG)
    # turn 1: A's 4 tokens + B's 3; below 1e-3: A(1e-4), B(2e-6); below 1e-5: B(2e-6)
    assert m["simpletir_diag/turn1/tokens"] == 7
    assert m["simpletir_diag/turn1/low_prob_0.001_share"] == pytest.approx(2 / 7)
    assert m["simpletir_diag/turn1/low_prob_1e-05_share"] == pytest.approx(1 / 7)
    # turn 2: A's tokens 6-9: 1e-6, 1e-4, 0.5, 0.5
    assert m["simpletir_diag/turn2/low_prob_0.001_share"] == pytest.approx(2 / 4)
    assert m["simpletir_diag/turn2/low_prob_1e-05_share"] == pytest.approx(1 / 4)
    assert m["simpletir_diag/turn2/mean_logprob"] == pytest.approx((P(1e-6) + P(1e-4) + 2 * P(0.5)) / 4)
    # post_obs: A's tokens 6, 7 (both low); other: the remaining 9 sampled tokens (2 below 1e-3)
    assert (
        m["simpletir_diag/post_obs/tokens"] == 2 and m["simpletir_diag/post_obs/low_prob_0.001_share"] == 1.0
    )
    assert m["simpletir_diag/other/tokens"] == 9
    assert m["simpletir_diag/other/low_prob_0.001_share"] == pytest.approx(2 / 9)
    assert "simpletir_diag/turn1/clip_frac" not in m  # no trainer log-probs given: no ratios


def test_importance_ratios_split_the_same_way() -> None:
    old_a = A_LOGPROBS.clone()
    old_a[6] += math.log(2.0)  # ratio 2 on the first post-observation token: outside [0.8, 1.28]
    old_a[0] += math.log(1.1)  # inside the clip range
    m = compute_diagnostics([A_LOGPROBS], [A], CONFIG, old_logprobs=[old_a])
    assert m["simpletir_diag/post_obs/clip_frac"] == pytest.approx(1 / 2)
    assert m["simpletir_diag/post_obs/log_ratio_abs_max"] == pytest.approx(math.log(2.0))
    assert m["simpletir_diag/other/clip_frac"] == 0.0
    assert m["simpletir_diag/other/log_ratio_abs_max"] == pytest.approx(math.log(1.1))
    assert m["simpletir_diag/turn2/clip_frac"] == pytest.approx(1 / 4)
    assert m["simpletir_diag/turn1/log_ratio_std"] > 0


def test_void_and_code_error_rates_per_turn() -> None:
    error_then_void = TIRRecord(
        turn_kinds=["code", "void"], turn_spans=[(0, 2), (4, 5)], code_statuses=["error"]
    )
    rates = turn_rates([A, B, error_then_void])
    assert rates["simpletir_diag/turn1/void_rate"] == pytest.approx(1 / 3)
    assert rates["simpletir_diag/turn1/code_error_rate"] == pytest.approx(
        1 / 2
    )  # A ok, error_then_void error
    assert rates["simpletir_diag/turn2/void_rate"] == pytest.approx(1 / 2)  # A answered, error_then_void void
    assert rates["simpletir_diag/turn2/code_error_rate"] == 0.0


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        DiagnosticsConfig.from_mapping({"thresholds": [0.1]})
    with pytest.raises(ValueError, match="thresholds"):
        DiagnosticsConfig.from_mapping({"low_prob_thresholds": [2.0]})
    config = DiagnosticsConfig.from_mapping({"low_prob_thresholds": [0.01], "clip_ratio_high": 0.3})
    assert config.low_prob_thresholds == (0.01,) and config.clip_ratio_high == 0.3
