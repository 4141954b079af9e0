"""Agent-loop overhead per turn: everything except generation and the program's own run time.

The loop runs through verl's real agent-loop base class with an instant scripted server and an instant
sandbox stand-in, so what is timed is ours: decoding to find code blocks, the cut after the block,
observation formatting and tokenisation, mask/log-prob bookkeeping. In the same run, one trivial
program through the real local sandbox gives the scale to compare against.

Usage: python benchmarks/agent_loop_overhead.py [--trajectories 200] [--turns 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simpletir.sandbox import ExecResult, ExecStatus, Sandbox, create_sandbox
from simpletir.tir import agent_loop as agent_loop_module
from simpletir.tir.agent_loop import SimpleTIRAgentLoop
from simpletir.tir.protocol import build_prompt_messages
from tests.tir.tir_fixtures import ScriptedServer, make_agent_loop, tiny_tokenizer

TURN = "Let me check this numerically with a short script.\n```python\nx = 6 * 7\nprint(x)\n```"


class InstantSandbox(Sandbox):
    """Returns a fixed result at once: removes the program's run time from the measurement."""

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        return ExecResult(status=ExecStatus.OK, stdout="42\n")


async def measure(trajectories: int, turns: int) -> tuple[float, float]:
    """Mean overhead per turn (ms) and the local sandbox's trivial-program latency (ms)."""
    tokenizer = tiny_tokenizer()
    instant = InstantSandbox()
    agent_loop_module.create_sandbox = lambda backend, **options: instant
    loops = [
        make_agent_loop(SimpleTIRAgentLoop, ScriptedServer(tokenizer, [TURN] * turns), tokenizer,
                        response_length=100_000, agent={"max_turns": turns})
        for _ in range(trajectories)
    ]  # fmt: skip
    prompt = build_prompt_messages("What is 6 times 7?")
    start = time.perf_counter()
    for loop in loops:
        await loop.run({}, raw_prompt=prompt)
    per_turn_ms = (time.perf_counter() - start) / (trajectories * turns) * 1000
    async with create_sandbox("local", max_workers=1) as sandbox:
        await sandbox.run("print(1)")
        start = time.perf_counter()
        for _ in range(50):
            await sandbox.run("print(42)")
        sandbox_ms = (time.perf_counter() - start) / 50 * 1000
    return per_turn_ms, sandbox_ms


def main() -> None:
    """Print the overhead per turn and its ratio to one trivial sandbox execution."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=200)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()
    per_turn, sandbox_ms = asyncio.run(measure(args.trajectories, args.turns))
    print(
        f"agent-loop overhead per turn: {per_turn:.3f} ms ({args.trajectories} trajectories x {args.turns} turns)"
    )
    print(
        f"local sandbox, trivial program: {sandbox_ms:.2f} ms; overhead / sandbox = {per_turn / sandbox_ms:.2f}"
    )


if __name__ == "__main__":
    main()
