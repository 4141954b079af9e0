"""The ``ray`` backend: local sandboxes in Ray actors spread over the cluster's nodes.

Each actor owns a ``LocalSandbox``; requests go to the actor with the fewest in flight. An actor
that dies turns its requests into ``sandbox_error`` and is replaced. Uses the running Ray cluster
(verl's) when Ray is initialised, else ``ray.init(address=address)``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray

from simpletir.sandbox.base import ExecResult, ExecStatus, Sandbox, SandboxError

logger = logging.getLogger(__name__)


class SandboxActor:
    """A Ray actor running a local sandbox (an async actor: requests run concurrently)."""

    def __init__(self, sandbox_options: dict[str, Any]) -> None:
        from simpletir.sandbox.factory import create_sandbox

        self.sandbox = create_sandbox("local", **sandbox_options)

    async def run(self, code: str, timeout: float | None, stdin: str | None) -> dict[str, Any]:
        """Run one program and return its result as a dict."""
        return (await self.sandbox.run(code, timeout=timeout, stdin=stdin)).to_dict()

    async def node(self) -> str:
        """The Ray node this actor runs on."""
        return ray.get_runtime_context().get_node_id()


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
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.num_actors = num_actors or max(1, len(nodes))
        if self.num_actors < 1:
            raise SandboxError("num_actors must be at least 1")
        self.sandbox_options = dict(sandbox_options or {})
        self.actor_options = {"num_cpus": 1, "max_concurrency": 64, "scheduling_strategy": "SPREAD",
                              **(actor_options or {})}  # fmt: skip
        self.default_timeout = float(self.sandbox_options.get("default_timeout", 5.0))
        self.overhead_s = overhead_s
        self._remote = ray.remote(SandboxActor)
        self.actors = [self._spawn() for _ in range(self.num_actors)]
        self.in_flight = [0] * self.num_actors

    def _spawn(self) -> Any:
        return self._remote.options(**self.actor_options).remote(self.sandbox_options)

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` on the least-loaded actor; a dead or stuck actor gives ``sandbox_error``."""
        if not self.actors:
            raise SandboxError("the sandbox is closed")
        limit = self.default_timeout if timeout is None else float(timeout)
        index = min(range(self.num_actors), key=self.in_flight.__getitem__)
        actor = self.actors[index]
        self.in_flight[index] += 1
        try:
            reply = await asyncio.wait_for(actor.run.remote(code, limit, stdin), limit + self.overhead_s)
            return ExecResult.from_dict(reply)
        except (ray.exceptions.RayActorError, asyncio.TimeoutError) as exc:
            if self.actors[index] is actor:
                logger.warning("sandbox actor %d failed (%s); replacing it", index, type(exc).__name__)
                ray.kill(actor, no_restart=True)
                self.actors[index] = self._spawn()
            return ExecResult(
                status=ExecStatus.SANDBOX_ERROR, stderr=f"sandbox actor failed: {type(exc).__name__}"
            )
        except ray.exceptions.RayError as exc:
            return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=f"ray error: {exc}")
        finally:
            self.in_flight[index] -= 1

    async def nodes(self) -> list[str]:
        """The Ray node of every actor (to check how they are spread)."""
        return list(await asyncio.gather(*(actor.node.remote() for actor in self.actors)))

    async def close(self) -> None:
        """Kill the actors (their sandboxes' workers die with them)."""
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
