"""``simpletir-sandbox``: ``doctor`` (isolation and health), ``bench`` (speed vs ``python -c``), ``serve``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from simpletir.sandbox.base import ExecStatus
from simpletir.sandbox.factory import BACKENDS, create_sandbox

DOCTOR_CHECKS: tuple[tuple[str, str, ExecStatus], ...] = (
    ("ok", "print(6 * 7)", ExecStatus.OK),
    ("error", "1 / 0", ExecStatus.ERROR),
    ("timeout", "while True:\n    pass", ExecStatus.TIMEOUT),
    ("memory", "x = bytearray(8 * 1024**3)", ExecStatus.MEMORY),
    ("killed", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", ExecStatus.KILLED),
    (
        "network blocked",
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)",
        ExecStatus.ERROR,
    ),
)


def _local_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"default_timeout": args.timeout, "memory_mb": args.memory_mb}
    if args.workers:
        options["max_workers"] = args.workers
    return options


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.backend == "local":
        return _local_options(args)
    options: dict[str, Any] = {}
    if args.url:
        options["url"] = args.url
    if getattr(args, "token", None):
        options["token"] = args.token
    return options


async def _doctor(args: argparse.Namespace) -> int:
    sandbox = create_sandbox(args.backend, **_backend_options(args))
    failures = 0
    async with sandbox:
        if hasattr(sandbox, "isolation"):
            try:
                info = await sandbox.isolation()
            except Exception as exc:
                print(f"cannot start a sandbox worker: {exc!r}")
                return 1
            print("isolation:")
            print(
                f"  network + mount namespaces: {'yes' if info.get('namespaces') else 'NO (Python-level socket block only)'}"
            )
            readonly = info.get("readonly_root")
            print(
                f"  read-only root, fresh scratch tmpfs per program: {'yes' if readonly else 'NO (world-writable directories stay writable)'}"
            )
            uid = info.get("uid")
            print(
                f"  private unprivileged uid:   {uid if uid is not None else 'NO (no process-count limit as root)'}"
            )
            subreaper = info.get("subreaper")
            print(
                f"  orphans re-parented to worker: {'yes' if subreaper else 'no (uid-wide kill after every run)'}"
            )
            print("  pid namespace: no (leftover processes are found by uid, which setsid cannot escape)")
            print(
                "  rlimits: CPU time, address space, processes (private uid only), file size, open files, core"
            )
            print(f"  python: {info.get('python')}; preloaded: {', '.join(info.get('preloaded', []))}")
            extras = info.get("extras") or []
            print(f"  preloaded for programs that name them: {', '.join(extras) if extras else 'none'}")
        for name, code, expected in DOCTOR_CHECKS:
            result = await sandbox.run(code, timeout=2.0)
            good = result.status is expected
            failures += not good
            print(
                f"  [{'ok' if good else 'FAIL'}] {name}: {result.status.value} ({result.duration_s * 1000:.1f} ms)"
            )
    print("healthy" if failures == 0 else f"{failures} check(s) failed")
    return 0 if failures == 0 else 1


async def _bench(args: argparse.Namespace) -> int:
    from simpletir.sandbox.bench import bench_python_c, bench_sandbox, format_table, summary
    from simpletir.sandbox.corpus import corpus, program

    programs = corpus(args.corpus)
    concurrency = args.concurrency or (os.cpu_count() or 1)
    async with create_sandbox(args.backend, **_backend_options(args)) as sandbox:
        trivial = await bench_sandbox(
            sandbox, [program("trivial_print")], args.trivial_repeats, 1, f"{args.backend} trivial"
        )
        result = await bench_sandbox(
            sandbox, programs, args.repeats, concurrency, f"{args.backend} {args.corpus}"
        )
    baseline = await bench_python_c(programs, max(1, args.repeats // args.baseline_divisor), concurrency)
    print(format_table([trivial, result], baseline))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary([trivial, result], baseline), fh, indent=2)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from simpletir.sandbox.server import serve

    serve(
        args.host,
        args.port,
        token=args.token or os.environ.get("SIMPLETIR_SANDBOX_TOKEN"),
        max_request_bytes=args.max_request_bytes,
        sandbox_options=_local_options(args),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="simpletir-sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, backend: bool = True) -> None:
        if backend:
            p.add_argument(
                "--backend", default="local", choices=sorted(BACKENDS), help="sandbox backend (default local)"
            )
            p.add_argument("--url", help="server URL for the http / sandbox_fusion backends")
        p.add_argument("--workers", type=int, default=0, help="local workers (default: CPU cores)")
        p.add_argument(
            "--timeout", type=float, default=5.0, help="default time limit per program, s (default 5)"
        )
        p.add_argument(
            "--memory-mb", type=int, default=1024, help="address-space limit per program (default 1024)"
        )

    doctor = sub.add_parser("doctor", help="report the active isolation and run one program per status")
    common(doctor)
    doctor.add_argument("--token", help="bearer token for the http backend")
    bench = sub.add_parser("bench", help="throughput and latency vs one `python -c` per program")
    common(bench)
    bench.add_argument("--token", help="bearer token for the http backend")
    bench.add_argument(
        "--corpus",
        default="heavy",
        choices=["all", "heavy", "sympy", "light"],
        help="programs (default heavy)",
    )
    bench.add_argument("--repeats", type=int, default=20, help="passes over the corpus (default 20)")
    bench.add_argument(
        "--trivial-repeats", type=int, default=200, help="sequential trivial runs for p50 (default 200)"
    )
    bench.add_argument(
        "--baseline-divisor", type=int, default=4, help="baseline runs repeats/this passes (default 4)"
    )
    bench.add_argument("--concurrency", type=int, default=0, help="programs in flight (default: CPU cores)")
    bench.add_argument("--json", help="also write the results to this JSON file")
    serve = sub.add_parser("serve", help="serve the local sandbox over HTTP")
    common(serve, backend=False)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--token", help="shared bearer token (default: $SIMPLETIR_SANDBOX_TOKEN)")
    serve.add_argument(
        "--max-request-bytes", type=int, default=1_000_000, help="largest request body (default 1 MB)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    runner = _doctor if args.command == "doctor" else _bench
    return asyncio.run(runner(args))


if __name__ == "__main__":
    sys.exit(main())
