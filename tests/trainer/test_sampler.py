"""The full-batch replay buffer on a real TransferQueue, driven through verl's own sync ``sample`` loop.

A scripted rollout stands in for the agent loop manager: when the buffer asks for prompts it writes finished
groups exactly as verl's ``agent_loop_tq`` does (a prompt key with its status tag, one key per trajectory
``{uid}_{session}_0`` with the trajectory's fields), with rewards taken from a script of groups.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from omegaconf import OmegaConf
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from simpletir.trainer.filters import FilterConfig
from simpletir.trainer.sampler import FullBatchReplayBuffer, group_of, simpletir_replay_buffer
from tests.trainer.rows import transfer_queue_rows

GROUP_SIZE = 4
MIXED = (1, 0, 0, 1)
"""A group with signal (reward std > 0): valid."""
ALL_WRONG = (0, 0, 0, 0)
"""No signal: rejected by the reward-std filter."""
FILTERS = FilterConfig(min_non_overlong=0)


class ScriptedRollout:
    """The buffer's ``refill_fn``: writes one finished group per requested prompt, rewards from ``script``."""

    def __init__(self, tq, script: Iterator[tuple], sandbox_errors: tuple[bool, ...] = ()) -> None:
        self.tq, self.script, self.sandbox_errors = tq, script, sandbox_errors
        self.prompts = 0
        self.uids: list[str] = []

    def __call__(self, num_prompts: int) -> int:
        for _ in range(num_prompts):
            self.write_group(next(self.script))
        return num_prompts

    def write_group(self, rewards: tuple) -> None:
        uid = str(uuid.uuid4())
        self.tq.kv_batch_put(
            keys=[uid],
            partition_id="train",
            tags=[{"is_prompt": True, "status": "pending", "global_steps": 1}],
        )
        specs = [(uid, 3 + session, False, bool(reward)) for session, reward in enumerate(rewards)]
        rows = transfer_queue_rows(specs, self.sandbox_errors)
        tags = [{"status": "success", "global_steps": 1} for _ in rows]
        keys = [f"{uid}_{session}_0" for session in range(len(rewards))]
        self.tq.kv_batch_put(
            keys=keys, partition_id="train", fields=list_of_dict_to_tensordict(rows), tags=tags
        )
        self.tq.kv_batch_put(keys=[uid], partition_id="train", tags=[{"status": "finished"}])
        self.prompts += 1
        self.uids.append(uid)


@pytest.fixture
def tq(transfer_queue):
    """The TransferQueue with an empty ``train`` partition before and after the test."""
    yield transfer_queue
    listing = transfer_queue.kv_list("train") or {}
    keys = list(listing.get("train", listing))
    if keys:
        transfer_queue.kv_clear(keys=keys, partition_id="train")


def buffer_for(
    rollout: ScriptedRollout, batch: int, max_num_gen_batches: int, **filters
) -> FullBatchReplayBuffer:
    """The buffer as the trainer builds it in sync mode with DAPO on (verl's arguments, then ours)."""
    return FullBatchReplayBuffer(
        trainer_mode="sync",
        trainer_config=OmegaConf.create({}),
        max_off_policy_threshold=None,
        max_off_policy_strategy="drop",
        sampler_kwargs=OmegaConf.create({}),
        poll_interval=0.01,
        refill_fn=rollout,
        filter_groups_metric="acc",
        train_batch_size=batch,
        gen_batch_size=1,
        max_inflight_gen_batches=max(max_num_gen_batches, 1),
        filter_config=FilterConfig(**{"min_non_overlong": 0, **filters}),
        max_num_gen_batches=max_num_gen_batches,
    )


def run_step(tq, script: list[tuple], batch: int, max_num_gen_batches: int, **kwargs):
    """One training step: the trainer's first batch of prompts, then ``sample``; the batch, metrics, rollout."""
    sandbox_errors = kwargs.pop("sandbox_errors", ())
    rollout = ScriptedRollout(tq, iter(script), sandbox_errors)
    buffer = buffer_for(rollout, batch, max_num_gen_batches, **kwargs)
    rollout(batch)
    meta, metrics = buffer.sample(global_steps=1, partition_id="train", batch_size=batch)
    data = tq.kv_batch_get(keys=meta.keys, partition_id="train", select_fields=["uid", "rm_scores"])
    return meta, data, metrics, rollout


def rewards_by_group(meta, data) -> dict[str, tuple]:
    """Each group of the batch with its trajectories' rewards, in session order."""
    groups: dict[str, list] = {}
    for key, uid, score in sorted(zip(meta.keys, data["uid"], data["rm_scores"].unbind(), strict=True)):
        assert group_of(key) == uid
        groups.setdefault(uid, []).append(int(score.sum()))
    return {uid: tuple(values) for uid, values in groups.items()}


def test_rejected_groups_are_replaced_by_fresh_ones(tq) -> None:
    script = [MIXED, ALL_WRONG, MIXED, ALL_WRONG, *[MIXED] * 4]
    meta, data, metrics, rollout = run_step(tq, script, batch=4, max_num_gen_batches=3)
    groups = rewards_by_group(meta, data)
    assert len(groups) == 4 and all(rewards == MIXED for rewards in groups.values())
    assert metrics["simpletir/sampling/duplicated_groups"] == 0
    assert metrics["simpletir/sampling/generated_prompts"] == rollout.prompts
    assert metrics["training/filter_groups/evicted_samples"] == 2


def test_a_spent_budget_fills_the_batch_with_copies_of_valid_groups_under_new_uids(tq) -> None:
    """At most 2 x 4 prompts: 3 valid groups among 8, so one valid group is trained twice, under a new uid."""
    script = [MIXED, ALL_WRONG, ALL_WRONG, ALL_WRONG, (0, 1, 1, 1), ALL_WRONG, (1, 1, 0, 0), ALL_WRONG]
    meta, data, metrics, rollout = run_step(tq, script, batch=4, max_num_gen_batches=2)
    assert rollout.prompts == 8 and metrics["simpletir/sampling/generated_prompts"] == 8
    groups = rewards_by_group(meta, data)
    assert len(groups) == 4 and len(meta.keys) == 4 * GROUP_SIZE
    originals = [rewards for uid, rewards in groups.items() if uid in rollout.uids]
    assert sorted(originals) == sorted([MIXED, (0, 1, 1, 1), (1, 1, 0, 0)])
    copies = [uid for uid in groups if uid not in rollout.uids]
    assert len(copies) == 1 and groups[copies[0]] in (MIXED, (0, 1, 1, 1), (1, 1, 0, 0))
    assert metrics["simpletir/sampling/duplicated_groups"] == 1
    assert metrics["simpletir/sampling/valid_groups"] == 3
    assert metrics["simpletir/sampling/invalid_groups_trained"] == 0
    left = set((tq.kv_list("train") or {}).get("train", {}))
    assert {group_of(k) for k in left} <= set(groups), "rejected groups must leave the TransferQueue"


def test_without_any_valid_group_the_step_trains_on_the_rejected_ones(tq) -> None:
    meta, data, metrics, rollout = run_step(tq, [ALL_WRONG] * 8, batch=4, max_num_gen_batches=2)
    assert rollout.prompts == 8
    assert len(rewards_by_group(meta, data)) == 4
    assert metrics["simpletir/sampling/invalid_groups_trained"] == 4


def test_one_batch_budget_never_generates_more_than_the_batch(tq) -> None:
    meta, data, metrics, rollout = run_step(
        tq, [MIXED, ALL_WRONG, ALL_WRONG, ALL_WRONG], batch=4, max_num_gen_batches=1
    )
    assert rollout.prompts == 4
    assert list(rewards_by_group(meta, data).values()) == [MIXED] * 4
    assert metrics["simpletir/sampling/duplicated_groups"] == 3


def test_the_accuracy_band_decides_at_sampling_time(tq) -> None:
    mostly_right = (1, 1, 1, 0)
    script = [mostly_right, MIXED, MIXED, *[MIXED] * 4]
    meta, data, _, _ = run_step(tq, script, batch=2, max_num_gen_batches=3, accuracy_band=(0.1, 0.5))
    assert list(rewards_by_group(meta, data).values()) == [MIXED, MIXED]


def test_sandbox_errors_leave_the_batch_and_their_groups_statistics(tq) -> None:
    """(1, 0, 0, 0) with the correct one a sandbox failure: without it the group has no signal and is replaced;
    groups kept lose their failed trajectories."""
    script = [(1, 0, 0, 0), (1, 0, 0, 1), (0, 1, 1, 0), (0, 1, 0, 1)]
    meta, data, metrics, _ = run_step(tq, script, batch=2, max_num_gen_batches=2, sandbox_errors=(True,))
    groups = list(rewards_by_group(meta, data).values())
    assert len(groups) == 2 and len(set(groups)) == 2
    assert set(groups) <= {(0, 0, 1), (1, 1, 0), (1, 0, 1)}, "the first group, without signal, was replaced"
    assert metrics["simpletir/sampling/sandbox_error_excluded"] == 2


def test_sandbox_errors_can_be_kept(tq) -> None:
    meta, data, metrics, _ = run_step(
        tq,
        [(1, 0, 0, 0)] * 2,
        batch=2,
        max_num_gen_batches=1,
        sandbox_errors=(True,),
        exclude_sandbox_errors=False,
    )
    assert sorted(rewards_by_group(meta, data).values()) == [(1, 0, 0, 0)] * 2
    assert metrics["simpletir/sampling/sandbox_error_excluded"] == 0


def test_the_trainer_builds_it_with_verls_arguments() -> None:
    """Every argument verl gave its sync buffer reaches ours (the day verl adds one, this fails)."""
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

    config = OmegaConf.create(
        {"algorithm": {"filter_groups": {"max_num_gen_batches": 3}}, "data": {"seed": 7}}
    )
    verl_buffer = ReplayBuffer(
        trainer_mode="sync",
        trainer_config=OmegaConf.create({}),
        max_off_policy_threshold=None,
        max_off_policy_strategy="wait",
        sampler_kwargs=OmegaConf.create({"x": 1}),
        refill_fn=lambda n: n,
        filter_groups_metric="acc",
        train_batch_size=16,
        gen_batch_size=1,
        max_inflight_gen_batches=2,
    )
    ours = simpletir_replay_buffer(verl_buffer, config, FILTERS)
    assert isinstance(ours, FullBatchReplayBuffer) and ours.max_num_gen_batches == 3
    for name in (
        "trainer_mode",
        "max_off_policy_strategy",
        "filter_groups_metric",
        "train_batch_size",
        "gen_batch_size",
        "max_inflight_gen_batches",
        "poll_interval",
        "sampler_kwargs",
    ):
        assert getattr(ours, name) == getattr(verl_buffer, name), name
