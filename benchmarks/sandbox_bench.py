"""Local sandbox vs one `python -c` per program, same corpus and concurrency, in one run.

Usage: python benchmarks/sandbox_bench.py [--repeats N] [--corpus heavy|light|all]
Prints a Markdown table (throughput, p50/p99 latency, speed-up) — paste it into RESULTS.md.
"""

from __future__ import annotations

import sys

from simpletir.sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
