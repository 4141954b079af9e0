"""Sandbox throughput and latency against a ``python -c`` per program baseline, in the same run."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from simpletir.sandbox.base import Sandbox
from simpletir.sandbox.corpus import Program


@dataclass(frozen=True)
class BenchStats:
    """Throughput and latency of one backend on one corpus."""

    name: str
    runs: int
    wall_s: float
    p50_ms: float
    p99_ms: float

    @property
    def throughput(self) -> float:
        """Programs per second."""
        return self.runs / self.wall_s if self.wall_s else 0.0


def _stats(name: str, latencies: list[float], wall: float) -> BenchStats:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return BenchStats(name, len(latencies), wall, statistics.median(ordered) * 1000, p99 * 1000)


async def bench_sandbox(
    sandbox: Sandbox, programs: list[Program], repeats: int, concurrency: int, label: str
) -> BenchStats:
    """Run ``programs`` × ``repeats`` through ``sandbox`` with ``concurrency`` in flight."""
    jobs = [p for _ in range(repeats) for p in programs]
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(jobs), desc=label, leave=False)

    async def one(program: Program) -> None:
        async with gate:
            start = time.perf_counter()
            await sandbox.run(program.code, timeout=program.timeout)
            latencies.append(time.perf_counter() - start)
            bar.update()

    # start every worker outside the timed region
    await asyncio.gather(*(sandbox.run("print(1)") for _ in range(concurrency)))
    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in jobs))
    bar.close()
    return _stats(label, latencies, time.perf_counter() - start)


async def bench_python_c(programs: list[Program], repeats: int, concurrency: int) -> BenchStats:
    """The baseline: one fresh ``python -c`` interpreter per program, same concurrency."""
    jobs = [p for _ in range(repeats) for p in programs]
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(jobs), desc="python -c", leave=False)

    async def one(program: Program) -> None:
        async with gate:
            start = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", program.code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                await asyncio.wait_for(proc.wait(), program.timeout)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
            latencies.append(time.perf_counter() - start)
            bar.update()

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in jobs))
    bar.close()
    return _stats("python -c", latencies, time.perf_counter() - start)


def format_table(rows: list[BenchStats], baseline: BenchStats) -> str:
    """A Markdown table of the results with the speed-up over the baseline."""
    lines = [
        "| backend | runs | programs/s | p50 ms | p99 ms | speed-up vs python -c |",
        "|---|---|---|---|---|---|",
    ]
    for row in [*rows, baseline]:
        ratio = row.throughput / baseline.throughput if baseline.throughput else float("nan")
        lines.append(
            f"| {row.name} | {row.runs} | {row.throughput:.1f} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {ratio:.1f}x |"
        )
    return "\n".join(lines)


def summary(rows: list[BenchStats], baseline: BenchStats) -> dict[str, Any]:
    """Machine-readable form of the results."""
    return {
        row.name: {
            "throughput": row.throughput,
            "p50_ms": row.p50_ms,
            "p99_ms": row.p99_ms,
            "speedup": row.throughput / baseline.throughput if baseline.throughput else None,
        }
        for row in [*rows, baseline]
    }
