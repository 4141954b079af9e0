"""The http backend on loopback vs the local backend, same programs and concurrency, in one run.

Starts `simpletir-sandbox serve` in a subprocess on a free loopback port, then runs the corpus through
`create_sandbox("local")` and through `create_sandbox("http")` and prints throughput, p50 and the ratio.

Usage: python benchmarks/sandbox_http_vs_local.py [--repeats 10] [--corpus heavy]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx

from simpletir.sandbox import create_sandbox
from simpletir.sandbox.bench import bench_sandbox
from simpletir.sandbox.corpus import corpus


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the sandbox server did not come up")


async def _measure(url: str, kind: str, repeats: int, workers: int) -> None:
    programs = corpus(kind)
    async with create_sandbox("local", max_workers=workers) as local:
        local_stats = await bench_sandbox(local, programs, repeats, workers, "local")
    async with create_sandbox("http", url=url) as remote:
        http_stats = await bench_sandbox(remote, programs, repeats, workers, "http")
    print("| backend | runs | programs/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for s in (local_stats, http_stats):
        print(f"| {s.name} | {s.runs} | {s.throughput:.1f} | {s.p50_ms:.1f} | {s.p99_ms:.1f} |")
    print(f"local / http throughput = {local_stats.throughput / http_stats.throughput:.2f} (target <= 2)")
    print(f"http / local p50 latency = {http_stats.p50_ms / local_stats.p50_ms:.2f}")


def main() -> None:
    """Run the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--corpus", default="heavy", choices=["all", "heavy", "light"])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simpletir.sandbox.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ]
    )
    try:
        _wait_healthy(url)
        asyncio.run(_measure(url, args.corpus, args.repeats, args.workers))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
