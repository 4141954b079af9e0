"""Stability diagnostics: the paper's mechanism, measured per step from the rollout's own log-probs.

SimpleTIR's argument: tool output is off-distribution for the model, so the turns after an observation
sample low-probability tokens, whose importance ratios and gradients blow up. These statistics make that
visible in verl's logger (``simpletir_diag/...``), cheap enough to leave on:

- per turn index (``turn1`` … ``turnN``): the share of sampled tokens with probability below each
  threshold (1e-3 and 1e-5 by default), their mean log-prob, the void-turn rate and the code-error rate;
- tokens right after a tool observation (the first ``post_observation_tokens`` sampled tokens of a turn
  that follows an observation, ``post_obs``) against all other sampled tokens (``other``), side by side;
- for the same splits, the spread of the importance ratio between the trainer's recomputed log-probs and
  the rollout's (``log_ratio_std``, ``log_ratio_abs_max``) and the share of tokens whose ratio lies outside
  the PPO clip range (``clip_frac``) — the off-policy mismatch the update starts from.

Everything is computed over the trajectories of the step before the filter masks any (it describes what
was sampled), from per-token arrays and each trajectory's ``TIRRecord.turn_spans``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from simpletir.config.sections import build_settings, plain
from simpletir.tir.record import CODE_ERROR_STATUSES, TIRRecord

PREFIX = "simpletir_diag/"
VERL_CLIP_RATIO = 0.2
"""verl's actor default for both clip ratios, for a config with no actor section (``SimpleTIRConfig`` fills in
the actor's values otherwise)."""


@dataclass(frozen=True)
class DiagnosticsConfig:
    """The ``simpletir.trainer.diagnostics`` section."""

    enable: bool = True
    """Compute and log the per-step statistics above each training step (``unmasked_grad_norm`` is separate)."""
    low_prob_thresholds: tuple[float, ...] = (1e-3, 1e-5)
    """A sampled token is low-probability below each of these probabilities."""
    post_observation_tokens: int = 16
    """How many sampled tokens after an observation count as ``post_obs``."""
    clip_ratio_low: float | None = None
    """PPO clip range below 1; None (the default): the actor's ``actor_rollout_ref.actor.clip_ratio_low``."""
    clip_ratio_high: float | None = None
    """PPO clip range above 1; None (the default): the actor's ``actor_rollout_ref.actor.clip_ratio_high``."""
    unmasked_grad_norm: bool = False
    """Also log ``simpletir_diag/grad_norm_unmasked``: the gradient norm the step's actor update would have
    had without the filter's masks (verl's ``actor/grad_norm`` stays the masked one), on steps where the
    filter masked rows and the update ran. Costs one extra forward and backward of the step's batch: meant
    for CPU-sized runs. One rank, verl's FSDP actor, one optimizer step per update only (else the trainer
    refuses to start); see ``simpletir.trainer.grad_norm``."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> DiagnosticsConfig:
        """Build from the ``simpletir.trainer.diagnostics`` section (see ``build_settings``)."""
        config = build_settings(cls, dict(plain(data) or {}), "simpletir.diagnostics")
        if config.post_observation_tokens < 0 or not all(0 < t < 1 for t in config.low_prob_thresholds):
            raise ValueError(
                "simpletir.diagnostics: post_observation_tokens >= 0 and thresholds in (0, 1) required"
            )
        return config


def token_labels(
    record: TIRRecord, length: int, post_observation_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per response token: its turn index (1-based; 0 for observation tokens) and whether it is ``post_obs``."""
    turn = torch.zeros(length, dtype=torch.long)
    post = torch.zeros(length, dtype=torch.bool)
    previous_end = None
    for index, (start, end) in enumerate(record.turn_spans, start=1):
        if previous_end is not None and start > previous_end:  # observation tokens lie before this turn
            post[min(start, length) : min(end, start + post_observation_tokens, length)] = True
        turn[min(start, length) : min(end, length)] = index
        previous_end = end
    return turn, post


def _token_stats(logprobs: torch.Tensor, thresholds: Sequence[float], name: str) -> dict[str, float]:
    """Low-probability shares and mean log-prob of the sampled tokens ``logprobs`` (empty: nothing)."""
    if logprobs.numel() == 0:
        return {}
    stats = {f"{name}/tokens": float(logprobs.numel()), f"{name}/mean_logprob": float(logprobs.mean())}
    for threshold in thresholds:
        stats[f"{name}/low_prob_{threshold:g}_share"] = float((logprobs < math.log(threshold)).float().mean())
    return stats


def _ratio_stats(log_ratio: torch.Tensor, config: DiagnosticsConfig, name: str) -> dict[str, float]:
    """Spread and clip fraction of the importance ratios ``exp(log_ratio)`` (empty: nothing)."""
    if log_ratio.numel() == 0:
        return {}
    ratio = log_ratio.exp()
    low = VERL_CLIP_RATIO if config.clip_ratio_low is None else config.clip_ratio_low
    high = VERL_CLIP_RATIO if config.clip_ratio_high is None else config.clip_ratio_high
    outside = (ratio < 1 - low) | (ratio > 1 + high)
    return {
        f"{name}/log_ratio_std": float(log_ratio.std(unbiased=False)),
        f"{name}/log_ratio_abs_max": float(log_ratio.abs().max()),
        f"{name}/clip_frac": float(outside.float().mean()),
    }


def compute_diagnostics(
    rollout_logprobs: Sequence[torch.Tensor],
    records: Sequence[TIRRecord],
    config: DiagnosticsConfig,
    old_logprobs: Sequence[torch.Tensor] | None = None,
) -> dict[str, float]:
    """The step's diagnostics (see module docstring) from per-trajectory response log-prob arrays.

    ``rollout_logprobs[i]`` holds trajectory ``i``'s response tokens' log-probs as sampled (observation
    tokens are ignored: ``records[i].turn_spans`` says which are sampled); ``old_logprobs[i]`` the trainer's
    recomputed ones, when available, for the importance ratios.
    """
    if len(rollout_logprobs) != len(records) or (
        old_logprobs is not None and len(old_logprobs) != len(records)
    ):
        raise ValueError("one log-prob array and one record per trajectory")
    by_turn: dict[int, list[torch.Tensor]] = {}
    ratio_by_turn: dict[int, list[torch.Tensor]] = {}
    groups: dict[str, list[torch.Tensor]] = {"post_obs": [], "other": []}
    ratio_groups: dict[str, list[torch.Tensor]] = {"post_obs": [], "other": []}
    for i, (logprobs, record) in enumerate(zip(rollout_logprobs, records, strict=True)):
        logprobs = logprobs.detach().float().reshape(-1).cpu()
        turn, post = token_labels(record, len(logprobs), config.post_observation_tokens)
        log_ratio = None
        if old_logprobs is not None:
            log_ratio = old_logprobs[i].detach().float().reshape(-1).cpu()[: len(logprobs)] - logprobs
        for index in range(1, len(record.turn_spans) + 1):
            selected = turn == index
            by_turn.setdefault(index, []).append(logprobs[selected])
            if log_ratio is not None:
                ratio_by_turn.setdefault(index, []).append(log_ratio[selected])
        sampled = turn > 0
        for name, selected in (("post_obs", sampled & post), ("other", sampled & ~post)):
            groups[name].append(logprobs[selected])
            if log_ratio is not None:
                ratio_groups[name].append(log_ratio[selected])
    metrics: dict[str, float] = {}
    thresholds = config.low_prob_thresholds
    for index, parts in sorted(by_turn.items()):
        metrics.update(_token_stats(torch.cat(parts), thresholds, f"{PREFIX}turn{index}"))
        if index in ratio_by_turn:
            metrics.update(_ratio_stats(torch.cat(ratio_by_turn[index]), config, f"{PREFIX}turn{index}"))
    for name in groups:
        metrics.update(
            _token_stats(
                torch.cat(groups[name]) if groups[name] else torch.empty(0), thresholds, f"{PREFIX}{name}"
            )
        )
        if ratio_groups[name]:
            metrics.update(_ratio_stats(torch.cat(ratio_groups[name]), config, f"{PREFIX}{name}"))
    metrics.update(turn_rates(records))
    return metrics


def turn_rates(records: Sequence[TIRRecord]) -> dict[str, float]:
    """Per turn index: the share of trajectories reaching it whose turn was void, and the code-error rate there."""
    metrics: dict[str, float] = {}
    longest = max((r.num_turns for r in records), default=0)
    for index in range(1, longest + 1):
        reached = [r for r in records if r.num_turns >= index]
        void = sum(r.turn_kinds[index - 1] == "void" for r in reached)
        metrics[f"{PREFIX}turn{index}/void_rate"] = void / len(reached)
        statuses = [
            r.code_statuses[_block_index(r, index)] for r in reached if r.turn_kinds[index - 1] == "code"
        ]
        errors = sum(status in CODE_ERROR_STATUSES for status in statuses)
        metrics[f"{PREFIX}turn{index}/code_error_rate"] = errors / len(statuses) if statuses else 0.0
    return metrics


def _block_index(record: TIRRecord, turn: int) -> int:
    """Index in ``code_statuses`` of the block run by code turn ``turn`` (1-based)."""
    return sum(kind == "code" for kind in record.turn_kinds[: turn - 1])
