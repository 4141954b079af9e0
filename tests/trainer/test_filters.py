"""The trajectory filters as pure functions: keep-mask tables, row masking, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simpletir.tir.protocol import EndReason
from simpletir.tir.record import TIRRecord
from simpletir.trainer.filters import FilterConfig, compute_keep_mask, filter_metrics, mask_rows

NO_GROUP_FILTERS = FilterConfig(min_group_reward_std=None, accuracy_band=None, min_non_overlong=0)

# (name, config, uids, scores, void, overlong, expected keep)
CASES = [
    ("void masked", NO_GROUP_FILTERS, "aaaa", [1, 0, 1, 0], [0, 1, 0, 0], [0] * 4, [1, 0, 1, 1]),
    (
        "void kept when off",
        FilterConfig(void_turn=False, min_group_reward_std=None, accuracy_band=None, min_non_overlong=0),
        "aaaa",
        [1, 0, 1, 0],
        [0, 1, 0, 0],
        [0] * 4,
        [1, 1, 1, 1],
    ),
    ("overlong masked", NO_GROUP_FILTERS, "aaaa", [1, 0, 1, 0], [0] * 4, [0, 0, 0, 1], [1, 1, 1, 0]),
    (
        "all-correct group dropped by std",
        FilterConfig(accuracy_band=None, min_non_overlong=0),
        "aabb",
        [1, 1, 1, 0],
        [0] * 4,
        [0] * 4,
        [0, 0, 1, 1],
    ),
    (
        "accuracy band",
        FilterConfig(min_group_reward_std=None, accuracy_band=(0.3, 0.7), min_non_overlong=0),
        "aaaabbbb",
        [1, 0, 0, 0, 1, 1, 0, 0],
        [0] * 8,
        [0] * 8,
        [0, 0, 0, 0, 1, 1, 1, 1],
    ),
    (
        "too few non-overlong",
        FilterConfig(min_group_reward_std=None, accuracy_band=None, min_non_overlong=3),
        "aaaabbbb",
        [1, 0, 1, 0, 1, 0, 1, 0],
        [0] * 8,
        [1, 1, 0, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 1, 1, 1],
    ),
    ("paper defaults", FilterConfig(), "aaaa", [1, 0, 1, 0], [0, 0, 1, 0], [0] * 4, [1, 1, 0, 1]),
]


@pytest.mark.parametrize(("name", "config", "uids", "scores", "void", "overlong", "keep"), CASES)
def test_keep_mask_table(name, config, uids, scores, void, overlong, keep) -> None:
    result = compute_keep_mask(list(uids), scores, [float(s > 0) for s in scores], void, overlong, config)
    assert result.keep.tolist() == [bool(k) for k in keep], name


def test_void_trajectory_still_counts_in_its_group_statistics() -> None:
    # the void one is correct: without it the group would be all-wrong and dropped by the std filter
    result = compute_keep_mask(
        list("aaaa"),
        [0, 0, 1, 0],
        [0, 0, 1, 0],
        [0, 0, 1, 0],
        [0] * 4,
        FilterConfig(accuracy_band=None, min_non_overlong=0),
    )
    assert result.keep.tolist() == [True, True, False, True]
    assert result.dropped_groups == {"std": 0, "accuracy": 0, "overlong": 0}


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        FilterConfig.from_mapping({"void": True})
    with pytest.raises(ValueError, match="accuracy_band"):
        FilterConfig.from_mapping({"accuracy_band": [0.9, 0.1]})
    assert FilterConfig.from_mapping({"accuracy_band": None}).accuracy_band is None
    with pytest.raises(ValueError, match="same length"):
        compute_keep_mask(["a"], [1, 0], [1], [0], [0], FilterConfig())


def test_mask_rows_keeps_shape_and_zeroes_whole_rows() -> None:
    mask = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 1], [1, 1, 1, 0]])
    out = mask_rows(mask, np.array([True, False, True]))
    assert out.shape == mask.shape
    assert out.tolist() == [[1, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]]


def test_metrics_values() -> None:
    records = [
        TIRRecord(turn_kinds=["code", "answer"], code_statuses=["error", "ok"], end_reason=EndReason.ANSWER),
        TIRRecord(turn_kinds=["void"], end_reason=EndReason.VOID),
    ]
    result = compute_keep_mask(["a", "a"], [1, 0], [1, 0], [0, 1], [0, 0], NO_GROUP_FILTERS)
    metrics = filter_metrics(result, records)
    assert metrics["simpletir/void_turn_ratio"] == 0.5
    assert metrics["simpletir/kept_ratio"] == 0.5
    assert metrics["simpletir/num_turns_mean"] == 1.5
    assert metrics["simpletir/code_error_rate"] == 0.5
    assert metrics["simpletir/end_void_ratio"] == 0.5 and metrics["simpletir/end_answer_ratio"] == 0.5
