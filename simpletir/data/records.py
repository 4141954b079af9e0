"""Source rows to verl records: problem and answer of a row, the ground truth as text, the record; ``build_records``
runs the whole way for one dataset (clean, check, deduplicate, exclude, convert) and counts what it did."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simpletir.data.cleaning import NO_ANSWER, normalize_text, repair_control_characters, strip_dapo_wrapper
from simpletir.data.dedup import find_duplicates
from simpletir.data.registry import DataError, DatasetSpec, PrepareStats
from simpletir.tir.protocol import verl_row


def _field(row: dict[str, Any], key: str, where: str) -> Any:
    if key not in row:
        raise DataError(f"{where}: missing field {key!r} (fields: {sorted(row)})")
    return row[key]


def _problem_and_answer(row: dict[str, Any], spec: DatasetSpec, where: str) -> tuple[str, Any]:
    """The problem text and raw answer of one source row (our JSONL, HF, or verl's parquet layout)."""
    if "problem" in row and "answer" in row:
        problem, answer = row["problem"], row["answer"]
    elif "prompt" in row and "reward_model" in row and spec.problem_key == "prompt":
        prompt = row["prompt"]
        messages = list(prompt) if not isinstance(prompt, str) else [{"role": "user", "content": prompt}]
        problem = next((m["content"] for m in messages if m.get("role") == "user"), "")
        answer = (row["reward_model"] or {}).get("ground_truth")
    else:
        problem, answer = _field(row, spec.problem_key, where), _field(row, spec.answer_key, where)
    if not isinstance(problem, str):
        raise DataError(f"{where}: the problem must be a string, got {type(problem).__name__}")
    if spec.strip_dapo_wrapper:
        problem = strip_dapo_wrapper(problem)
    return problem.strip(), answer


def _answer_text(answer: Any) -> str | None:
    """The ground truth as a string, or None when it cannot be checked."""
    if isinstance(answer, bool) or answer is None:
        return None
    if isinstance(answer, float):
        answer = int(answer) if answer.is_integer() else answer
    if isinstance(answer, (int, float)):
        answer = str(answer)
    if not isinstance(answer, str) or answer.strip().lower() in NO_ANSWER:
        return None
    return answer.strip()


def _record(
    spec: DatasetSpec, problem: str, answer: str, row: dict[str, Any], source_row: int
) -> dict[str, Any]:
    """One verl row (``index`` is set after sorting)."""
    extra = {
        "index": source_row,
        "source_row": source_row,
        "split": "train" if spec.kind == "train" else "test",
        "id": str(row.get("id", row.get("unique_id", source_row))),
        "question": problem,
    }
    for key in ("level", "subject"):
        if row.get(key) is not None:
            extra[key] = row[key] if isinstance(row[key], (int, str)) else str(row[key])
    return verl_row(spec.name, problem, answer, extra, train=spec.kind == "train")


def build_records(
    spec: DatasetSpec,
    rows: Iterable[dict[str, Any]],
    *,
    source: str,
    repair: bool = True,
    exclude: set[str] | None = None,
) -> tuple[list[dict[str, Any]], PrepareStats]:
    """Clean, deduplicate and convert source rows to verl records (see module docstring)."""
    stats = PrepareStats()
    candidates: list[tuple[str, str, dict[str, Any], int]] = []
    for number, row in enumerate(rows):
        stats.read += 1
        where = f"{source}: row {number}"
        problem, raw_answer = _problem_and_answer(row, spec, where)
        answer = _answer_text(raw_answer)
        if answer is None or not problem:
            stats.no_answer += 1
            continue
        if repair:
            problem, changed = repair_control_characters(problem)
            stats.repaired += changed
        candidates.append((problem, answer, row, number))
    kept, stats.duplicates, stats.conflicting = find_duplicates(
        [c[0] for c in candidates], [c[1] for c in candidates]
    )
    records = []
    for problem, answer, row, number in (candidates[i] for i in kept):
        if exclude and normalize_text(problem) in exclude:
            stats.overlapping += 1
            continue
        records.append(_record(spec, problem, answer, row, number))
    records.sort(key=lambda r: r["extra_info"]["source_row"])
    for index, record in enumerate(records):
        record["extra_info"]["index"] = index
    stats.kept = len(records)
    return records, stats
