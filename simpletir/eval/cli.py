"""``simpletir-eval``: ``run`` (default) evaluates a served model (``--url``) or a local one in this process
(``--model DIR``), ``report`` compares result files, ``view`` writes an HTML trajectory viewer. See docs/eval.md."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from simpletir.eval.benchmarks import BenchmarkFileError
from simpletir.eval.checks import UsageError
from simpletir.eval.completion import CompletionError, UnsupportedServerError
from simpletir.eval.parser import SUBCOMMANDS, build_parser
from simpletir.eval.planner import plan_run
from simpletir.eval.records import CHECKPOINT_NAME, ResultFileError, load_result, save_result
from simpletir.eval.runner import evaluate

logger = logging.getLogger("simpletir.eval")


def _cmd_run(args: argparse.Namespace) -> int:
    """``run``: evaluate, write ``results.json`` and ``summary.md``, print the summary."""
    from simpletir.eval.report import summary_markdown

    plan = plan_run(args)
    if args.dry_run:
        benchmarks = sorted({j.problem.benchmark for j in plan.jobs})
        print(
            f"dry run: {len(plan.jobs)} trajectories ({', '.join(benchmarks)}; {args.samples} samples per problem), "
            f"{len(plan.todo)} to run, results to {args.output_dir}; "
            + ("the server was not contacted" if args.url else "the model was not loaded")
        )
        return 0
    if args.overwrite:
        for name in ("results.json", "summary.md"):
            (args.output_dir / name).unlink(missing_ok=True)
    try:
        result = asyncio.run(evaluate(args, plan))
    except KeyboardInterrupt:
        checkpoint = args.output_dir / CHECKPOINT_NAME
        saved = f"the finished trajectories are in {checkpoint}: " if checkpoint.is_file() else ""
        print(
            f"simpletir-eval: interrupted; {saved}run the same command with --resume to continue",
            file=sys.stderr,
        )
        return 130
    save_result(result, args.output_dir / "results.json")
    (args.output_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    summary = summary_markdown(result)
    (args.output_dir / "summary.md").write_text(summary, encoding="utf-8")
    print(summary)
    print(f"wrote {args.output_dir / 'results.json'} and {args.output_dir / 'summary.md'}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    """``report``: comparison table and plots for one or more result files."""
    from simpletir.eval.report import write_report

    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise UsageError(f"-o {args.output_dir} is a file; give a directory for the table and plots")
    paths = write_report(args.results, args.output_dir)
    print(paths["table"].read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_view(args: argparse.Namespace) -> int:
    """``view``: the HTML trajectory viewer of one result file."""
    from simpletir.eval.viewer import write_viewer

    if args.samples_per_problem is not None and args.samples_per_problem < 1:
        raise UsageError("--samples-per-problem must be at least 1")
    output = Path(args.output)
    if output.is_dir() or args.output.endswith(("/", os.sep)):
        output = output / "trajectories.html"
    write_viewer(load_result(args.result), output, args.samples_per_problem)
    print(f"wrote {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``simpletir-eval``; ``run`` is implied when no subcommand is given. Errors are one
    line and exit status 2; an interrupted run says how to resume it and exits with 130."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((i for i, a in enumerate(argv) if a not in {"-v", "--verbose"}), len(argv))
    if first == len(argv) or (argv[first].startswith("-") and argv[first] not in {"-h", "--help"}):
        argv.insert(first, "run")
    elif argv[first] not in SUBCOMMANDS | {"-h", "--help"}:
        print(
            f"simpletir-eval: error: unknown command {argv[first]!r}; choose one of {', '.join(sorted(SUBCOMMANDS))} "
            "(see simpletir-eval --help)",
            file=sys.stderr,
        )
        return 2
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s"
    )
    handlers = {"run": _cmd_run, "report": _cmd_report, "view": _cmd_view}
    try:
        return handlers[args.command](args)
    except (UsageError, BenchmarkFileError, ResultFileError, CompletionError, UnsupportedServerError) as exc:
        print(f"simpletir-eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simpletir-eval: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"simpletir-eval: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
