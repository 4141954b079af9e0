"""SimpleTIR's trajectory filters as pure functions: which trajectories enter the policy loss.

A trajectory with a void turn is masked out of the policy loss *after* GRPO advantages were
computed with it in its group (it keeps its reward and counts in its group's mean/std). The
paper's group filters (reward std, accuracy band, overlong) mask whole groups the same way.
Masking (``response_mask`` = 0 on every token of the row) removes a row from the loss numerator
and denominator while keeping verl's batch shape, so every size verl checks stays valid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from simpletir.config.sections import build_settings
from simpletir.tir.protocol import EndReason
from simpletir.tir.record import CODE_ERROR_STATUSES, TIRRecord

TRAINING_END_REASONS = tuple(reason for reason in EndReason if reason is not EndReason.FAILED)
"""What a training trajectory can end with (a failed generation request raises in verl's worker instead)."""

METRIC_PREFIX = "simpletir/"


@dataclass(frozen=True)
class FilterConfig:
    """The ``simpletir.filter`` section; defaults are the paper's."""

    void_turn: bool = True
    """Mask trajectories that contain a void turn out of the policy loss."""
    min_group_reward_std: float | None = 1e-3
    """Mask groups whose reward std is below this (None disables)."""
    accuracy_band: tuple[float, float] | None = None
    """Mask groups whose mean accuracy is outside [low, high] (None disables: the final official script's
    ``ACC_FILTER=0.0_1.0``; its early README passed [0.1, 0.9])."""
    mask_overlong: bool = True
    """Mask trajectories that ended by the length budget."""
    min_non_overlong: int = 4
    """Mask a group with fewer non-overlong trajectories than this (0 disables)."""
    exclude_sandbox_errors: bool = True
    """Keep trajectories whose code hit a ``sandbox_error`` (the sandbox failed, not the program) out of the
    update and out of their group's statistics (``simpletir.trainer.sampler``); False scores them as any other."""

    @classmethod
    def from_mapping(cls, data: Any) -> FilterConfig:
        """Build from the ``simpletir.filter`` section (see ``build_settings``); the band must be ordered in [0, 1]."""
        config = build_settings(cls, data, "simpletir.filter")
        band = config.accuracy_band
        if band is not None and not 0.0 <= band[0] <= band[1] <= 1.0:
            raise ValueError(
                f"simpletir.filter.accuracy_band must satisfy 0 <= low <= high <= 1, got {list(band)}"
            )
        return config


@dataclass(frozen=True)
class FilterResult:
    """Which rows stay in the loss, and why the others left."""

    keep: np.ndarray
    """bool[batch]: True for rows that stay in the policy loss."""
    void: np.ndarray
    """bool[batch]: rows with a void turn (masked when ``void_turn`` is on)."""
    overlong: np.ndarray
    """bool[batch]: rows that ended by the length budget."""
    dropped_groups: dict[str, int]
    """Number of groups masked per group filter (``std``, ``accuracy``, ``overlong``)."""
    num_groups: int


GROUP_FILTERS = ("std", "accuracy", "overlong")
"""The group filters, by the name their metrics use."""


def group_rejections(
    scores: Sequence[float], accuracies: Sequence[float], overlong: Sequence[bool], config: FilterConfig
) -> list[str]:
    """The group filters (``GROUP_FILTERS``) that reject one GRPO group, given its trajectories' values; [] keeps it."""
    score_arr = np.asarray(scores, dtype=np.float64)
    if not len(score_arr):
        raise ValueError("a group needs at least one trajectory")
    reasons = []
    if config.min_group_reward_std is not None and score_arr.std() < config.min_group_reward_std:
        reasons.append("std")
    if config.accuracy_band is not None:
        low, high = config.accuracy_band
        if not low <= float(np.mean(accuracies)) <= high:
            reasons.append("accuracy")
    if config.min_non_overlong and (~np.asarray(overlong, dtype=bool)).sum() < config.min_non_overlong:
        reasons.append("overlong")
    return reasons


def compute_keep_mask(
    uids: Sequence[Any],
    scores: Sequence[float],
    accuracies: Sequence[float],
    void: Sequence[bool],
    overlong: Sequence[bool],
    config: FilterConfig,
) -> FilterResult:
    """Decide per trajectory whether it enters the policy loss (see module docstring)."""
    n = len(uids)
    if not (len(scores) == len(accuracies) == len(void) == len(overlong) == n):
        raise ValueError("uids, scores, accuracies, void and overlong must have the same length")
    void_arr = np.asarray(void, dtype=bool)
    overlong_arr = np.asarray(overlong, dtype=bool)
    keep = np.ones(n, dtype=bool)
    if config.void_turn:
        keep &= ~void_arr
    if config.mask_overlong:
        keep &= ~overlong_arr
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, uid in enumerate(uids):
        groups[uid].append(i)
    dropped = dict.fromkeys(GROUP_FILTERS, 0)
    score_arr = np.asarray(scores, dtype=np.float64)
    acc_arr = np.asarray(accuracies, dtype=np.float64)
    for rows in groups.values():
        reasons = group_rejections(score_arr[rows], acc_arr[rows], overlong_arr[rows], config)
        for reason in reasons:
            dropped[reason] += 1
        if reasons:
            keep[rows] = False
    return FilterResult(
        keep=keep, void=void_arr, overlong=overlong_arr, dropped_groups=dropped, num_groups=len(groups)
    )


def rows_to_filter_inputs(data: Any) -> dict[str, Any]:
    """Per-row filter inputs from TransferQueue fields ``uid``, ``rm_scores``, ``extra_fields``."""
    extra = [e if isinstance(e, dict) else {} for e in list(data["extra_fields"])]
    records = [TIRRecord.from_extra_fields(e) for e in extra]
    scores = [float(row.sum()) for row in data["rm_scores"].unbind()]
    accuracies = []
    for e, score in zip(extra, scores, strict=True):
        acc = (e.get("reward_extra_info") or {}).get("acc")
        accuracies.append(float(acc) if acc is not None else float(score > 0))
    return {
        "uids": list(data["uid"]),
        "scores": scores,
        "accuracies": accuracies,
        "void": [r.void for r in records],
        "overlong": [r.overlong for r in records],
        "records": records,
    }


def mask_rows(response_mask: torch.Tensor, keep: np.ndarray) -> torch.Tensor:
    """Return ``response_mask`` with every token of the rows not kept set to 0 (shape unchanged)."""
    keep_t = torch.as_tensor(keep, dtype=response_mask.dtype, device=response_mask.device)
    return response_mask * keep_t.view(-1, *([1] * (response_mask.dim() - 1)))


def filter_metrics(result: FilterResult, records: Sequence[TIRRecord]) -> dict[str, float]:
    """Metrics for verl's logger: filter ratios and TIR statistics of the step's trajectories."""
    n = max(len(result.keep), 1)
    metrics = {
        f"{METRIC_PREFIX}void_turn_ratio": float(result.void.mean()) if len(result.void) else 0.0,
        f"{METRIC_PREFIX}overlong_ratio": float(result.overlong.mean()) if len(result.overlong) else 0.0,
        f"{METRIC_PREFIX}kept_ratio": float(result.keep.sum()) / n,
        f"{METRIC_PREFIX}masked_trajectories": float(n - result.keep.sum()),
    }
    for reason, count in result.dropped_groups.items():
        metrics[f"{METRIC_PREFIX}dropped_groups_{reason}_ratio"] = count / max(result.num_groups, 1)
    if not records:
        return metrics
    counts = {
        "num_turns": [r.num_turns for r in records],
        "num_code": [len(r.code_statuses) for r in records],
        "num_code_ok": [r.count("ok") for r in records],
        "num_code_error": [r.count(*CODE_ERROR_STATUSES) for r in records],
        "num_code_timeout": [r.count("timeout") for r in records],
        "num_sandbox_error": [r.count("sandbox_error") for r in records],
    }
    for name, values in counts.items():
        metrics[f"{METRIC_PREFIX}{name}_mean"] = float(np.mean(values))
    code = sum(counts["num_code"])
    for name in ("num_code_error", "num_code_timeout", "num_sandbox_error"):
        rate = sum(counts[name]) / code if code else 0.0
        metrics[f"{METRIC_PREFIX}{name.removeprefix('num_')}_rate"] = rate
    for reason in TRAINING_END_REASONS:
        share = np.mean([r.end_reason is reason for r in records])
        metrics[f"{METRIC_PREFIX}end_{reason.value}_ratio"] = float(share)
    return metrics
