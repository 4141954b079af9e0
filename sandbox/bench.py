"""Sandbox throughput and latency against like baselines measured in the same run.

Each set of programs runs through the sandbox, through a bare warm fork (the worker's own preloading
and fork, with no isolation at all: what forking costs on this machine) and through one ``python -c``
per program, at the same concurrency. The sandbox and the bare fork alternate in short blocks (ABBA...)
so that a machine whose speed drifts affects both alike. Warm-up (starting every worker, loading the
extras templates, one untimed pass) is left out of every number.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from simpletir.sandbox.base import ExecStatus, Sandbox, SandboxError
from simpletir.sandbox.corpus import Program
from simpletir.sandbox.local import LocalSandbox

BARE = "bare warm fork"
PYTHON_C = "python -c"


class BareForkPool(LocalSandbox):
    """The bench's reference: the local backend's workers with every isolation step left out (``--bare``).

    Same preloading, warm-up, heap preparation and extras template as the sandbox's workers, same
    transport; programs run unisolated, so never give it untrusted code.
    """

    def _worker_args(self) -> tuple[str, ...]:
        return ("--bare", *super()._worker_args())


@dataclass
class BenchStats:
    """Throughput and latency of one runner on one set of programs (warm-up excluded)."""

    runner: str
    programs: str
    latencies: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    sandbox_errors: list[str] = field(default_factory=list)

    @property
    def runs(self) -> int:
        """Timed runs."""
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Programs per second."""
        return self.runs / self.wall_s if self.wall_s else 0.0

    def quantile_ms(self, q: float) -> float:
        """The ``q`` quantile of the latencies, in ms (nearest rank)."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    @property
    def p50_ms(self) -> float:
        """Median latency, ms."""
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0


async def warm_up(sandbox: Sandbox, programs: Sequence[Program], concurrency: int) -> None:
    """Start the sandbox's workers (where it can) and run ``programs`` once, untimed.

    Raises ``SandboxError`` with the first fault when every warm-up run is a ``sandbox_error`` (a dead
    server, a wrong token): measuring faults would mean nothing.
    """
    start = getattr(sandbox, "start", None)
    if start is not None:
        await start()
    gate = asyncio.Semaphore(concurrency)

    async def one(program: Program) -> Any:
        async with gate:
            return await sandbox.run(program.code, timeout=program.timeout)

    results = await asyncio.gather(*(one(p) for p in programs))
    faults = [r for r in results if r.status is ExecStatus.SANDBOX_ERROR]
    if faults and len(faults) == len(results):
        raise SandboxError(f"the sandbox failed every warm-up run: {_first_line(faults[0].stderr)}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "(no detail)"


async def _timed_block(
    sandbox: Sandbox, programs: Sequence[Program], passes: int, concurrency: int, stats: BenchStats, bar: tqdm
) -> None:
    """Run ``programs`` × ``passes`` with ``concurrency`` in flight, adding to ``stats``."""
    gate = asyncio.Semaphore(concurrency)

    async def one(program: Program) -> None:
        async with gate:
            start = time.perf_counter()
            result = await sandbox.run(program.code, timeout=program.timeout)
            stats.latencies.append(time.perf_counter() - start)
            if result.status is ExecStatus.SANDBOX_ERROR:
                stats.sandbox_errors.append(_first_line(result.stderr))
            bar.update()

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for _ in range(passes) for p in programs))
    stats.wall_s += time.perf_counter() - start


async def interleaved(
    runners: dict[str, Sandbox], programs: Sequence[Program], label: str, repeats: int, concurrency: int,
    block_runs: int = 16,
) -> list[BenchStats]:  # fmt: skip
    """Run ``programs`` × ``repeats`` through each runner, alternating runners in blocks of about
    ``block_runs`` runs (whole passes over ``programs``), the order reversed every block (ABBA...)."""
    stats = {name: BenchStats(name, label) for name in runners}
    per_block = max(1, round(block_runs / len(programs)))
    blocks = [min(per_block, repeats - done) for done in range(0, repeats, per_block)]
    bar = tqdm(total=repeats * len(programs) * len(runners), desc=label, leave=False)
    for i, passes in enumerate(blocks):
        order = list(runners) if i % 2 == 0 else list(reversed(runners))
        for name in order:
            await _timed_block(runners[name], programs, passes, concurrency, stats[name], bar)
    bar.close()
    return list(stats.values())


async def python_c(programs: Sequence[Program], label: str, repeats: int, concurrency: int) -> BenchStats:
    """The naive baseline: one fresh ``python -c`` interpreter per program, same concurrency."""
    stats = BenchStats(PYTHON_C, label)
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=repeats * len(programs), desc=f"{label}: {PYTHON_C}", leave=False)

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
            stats.latencies.append(time.perf_counter() - start)
            bar.update()

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for _ in range(repeats) for p in programs))
    stats.wall_s = time.perf_counter() - start
    bar.close()
    return stats


def _ratio(row: BenchStats, rows: list[BenchStats], runner: str) -> float | None:
    """Throughput of ``row`` over that of ``runner`` on the same programs (None without that row)."""
    base = next((r for r in rows if r.programs == row.programs and r.runner == runner), None)
    return row.throughput / base.throughput if base is not None and base.throughput else None


def format_table(rows: list[BenchStats]) -> str:
    """A Markdown table: every row compared with the bare fork and ``python -c`` on the same programs."""
    lines = [
        "| programs | runner | runs | programs/s | p50 ms | p99 ms | vs bare warm fork | vs python -c |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        bare, naive = _ratio(row, rows, BARE), _ratio(row, rows, PYTHON_C)
        lines.append(
            f"| {row.programs} | {row.runner} | {row.runs} | {row.throughput:.1f} | {row.p50_ms:.1f} | "
            f"{row.quantile_ms(0.99):.1f} | {'' if bare is None else f'{bare:.2f}'} | "
            f"{'' if naive is None else f'{naive:.1f}x'} |"
        )
    return "\n".join(lines)


def summary(rows: list[BenchStats]) -> dict[str, dict[str, dict[str, Any]]]:
    """Machine-readable form: ``{programs: {runner: numbers}}``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.programs, {})[row.runner] = {
            "runs": row.runs,
            "throughput": row.throughput,
            "p50_ms": row.p50_ms,
            "p99_ms": row.quantile_ms(0.99),
            "vs_bare_fork": _ratio(row, rows, BARE),
            "vs_python_c": _ratio(row, rows, PYTHON_C),
            "sandbox_errors": len(row.sandbox_errors),
        }
    return out
