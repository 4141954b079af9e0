"""Checks of a ``simpletir-eval run`` before anything starts: options, benchmark files, tokenizer, model directory,
output directory. Each failure is a ``UsageError`` with one line saying what to do."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from simpletir.eval.completion import one_line
from simpletir.eval.records import CHECKPOINT_NAME

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
"""A directory with none of these holds no tokenizer."""


class UsageError(ValueError):
    """Bad command-line input, reported as one line and exit status 2."""


def benchmark_files(args: argparse.Namespace) -> list[Path]:
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


def load_tokenizer(args: argparse.Namespace) -> Any:
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


def check_model_args(args: argparse.Namespace) -> None:
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


def check_run_args(args: argparse.Namespace) -> None:
    """Reject option values that cannot work, with a message saying which."""
    positive = ["samples", "max_turns", "max_tokens_per_turn", "max_response_tokens", "concurrency"]
    for name in positive:
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    check_model_args(args)
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
