"""The ray backend on a real local Ray cluster (one per module: Ray start-up is slow)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")

from simpletir.sandbox import ExecStatus, SandboxError, create_sandbox  # noqa: E402


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


async def test_ray_backend_runs_spreads_and_recovers(ray_cluster: None) -> None:
    sb = create_sandbox("ray", num_actors=2, sandbox_options={"max_workers": 1},
                        actor_options={"num_cpus": 0.5})  # fmt: skip
    try:
        results = await asyncio.gather(*(sb.run(f"print({i} * 2)") for i in range(40)))
        assert [r.stdout for r in results] == [f"{i * 2}\n" for i in range(40)]
        assert len(await sb.nodes()) == 2
        timeout = await sb.run("while True:\n    pass", timeout=0.5)
        assert timeout.status is ExecStatus.TIMEOUT
        # kill one actor: its request fails as an infrastructure fault, then the actor is replaced
        victim = sb.actors[0]
        ray.kill(victim, no_restart=True)
        sb.in_flight = [0, 10]  # steer the next request to the dead actor
        failed = await sb.run("print('x')")
        assert failed.status is ExecStatus.SANDBOX_ERROR
        assert sb.actors[0] is not victim
        sb.in_flight = [0, 0]
        again = await asyncio.gather(*(sb.run("print('ok')") for _ in range(4)))
        assert all(r.stdout == "ok\n" for r in again)
    finally:
        await sb.close()
    with pytest.raises(SandboxError, match="closed"):
        await sb.run("print(1)")
