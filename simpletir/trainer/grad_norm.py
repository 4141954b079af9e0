"""The actor's gradient norm without the filter's masks (``simpletir.diagnostics.unmasked_grad_norm``).

verl logs ``actor/grad_norm``: the norm of the gradient its update stepped with, over the rows the filter
kept. With the option on, the trainer stores each row's masks as they were before the filter zeroed any
(``UNMASKED_FIELDS``: extra TransferQueue fields, written only on steps where it masked some rows but not
all), and the actor worker (``UnmaskedGradNormWorker``, used only then) runs one extra forward and backward
of the same data with those masks just before verl's update, on the same weights: ``unmasked_grad_norm``
returns that gradient's norm and leaves no trace — no optimizer or LR-scheduler step, the random state
restored, the ``.grad`` buffers zeroed as verl's update zeroes them first anyway. The trainer logs it as
``simpletir_diag/grad_norm_unmasked``.

Exact for one optimizer step per update on one rank with verl's FSDP engines (``check_supported``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from tensordict import TensorDict
from torch.distributed.tensor import DTensor
from verl.experimental.separation.engine_workers import DetachActorWorker
from verl.single_controller.base.decorator import make_nd_compute_dataproto_dispatch_fn, register
from verl.utils import tensordict_utils as tu
from verl.utils.tensordict_utils import maybe_fix_3d_position_ids
from verl.workers.engine_workers import ActorRolloutRefWorker

UNMASKED_FIELDS = {
    "response_mask": "simpletir_unmasked_response_mask",
    "loss_mask": "simpletir_unmasked_loss_mask",
}
"""verl's mask field -> the TransferQueue field holding it as it was before the filter masked rows."""
WORKER_METRIC = "simpletir_grad_norm_unmasked"
"""The key the worker adds to ``update_actor``'s metrics (the trainer reads it as ``actor/`` + this)."""
FSDP_STRATEGIES = ("fsdp", "fsdp2")
MINI_BATCH_KEYS = ("mini_batch_size", "num_mini_batch", "epochs", "seed", "dataloader_kwargs")
"""Keys of ``train_mini_batch``'s data that only steer its mini-batch loop (not part of a mini-batch)."""


def check_supported(config: Any, parameter_sync_step: int = 1) -> None:
    """Raise ``ValueError`` (one line) where the unmasked norm would not be the update's: needs one rank,
    verl's FSDP actor, and one optimizer step per actor update (each of the step's ``parameter_sync_step``
    updates trains on ``train_batch_size / parameter_sync_step`` prompts: one mini-batch, one epoch)."""
    actor = config.actor_rollout_ref.actor
    where = "simpletir.diagnostics.unmasked_grad_norm"
    if config.trainer.nnodes * config.trainer.n_gpus_per_node != 1:
        raise ValueError(f"{where} runs on one rank only (trainer.nnodes * trainer.n_gpus_per_node == 1)")
    if actor.strategy not in FSDP_STRATEGIES:
        raise ValueError(f"{where} needs actor_rollout_ref.actor.strategy in {FSDP_STRATEGIES}")
    if (
        actor.ppo_mini_batch_size * parameter_sync_step != config.data.train_batch_size
        or actor.ppo_epochs != 1
    ):
        raise ValueError(
            f"{where} needs one optimizer step per actor update: actor_rollout_ref.actor.ppo_mini_batch_size "
            f"* parameter_sync_step ({parameter_sync_step}) == data.train_batch_size and ppo_epochs == 1"
        )


def total_grad_norm(parameters: Iterable[torch.nn.Parameter]) -> float:
    """L2 norm of all ``.grad`` of ``parameters`` together (sharded DTensors gathered), as verl clips by."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
    if isinstance(norm, DTensor):
        norm = norm.full_tensor()
    return float(norm)


def unmasked_grad_norm(
    engine: Any, loss_fn: Callable, data: TensorDict, unmasked: dict[str, torch.Tensor]
) -> float:
    """Norm of the gradient of ``loss_fn`` over ``data`` with its masks replaced by ``unmasked``, at the
    engine's current weights; changes no weight, optimizer or scheduler state, leaves the grads zeroed.

    ``data`` is one optimizer step's mini-batch as verl's ``engine.train_batch`` receives it (the engine
    defaults filled in); it is not modified. With ``unmasked`` equal to its own masks the result is the
    ``grad_norm`` that ``engine.train_batch`` reports for it.
    """
    batch = data.copy()
    for key, value in unmasked.items():
        batch[key] = value
    maybe_fix_3d_position_ids(batch)
    device = torch.device(next(engine.module.parameters()).device)
    devices = [device] if device.type != "cpu" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        engine.optimizer_zero_grad()
        engine.forward_backward_batch(batch, loss_fn, forward_only=False)
        norm = total_grad_norm(engine.module.parameters())
        engine.optimizer_zero_grad()
    scaler = getattr(engine, "scaler", None)
    return norm / scaler.get_scale() if scaler is not None else norm


class UnmaskedGradNormMixin:
    """An actor worker whose ``update_actor`` first measures ``unmasked_grad_norm`` when the data carries
    ``UNMASKED_FIELDS``, then runs verl's update on the masked data and adds ``WORKER_METRIC``."""

    actor: Any

    def _engine_defaults(self) -> dict[str, Any]:
        """The engine settings verl's ``TrainingWorker.train_batch`` fills into data that lacks them."""
        engine_config = self.actor.engine_config
        return {
            "use_remove_padding": self.actor.model_config.get("use_remove_padding", False),
            "use_dynamic_bsz": engine_config.use_dynamic_bsz,
            "max_token_len_per_gpu": engine_config.max_token_len_per_gpu,
            "micro_batch_size_per_gpu": engine_config.micro_batch_size_per_gpu,
            "use_fused_kernels": engine_config.use_fused_kernels,
        }

    @register(dispatch_mode=make_nd_compute_dataproto_dispatch_fn(mesh_name="actor"))
    def update_actor(self, data: TensorDict) -> TensorDict:
        """verl's ``update_actor``, preceded by the unmasked norm when the data carries the unmasked masks."""
        present = set(data.keys())
        unmasked = {key: data.pop(field) for key, field in UNMASKED_FIELDS.items() if field in present}
        norm = None
        if unmasked:
            batch = data.copy()
            for key in MINI_BATCH_KEYS:
                tu.pop(batch, key=key, default=None)
            tu.assign_non_tensor(
                batch, **{k: v for k, v in self._engine_defaults().items() if k not in present}
            )
            engine = self.actor.engine
            with engine.train_mode(disable_auto_offload=tu.get(data, "disable_auto_offload", default=False)):
                norm = unmasked_grad_norm(engine, self.actor.loss_fn, batch, unmasked)
        output = super().update_actor(data)
        if norm is not None and output is not None:
            metrics = dict(tu.get(output, "metrics"))
            metrics[WORKER_METRIC] = [norm]
            tu.assign_non_tensor(output, metrics=metrics)
        return output


class UnmaskedGradNormWorker(UnmaskedGradNormMixin, ActorRolloutRefWorker):
    """verl's ``ActorRolloutRefWorker`` (sync and colocate_async trainers) with the unmasked norm."""


class UnmaskedGradNormDetachWorker(UnmaskedGradNormMixin, DetachActorWorker):
    """verl's ``DetachActorWorker`` (separate_async trainer) with the unmasked norm."""
