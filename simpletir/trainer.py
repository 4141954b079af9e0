"""verl V1 trainer with SimpleTIR's trajectory filter, registered as ``trainer.v1.trainer_mode=simpletir``.

The only change to verl's synchronous PPO trainer: right after advantages are computed (with every
trajectory in its GRPO group), rows the filter rejects get ``response_mask``/``loss_mask`` = 0 in the
TransferQueue, so the actor update gives them exactly zero weight in numerator and denominator.

verl 0.9's legacy trainer (``trainer.use_v1=False``, deprecated by verl) is not supported: its
``fit`` loop has no hook between the advantage and the actor update.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import transfer_queue as tq
from tensordict import TensorDict
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from simpletir.filters import FilterConfig, compute_keep_mask, filter_metrics, mask_rows

logger = logging.getLogger(__name__)

TRAINER_MODE = "simpletir"


def rows_to_filter_inputs(data: TensorDict) -> dict[str, Any]:
    """Per-row filter inputs from TransferQueue fields ``uid``, ``rm_scores``, ``extra_fields``."""
    extra = [e if isinstance(e, dict) else {} for e in list(data["extra_fields"])]
    scores = [float(row.sum()) for row in data["rm_scores"].unbind()]
    accuracies = []
    for e, score in zip(extra, scores, strict=True):
        acc = (e.get("reward_extra_info") or {}).get("acc")
        accuracies.append(float(acc) if acc is not None else float(score > 0))
    return {
        "uids": list(data["uid"]),
        "scores": scores,
        "accuracies": accuracies,
        "void": [bool(e.get("void_turn", False)) for e in extra],
        "overlong": [bool(e.get("tir_overlong", False)) for e in extra],
        "extra_fields": extra,
    }


def mask_field(mask: torch.Tensor, keep: np.ndarray) -> torch.Tensor:
    """``mask`` (jagged nested or dense, one row per trajectory) with the rows not kept zeroed."""
    if not mask.is_nested:
        return mask_rows(mask, keep)
    rows = [row * int(k) for row, k in zip(mask.unbind(), keep, strict=True)]
    return torch.nested.as_nested_tensor(rows, layout=torch.jagged)


def filter_rows(
    data: TensorDict, padding: np.ndarray, config: FilterConfig
) -> tuple[np.ndarray, dict[str, float]]:
    """Keep-mask over all rows (verl's synthetic padding rows are never kept) and the step's metrics.

    Padding rows (``is_padding`` tags, copies of a real row's metadata) stay out of the group statistics
    and the metrics; their masks are already zero, so dropping them changes nothing in the loss.
    """
    real = np.flatnonzero(~padding)
    inputs = {name: [values[i] for i in real] for name, values in rows_to_filter_inputs(data).items()}
    extra_fields = inputs.pop("extra_fields")
    result = compute_keep_mask(config=config, **inputs)
    keep = np.zeros(len(padding), dtype=bool)
    keep[real] = result.keep
    return keep, filter_metrics(result, extra_fields)


@register_trainer(TRAINER_MODE)
class SimpleTIRTrainer(PPOTrainerSync):
    """verl's sync V1 trainer plus the void-turn and group filters (see module docstring)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        section = config.get("simpletir") or {}
        self.filter_config = FilterConfig.from_mapping(section.get("filter"))

    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        """Compute advantages as verl does, then mask the trajectories the filter rejects."""
        batch = super()._compute_advantage(batch, metrics)
        fields = ["uid", "rm_scores", "extra_fields", "response_mask", "loss_mask"]
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
        padding = np.array([tag.get("is_padding", False) for tag in batch.tags], dtype=bool)
        keep, step_metrics = filter_rows(data, padding, self.filter_config)
        metrics.update(step_metrics)
        if keep[~padding].all():
            return batch
        update = TensorDict(
            {name: mask_field(data[name], keep) for name in ("response_mask", "loss_mask")},
            batch_size=len(batch),
        )
        return tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=update)


def setup_ray_worker() -> None:
    """Ray ``worker_process_setup_hook``: register our trainer and agent loops in every Ray worker."""
    import simpletir.agent_loop  # noqa: F401 - registers simpletir_agent / simpletir_agent_eval
