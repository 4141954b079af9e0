"""The V1 trainer hook on rows shaped as verl's agent loop stores them in the TransferQueue."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from verl.trainer.ppo.v1.trainer_base import get_trainer_cls
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from simpletir.filters import FilterConfig
from simpletir.trainer import TRAINER_MODE, SimpleTIRTrainer, filter_rows, mask_field, rows_to_filter_inputs

NO_GROUP_FILTERS = FilterConfig(min_group_reward_std=None, accuracy_band=None, min_non_overlong=0)


def transfer_queue_rows(specs: list[tuple[str, int, bool, bool]]) -> list[dict]:
    """Rows as verl's V1 agent loop puts them (agent_loop_tq.py): (uid, length, void, correct) each."""
    rows = []
    for uid, length, void, acc in specs:
        rm = torch.zeros(length)
        rm[-1] = float(acc)
        rows.append(
            {
                "uid": uid,
                "rm_scores": rm,
                "response_mask": torch.ones(length, dtype=torch.int64),
                "loss_mask": torch.ones(length, dtype=torch.int64),
                "extra_fields": {
                    "void_turn": void,
                    "tir_overlong": False,
                    "reward_extra_info": {"acc": acc},
                    "tir_end_reason": "void" if void else "answer",
                    "tir_num_turns": 1 if void else 2,
                },
            }
        )
    return rows


GROUP = [("g0", 5, False, True), ("g0", 3, True, True), ("g0", 4, False, False)]


def test_registered_as_a_v1_trainer_mode() -> None:
    assert get_trainer_cls(TRAINER_MODE) is SimpleTIRTrainer


def test_rows_become_filter_inputs() -> None:
    data = list_of_dict_to_tensordict(transfer_queue_rows(GROUP))
    inputs = rows_to_filter_inputs(data)
    assert inputs["void"] == [False, True, False]
    assert inputs["accuracies"] == [1.0, 1.0, 0.0] and inputs["scores"] == [1.0, 1.0, 0.0]
    assert inputs["uids"] == ["g0"] * 3


def test_nested_masks_keep_verl_invariants() -> None:
    data = list_of_dict_to_tensordict(transfer_queue_rows(GROUP))
    assert data["response_mask"].is_nested
    keep, metrics = filter_rows(data, np.zeros(3, dtype=bool), NO_GROUP_FILTERS)
    assert keep.tolist() == [True, False, True]
    masked = mask_field(data["response_mask"], keep)
    assert masked.is_nested and masked.dtype == data["response_mask"].dtype
    assert [row.tolist() for row in masked.unbind()] == [[1] * 5, [0] * 3, [1] * 4]
    assert metrics["simpletir/void_turn_ratio"] == pytest.approx(1 / 3)
    assert metrics["simpletir/num_turns_mean"] == pytest.approx(5 / 3)


def test_dense_masks_keep_their_shape() -> None:
    rows = transfer_queue_rows(GROUP)
    for row in rows:  # equal lengths: verl stores them as one dense tensor
        row["response_mask"] = torch.ones(4, dtype=torch.int64)
    data = list_of_dict_to_tensordict(rows)
    assert not data["response_mask"].is_nested
    masked = mask_field(data["response_mask"], np.array([True, False, True]))
    assert masked.shape == data["response_mask"].shape
    assert masked.tolist() == [[1] * 4, [0] * 4, [1] * 4]


def test_padding_rows_stay_out_of_group_statistics_and_metrics() -> None:
    # verl pads a batch with copies of the first row's metadata (uid, extra_fields) and zero rewards
    specs = [("g0", 4, False, True), ("g0", 4, False, False), ("g0", 4, False, False), ("g0", 4, True, True)]
    padded = specs + [("g0", 1, False, False)] * 4
    data = list_of_dict_to_tensordict(transfer_queue_rows(padded))
    padding = np.array([False] * 4 + [True] * 4)
    # accuracy 0.5 over the real rows is inside the band; counting the padding (0.25) would drop the group
    config = FilterConfig(min_group_reward_std=None, accuracy_band=(0.4, 0.9), min_non_overlong=0)
    keep, metrics = filter_rows(data, padding, config)
    assert keep.tolist() == [True, True, True, False] + [False] * 4
    assert metrics["simpletir/void_turn_ratio"] == 0.25
    assert metrics["simpletir/dropped_groups_accuracy_ratio"] == 0.0


@pytest.mark.parametrize(
    ("config", "keep"),
    [
        (FilterConfig(accuracy_band=None, min_non_overlong=0), [False, False, False, True, False, True]),
        (
            FilterConfig(min_group_reward_std=None, min_non_overlong=0),
            [False, False, False, True, False, True],
        ),
        (
            FilterConfig(void_turn=False, min_group_reward_std=None, accuracy_band=None, min_non_overlong=0),
            [True] * 6,
        ),
    ],
)
def test_group_filters_on_two_groups(config: FilterConfig, keep: list[bool]) -> None:
    # g0: all correct (no signal); g1: one of three correct, one void
    specs = [("g0", 3, False, True)] * 3 + [
        ("g1", 3, False, True),
        ("g1", 3, True, False),
        ("g1", 3, False, False),
    ]
    data = list_of_dict_to_tensordict(transfer_queue_rows(specs))
    got, metrics = filter_rows(data, np.zeros(6, dtype=bool), config)
    assert got.tolist() == keep
    assert metrics["simpletir/kept_ratio"] == pytest.approx(sum(keep) / 6)
