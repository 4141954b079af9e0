"""The V1 trainer hook on rows shaped as verl's agent loop stores them in the TransferQueue."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from verl.trainer.ppo.utils import Role
from verl.trainer.ppo.v1.trainer_base import get_trainer_cls
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from simpletir.trainer import TRAINER_MODE, SimpleTIRTrainer, filter_rows, mask_field, rows_to_filter_inputs
from simpletir.trainer.filters import FilterConfig
from simpletir.trainer.grad_norm import UnmaskedGradNormDetachWorker, UnmaskedGradNormWorker
from tests.trainer.rows import transfer_queue_rows

NO_GROUP_FILTERS = FilterConfig(min_group_reward_std=None, accuracy_band=None, min_non_overlong=0)


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
    keep, metrics = filter_rows(rows_to_filter_inputs(data), np.zeros(3, dtype=bool), NO_GROUP_FILTERS)
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
    keep, metrics = filter_rows(rows_to_filter_inputs(data), padding, config)
    assert keep.tolist() == [True, True, True, False] + [False] * 4
    assert metrics["simpletir/void_turn_ratio"] == 0.25
    assert metrics["simpletir/dropped_groups_accuracy_ratio"] == 0.0


@pytest.mark.parametrize(
    ("config", "keep"),
    [
        (FilterConfig(accuracy_band=None, min_non_overlong=0), [False, False, False, True, False, True]),
        (
            FilterConfig(min_group_reward_std=None, accuracy_band=(0.1, 0.9), min_non_overlong=0),
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
    got, metrics = filter_rows(rows_to_filter_inputs(data), np.zeros(6, dtype=bool), config)
    assert got.tolist() == keep
    assert metrics["simpletir/kept_ratio"] == pytest.approx(sum(keep) / 6)


@pytest.fixture(scope="module")
def composed_config(tmp_path_factory: pytest.TempPathFactory):
    """Our trainer config as simpletir-train composes it (data files made up: the trainer is not run)."""
    from simpletir.main import compose_config

    data = tmp_path_factory.mktemp("data")
    for name in ("train", "aime24", "aime25", "amc23", "math500"):
        (data / f"{name}.parquet").touch()
    return compose_config(
        [f"data.train_files={data}/train.parquet", f"data.val_files=[{data}/aime24.parquet]"]
    )


def test_verl_keys_sync_behaviour_on_the_literal_mode_name(composed_config) -> None:
    """What makes the mixin necessary: verl's own sync trainer under another mode name runs as async."""
    from verl.trainer.ppo.v1.replay_buffer import ReplayBufferAsync
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    assert composed_config.trainer.v1.trainer_mode == TRAINER_MODE
    assert type(PPOTrainerSync(composed_config).replay_buffer) is ReplayBufferAsync


def test_the_filter_trainer_runs_as_verls_sync_trainer(composed_config) -> None:
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

    from simpletir.trainer.sampler import FullBatchReplayBuffer

    trainer = SimpleTIRTrainer(composed_config)
    assert type(trainer.replay_buffer) is FullBatchReplayBuffer and isinstance(
        trainer.replay_buffer, ReplayBuffer
    )
    assert trainer.trainer_mode == "sync" and trainer.requested_mode == TRAINER_MODE
    # full batches by default: verl's dynamic sampling on, refills one prompt at a time, bounded per step
    assert trainer.replay_buffer.filter_groups_metric == "acc" and trainer.replay_buffer.gen_batch_size == 1
    assert trainer.replay_buffer.max_num_gen_batches == 3


def test_without_dynamic_sampling_the_buffer_is_verls_batch_for_batch(composed_config) -> None:
    config = composed_config.copy()
    config.algorithm.filter_groups.enable = False
    buffer = SimpleTIRTrainer(config).replay_buffer
    assert buffer.filter_groups_metric is None
    assert buffer.gen_batch_size == composed_config.data.train_batch_size


def test_the_recipes_over_sampling_bound_reaches_the_sync_replay_buffer(composed_config) -> None:
    """The 7B recipe's dynamic sampling (max_inflight_gen_batches=3) has an effect only in sync mode."""
    config = composed_config.copy()
    config.algorithm.filter_groups.max_inflight_gen_batches = 2
    config.algorithm.filter_groups.max_num_gen_batches = 5
    buffer = SimpleTIRTrainer(config).replay_buffer
    assert buffer.max_inflight_gen_batches == 2 and buffer.max_num_gen_batches == 5


def test_the_colocate_async_variant_keeps_verls_async_semantics(composed_config) -> None:
    from verl.trainer.ppo.v1.replay_buffer import ReplayBufferAsync

    from simpletir.trainer import COLOCATE_ASYNC_MODE, SimpleTIRColocateAsyncTrainer

    assert get_trainer_cls(COLOCATE_ASYNC_MODE) is SimpleTIRColocateAsyncTrainer
    config = composed_config.copy()
    config.trainer.v1.trainer_mode = COLOCATE_ASYNC_MODE
    trainer = SimpleTIRColocateAsyncTrainer(config)
    assert trainer.trainer_mode == "colocate_async" and isinstance(trainer.replay_buffer, ReplayBufferAsync)
    assert trainer.replay_buffer.exclude_sandbox_errors
    # the off-policy bound is verl's, read from the colocate_async mode's own settings
    assert trainer.replay_buffer.trainer_config == config.trainer.v1.colocate_async


def actor_worker(trainer: SimpleTIRTrainer) -> type:
    """The class verl will start for the actor's role."""
    trainer._init_resource_pool_mgr()
    return trainer.role_worker_mapping[Role.ActorRollout].__ray_actor_class__


def one_rank(config, mode: str = TRAINER_MODE):
    """``config`` sized like the tiny CPU recipe (one rank, one optimizer step per update), with the
    unmasked gradient norm on."""
    config = config.copy()
    config.trainer.v1.trainer_mode = mode
    config.trainer.n_gpus_per_node = 1
    sync_step = config.trainer.v1.get(mode.removeprefix("simpletir_"), {}).get("parameter_sync_step", 1)
    config.actor_rollout_ref.actor.ppo_mini_batch_size = config.data.train_batch_size // sync_step
    config.simpletir.diagnostics.unmasked_grad_norm = True
    return config


def test_by_default_the_actor_is_verls_own_worker(composed_config) -> None:
    from verl.workers.engine_workers import ActorRolloutRefWorker

    assert actor_worker(SimpleTIRTrainer(composed_config)) is ActorRolloutRefWorker


def test_the_unmasked_grad_norm_swaps_in_its_worker_for_each_trainer(composed_config) -> None:
    from simpletir.trainer import (
        SEPARATE_ASYNC_MODE,
        SimpleTIRColocateAsyncTrainer,
        SimpleTIRSeparateAsyncTrainer,
    )

    assert actor_worker(SimpleTIRTrainer(one_rank(composed_config))) is UnmaskedGradNormWorker
    colocate = SimpleTIRColocateAsyncTrainer(one_rank(composed_config, "simpletir_colocate_async"))
    assert actor_worker(colocate) is UnmaskedGradNormWorker
    config = one_rank(composed_config, SEPARATE_ASYNC_MODE)
    config.actor_rollout_ref.rollout.nnodes = config.actor_rollout_ref.rollout.n_gpus_per_node = 1
    config.actor_rollout_ref.rollout.checkpoint_engine.backend = "nccl"  # verl refuses "naive" here
    separate = SimpleTIRSeparateAsyncTrainer(config)
    assert actor_worker(separate) is UnmaskedGradNormDetachWorker


def test_the_unmasked_grad_norm_is_refused_on_the_gpu_recipes_shape(composed_config) -> None:
    config = composed_config.copy()
    config.simpletir.diagnostics.unmasked_grad_norm = True
    with pytest.raises(ValueError, match="one rank"):
        SimpleTIRTrainer(config)


def filter_trainer(config: FilterConfig) -> SimpleTIRTrainer:
    """The trainer's hook alone: what ``_mask_rejected`` reads of the trainer, nothing of verl's set-up."""
    from omegaconf import OmegaConf

    from simpletir.trainer.diagnostics import DiagnosticsConfig

    trainer = object.__new__(SimpleTIRTrainer)
    trainer.filter_config = config
    trainer.diagnostics_config = DiagnosticsConfig(enable=False)
    trainer.config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"calculate_log_probs": False}}})
    return trainer


def test_the_filter_writes_zero_masks_for_rejected_rows_into_the_transfer_queue(transfer_queue) -> None:
    """The hook's one write, against a real TransferQueue: rejected rows' ``response_mask`` and ``loss_mask``
    become all zero, every other row and every other field is left as it was."""
    from transfer_queue import KVBatchMeta

    specs = [*GROUP, ("g1", 4, True, False), ("g1", 2, False, True), ("g1", 6, False, False)]
    rows = transfer_queue_rows(specs)
    keys = [f"k{i}" for i in range(len(rows))]
    data = list_of_dict_to_tensordict(rows)
    transfer_queue.kv_batch_put(keys=keys, partition_id="train", fields=data, tags=[{} for _ in keys])
    batch = KVBatchMeta(keys=keys, tags=[{} for _ in keys], partition_id="train")
    metrics: dict = {}
    filter_trainer(NO_GROUP_FILTERS)._mask_rejected(batch, metrics)
    after = transfer_queue.kv_batch_get(
        keys=keys, partition_id="train", select_fields=["response_mask", "loss_mask", "rm_scores"]
    )
    for i, (_, length, void, _) in enumerate(specs):
        for name in ("response_mask", "loss_mask"):
            mask = after[name][i]
            assert len(mask) == length
            assert torch.equal(
                mask,
                torch.zeros(length, dtype=torch.int64) if void else torch.ones(length, dtype=torch.int64),
            )
        assert torch.equal(after["rm_scores"][i], rows[i]["rm_scores"])
    assert metrics["simpletir/masked_trajectories"] == 2.0 and metrics["simpletir/skipped_update"] == 0.0
