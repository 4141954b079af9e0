"""``simpletir-eval``: ``run`` (default) evaluates a served model (``--url``) or a local one in this process
(``--model DIR``), ``report`` compares result files, ``view`` writes an HTML trajectory viewer. See docs/eval.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

from simpletir.eval.benchmarks import BenchmarkFileError, Problem, load_benchmark, render_prompt
from simpletir.eval.client import ClientSettings, CompletionClient
from simpletir.eval.completion import CompletionBackend, CompletionError, UnsupportedServerError, one_line
from simpletir.eval.metrics import all_metrics, exact_same, symbolic_same
from simpletir.eval.records import (
    CHECKPOINT_NAME,
    CheckpointWriter,
    EvalResult,
    ResultFileError,
    TrajectoryRecord,
    load_checkpoint,
    load_result,
    save_result,
)
from simpletir.eval.rollout import Job, RolloutSettings, TrajectoryRunner, estimate_tokens, run_trajectories
from simpletir.sandbox.factory import BACKENDS
from simpletir.tir.code_runner import CodeRunSettings

logger = logging.getLogger("simpletir.eval")

DEFAULT_BENCHMARKS = "aime24,aime25,amc23,math500"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
"""A directory with none of these holds no tokenizer."""
SUBCOMMANDS = {"run", "report", "view"}


class UsageError(ValueError):
    """Bad command-line input, reported as one line and exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line pointing to ``--help`` (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _json_object(text: str) -> dict[str, Any]:
    """Parse ``--extra-body``: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({exc.msg} at character {exc.pos}): {text!r}"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"top_k\": -1}}', got {text!r}")
    return value


def _key_value(text: str) -> tuple[str, Any]:
    """Parse ``key=value``; the value is JSON when it parses as JSON, else the raw string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


class _ServerOption(argparse.Action):
    """Stores an option that only a server (``--url``) uses and notes that it was given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """Set the value and add ``option_string`` to ``namespace.server_options``."""
        setattr(namespace, self.dest, values)
        namespace.server_options = [*namespace.server_options, option_string]


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    """Options of ``simpletir-eval run``."""
    p = sub.add_parser(
        "run",
        help="evaluate a model: served (--url) or in this process (--model DIR) (default)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.set_defaults(server_options=[])
    data = p.add_argument_group("data")
    data.add_argument("--data", type=Path, nargs="+", default=[], help="benchmark files (.parquet or .jsonl)")
    data.add_argument("--data-dir", type=Path, default=Path("data"), help="where --benchmarks are looked up")
    data.add_argument("--benchmarks", default=DEFAULT_BENCHMARKS, help="names in --data-dir, comma-separated")
    data.add_argument("--limit", type=int, default=None, help="first N problems of each benchmark")
    model = p.add_argument_group("model")
    model.add_argument(
        "--url", default=None, help="server root, e.g. http://127.0.0.1:8000; without it, --model runs here"
    )
    model.add_argument(
        "--model",
        default=None,
        help="with --url: the served model's name (default: first of /v1/models); without --url: a local "
        "Hugging Face model directory to generate with in this process (transformers)",
    )
    model.add_argument(
        "--tokenizer",
        default=None,
        help="local tokenizer dir: chat template + token counts; unset without --url: the --model dir's",
    )
    model.add_argument("--no-chat-template", action="store_true", help="send the raw prompt (Zero-RL)")
    model.add_argument("--concurrency", type=int, default=64, help="trajectories in flight")
    model.add_argument(
        "--extra-body",
        type=_json_object,
        default={},
        help="JSON object merged into each request (in-process: vLLM sampling names, e.g. top_k)",
    )
    server = p.add_argument_group("server (--url)")
    server.add_argument(
        "--api-key", default=os.environ.get("OPENAI_API_KEY"), action=_ServerOption, help="bearer token"
    )
    server.add_argument(
        "--request-timeout",
        type=float,
        default=1800.0,
        action=_ServerOption,
        help="seconds per request attempt",
    )
    server.add_argument(
        "--retries", type=int, default=3, action=_ServerOption, help="retries of a failed request"
    )
    server.add_argument(
        "--retry-backoff",
        type=float,
        default=1.0,
        action=_ServerOption,
        help="first retry delay (doubles)",
    )
    local = p.add_argument_group("in-process generation (--model DIR without --url)")
    local.add_argument(
        "--device",
        default=None,
        help="torch device: cpu, cuda, cuda:N; unset: cuda when available, else cpu",
    )
    local.add_argument(
        "--dtype",
        choices=["bfloat16", "float16", "float32"],
        default=None,
        help="weights dtype; unset: float32 on cpu, the checkpoint's dtype on cuda",
    )
    sampling = p.add_argument_group("sampling (paper defaults)")
    sampling.add_argument("--samples", type=int, default=32, help="samples per problem (k of avg@k)")
    sampling.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    sampling.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling")
    sampling.add_argument("--seed", type=int, default=None, help="base seed of per-request seeds")
    defaults = RolloutSettings()  # the paper's evaluation; turns as the training config's validation
    sampling.add_argument(
        "--max-turns", type=int, default=defaults.max_turns, help="generations per trajectory"
    )
    sampling.add_argument(
        "--max-tokens-per-turn", type=int, default=defaults.max_tokens_per_turn, help="new tokens per turn"
    )
    sampling.add_argument(
        "--max-response-tokens",
        type=int,
        default=defaults.max_response_tokens,
        help="model + observation tokens per trajectory",
    )
    sampling.add_argument(
        "--stop-strategy", choices=["fence", "cut"], default="fence", help="how a turn ends at its code block"
    )
    tools = p.add_argument_group("code execution")
    tools.add_argument(
        "--sandbox", default="local", choices=sorted(BACKENDS), help="simpletir.sandbox backend"
    )
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
        help=f"reuse finished trajectories in OUTPUT_DIR/{CHECKPOINT_NAME}, or in its results.json when the run "
        "had finished (same options!); failed ones rerun",
    )
    out.add_argument(
        "--overwrite", action="store_true", help="replace the results of an earlier run in OUTPUT_DIR"
    )
    out.add_argument(
        "--dry-run",
        action="store_true",
        help="check options, benchmark files, tokenizer and output directory, then exit without contacting the server",
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
    parser = _Parser(prog="simpletir-eval", description=__doc__)
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
    view.add_argument(
        "-o",
        "--output",
        default="trajectories.html",
        help="HTML page, or a directory to write trajectories.html in",
    )
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


def _load_tokenizer(args: argparse.Namespace) -> Any:
    """The run's tokenizer: ``--tokenizer`` (a local directory or a model in the local Hugging Face cache; no
    downloads), else, in-process, the ``--model`` directory's; ``None`` when there is none. Raises
    ``UsageError`` when it cannot be loaded or lacks a chat template the run needs."""
    from transformers import AutoTokenizer

    if args.tokenizer is None and args.url:
        return None
    option, path = ("--tokenizer", args.tokenizer) if args.tokenizer else ("--model", args.model)
    folder = Path(path)
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UsageError(
            f"{option} {path} holds no tokenizer ({', '.join(TOKENIZER_FILES)}); pass --tokenizer DIR of the "
            "model's tokenizer"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        if not folder.exists():
            raise UsageError(
                f"--tokenizer {path}: no such directory, and not a model in the local Hugging Face cache"
            ) from None
        raise UsageError(f"{option} {path}: cannot load a tokenizer from it: {one_line(exc)}") from None
    if not args.no_chat_template and not getattr(tokenizer, "chat_template", None):
        raise UsageError(
            f"the tokenizer in {path} has no chat template; pass --no-chat-template to send the raw prompt"
        )
    return tokenizer


def _check_model_args(args: argparse.Namespace) -> None:
    """Reject a ``--url``/``--model`` combination that cannot work: in-process options with a server, server
    options without one, no model at all, a ``--model`` that is not a model directory."""
    if args.url:
        url = urlparse(args.url)
        if url.scheme not in {"http", "https"} or not url.netloc:
            raise UsageError(
                f"--url must be an http:// or https:// server root such as http://127.0.0.1:8000, got {args.url!r}"
            )
        given = [name for name in ("device", "dtype") if getattr(args, name) is not None]
        if given:
            raise UsageError(
                f"{', '.join('--' + n for n in given)}: the server (--url) generates; these options set up "
                "generation in this process (drop --url to generate here)"
            )
        if args.tokenizer is None and not args.no_chat_template:
            raise UsageError(
                "pass --tokenizer PATH (chat template) or --no-chat-template (raw Zero-RL prompt)"
            )
        return
    if args.server_options:
        raise UsageError(
            f"{', '.join(args.server_options)}: server options, but there is no --url (without it, --model "
            "generates in this process)"
        )
    if args.model is None:
        raise UsageError(
            "pass --url URL to evaluate a served model, or --model DIR to generate in this process"
        )
    model = Path(args.model)
    if not model.exists():
        raise UsageError(
            f"--model {args.model}: no such directory (without --url, --model is a local Hugging Face model "
            "directory; for a served model pass --url too)"
        )
    if not (model / "config.json").is_file():
        raise UsageError(f"--model {args.model} is not a Hugging Face model directory (no config.json in it)")


def _check_run_args(args: argparse.Namespace) -> None:
    """Reject option values that cannot work, with a message saying which."""
    positive = ["samples", "max_turns", "max_tokens_per_turn", "max_response_tokens", "concurrency"]
    for name in positive:
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    _check_model_args(args)
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.request_timeout <= 0 or args.retries < 0:
        raise UsageError("--request-timeout must be > 0 and --retries >= 0")
    if args.code_timeout <= 0:
        raise UsageError("--code-timeout must be > 0")
    if args.temperature < 0 or not 0 < args.top_p <= 1:
        raise UsageError("--temperature must be >= 0 and --top-p in (0, 1]")
    if args.resume and args.overwrite:
        raise UsageError(
            "--resume keeps an earlier run's trajectories and --overwrite discards them: choose one"
        )
    earlier = [
        args.output_dir / n for n in ("results.json", CHECKPOINT_NAME) if (args.output_dir / n).is_file()
    ]
    if earlier and not (args.resume or args.overwrite):
        raise UsageError(
            f"{args.output_dir} holds an earlier run ({', '.join(p.name for p in earlier)}); pass --resume to "
            "continue it, --overwrite to replace it, or another --output-dir"
        )


def _reusable(output_dir: Path) -> tuple[list[TrajectoryRecord], Path]:
    """The finished trajectories of an earlier run in ``output_dir`` and the file they are from: its
    checkpoint or, when it had finished, its ``results.json``; failed ones are left out (they rerun)."""
    checkpoint = output_dir / CHECKPOINT_NAME
    results = output_dir / "results.json"
    if checkpoint.is_file() or not results.is_file():
        return [r for r in load_checkpoint(checkpoint) if r.end_reason != "failed"], checkpoint
    return [r for r in load_result(results).trajectories if r.end_reason != "failed"], results


@dataclass
class _Plan:
    """What a run will do: its trajectories, which are already done, and how to count tokens."""

    jobs: list[Job]
    kept: list[TrajectoryRecord]
    todo: list[Job]
    order: dict[tuple[str, str, int], int]
    tokenizer: Any


def _plan(args: argparse.Namespace) -> _Plan:
    """Check everything that needs neither the server nor the model's weights (options, data, tokenizer,
    device, output directory) and list the trajectories to run; raises ``UsageError`` (or a file error) on
    the first problem."""
    _check_run_args(args)
    problems: list[Problem] = []
    for path in _benchmark_files(args):
        problems.extend(load_benchmark(path, limit=args.limit))
    tokenizer = _load_tokenizer(args)
    if not args.url:
        from simpletir.eval.local_model import ModelLoadError, resolve_device, sampling_settings

        try:
            resolve_device(args.device)
            sampling_settings(
                max_tokens=1, temperature=args.temperature, top_p=args.top_p, extra=args.extra_body
            )
        except ModelLoadError as exc:
            raise UsageError(str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--extra-body: {one_line(exc)}") from None
    template = None if args.no_chat_template else tokenizer
    jobs = [
        Job(index, problem, render_prompt(problem.messages, template), sample)
        for index, (problem, sample) in enumerate((p, s) for p in problems for s in range(args.samples))
    ]
    order = {(j.problem.benchmark, j.problem.problem_id, j.sample_index): j.index for j in jobs}
    kept: list[TrajectoryRecord] = []
    if args.resume:
        earlier, source = _reusable(args.output_dir)
        kept = list({_key(r): r for r in earlier if _key(r) in order}.values())
    finished = {_key(r) for r in kept}
    todo = [j for j in jobs if (j.problem.benchmark, j.problem.problem_id, j.sample_index) not in finished]
    if args.resume:
        print(f"resuming: {len(kept)} trajectories from {source}, {len(todo)} to run", file=sys.stderr)
    return _Plan(jobs, kept, todo, order, tokenizer)


def _backend(args: argparse.Namespace, tokenizer: Any) -> CompletionBackend:
    """The run's completion backend: a client of the ``--url`` server, or the ``--model`` directory loaded in
    this process (which takes a while; said on stderr). Raises ``UsageError`` when the model does not load."""
    if args.url:
        return CompletionClient(
            ClientSettings(
                base_url=args.url,
                model=args.model,
                api_key=args.api_key,
                timeout_s=args.request_timeout,
                retries=args.retries,
                backoff_s=args.retry_backoff,
            )
        )
    from simpletir.eval.local_model import LocalModel, LocalModelSettings, ModelLoadError, resolve_device

    args.device = str(resolve_device(args.device))  # recorded in the result's settings
    print(f"loading {args.model} on {args.device} (in-process generation)", file=sys.stderr)
    settings = LocalModelSettings(
        path=Path(args.model),
        device=args.device,
        dtype=args.dtype,
        max_batch=args.concurrency,
        seed=args.seed,
    )
    try:
        return LocalModel.load(settings, tokenizer)
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from None


async def _run(args: argparse.Namespace, plan: _Plan) -> EvalResult:
    """Evaluate the planned trajectories and return the result (trajectories graded, metrics computed)."""
    from simpletir.reward import compute_score
    from simpletir.sandbox import SandboxError, create_sandbox

    tokenizer = plan.tokenizer
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
    checkpoint = args.output_dir / CHECKPOINT_NAME

    def grade(record: TrajectoryRecord) -> dict[str, Any]:
        return compute_score(record.data_source, record.response, record.ground_truth)

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    backend = _backend(args, tokenizer)
    async with backend:
        model = await backend.resolve_model()
        try:
            sandbox = create_sandbox(args.sandbox, **dict(args.sandbox_option))
        except (SandboxError, ImportError, TypeError) as exc:
            raise UsageError(f"cannot create sandbox {args.sandbox!r}: {exc}") from exc
        async with sandbox:
            runner = TrajectoryRunner(backend, sandbox, settings, count_tokens)
            writer = CheckpointWriter(checkpoint, plan.kept)
            try:
                records = await run_trajectories(
                    runner,
                    plan.todo,
                    grade,
                    concurrency=args.concurrency,
                    progress=not args.no_progress,
                    on_record=writer.append,
                )
            finally:
                writer.close()
    records = sorted(plan.kept + records, key=lambda r: plan.order[_key(r)])
    same = symbolic_same if args.maj_equivalence == "symbolic" else exact_same
    recorded = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in {"api_key", "server_options"}
    }
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

    plan = _plan(args)
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
        result = asyncio.run(_run(args, plan))
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
