"""The ``ray`` backend: local sandboxes in Ray actors spread over the cluster's nodes.

Each actor is an async actor owning a ``LocalSandbox``; a request goes to the actor with the fewest
requests in flight (ties in turn). An actor that dies (or does not answer within program timeout + ``overhead_s``)
turns its requests into ``sandbox_error`` and is replaced. Uses the running Ray cluster (verl's) when
Ray is initialised, else ``ray.init(address=address)``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray

from simpletir.sandbox.base import ExecResult, ExecStatus, Sandbox, SandboxError

logger = logging.getLogger(__name__)

DEFAULT_ACTOR_OPTIONS: dict[str, Any] = {
    "num_cpus": 1,
    "max_concurrency": 64,
    "scheduling_strategy": "SPREAD",
}
"""Options for ``ray.remote(...).options``; ``actor_options`` override them key by key."""


class SandboxActor:
    """A Ray actor running a local sandbox (async: its requests run concurrently)."""

    def __init__(self, sandbox_options: dict[str, Any]) -> None:
        from simpletir.sandbox.factory import create_sandbox

        self.sandbox = create_sandbox("local", **sandbox_options)
        self.served = 0

    async def run(self, code: str, timeout: float | None, stdin: str | None) -> dict[str, Any]:
        """Run one program and return its result as a dict."""
        self.served += 1
        return (await self.sandbox.run(code, timeout=timeout, stdin=stdin)).to_dict()

    async def info(self) -> dict[str, Any]:
        """The Ray node this actor runs on and how many programs it has run."""
        return {"node_id": ray.get_runtime_context().get_node_id(), "served": self.served}

    async def isolation(self) -> dict[str, Any]:
        """The isolation report of this actor's local sandbox."""
        return await self.sandbox.isolation()

    async def close(self) -> None:
        """Stop the sandbox's workers."""
        await self.sandbox.close()


def _cpu_nodes() -> int:
    """Alive nodes of the cluster that offer CPUs."""
    return sum(1 for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0)


class RaySandbox(Sandbox):
    """Sandbox actors over a Ray cluster; see module docstring."""

    def __init__(
        self,
        num_actors: int | None = None,
        *,
        address: str | None = None,
        actor_options: dict[str, Any] | None = None,
        sandbox_options: dict[str, Any] | None = None,
        overhead_s: float = 30.0,
    ) -> None:
        if num_actors is not None and num_actors < 1:
            raise SandboxError(f"num_actors must be at least 1, got {num_actors}")
        if overhead_s <= 0:
            raise SandboxError("overhead_s must be positive")
        if not ray.is_initialized():
            ray.init(address=address)
        self.num_actors = num_actors or max(1, _cpu_nodes())
        self.sandbox_options = dict(sandbox_options or {})
        self.actor_options = {**DEFAULT_ACTOR_OPTIONS, **(actor_options or {})}
        self.default_timeout = float(self.sandbox_options.get("default_timeout", 5.0))
        self.overhead_s = overhead_s
        self._remote = ray.remote(SandboxActor)
        self.actors: list[Any] = [self._spawn() for _ in range(self.num_actors)]
        self.in_flight = [0] * self.num_actors
        self.replaced = 0
        self._turn = 0

    def _spawn(self) -> Any:
        return self._remote.options(**self.actor_options).remote(self.sandbox_options)

    def _replace(self, index: int, actor: Any, reason: str) -> None:
        """Kill ``actor`` and start a new one in its slot, unless another request already did."""
        if self.actors and self.actors[index] is actor:
            logger.warning("sandbox actor %d failed (%s); replacing it", index, reason)
            ray.kill(actor, no_restart=True)
            self.actors[index] = self._spawn()
            self.replaced += 1

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` on the least-loaded actor; a dead or stuck actor gives ``sandbox_error``."""
        if not self.actors:
            raise SandboxError("the sandbox is closed")
        if not isinstance(code, str):
            raise SandboxError(f"code must be str, got {type(code).__name__}")
        limit = self.default_timeout if timeout is None else float(timeout)
        if not limit > 0:
            raise SandboxError(f"timeout must be positive, got {timeout!r}")
        self._turn += 1
        index = min(
            range(self.num_actors), key=lambda i: (self.in_flight[i], (i - self._turn) % self.num_actors)
        )
        actor = self.actors[index]
        self.in_flight[index] += 1
        try:
            reply = await asyncio.wait_for(actor.run.remote(code, limit, stdin), limit + self.overhead_s)
            return ExecResult.from_dict(reply)
        except (ray.exceptions.RayActorError, asyncio.TimeoutError) as exc:
            self._replace(index, actor, type(exc).__name__)
            return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=f"sandbox actor failed: {exc!r}"[:2000])
        except ray.exceptions.RayError as exc:
            return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=f"ray error: {exc!r}"[:2000])
        finally:
            self.in_flight[index] -= 1

    async def actor_info(self) -> list[dict[str, Any]]:
        """Per actor: its Ray node and how many programs it has run (to check the spread)."""
        return list(await asyncio.gather(*(actor.info.remote() for actor in self.actors)))

    async def isolation(self) -> dict[str, Any]:
        """The isolation report of the first actor's local sandbox (``SandboxError`` when closed)."""
        if not self.actors:
            raise SandboxError("the sandbox is closed")
        return await self.actors[0].isolation.remote()

    async def close(self) -> None:
        """Stop every actor's sandbox (5 s grace), then kill the actors; idempotent."""
        actors, self.actors = self.actors, []
        if actors:
            closing = asyncio.gather(*(a.close.remote() for a in actors), return_exceptions=True)
            try:
                await asyncio.wait_for(closing, timeout=5)
            except asyncio.TimeoutError:
                logger.warning("sandbox actors did not stop within 5 s; killing them")
        for actor in actors:
            ray.kill(actor, no_restart=True)
