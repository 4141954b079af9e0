"""``simpletir-sandbox``: ``doctor`` (isolation and health), ``bench`` (speed vs like baselines), ``serve``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from simpletir.sandbox.base import ExecStatus, Sandbox, SandboxError
from simpletir.sandbox.factory import BACKENDS, create_sandbox
from simpletir.sandbox.transport import TOKEN_ENV

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
SEEN_BY_A_PROGRAM = "import os, sys\nprint(' '.join(sorted(os.listdir('/'))))\nprint(' '.join(sys.path))"
NEEDS_URL = ("http", "sandbox_fusion")


class UsageError(Exception):
    """A command line that cannot work; reported as one line, exit code 2."""


def _local_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "default_timeout": args.timeout,
        "memory_mb": args.memory_mb,
        "extras_template": not args.no_extras_template,
    }
    if args.workers:
        options["max_workers"] = args.workers
    return options


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.backend == "local":
        return _local_options(args)
    if args.backend in NEEDS_URL and not args.url:
        raise UsageError(f"--backend {args.backend} needs --url (the server's address)")
    if args.backend not in NEEDS_URL:
        return {}
    return {"url": args.url, **({"token": args.token} if args.token else {})}


def _yes(value: Any, no: str) -> str:
    return "yes" if value else f"NO ({no})"


def _print_isolation(info: dict[str, Any]) -> None:
    print("isolation:")
    print(
        f"  network, mount, IPC + PID namespaces: {_yes(info.get('namespaces'), 'Python-level socket block only')}"
    )
    view = info.get("view")
    if view:
        print("  filesystem a program sees (nothing else of the host exists there):")
        for line in view:
            print(f"    {line}")
        print("    /tmp /var/tmp /dev/shm: fresh tmpfs for every program (working directory /tmp/work)")
        print(f"  read-only but for scratch: {_yes(info.get('readonly_root'), 'some mount stayed writable')}")
    else:
        print("  filesystem view: NO (programs can read every file their uid may read, e.g. a .env)")
    uid = info.get("uid")
    print(f"  private unprivileged uid: {uid if uid is not None else 'NO (no process-count limit as root)'}")
    print(
        f"  orphans re-parented to the worker: {_yes(info.get('subreaper'), 'uid-wide kill after every run')}"
    )
    print("  rlimits: CPU time, address space, processes (private uid only), file size, open files, core")
    print(f"  python: {info.get('python')}; preloaded: {', '.join(info.get('preloaded', []))}")
    extras = info.get("extras") or []
    print(f"  preloaded for programs that name them: {', '.join(extras) if extras else 'none'}")


async def _show_what_a_program_sees(sandbox: Sandbox) -> str | None:
    """Print ``/`` and ``sys.path`` as a program sees them; the first line of a ``sandbox_error`` instead, if any."""
    result = await sandbox.run(SEEN_BY_A_PROGRAM, timeout=5.0)
    if result.status is ExecStatus.SANDBOX_ERROR:
        return result.stderr.strip().splitlines()[0] if result.stderr.strip() else "sandbox_error"
    root, _, path = result.stdout.partition("\n")
    print(f"  a program sees: / = {root}")
    print(f"                  sys.path = {path.strip()}")
    return None


async def _doctor(args: argparse.Namespace) -> int:
    async with create_sandbox(args.backend, **_backend_options(args)) as sandbox:
        if hasattr(sandbox, "isolation"):
            try:
                _print_isolation(await sandbox.isolation())
            except Exception as exc:
                print(f"cannot start a sandbox worker: {exc!r}")
                return 1
        fault = await _show_what_a_program_sees(sandbox)
        if fault is not None:
            print(f"the sandbox cannot run programs: {fault}")
            return 1
        failures = 0
        for name, code, expected in DOCTOR_CHECKS:
            result = await sandbox.run(code, timeout=2.0)
            good = result.status is expected
            failures += not good
            print(
                f"  [{'ok' if good else 'FAIL'}] {name}: {result.status.value} ({result.duration_s * 1000:.1f} ms)"
            )
    print("healthy" if failures == 0 else f"{failures} check(s) failed")
    return 0 if failures == 0 else 1


def _check_json_target(path: str | None) -> None:
    folder = os.path.dirname(os.path.abspath(path)) if path else None
    if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        raise UsageError(f"--json {path}: the folder {folder} does not exist or is not writable")


async def _bench(args: argparse.Namespace) -> int:
    from simpletir.sandbox.bench import BareForkPool, format_table, interleaved, python_c, summary, warm_up
    from simpletir.sandbox.corpus import corpus, program

    _check_json_target(args.json)
    programs = corpus(args.corpus)
    trivial = [program("trivial_print")]
    concurrency = args.concurrency or (os.cpu_count() or 1)
    bare_options = {**_local_options(args), "max_workers": args.workers or concurrency}
    async with (
        create_sandbox(args.backend, **_backend_options(args)) as sandbox,
        BareForkPool(**bare_options) as bare,
    ):
        runners = {args.backend: sandbox, "bare warm fork": bare}
        for runner in runners.values():
            await warm_up(runner, programs, concurrency)
        rows = await interleaved(runners, trivial, "trivial", args.trivial_repeats, 1)
        rows.append(
            await python_c(trivial, "trivial", max(1, args.trivial_repeats // args.baseline_divisor), 1)
        )
        rows += await interleaved(runners, programs, args.corpus, args.repeats, concurrency)
    rows.append(
        await python_c(programs, args.corpus, max(1, args.repeats // args.baseline_divisor), concurrency)
    )
    print(format_table(rows))
    local, bare_row = (next(r for r in rows if r.programs == args.corpus and r.runner == n) for n in runners)
    print(
        f"{args.backend} / bare warm fork throughput on {args.corpus}: "
        f"{local.throughput / bare_row.throughput:.2f} (what isolation costs here; 1.00 = nothing)"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary(rows), fh, indent=2)
    faults = [e for r in rows for e in r.sandbox_errors]
    if faults:
        print(f"{len(faults)} timed run(s) ended in sandbox_error, e.g.: {faults[0]}")
        return 1
    return 0


def _serve(args: argparse.Namespace) -> int:
    from simpletir.sandbox.server import serve

    serve(
        args.host,
        args.port,
        token=args.token or os.environ.get(TOKEN_ENV) or None,
        max_request_bytes=args.max_request_bytes,
        sandbox_options=_local_options(args),
    )
    return 0


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="simpletir-sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    token_help = f"bearer token of the server (default: ${TOKEN_ENV}, which keeps it out of `ps`)"

    def common(p: argparse.ArgumentParser, backend: bool = True) -> None:
        if backend:
            p.add_argument(
                "--backend", default="local", choices=sorted(BACKENDS), help="sandbox backend (default local)"
            )
            p.add_argument("--url", help="server URL for the http / sandbox_fusion backends")
        p.add_argument("--token", help=token_help)
        p.add_argument("--workers", type=_count(0), default=0, help="local workers (default: CPU cores)")
        p.add_argument(
            "--timeout", type=float, default=5.0, help="default time limit per program, s (default 5)"
        )
        p.add_argument(
            "--memory-mb", type=_count(0), default=1024, help="address-space limit per program (default 1024)"
        )
        p.add_argument(
            "--no-extras-template",
            action="store_true",
            help="no second warm copy per worker with scipy/networkx preloaded (saves ~135 MB per worker)",
        )

    doctor = sub.add_parser("doctor", help="report the active isolation and run one program per status")
    common(doctor)
    bench = sub.add_parser("bench", help="throughput and latency vs a bare warm fork and `python -c`")
    common(bench)
    bench.add_argument(
        "--corpus",
        default="heavy",
        choices=["all", "heavy", "sympy", "light"],
        help="programs (default heavy)",
    )
    bench.add_argument("--repeats", type=_count(1), default=20, help="passes over the corpus (default 20)")
    bench.add_argument(
        "--trivial-repeats", type=_count(1), default=200, help="sequential trivial runs (default 200)"
    )
    bench.add_argument(
        "--baseline-divisor", type=_count(1), default=4, help="python -c runs repeats/this passes (default 4)"
    )
    bench.add_argument(
        "--concurrency", type=_count(0), default=0, help="programs in flight (default: CPU cores)"
    )
    bench.add_argument("--json", help="also write the results to this JSON file")
    serve = sub.add_parser("serve", help="serve the local sandbox over HTTP")
    common(serve, backend=False)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=_count(0), default=8080, help="port (default 8080; 0: any free one)")
    serve.add_argument(
        "--max-request-bytes", type=_count(1), default=1_000_000, help="largest request body (default 1 MB)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry; returns the exit code (2, with a one-line message, for a command that cannot work)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        return asyncio.run(_doctor(args) if args.command == "doctor" else _bench(args))
    except (UsageError, SandboxError, OSError) as exc:
        print(f"simpletir-sandbox {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
