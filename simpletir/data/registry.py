"""The datasets ``simpletir-prepare-data`` knows (where each comes from, how its fields map onto problem/answer),
its error, and the counts it reports per dataset."""

from __future__ import annotations

from dataclasses import dataclass

BENCHMARKS = ("aime24", "aime25", "amc23", "math500")


class DataError(ValueError):
    """A source cannot be read or has the wrong shape; the message names the file and the line."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named dataset comes from and how its fields map onto problem/answer."""

    name: str
    kind: str  # "train" or "benchmark"
    hf_id: str
    hf_split: str = "train"
    hf_config: str | None = None
    problem_key: str = "problem"
    answer_key: str = "answer"
    shared_file: str | None = None
    """File name in ../shared/data (offline source)."""
    strip_dapo_wrapper: bool = False


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("aime24", "benchmark", "HuggingFaceH4/aime_2024", shared_file="aime24.jsonl"),
        DatasetSpec("aime25", "benchmark", "math-ai/aime25", hf_split="test", shared_file="aime25.jsonl"),
        DatasetSpec("amc23", "benchmark", "math-ai/amc23", hf_split="test", problem_key="question",
                    shared_file="amc23.jsonl"),
        DatasetSpec("math500", "benchmark", "HuggingFaceH4/MATH-500", hf_split="test", shared_file="math500.jsonl"),
        DatasetSpec("math_l35", "train", "hkust-nlp/SimpleRL-Zoo-Data", hf_config="simplelr_qwen_level3to5",
                    shared_file="math_train_simplelr35.jsonl"),
        DatasetSpec("deepscaler", "train", "agentica-org/DeepScaleR-Preview-Dataset"),
        DatasetSpec("dapo", "train", "BytedTsinghua-SIA/DAPO-Math-17k", problem_key="prompt",
                    answer_key="reward_model", shared_file="dapo_math_17k.jsonl", strip_dapo_wrapper=True),
    )
}  # fmt: skip


@dataclass
class PrepareStats:
    """Counts of one dataset's preparation."""

    read: int = 0
    kept: int = 0
    no_answer: int = 0
    duplicates: int = 0
    conflicting: int = 0
    repaired: int = 0
    overlapping: int = 0
