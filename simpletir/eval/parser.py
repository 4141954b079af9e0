"""The ``simpletir-eval`` command line: its subcommands and options (``build_parser``); errors are one line."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, NoReturn

from simpletir.eval.records import CHECKPOINT_NAME, DEFAULT_GRADER
from simpletir.eval.rollout import RolloutSettings
from simpletir.sandbox.factory import BACKENDS

DEFAULT_BENCHMARKS = "aime24,aime25,amc23,math500"
GRADERS = ("simpletir", "official")
"""``--grader`` choices: ``simpletir.reward.config.GRADERS``, spelled out because importing ``simpletir.reward``
starts its grader process, which ``report``, ``view`` and ``--help`` do not need."""
SUBCOMMANDS = {"run", "report", "view"}


class OneLineParser(argparse.ArgumentParser):
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
    tools.add_argument(
        "--code-timeout",
        type=float,
        default=defaults.code.timeout_s,
        help="seconds per program (training's default)",
    )
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
        "--grader",
        choices=GRADERS,
        default=DEFAULT_GRADER,
        help="answer grading: simpletir (ours) or official (the SimpleTIR paper code's, for its scale); "
        "with --resume, finished trajectories are regraded with it",
    )
    out.add_argument(
        "--maj-equivalence",
        choices=["symbolic", "exact"],
        default="symbolic",
        help="answer grouping of maj@n",
    )
    out.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The ``simpletir-eval`` argument parser with its three subcommands."""
    parser = OneLineParser(prog="simpletir-eval", description=__doc__)
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
