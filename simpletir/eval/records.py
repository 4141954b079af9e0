"""The evaluation result file: one record per trajectory (with its turns) plus per-benchmark metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simpletir.tir.protocol import EndReason, TurnKind

SCHEMA_VERSION = 2
"""2: end reasons are ``simpletir.tir.protocol.EndReason`` (``overlong`` where version 1 wrote ``budget``; a void
turn that used up the budget ends ``overlong``, and ``void`` is any void turn, as in training)."""
OLD_END_REASONS = {"budget": EndReason.OVERLONG.value}
"""Version-1 end reasons that version 2 names differently."""


class TurnRecord(BaseModel):
    """One generation turn: the model's text, its code block and what executing it produced."""

    model_config = ConfigDict(use_enum_values=True)  # ``kind`` is stored as its string value

    index: int
    text: str
    kind: TurnKind
    finish_reason: str | None = None
    completion_tokens: int = 0
    requests: int = 1
    code: str | None = None
    exec_status: str | None = None
    stdout: str = ""
    stderr: str = ""
    exec_duration_s: float = 0.0
    observation: str = ""
    observation_tokens: int = 0


class TrajectoryRecord(BaseModel):
    """One sampled solution of one problem, graded."""

    model_config = ConfigDict(use_enum_values=True)  # ``end_reason`` is stored as its string value

    benchmark: str
    problem_id: str
    sample_index: int
    data_source: str
    question: str
    ground_truth: Any
    prompt: str
    response: str = ""
    turns: list[TurnRecord] = Field(default_factory=list)
    end_reason: EndReason
    void: bool = False
    answer: str | None = None
    correct: bool = False
    score: float = 0.0
    prompt_tokens: int = 0
    response_tokens: int = 0
    elapsed_s: float = 0.0
    error: str | None = None


class BenchmarkMetrics(BaseModel):
    """Per-benchmark accuracy (in [0, 1]) and tool-use statistics."""

    problems: int
    samples_per_problem: int
    trajectories: int
    avg: float
    pass_at: dict[int, float]
    maj: float
    mean_turns: float
    mean_code_executions: float
    exec_status_rates: dict[str, float]
    void_rate: float
    answer_rate: float
    failed_rate: float
    mean_response_tokens: float
    end_reasons: dict[str, int]
    accuracy_by_turns: dict[int, float]
    trajectories_by_turns: dict[int, int]


DEFAULT_GRADER = "simpletir"
"""The grader of a result file that does not name one (written before ``--grader`` existed: graded by ours)."""


class EvalResult(BaseModel):
    """The whole result file written by ``simpletir-eval run``."""

    schema_version: int = SCHEMA_VERSION
    label: str
    model: str
    grader: str = DEFAULT_GRADER
    """Which reward grader scored the trajectories (``simpletir.reward.config.GRADERS``)."""
    settings: dict[str, Any]
    started_at: str
    finished_at: str
    metrics: dict[str, BenchmarkMetrics]
    trajectories: list[TrajectoryRecord]


class ResultFileError(ValueError):
    """A result file is missing, not JSON, or does not match the schema."""


def save_result(result: EvalResult, path: Path) -> None:
    """Write ``result`` as JSON to ``path`` (atomically: temp file then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(result.model_dump_json(indent=1), encoding="utf-8")
    tmp.replace(path)


def upgrade_trajectory(data: dict[str, Any]) -> dict[str, Any]:
    """A trajectory record of any schema version as the current one reads it (``OLD_END_REASONS``)."""
    reason = data.get("end_reason")
    return {**data, "end_reason": OLD_END_REASONS.get(reason, reason)} if reason in OLD_END_REASONS else data


def load_result(path: Path) -> EvalResult:
    """Read a result file; raises ``ResultFileError`` with the reason when it cannot be used."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFileError(f"cannot read result file {path}: {exc}") from exc
    if isinstance(data, dict) and data.get("schema_version", 1) < SCHEMA_VERSION:
        data = {**data, "schema_version": SCHEMA_VERSION}
        data["trajectories"] = [upgrade_trajectory(t) for t in data.get("trajectories") or []]
    try:
        return EvalResult.model_validate(data)
    except ValidationError as exc:
        raise ResultFileError(f"{path} is not a simpletir-eval result file: {exc}") from exc


CHECKPOINT_NAME = "trajectories.partial.jsonl"
"""Finished trajectories of a run in progress, one JSON record per line, in ``--output-dir``."""


def load_checkpoint(path: Path) -> list[TrajectoryRecord]:
    """Records from a checkpoint file; lines that do not parse (a torn last write) are skipped."""
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                records.append(TrajectoryRecord.model_validate(upgrade_trajectory(json.loads(line))))
            except (ValidationError, json.JSONDecodeError, TypeError, AttributeError):
                continue
    return records


class CheckpointWriter:
    """Appends finished trajectories to a checkpoint file, one flushed line each."""

    def __init__(self, path: Path, keep: list[TrajectoryRecord]) -> None:
        """Start the file afresh with the records in ``keep``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("w", encoding="utf-8")
        for record in keep:
            self.append(record)

    def append(self, record: TrajectoryRecord) -> None:
        """Write one record and flush it."""
        self._handle.write(record.model_dump_json() + "\n")
        self._handle.flush()

    def close(self) -> None:
        """Close the file (it stays on disk)."""
        self._handle.close()
