"""Full batches of useful groups at a bounded generation cost: verl's replay buffers with SimpleTIR's group filters.

verl 0.9's sync ``ReplayBuffer`` does DAPO's dynamic sampling (``algorithm.filter_groups.enable``): it evicts
each finished group whose metric is the same for all its trajectories and dispatches two fresh prompts per
eviction until ``train_batch_size`` groups remain, with no bound on the prompts generated per step (the V1
buffer ignores ``algorithm.filter_groups.max_num_gen_batches``). The official SimpleTIR code instead generated a
fixed pool of 3x the batch, dropped the groups its filters rejected, and kept a random batch of the valid ones,
duplicating valid groups under new ids when too few survived. ``FullBatchReplayBuffer`` is verl's sync buffer,
its polling loop untouched, with three hooks that give the official behaviour at verl's adaptive cost:

- which groups are evicted: the paper's group filters (``simpletir.trainer.filters.group_rejections``: reward
  std, accuracy band, too few non-overlong trajectories) instead of "identical metric";
- how much is generated: at most ``max_num_gen_batches`` x the batch per step, the first batch included
  (0: unbounded, verl's behaviour); once spent, nothing more is dispatched or evicted, and when the last
  requests are in, the valid groups are kept (surplus invalid ones discarded) and, when fewer than the batch,
  valid groups are duplicated under new uids until the batch is full. With no valid group at all the step
  trains on the invalid ones, which the trainer's filter then masks (and skips the update);
- which trajectories make a group (both buffers, ``SandboxErrorExclusion``): with
  ``simpletir.filter.exclude_sandbox_errors`` a trajectory whose code hit a ``sandbox_error`` (the sandbox
  failed, not the model's program) is cleared from the TransferQueue before the batch is formed, so it is
  neither trained on nor part of its group's mean and std.

Logged per step (``simpletir/sampling/``): ``generated_prompts``, ``valid_groups`` (valid groups among those
the step generated), ``duplicated_groups``, ``invalid_groups_trained`` and ``sandbox_error_excluded``.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer, ReplayBufferAsync
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from simpletir.tir.record import TIRRecord
from simpletir.trainer.filters import FilterConfig, group_rejections, rows_to_filter_inputs

logger = logging.getLogger(__name__)

METRIC_PREFIX = "simpletir/sampling/"
SANDBOX_ERROR = "sandbox_error"
EMPTY_GROUP = "empty"
"""The rejection of a group with no trajectory left (every one was a sandbox error)."""


def group_of(key: str) -> str:
    """The prompt uid of a TransferQueue trajectory key (verl's ``{uid}_{sample}_{session}``)."""
    return key.split("_", 1)[0]


def has_sandbox_error(extra_fields: Any) -> bool:
    """Whether a trajectory's ``extra_fields`` record a code block whose sandbox failed."""
    return (
        TIRRecord.from_extra_fields(extra_fields if isinstance(extra_fields, dict) else {}).count(
            SANDBOX_ERROR
        )
        > 0
    )


class SandboxErrorExclusion:
    """Mixin for verl's replay buffers: trajectories with a ``sandbox_error`` leave the batch before it is formed."""

    exclude_sandbox_errors: bool = False
    sandbox_error_excluded: int = 0

    def _materialize_batch(
        self, partition_id: str, selected_prompt_uids: list[str], partition_snapshot: dict[str, dict]
    ) -> KVBatchMeta:
        """verl's batch of the selected groups, less the trajectories whose sandbox failed (cleared from the
        TransferQueue). A batch that would be left empty is kept whole, with an error in the log."""
        batch = super()._materialize_batch(partition_id, selected_prompt_uids, partition_snapshot)
        self.sandbox_error_excluded = 0
        if not self.exclude_sandbox_errors or partition_id == "val" or not batch.keys:
            return batch
        extra = tq.kv_batch_get(keys=batch.keys, partition_id=partition_id, select_fields=["extra_fields"])
        failed = [has_sandbox_error(e) for e in list(extra["extra_fields"])]
        if not any(failed):
            return batch
        if all(failed):
            logger.error(
                "the sandbox failed in every one of the step's %d trajectories; they are kept and scored as they "
                "are: check the sandbox (simpletir/num_sandbox_error_rate)",
                len(failed),
            )
            return batch
        tq.kv_clear(
            keys=[k for k, bad in zip(batch.keys, failed, strict=True) if bad], partition_id=partition_id
        )
        kept = [i for i, bad in enumerate(failed) if not bad]
        self.sandbox_error_excluded = len(failed) - len(kept)
        return KVBatchMeta(
            partition_id=partition_id,
            keys=[batch.keys[i] for i in kept],
            tags=[batch.tags[i] for i in kept],
        )

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        """verl's ``sample``, with the count of excluded trajectories in its metrics (training partition)."""
        batch, metrics = super().sample(global_steps, partition_id, batch_size)
        if partition_id != "val":
            metrics[f"{METRIC_PREFIX}sandbox_error_excluded"] = self.sandbox_error_excluded
        return batch, metrics


@dataclass(frozen=True)
class GroupVerdict:
    """The group filters' decision on one finished group."""

    rejected_by: list[str]
    """The filters that reject it (``GROUP_FILTERS`` names, or ``empty``); [] when valid."""
    mean_accuracy: float

    @property
    def valid(self) -> bool:
        """Whether no filter rejects the group."""
        return not self.rejected_by


@dataclass
class StepBudget:
    """What one ``sample`` call may still generate, and what it did."""

    batch_size: int
    remaining: int | None
    """Prompts that may still be dispatched (None: unbounded)."""
    generated: int
    duplicated: int = 0
    invalid_trained: int = 0

    @property
    def spent(self) -> bool:
        """Whether no more prompts may be dispatched."""
        return self.remaining is not None and self.remaining <= 0


class FullBatchReplayBuffer(SandboxErrorExclusion, ReplayBuffer):
    """verl's sync replay buffer that forms every batch of ``batch_size`` groups valid under the paper's group
    filters, generating at most ``max_num_gen_batches`` x ``batch_size`` prompts per step (see the module)."""

    def __init__(
        self,
        *args: Any,
        filter_config: FilterConfig,
        max_num_gen_batches: int,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if max_num_gen_batches < 0:
            raise ValueError(
                f"algorithm.filter_groups.max_num_gen_batches must be >= 0, got {max_num_gen_batches}"
            )
        self.filter_config = filter_config
        self.exclude_sandbox_errors = filter_config.exclude_sandbox_errors
        self.max_num_gen_batches = max_num_gen_batches
        self.rng = np.random.default_rng(seed)
        self.step: StepBudget | None = None
        self._dispatch = self.refill_fn
        self.refill_fn = self._bounded_refill
        self._rejections: dict[str, dict[str, GroupVerdict]] = defaultdict(dict)
        self._valid_seen: set[str] = set()

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        """verl's sync ``sample`` under this step's generation budget; the ``simpletir/sampling/`` metrics added."""
        if partition_id == "val" or self.filter_groups_metric is None:
            return super().sample(global_steps, partition_id, batch_size)
        bound = None if self.max_num_gen_batches == 0 else max(0, (self.max_num_gen_batches - 1) * batch_size)
        self.step = StepBudget(batch_size=batch_size, remaining=bound, generated=batch_size)
        self._valid_seen = set()
        try:
            batch, metrics = super().sample(global_steps, partition_id, batch_size)
        finally:
            step, self.step = self.step, None
        metrics.update(
            {
                f"{METRIC_PREFIX}generated_prompts": step.generated,
                f"{METRIC_PREFIX}valid_groups": len(self._valid_seen),
                f"{METRIC_PREFIX}duplicated_groups": step.duplicated,
                f"{METRIC_PREFIX}invalid_groups_trained": step.invalid_trained,
            }
        )
        return batch, metrics

    def _bounded_refill(self, num_prompts: int) -> int:
        """Dispatch up to ``num_prompts`` fresh prompts, as many as this step's budget still allows."""
        step = self.step
        if step is not None and step.remaining is not None:
            num_prompts = min(num_prompts, step.remaining)
            step.remaining -= num_prompts
        if num_prompts <= 0:
            return 0
        if step is not None:
            step.generated += num_prompts
        return self._dispatch(num_prompts)

    def _group_rejections(self, partition_id: str, uids: set[str]) -> dict[str, list[str]]:
        """Per finished group in ``uids``, the filters that reject it ([] when valid); cached, as groups are final."""
        cache = self._rejections[partition_id]
        for stale in cache.keys() - self.finished_keys[partition_id]:
            del cache[stale]
        new = {uid for uid in uids if uid not in cache}
        keys = [k for k in self.partitions[partition_id] if group_of(k) in new]
        rows: dict[str, list[tuple[float, float, bool]]] = {uid: [] for uid in new}
        if keys:
            data = tq.kv_batch_get(
                keys=keys, partition_id=partition_id, select_fields=["uid", "rm_scores", "extra_fields"]
            )
            inputs = rows_to_filter_inputs(data)
            for uid, score, acc, overlong, record in zip(
                inputs["uids"],
                inputs["scores"],
                inputs["accuracies"],
                inputs["overlong"],
                inputs["records"],
                strict=True,
            ):
                if self.exclude_sandbox_errors and record.count(SANDBOX_ERROR):
                    continue
                rows[uid].append((score, acc, overlong))
        for uid, values in rows.items():
            if not values:
                cache[uid] = GroupVerdict([EMPTY_GROUP], 0.0)
                continue
            scores, accuracies, overlong = zip(*values, strict=True)
            cache[uid] = GroupVerdict(
                group_rejections(scores, accuracies, overlong, self.filter_config), float(np.mean(accuracies))
            )
            if cache[uid].valid:
                self._valid_seen.add(uid)
        return {uid: cache[uid].rejected_by for uid in uids}

    def _dapo_filtered_keys(self, partition_id: str) -> tuple[set[str], Counter]:
        """The finished groups to evict (those the group filters reject) while this step may still generate, and
        verl's ``{value: groups}`` breakdown of them, by the group's mean accuracy."""
        if partition_id == "val" or self.filter_groups_metric is None or self.step is None or self.step.spent:
            return set(), Counter()
        rejections = self._group_rejections(partition_id, self.finished_keys[partition_id])
        rejected = {uid for uid, why in rejections.items() if why}
        verdicts = self._rejections[partition_id]
        return rejected, Counter(verdicts[uid].mean_accuracy for uid in rejected)

    def _inflight(self, partition_id: str) -> int:
        """Prompts of this partition still pending or running."""
        return len(self.pending_keys[partition_id]) + len(self.running_keys[partition_id])

    def _sampleable_terminal_keys(self, partition_id: str, eviction_reasons: tuple) -> set[str]:
        """verl's sampleable groups; once the budget is spent, the valid ones only, and when the last requests
        are in, duplicates of them up to the batch size (the invalid ones when none is valid)."""
        keys = super()._sampleable_terminal_keys(partition_id, eviction_reasons)
        step = self.step
        if partition_id == "val" or step is None or not step.spent:
            return keys
        rejections = self._group_rejections(partition_id, keys)
        valid = {uid for uid in keys if not rejections[uid]}
        if self._inflight(partition_id):
            return valid
        pool = valid or keys
        if valid:
            self._clear_groups(partition_id, keys - valid)
        else:
            step.invalid_trained = min(len(keys), step.batch_size)
        missing = step.batch_size - len(pool)
        if missing <= 0 or not pool:
            return pool
        copies = self._duplicate_groups(partition_id, sorted(pool), missing)
        step.duplicated = len(copies)
        if not valid:
            step.invalid_trained = step.batch_size
        return pool | copies

    def _duplicate_groups(self, partition_id: str, sources: list[str], count: int) -> set[str]:
        """Write ``count`` copies of groups drawn from ``sources`` (each at most once more than any other) into the
        TransferQueue under new uids, finished; return the new uids (also added to this poll's metadata)."""
        picks = [sources[i] for i in self.rng.permutation(len(sources))]
        picks = [picks[i % len(picks)] for i in range(count)]
        partition = self.partitions[partition_id]
        new_uids = set()
        for source in picks:
            keys = sorted(k for k in partition if group_of(k) == source)
            data = tq.kv_batch_get(keys=keys, partition_id=partition_id)
            uid = str(uuid.uuid4())
            names = list(data.keys())
            rows = [{**{name: data[i][name] for name in names}, "uid": uid} for i in range(len(keys))]
            new_keys = [f"{uid}_{key.split('_', 1)[1]}" for key in keys]
            tags = [dict(partition[key]) for key in keys]
            tq.kv_batch_put(
                keys=new_keys, partition_id=partition_id, fields=list_of_dict_to_tensordict(rows), tags=tags
            )
            global_steps = self.prompt_global_steps[partition_id].get(source, 0)
            prompt_tag = {"is_prompt": True, "status": "finished", "global_steps": global_steps}
            tq.kv_batch_put(keys=[uid], partition_id=partition_id, tags=[prompt_tag])
            partition.update(zip(new_keys, tags, strict=True))
            self.finished_keys[partition_id].add(uid)
            self.prompt_global_steps[partition_id][uid] = global_steps
            self._rejections[partition_id][uid] = self._rejections[partition_id][source]
            new_uids.add(uid)
        return new_uids


class AsyncSandboxErrorReplayBuffer(SandboxErrorExclusion, ReplayBufferAsync):
    """verl's async replay buffer, with sandbox-error trajectories kept out of the batch."""


def replay_buffer_kwargs(buffer: ReplayBuffer) -> dict[str, Any]:
    """The constructor arguments verl built ``buffer`` with (every ``ReplayBuffer.__init__`` parameter is kept
    as the attribute of the same name)."""
    names = [n for n in inspect.signature(ReplayBuffer.__init__).parameters if n != "self"]
    return {name: getattr(buffer, name) for name in names}


def simpletir_replay_buffer(buffer: ReplayBuffer, config: Any, filter_config: FilterConfig) -> ReplayBuffer:
    """Our replay buffer in place of the one verl built (``buffer``), with the same arguments: the full-batch
    sync buffer, or verl's async one with the sandbox-error exclusion; a custom sampler is left as it is."""
    kwargs = replay_buffer_kwargs(buffer)
    if type(buffer) is ReplayBuffer:
        filter_groups = config.algorithm.get("filter_groups") or {}
        return FullBatchReplayBuffer(
            **kwargs,
            filter_config=filter_config,
            max_num_gen_batches=int(filter_groups.get("max_num_gen_batches", 0) or 0),
            seed=int(config.data.get("seed", 0) or 0),
        )
    if type(buffer) is ReplayBufferAsync:
        async_buffer = AsyncSandboxErrorReplayBuffer(**kwargs)
        async_buffer.exclude_sandbox_errors = filter_config.exclude_sandbox_errors
        return async_buffer
    logger.warning(
        "trainer.v1.sampler.custom_sampler %s: SimpleTIR's full batches and sandbox-error exclusion are off",
        type(buffer).__name__,
    )
    return buffer
