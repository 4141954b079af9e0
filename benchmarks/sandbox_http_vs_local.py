"""The http backend on loopback vs the local backend, same programs and concurrency, in one run.

Starts `simpletir-sandbox serve --port 0` in a subprocess (it prints its address once its workers are
warm), then runs the corpus through `create_sandbox("local")` and through `create_sandbox("http")` in
alternating blocks (warm-up excluded) and prints throughput, p50 and the ratios.

Usage: python benchmarks/sandbox_http_vs_local.py [--repeats 10] [--corpus heavy]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys

from simpletir.sandbox import create_sandbox
from simpletir.sandbox.bench import format_table, interleaved, warm_up
from simpletir.sandbox.corpus import corpus


async def _measure(url: str, kind: str, repeats: int, workers: int) -> None:
    programs = corpus(kind)
    async with (
        create_sandbox("local", max_workers=workers) as local,
        create_sandbox("http", url=url, token="") as remote,
    ):
        runners = {"local": local, "http": remote}
        for runner in runners.values():
            await warm_up(runner, programs, workers)
        local_stats, http_stats = await interleaved(runners, programs, kind, repeats, workers)
    print(format_table([local_stats, http_stats]))
    print(f"local / http throughput = {local_stats.throughput / http_stats.throughput:.2f} (target <= 2)")
    print(f"http / local p50 latency = {http_stats.p50_ms / local_stats.p50_ms:.2f}")


def main() -> None:
    """Run the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--corpus", default="heavy", choices=["all", "heavy", "sympy", "light"])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    command = [
        sys.executable,
        "-m",
        "simpletir.sandbox.cli",
        "serve",
        "--port",
        "0",
        "--workers",
        str(args.workers),
    ]
    env = {k: v for k, v in os.environ.items() if k != "SIMPLETIR_SANDBOX_TOKEN"}  # loopback, no token
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as server:
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if "listening on " not in line:
                raise SystemExit(f"the sandbox server did not start: {line!r}")
            asyncio.run(
                _measure(line.split("listening on ")[1].split()[0], args.corpus, args.repeats, args.workers)
            )
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
