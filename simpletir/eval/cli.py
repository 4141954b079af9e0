"""``simpletir-eval``: ``run`` (default) evaluates a served model, ``report`` compares result files,
``view`` writes an HTML trajectory viewer. See docs/eval.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simpletir.code_runner import CodeRunSettings
from simpletir.eval.benchmarks import BenchmarkFileError, Problem, load_benchmark, render_prompt
from simpletir.eval.client import ClientSettings, CompletionClient, CompletionError, UnsupportedServerError
from simpletir.eval.metrics import all_metrics, exact_same, symbolic_same
from simpletir.eval.records import (
    CHECKPOINT_NAME,
    CheckpointWriter,
    EvalResult,
    ResultFileError,
    TrajectoryRecord,
    load_checkpoint,
    save_result,
)
from simpletir.eval.rollout import Job, RolloutSettings, TrajectoryRunner, estimate_tokens, run_trajectories

logger = logging.getLogger("simpletir.eval")

DEFAULT_BENCHMARKS = "aime24,aime25,amc23,math500"
SUBCOMMANDS = {"run", "report", "view"}


class UsageError(ValueError):
    """Bad command-line input, reported as one line and exit status 2."""


def _key_value(text: str) -> tuple[str, Any]:
    """Parse ``key=value``; the value is JSON when it parses as JSON, else the raw string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    """Options of ``simpletir-eval run``."""
    p = sub.add_parser(
        "run",
        help="evaluate a model served by an OpenAI-compatible server (default)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = p.add_argument_group("data")
    data.add_argument("--data", type=Path, nargs="+", default=[], help="benchmark files (.parquet or .jsonl)")
    data.add_argument("--data-dir", type=Path, default=Path("data"), help="where --benchmarks are looked up")
    data.add_argument("--benchmarks", default=DEFAULT_BENCHMARKS, help="names in --data-dir, comma-separated")
    data.add_argument("--limit", type=int, default=None, help="first N problems of each benchmark")
    server = p.add_argument_group("server")
    server.add_argument("--url", required=True, help="server root, e.g. http://127.0.0.1:8000")
    server.add_argument("--model", default=None, help="model name (default: first of /v1/models)")
    server.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"), help="bearer token")
    server.add_argument("--tokenizer", default=None, help="local tokenizer dir: chat template + token counts")
    server.add_argument("--no-chat-template", action="store_true", help="send the raw prompt (Zero-RL)")
    server.add_argument("--concurrency", type=int, default=64, help="trajectories in flight")
    server.add_argument("--request-timeout", type=float, default=1800.0, help="seconds per request attempt")
    server.add_argument("--retries", type=int, default=3, help="retries of a failed request")
    server.add_argument("--retry-backoff", type=float, default=1.0, help="first retry delay (doubles)")
    server.add_argument("--extra-body", type=json.loads, default={}, help="JSON merged into each request")
    sampling = p.add_argument_group("sampling (paper defaults)")
    sampling.add_argument("--samples", type=int, default=32, help="samples per problem (k of avg@k)")
    sampling.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    sampling.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling")
    sampling.add_argument("--seed", type=int, default=None, help="base seed of per-request seeds")
    sampling.add_argument("--max-turns", type=int, default=10, help="generations per trajectory")
    sampling.add_argument("--max-tokens-per-turn", type=int, default=12_000, help="new tokens per turn")
    sampling.add_argument(
        "--max-response-tokens", type=int, default=36_000, help="model + observation tokens per trajectory"
    )
    sampling.add_argument(
        "--stop-strategy", choices=["fence", "cut"], default="fence", help="how a turn ends at its code block"
    )
    tools = p.add_argument_group("code execution")
    tools.add_argument("--sandbox", default="local", help="simpletir.sandbox backend")
    tools.add_argument(
        "--sandbox-option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option (value parsed as JSON when it parses); repeatable",
    )
    tools.add_argument("--code-timeout", type=float, default=5.0, help="seconds per program")
    out = p.add_argument_group("output")
    out.add_argument(
        "--output-dir", type=Path, default=Path("eval_results"), help="results.json + summary.md"
    )
    out.add_argument(
        "--resume",
        action="store_true",
        help=f"reuse finished trajectories in OUTPUT_DIR/{CHECKPOINT_NAME} (same options!); failed ones rerun",
    )
    out.add_argument("--label", default=None, help="run name in reports (default: model name)")
    out.add_argument(
        "--maj-equivalence",
        choices=["symbolic", "exact"],
        default="symbolic",
        help="answer grouping of maj@n",
    )
    out.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The ``simpletir-eval`` argument parser with its three subcommands."""
    parser = argparse.ArgumentParser(prog="simpletir-eval", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log retries and sandbox warnings")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(sub)
    report = sub.add_parser(
        "report",
        help="compare result files: Markdown table + PNG plots",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    report.add_argument("results", type=Path, nargs="+", help="results.json files of simpletir-eval run")
    report.add_argument("-o", "--output-dir", type=Path, default=Path("eval_report"), help="table + plots")
    view = sub.add_parser(
        "view",
        help="write a self-contained HTML trajectory viewer",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    view.add_argument("result", type=Path, help="a results.json of simpletir-eval run")
    view.add_argument("-o", "--output", type=Path, default=Path("trajectories.html"), help="HTML page")
    view.add_argument(
        "--samples-per-problem",
        type=int,
        default=None,
        help="embed only the first K samples (all when unset)",
    )
    return parser


def _benchmark_files(args: argparse.Namespace) -> list[Path]:
    """The benchmark files to evaluate: ``--data``, else ``--benchmarks`` resolved in ``--data-dir``."""
    if args.data:
        return list(args.data)
    files = []
    for name in filter(None, (n.strip() for n in args.benchmarks.split(","))):
        candidates = [args.data_dir / f"{name}.parquet", args.data_dir / f"{name}.jsonl"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise UsageError(f"benchmark {name!r}: neither {candidates[0]} nor {candidates[1]} exists")
        files.append(found)
    return files


def _key(record: TrajectoryRecord) -> tuple[str, str, int]:
    """Identity of a trajectory within a run: benchmark, problem id, sample number."""
    return record.benchmark, record.problem_id, record.sample_index


def _load_tokenizer(path: str) -> Any:
    """A local tokenizer (no downloads); raises ``UsageError`` when it cannot be loaded."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load tokenizer from {path!r} (local files only): {exc}") from exc


def _check_run_args(args: argparse.Namespace) -> None:
    """Reject option values that cannot work, with a message saying which."""
    positive = ["samples", "max_turns", "max_tokens_per_turn", "max_response_tokens", "concurrency"]
    for name in positive:
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.tokenizer is None and not args.no_chat_template:
        raise UsageError("pass --tokenizer PATH (chat template) or --no-chat-template (raw Zero-RL prompt)")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.request_timeout <= 0 or args.retries < 0:
        raise UsageError("--request-timeout must be > 0 and --retries >= 0")


async def _run(args: argparse.Namespace) -> EvalResult:
    """Evaluate every benchmark and return the result (trajectories graded, metrics computed)."""
    from simpletir.reward import compute_score
    from simpletir.sandbox import SandboxError, create_sandbox

    problems: list[Problem] = []
    for path in _benchmark_files(args):
        problems.extend(load_benchmark(path, limit=args.limit))
    tokenizer = _load_tokenizer(args.tokenizer) if args.tokenizer else None
    template = None if args.no_chat_template else tokenizer
    if tokenizer is not None:

        def count_tokens(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False))
    else:
        count_tokens = estimate_tokens
    settings = RolloutSettings(
        max_turns=args.max_turns,
        max_tokens_per_turn=args.max_tokens_per_turn,
        max_response_tokens=args.max_response_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        stop_strategy=args.stop_strategy,
        seed=args.seed,
        code=CodeRunSettings(timeout_s=args.code_timeout),
        extra_body=args.extra_body,
    )
    client_settings = ClientSettings(
        base_url=args.url,
        model=args.model,
        api_key=args.api_key,
        timeout_s=args.request_timeout,
        retries=args.retries,
        backoff_s=args.retry_backoff,
    )
    jobs = [
        Job(index, problem, render_prompt(problem.messages, template), sample)
        for index, (problem, sample) in enumerate((p, s) for p in problems for s in range(args.samples))
    ]
    order = {(j.problem.benchmark, j.problem.problem_id, j.sample_index): j.index for j in jobs}
    checkpoint = args.output_dir / CHECKPOINT_NAME
    kept = [r for r in load_checkpoint(checkpoint) if r.end_reason != "failed"] if args.resume else []
    kept = list({_key(r): r for r in kept if _key(r) in order}.values())
    finished = {_key(r) for r in kept}
    todo = [j for j in jobs if (j.problem.benchmark, j.problem.problem_id, j.sample_index) not in finished]
    if args.resume:
        print(f"resuming: {len(kept)} trajectories from {checkpoint}, {len(todo)} to run", file=sys.stderr)

    def grade(record: TrajectoryRecord) -> dict[str, Any]:
        return compute_score(record.data_source, record.response, record.ground_truth)

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    async with CompletionClient(client_settings) as client:
        model = await client.resolve_model()
        try:
            sandbox = create_sandbox(args.sandbox, **dict(args.sandbox_option))
        except (SandboxError, ImportError, TypeError) as exc:
            raise UsageError(f"cannot create sandbox {args.sandbox!r}: {exc}") from exc
        async with sandbox:
            runner = TrajectoryRunner(client, sandbox, settings, count_tokens)
            writer = CheckpointWriter(checkpoint, kept)
            try:
                records = await run_trajectories(
                    runner,
                    todo,
                    grade,
                    concurrency=args.concurrency,
                    progress=not args.no_progress,
                    on_record=writer.append,
                )
            finally:
                writer.close()
    records = sorted(kept + records, key=lambda r: order[_key(r)])
    same = symbolic_same if args.maj_equivalence == "symbolic" else exact_same
    recorded = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "api_key"}
    recorded["data"] = [str(p) for p in args.data]
    return EvalResult(
        label=args.label or model,
        model=model,
        settings=recorded,
        started_at=started,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        metrics=all_metrics(records, same),
        trajectories=records,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    """``run``: evaluate, write ``results.json`` and ``summary.md``, print the summary."""
    from simpletir.eval.report import summary_markdown

    _check_run_args(args)
    result = asyncio.run(_run(args))
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

    paths = write_report(args.results, args.output_dir)
    print(paths["table"].read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_view(args: argparse.Namespace) -> int:
    """``view``: the HTML trajectory viewer of one result file."""
    from simpletir.eval.records import load_result
    from simpletir.eval.viewer import write_viewer

    write_viewer(load_result(args.result), args.output, args.samples_per_problem)
    print(f"wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``simpletir-eval``; ``run`` is implied when no subcommand is given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((i for i, a in enumerate(argv) if a not in {"-v", "--verbose"}), len(argv))
    if first < len(argv) and argv[first] not in SUBCOMMANDS | {"-h", "--help"}:
        argv.insert(first, "run")
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


if __name__ == "__main__":
    sys.exit(main())
