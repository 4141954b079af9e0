"""The ray backend on a real local Ray cluster (one per module: Ray start-up is slow)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")

from simpletir.sandbox import ExecStatus, SandboxError, create_sandbox  # noqa: E402


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    for attempt in range(3):  # Ray gives its raylet a fixed 30 s to start, which a busy machine can miss
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield
    ray.shutdown()


@pytest.mark.slow
async def test_runs_spreads_recovers_and_closes(ray_cluster: None) -> None:
    # generous deadlines: each actor queues 20 programs behind its worker's start-up on a busy machine
    sb = create_sandbox("ray", num_actors=2, sandbox_options={"max_workers": 1},
                        actor_options={"num_cpus": 0.5}, overhead_s=600)  # fmt: skip
    try:
        results = await asyncio.gather(*(sb.run(f"print({i} * 2)") for i in range(40)))
        assert [r.stdout for r in results] == [f"{i * 2}\n" for i in range(40)]
        for _ in range(10):  # sequential requests take turns too
            assert (await sb.run("print(1)")).ok
        served = [info["served"] for info in await sb.actor_info()]
        assert sum(served) == 50 and min(served) >= 20, served
        assert "python" in await sb.isolation()
        timeout = await sb.run("while True:\n    pass", timeout=0.5)
        assert timeout.status is ExecStatus.TIMEOUT

        victim = sb.actors[0]
        ray.kill(victim, no_restart=True)
        pair = await asyncio.gather(sb.run("print('a')"), sb.run("print('b')"))
        statuses = sorted(r.status.value for r in pair)
        assert statuses == ["ok", "sandbox_error"], pair
        assert "sandbox actor failed" in next(r.stderr for r in pair if not r.ok)
        assert sb.actors[0] is not victim and sb.replaced == 1
        again = await asyncio.gather(*(sb.run("print('ok')") for _ in range(6)))
        assert all(r.stdout == "ok\n" for r in again)
        assert all(info["served"] > 0 for info in await sb.actor_info())
    finally:
        await sb.close()
    with pytest.raises(SandboxError, match="closed"):
        await sb.run("print(1)")


@pytest.mark.parametrize("options", [{"num_actors": 0}, {"num_actors": -1}, {"overhead_s": 0}])
def test_bad_options_raise(ray_cluster: None, options: dict) -> None:
    with pytest.raises(SandboxError):
        create_sandbox("ray", **options)
