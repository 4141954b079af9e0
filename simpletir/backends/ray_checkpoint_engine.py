"""``checkpoint_engine.backend=ray``: verl weight sync through Ray's object store, on any machine.

verl's disaggregated trainers (``separate_async``) move the actor's weights to standalone rollout replicas
through a checkpoint engine; verl ships NCCL, NIXL, Mooncake and HCCL ones, all of which need accelerators.
This one needs only Ray: actor rank 0 puts buckets of CPU tensors into one ``ray.util.queue.Queue`` per
rollout worker, each rollout worker reads its queue. It is slower than NCCL (host copies, the object
store), so use it for CPU runs, tests and small models.

Enable it with ``actor_rollout_ref.rollout.checkpoint_engine.backend=ray`` and
``actor_rollout_ref.rollout.checkpoint_engine.custom_backend_module=simpletir.backends.ray_checkpoint_engine``
(verl imports that module where it builds checkpoint engines).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from typing import Any

import ray
import torch
from ray.util.queue import Queue
from verl.checkpoint_engine.base import CheckpointEngine, CheckpointEngineRegistry

BACKEND = "ray"
SENDER, WALKER, RECEIVER = "sender", "walker", "receiver"
_END = None
"""Put after the last bucket."""


@CheckpointEngineRegistry.register(BACKEND)
class RayCheckpointEngine(CheckpointEngine):
    """Actor rank 0 sends buckets of ``(name, tensor)`` to every rollout worker's queue (see module docstring)."""

    def __init__(self, bucket_size: int, is_master: bool = False, queue_depth: int = 2) -> None:
        self.bucket_size = bucket_size
        self.is_master = is_master
        self.queue_depth = queue_depth
        self.role = WALKER
        self.queues: list[Queue] = []

    def prepare(self) -> dict[str, Any]:
        """This worker's metadata for ``build_topology``: whether it is the sending actor rank."""
        return {"is_master": self.is_master, "queue_depth": self.queue_depth}

    @classmethod
    def build_topology(
        cls, actor_wg_world_size: int, rollout_world_size: int, metadata: list[dict]
    ) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        """One queue per rollout worker; the master actor rank sends to all, the other actor ranks only walk."""
        depth = int(metadata[0].get("queue_depth", 2))
        queues = [Queue(maxsize=depth, actor_options={"num_cpus": 0}) for _ in range(rollout_world_size)]
        actor_roles = [SENDER if m.get("is_master") else WALKER for m in metadata[:actor_wg_world_size]]
        if actor_roles.count(SENDER) != 1:
            raise RuntimeError(f"ray checkpoint engine: expected one master actor rank, got {actor_roles}")
        actor_kwargs = {"role": actor_roles, "queues": [queues] * actor_wg_world_size}
        rollout_kwargs = {"role": [RECEIVER] * rollout_world_size, "queues": [[q] for q in queues]}
        return actor_kwargs, rollout_kwargs

    def init_process_group(self, role: str, queues: list[Queue]) -> None:
        """Take this worker's role and queues for the coming transfer."""
        self.role, self.queues = role, list(queues)

    def finalize(self) -> None:
        """After a transfer: the sender removes the queues (every receiver has read its end marker)."""
        if self.role == SENDER:
            for queue in self.queues:
                ray.kill(queue.actor)
        self.role, self.queues = WALKER, []

    @torch.no_grad()
    async def send_weights(
        self, weights: Generator[tuple[str, torch.Tensor], None, None], global_steps: int | None = None
    ) -> dict[str, Any]:
        """Walk ``weights`` (producing them is collective over the actor ranks); the sender ships them in buckets."""
        if self.role == RECEIVER:
            raise RuntimeError("ray checkpoint engine: a rollout worker cannot send weights")
        bucket: list[tuple[str, torch.Tensor]] = []
        size = 0
        for name, tensor in weights:
            if self.role != SENDER:
                continue
            copy = tensor.detach().to("cpu", copy=True)
            bucket.append((name, copy))
            size += copy.numel() * copy.element_size()
            if size >= self.bucket_size:
                await self._put(bucket)
                bucket, size = [], 0
        if self.role == SENDER:
            if bucket:
                await self._put(bucket)
            await self._put(_END)
        return {}

    async def _put(self, item: Any) -> None:
        """Put ``item`` into every rollout worker's queue."""
        await asyncio.gather(*(queue.put_async(item) for queue in self.queues))

    async def receive_weights(
        self, global_steps: int | None = None
    ) -> AsyncGenerator[tuple[str, torch.Tensor], None]:
        """Yield the actor's ``(name, tensor)`` pairs as they arrive, until the end marker."""
        if self.role != RECEIVER or len(self.queues) != 1:
            raise RuntimeError(
                "ray checkpoint engine: receive_weights runs on a rollout worker with one queue"
            )
        while (bucket := await self.queues[0].get_async()) is not _END:
            for name, tensor in bucket:
                yield name, tensor
