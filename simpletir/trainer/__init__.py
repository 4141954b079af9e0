"""verl V1 trainer with SimpleTIR's trajectory filter, registered as ``trainer.v1.trainer_mode=simpletir``.

The only change to verl's synchronous PPO trainer (``VoidTurnFilterMixin``): right after advantages are
computed (with every trajectory in its GRPO group), rows the filter rejects get ``response_mask``/
``loss_mask`` = 0 in the TransferQueue, so the actor update gives them exactly zero weight in numerator
and denominator; a step whose every row is rejected skips the actor update. Its replay buffer is verl's
with SimpleTIR's group filters deciding DAPO's evictions, a bound on the prompts generated per step and
duplicated groups when too few are valid (``simpletir.trainer.sampler``). Otherwise it *is* verl's ``sync``
trainer: same sampling loop and checkpointing (``trainer_mode`` reports ``sync``).
Only with ``simpletir.diagnostics.unmasked_grad_norm`` on does the actor run in another worker class
(``simpletir.trainer.grad_norm``'s subclass of verl's, which also measures the norm without the filter's masks).

verl 0.9's legacy trainer (``trainer.use_v1=False``, deprecated by verl) is not supported: its
``fit`` loop has no hook between the advantage and the actor update.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import ray
import torch
import transfer_queue as tq
from tensordict import TensorDict
from verl.trainer.ppo.utils import Role
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_colocate_async import PPOTrainerColocateAsync
from verl.trainer.ppo.v1.trainer_separate_async import PPOTrainerSeparateAsync
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from simpletir.config import simpletir_config
from simpletir.tir.record import TIRRecord
from simpletir.trainer.diagnostics import PREFIX as DIAG_PREFIX
from simpletir.trainer.diagnostics import DiagnosticsConfig, compute_diagnostics
from simpletir.trainer.filters import (
    METRIC_PREFIX,
    FilterConfig,
    compute_keep_mask,
    filter_metrics,
    mask_rows,
    rows_to_filter_inputs,
)
from simpletir.trainer.grad_norm import (
    UNMASKED_FIELDS,
    WORKER_METRIC,
    UnmaskedGradNormDetachWorker,
    UnmaskedGradNormWorker,
    check_supported,
)
from simpletir.trainer.sampler import simpletir_replay_buffer

logger = logging.getLogger(__name__)

TRAINER_MODE = "simpletir"
COLOCATE_ASYNC_MODE = "simpletir_colocate_async"
SEPARATE_ASYNC_MODE = "simpletir_separate_async"
FILTER_TRAINER_MODES = (TRAINER_MODE, COLOCATE_ASYNC_MODE, SEPARATE_ASYNC_MODE)
"""``trainer.v1.trainer_mode`` values that run the SimpleTIR filters."""
ACTOR_ROLES = (Role.Actor, Role.ActorRollout, Role.ActorRolloutRef)
"""verl's roles whose worker trains the actor."""


def rows_of(field: torch.Tensor) -> list[torch.Tensor]:
    """One tensor per row of a TransferQueue field (jagged nested or dense)."""
    return list(field.unbind())


def step_diagnostics(
    data: TensorDict, records: list[TIRRecord], padding: np.ndarray, config: DiagnosticsConfig
) -> dict[str, float]:
    """``simpletir.trainer.diagnostics`` over the real rows, from ``rollout_log_probs``, ``old_log_probs`` and each
    row's ``TIRRecord`` (``records``, one per row, as ``rows_to_filter_inputs`` reads them)."""
    real = np.flatnonzero(~padding)
    rollout, old = rows_of(data["rollout_log_probs"]), rows_of(data["old_log_probs"])
    return compute_diagnostics(
        [rollout[i] for i in real],
        [records[i] for i in real],
        config,
        old_logprobs=[old[i] for i in real],
    )


def mask_field(mask: torch.Tensor, keep: np.ndarray) -> torch.Tensor:
    """``mask`` (jagged nested or dense, one row per trajectory) with the rows not kept zeroed."""
    if not mask.is_nested:
        return mask_rows(mask, keep)
    rows = [row * int(k) for row, k in zip(mask.unbind(), keep, strict=True)]
    return torch.nested.as_nested_tensor(rows, layout=torch.jagged)


def filter_rows(
    inputs: dict[str, Any], padding: np.ndarray, config: FilterConfig
) -> tuple[np.ndarray, dict[str, float]]:
    """Keep-mask over all rows (verl's synthetic padding rows are never kept) and the step's metrics, from
    ``rows_to_filter_inputs``'s per-row inputs.

    Padding rows (``is_padding`` tags, copies of a real row's metadata) stay out of the group statistics
    and the metrics; their masks are already zero, so dropping them changes nothing in the loss.
    """
    real = np.flatnonzero(~padding)
    inputs = {name: [values[i] for i in real] for name, values in inputs.items()}
    records = inputs.pop("records")
    result = compute_keep_mask(config=config, **inputs)
    keep = np.zeros(len(padding), dtype=bool)
    keep[real] = result.keep
    return keep, filter_metrics(result, records)


class VoidTurnFilterMixin:
    """The filter step for any verl V1 trainer: mask rejected trajectories after advantages, skip empty updates.

    verl 0.9 keys its sync/async behaviour on ``self.trainer_mode`` compared with the literal ``"sync"``
    (replay buffer class, dataloader fetch size, TransferQueue checkpointing). A registered mode name of
    our own would read as "async" everywhere, so ``trainer_mode`` reports the base trainer's mode
    (``BASE_MODE``); the name the config asked for is kept in ``requested_mode``.
    """

    BASE_MODE: ClassVar[str]
    GRAD_NORM_WORKER: ClassVar[type] = UnmaskedGradNormWorker
    """The actor worker class when ``simpletir.diagnostics.unmasked_grad_norm`` is on (verl's otherwise)."""
    filter_config: FilterConfig
    requested_mode: str

    @property
    def trainer_mode(self) -> str:
        """The verl mode this trainer runs as (its base trainer's)."""
        return self.BASE_MODE

    @trainer_mode.setter
    def trainer_mode(self, requested: str) -> None:
        """verl's ``__init__`` assigns the config's mode name here; it is recorded, not adopted."""
        self.requested_mode = requested

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        settings = simpletir_config(config)
        self.filter_config = settings.filter
        self.diagnostics_config = settings.diagnostics
        if self.diagnostics_config.unmasked_grad_norm:
            check_supported(config, self.parameter_sync_step)
        self._skip_actor_update = False

    def _build_replay_buffer(self) -> Any:
        """verl's replay buffer, replaced by ours with the same arguments (``simpletir.trainer.sampler``): full
        batches of valid groups at a bounded cost in sync mode, sandbox-error trajectories kept out of the batch."""
        return simpletir_replay_buffer(
            super()._build_replay_buffer(), self.config, simpletir_config(self.config).filter
        )

    def _init_resource_pool_mgr(self) -> None:
        """verl's role -> worker mapping; the actor's worker measures the unmasked norm when asked to."""
        super()._init_resource_pool_mgr()
        if self.diagnostics_config.unmasked_grad_norm:
            for role in ACTOR_ROLES:
                if role in self.role_worker_mapping:
                    self.role_worker_mapping[role] = ray.remote(self.GRAD_NORM_WORKER)

    def _diagnostic_fields(self) -> list[str]:
        """TransferQueue fields the diagnostics read (none when off or without rollout log-probs)."""
        if (
            not self.diagnostics_config.enable
            or not self.config.actor_rollout_ref.rollout.calculate_log_probs
        ):
            return []
        return ["rollout_log_probs", "old_log_probs"]

    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        """Compute advantages as verl does, then mask the trajectories the filter rejects.

        When the filter rejects every real row, the masks stay as they are and the actor update of this
        step is skipped (``simpletir/skipped_update`` = 1): an update over zero tokens would divide by
        zero, and AdamW's weight decay and momentum would still move the weights. With
        ``simpletir.diagnostics.unmasked_grad_norm``, the masks as they were are kept in ``UNMASKED_FIELDS``.
        """
        return self._mask_rejected(super()._compute_advantage(batch, metrics), metrics)

    def _mask_rejected(self, batch: Any, metrics: dict) -> Any:
        """Read the step's rows back from the TransferQueue, run the filter, and write ``response_mask`` /
        ``loss_mask`` = 0 for the rejected rows into it (the rest untouched); sets ``_skip_actor_update``."""
        fields = [
            "uid",
            "rm_scores",
            "extra_fields",
            "response_mask",
            "loss_mask",
            *self._diagnostic_fields(),
        ]
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
        padding = np.array([tag.get("is_padding", False) for tag in batch.tags], dtype=bool)
        inputs = rows_to_filter_inputs(data)
        if self._diagnostic_fields():
            metrics.update(step_diagnostics(data, inputs["records"], padding, self.diagnostics_config))
        keep, step_metrics = filter_rows(inputs, padding, self.filter_config)
        self._skip_actor_update = not keep[~padding].any()
        metrics.update(step_metrics)
        metrics[f"{METRIC_PREFIX}skipped_update"] = float(self._skip_actor_update)
        if self._skip_actor_update or keep[~padding].all():
            return batch
        fields = {name: mask_field(data[name], keep) for name in UNMASKED_FIELDS}
        if self.diagnostics_config.unmasked_grad_norm:
            fields.update({stored: data[name] for name, stored in UNMASKED_FIELDS.items()})
        update = TensorDict(fields, batch_size=len(batch))
        return tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=update)

    def _update_actor(self, batch: Any, metrics: dict) -> Any:
        """verl's actor update, unless the filter rejected every trajectory of the step."""
        if self._skip_actor_update:
            logger.warning(
                "every trajectory of step %s was filtered out: the actor update is skipped", self.global_steps
            )
            return batch
        batch = super()._update_actor(batch, metrics)
        unmasked = metrics.pop(f"actor/{WORKER_METRIC}", None)
        if unmasked is not None:
            metrics[f"{DIAG_PREFIX}grad_norm_unmasked"] = unmasked
        return batch


@register_trainer(TRAINER_MODE)
class SimpleTIRTrainer(VoidTurnFilterMixin, PPOTrainerSync):
    """verl's synchronous V1 trainer (``sync``) with the void-turn and group filters."""

    BASE_MODE = "sync"


@register_trainer(COLOCATE_ASYNC_MODE)
class SimpleTIRColocateAsyncTrainer(VoidTurnFilterMixin, PPOTrainerColocateAsync):
    """verl's ``colocate_async`` V1 trainer (rollout of step t+1 overlaps the update of step t) with the filters."""

    BASE_MODE = "colocate_async"


@register_trainer(SEPARATE_ASYNC_MODE)
class SimpleTIRSeparateAsyncTrainer(VoidTurnFilterMixin, PPOTrainerSeparateAsync):
    """verl's ``separate_async`` V1 trainer (standalone rollout replicas, partial rollouts) with the filters."""

    BASE_MODE = "separate_async"
    GRAD_NORM_WORKER = UnmaskedGradNormDetachWorker


def setup_ray_worker() -> None:
    """Ray ``worker_process_setup_hook``: register our trainer and agent loops in every Ray worker.

    On verl's ``cpu`` platform (``VERL_PLATFORM=cpu``) it also applies ``simpletir.backends.cpu_platform``'s patches.
    """
    import simpletir.tir.agent_loop  # noqa: F401 - registers simpletir_agent / simpletir_agent_eval
    from simpletir.backends.cpu_platform import apply_cpu_patches, is_cpu_platform

    if is_cpu_platform():
        apply_cpu_patches()
