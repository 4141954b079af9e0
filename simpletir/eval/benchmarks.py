"""Benchmark problems from the data-prep parquet files or from JSONL files with ``problem``/``answer``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from simpletir.data.readers import read_local
from simpletir.data.registry import DataError
from simpletir.tir.protocol import build_prompt_messages


class BenchmarkFileError(ValueError):
    """A benchmark file is missing, unreadable, or lacks the columns/keys it needs."""


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: its chat messages and the ground truth the reward grades against."""

    benchmark: str
    problem_id: str
    data_source: str
    question: str
    ground_truth: Any
    messages: list[dict[str, str]]


class ChatTemplater(Protocol):
    """What prompt rendering needs from a tokenizer (a transformers tokenizer satisfies it)."""

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...


def _plain(value: Any) -> Any:
    """Turn numpy arrays/scalars from parquet into plain JSON-serialisable Python values."""
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _from_parquet(path: Path, name: str) -> list[Problem]:
    """Problems from a verl-style parquet file (``prompt``, ``reward_model.ground_truth``, …)."""
    import pandas as pd

    frame = pd.read_parquet(path)
    missing = {"prompt", "reward_model"} - set(frame.columns)
    if missing:
        raise BenchmarkFileError(
            f"{path}: missing column(s) {sorted(missing)} (expected verl's RL parquet layout)"
        )
    problems = []
    for row_index, row in enumerate(frame.to_dict("records")):
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in _plain(row["prompt"])]
        reward_model = _plain(row["reward_model"]) or {}
        if "ground_truth" not in reward_model:
            raise BenchmarkFileError(f"{path}: row {row_index} has no reward_model.ground_truth")
        extra = _plain(row.get("extra_info")) or {}
        user = [m["content"] for m in messages if m["role"] == "user"]
        problem_id = extra.get("id", extra.get("index", row_index))
        problems.append(
            Problem(
                benchmark=name,
                problem_id=str(problem_id),
                data_source=str(row.get("data_source") or name),
                question=str(extra.get("question") or extra.get("problem") or (user[-1] if user else "")),
                ground_truth=reward_model["ground_truth"],
                messages=messages,
            )
        )
    return problems


def _from_jsonl(path: Path, name: str) -> list[Problem]:
    """Problems from a JSONL file with ``problem`` and ``answer`` keys (``id`` optional)."""
    try:
        rows = read_local(path)
    except DataError as exc:
        raise BenchmarkFileError(f"need JSON objects with problem/answer: {exc}") from None
    problems = []
    for row_number, item in enumerate(rows):
        if not isinstance(item.get("problem"), str) or "answer" not in item:
            raise BenchmarkFileError(f"{path}: row {row_number}: need a JSON object with problem/answer")
        problems.append(
            Problem(
                benchmark=name,
                problem_id=str(item.get("id", f"{name}-{len(problems)}")),
                data_source=str(item.get("data_source", name)),
                question=item["problem"],
                ground_truth=_plain(item["answer"]),
                messages=build_prompt_messages(item["problem"]),
            )
        )
    return problems


def load_benchmark(path: Path, name: str | None = None, limit: int | None = None) -> list[Problem]:
    """Load a ``.parquet`` or ``.jsonl`` benchmark (name defaults to the file stem), first ``limit`` problems."""
    path = Path(path)
    name = name or path.stem
    if not path.is_file():
        raise BenchmarkFileError(f"benchmark file {path} does not exist (run simpletir-prepare-data first?)")
    if path.suffix == ".parquet":
        problems = _from_parquet(path, name)
    elif path.suffix in {".jsonl", ".json"}:
        problems = _from_jsonl(path, name)
    else:
        raise BenchmarkFileError(f"{path}: unsupported file type {path.suffix!r}; use .parquet or .jsonl")
    if not problems:
        raise BenchmarkFileError(f"{path}: no problems")
    ids = [p.problem_id for p in problems]
    if len(set(ids)) != len(ids):
        raise BenchmarkFileError(f"{path}: problem ids are not unique")
    return problems[:limit] if limit else problems


def render_prompt(messages: list[dict[str, str]], tokenizer: ChatTemplater | None) -> str:
    """The prompt text sent to the server: the chat template with a generation prompt, or (no tokenizer)
    the raw message contents joined by blank lines (the Zero-RL prompt)."""
    if tokenizer is None:
        return "\n\n".join(m["content"] for m in messages)
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
