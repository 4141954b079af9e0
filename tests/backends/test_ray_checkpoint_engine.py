"""The ``ray`` checkpoint engine on a real local Ray cluster, driven in verl's order.

verl's ``CheckpointEngineManager.update_weights`` calls, on every actor and rollout worker: ``prepare``,
then the class's ``build_topology`` (in the driver), ``init_process_group`` with that worker's share,
``send_weights`` (actor ranks) concurrently with ``receive_weights`` (rollout workers), ``finalize``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import ray
import torch

from simpletir.backends.ray_checkpoint_engine import RayCheckpointEngine


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def model_weights(seed: int) -> list[tuple[str, torch.Tensor]]:
    torch.manual_seed(seed)
    return [(f"layer{i}.weight", torch.randn(64, 32)) for i in range(10)] + [("bias", torch.randn(7))]


def walked(items: list[tuple[str, torch.Tensor]], seen: list[str]) -> Iterator[tuple[str, torch.Tensor]]:
    for name, tensor in items:
        seen.append(name)
        yield name, tensor


async def sync_once(actors: list[RayCheckpointEngine], rollouts: list[RayCheckpointEngine], weights) -> tuple:
    metadata = [engine.prepare() for engine in actors + rollouts]
    actor_kwargs, rollout_kwargs = RayCheckpointEngine.build_topology(len(actors), len(rollouts), metadata)
    for i, engine in enumerate(actors):
        engine.init_process_group(**{k: v[i] for k, v in actor_kwargs.items()})
    for i, engine in enumerate(rollouts):
        engine.init_process_group(**{k: v[i] for k, v in rollout_kwargs.items()})
    walks: list[list[str]] = [[] for _ in actors]

    async def receive(engine: RayCheckpointEngine) -> list[tuple[str, torch.Tensor]]:
        return [item async for item in engine.receive_weights(global_steps=1)]

    results = await asyncio.gather(
        *(engine.send_weights(walked(weights, walks[i]), global_steps=1) for i, engine in enumerate(actors)),
        *(receive(engine) for engine in rollouts),
    )
    queues = [q for q in actor_kwargs["queues"][0]]
    for engine in actors + rollouts:
        engine.finalize()
    return results[len(actors) :], walks, queues


async def test_every_rollout_worker_receives_every_weight_exactly(local_ray: None) -> None:
    actors = [
        RayCheckpointEngine(bucket_size=10_000, is_master=True),
        RayCheckpointEngine(bucket_size=10_000),
    ]
    rollouts = [RayCheckpointEngine(bucket_size=10_000) for _ in range(2)]
    weights = model_weights(0)
    received, walks, _ = await sync_once(actors, rollouts, weights)
    for got in received:
        assert [name for name, _ in got] == [name for name, _ in weights]
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(got, weights, strict=True))
    # the non-sending actor rank still walks the whole generator (FSDP's gathers are collective)
    assert walks[1] == [name for name, _ in weights]


async def test_a_second_sync_uses_fresh_queues_and_the_old_ones_are_gone(local_ray: None) -> None:
    actors = [RayCheckpointEngine(bucket_size=1 << 20, is_master=True)]
    rollouts = [RayCheckpointEngine(bucket_size=1 << 20)]
    _, _, first_queues = await sync_once(actors, rollouts, model_weights(1))
    received, _, _ = await sync_once(actors, rollouts, model_weights(2))
    assert torch.equal(received[0][0][1], model_weights(2)[0][1])
    with pytest.raises(ray.exceptions.RayActorError):
        await first_queues[0].actor.qsize.remote()


async def test_roles_are_enforced(local_ray: None) -> None:
    with pytest.raises(RuntimeError, match="one master"):
        RayCheckpointEngine.build_topology(2, 1, [{"is_master": False}, {"is_master": False}, {}])
    receiver = RayCheckpointEngine(bucket_size=1)
    receiver.init_process_group(role="receiver", queues=[])
    with pytest.raises(RuntimeError, match="cannot send"):
        await receiver.send_weights(iter([]))
