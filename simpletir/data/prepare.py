"""``simpletir-prepare-data``: training and benchmark sets as verl-ready parquet files.

Each row: ``data_source``, ``prompt`` (chat messages with the paper's TIR instruction), ``ability``,
``reward_model`` (``style``, ``ground_truth``), ``extra_info`` (``index``, ``split``, ``id``, ``question``,
level/subject where known) and ``agent_name`` (``simpletir_agent`` for training,
``simpletir_agent_eval`` for benchmarks). Sources: a Hugging Face dataset id (online) or a local
JSONL/parquet file (offline, tests). Rows are cleaned, deduplicated (``train.parquet`` also across its
sets) and counted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from simpletir.tir.protocol import verl_row

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

_DAPO_PREFIX = re.compile(r"^Solve the following math problem step by step\..*?\n\n", re.DOTALL)
_DAPO_SUFFIX = re.compile(r"\n\nRemember to put your answer on its own line after \"Answer:\"\.\s*$")
# Escapes that a JSON/Python round trip turned into control characters, recognised by the LaTeX command
# that follows (a real tab before "equal" is left alone): \f, \t, \b, \a, \v, \r.
_CONTROL_REPAIRS = {
    "\x0c": ("\\f", r"rac|rak|orall|lat"),
    "\t": ("\\t", r"ext|riangle|imes|heta|au\b|an\b|frac|ilde|op\b|o\b|hinspace"),
    "\x08": ("\\b", r"eta|inom|ar\b|egin|oxed|ig|f\{|mod|ot\b"),
    "\x07": ("\\a", r"lpha|pprox|ngle|st\b"),
    "\x0b": ("\\v", r"ec|arepsilon|arphi|dots|ee"),
    "\r": ("\\r", r"ight|ho\b|angle|m\b|floor|ceil"),
}
_CONTROL_PATTERNS = [
    (re.compile(f"{re.escape(c)}(?=(?:{follow}))"), fix) for c, (fix, follow) in _CONTROL_REPAIRS.items()
]
_NO_ANSWER = {"", "none", "nan", "null"}


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


def normalize_text(text: str) -> str:
    """Lower-case letters and digits only: the key for duplicate and overlap checks."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def repair_control_characters(text: str) -> tuple[str, bool]:
    """Turn control characters that ate a LaTeX backslash back into the escape; returns (text, changed)."""
    fixed = text
    for pattern, replacement in _CONTROL_PATTERNS:
        fixed = pattern.sub(lambda _m, r=replacement: r, fixed)
    return fixed, fixed != text


def strip_dapo_wrapper(text: str) -> str:
    """Remove DAPO-Math-17k's instruction wrapper around the problem."""
    return _DAPO_SUFFIX.sub("", _DAPO_PREFIX.sub("", text)).strip()


def read_local(path: Path) -> list[dict[str, Any]]:
    """Rows of a local JSONL or parquet file; raises ``DataError`` naming the file and line."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".parquet":
        try:
            rows = pd.read_parquet(path).to_dict("records")
        except Exception as exc:
            raise DataError(f"{path}: not a readable parquet file ({exc})") from None
    elif path.suffix in (".jsonl", ".json"):
        rows = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
                rows.append(row)
    else:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .jsonl or .parquet)")
    if not rows:
        raise DataError(f"{path}: the file has no rows")
    return rows


def load_hf(spec: DatasetSpec, data_files: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``spec`` through ``datasets.load_dataset``: from the hub (needs network access), or from a
    local ``data_files`` JSONL/parquet (``--hf-data-files``, offline; same code path). Raises ``DataError``
    when the hub cannot be reached."""
    import datasets

    if data_files is None:
        try:
            dataset = datasets.load_dataset(spec.hf_id, spec.hf_config, split=spec.hf_split)
        except OSError as exc:
            raise DataError(
                f"{spec.hf_id}: cannot load from the Hugging Face hub ({exc}); offline, pass --shared-dir DIR "
                "with the JSONL files (recipes: SHARED_DATA_DIR) or --source FILE"
            ) from None
    else:
        builder = "parquet" if data_files.endswith(".parquet") else "json"
        dataset = datasets.load_dataset(builder, data_files=data_files, split="train")
    return [dict(row) for row in dataset]


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
    if not isinstance(answer, str) or answer.strip().lower() in _NO_ANSWER:
        return None
    return answer.strip()


def find_duplicates(problems: Sequence[str], answers: Sequence[str]) -> tuple[list[int], int, int]:
    """Group rows by ``normalize_text`` of the problem; returns (the first index of every group whose answers
    all agree by the reward's grader, in first-seen order; duplicate rows dropped; conflicting rows dropped)."""
    from simpletir.eval.metrics import symbolic_same

    by_text: dict[str, list[int]] = defaultdict(list)
    for index, problem in enumerate(problems):
        by_text[normalize_text(problem)].append(index)
    kept: list[int] = []
    duplicates = conflicting = 0
    for indices in by_text.values():
        first = answers[indices[0]]
        if all(symbolic_same(answers[i], first) for i in indices[1:]):
            kept.append(indices[0])
            duplicates += len(indices) - 1
        else:
            conflicting += len(indices)
    return kept, duplicates, conflicting


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


def merge_sets(parts: Sequence[list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], PrepareStats]:
    """Concatenate prepared sets in order, deduplicated across sets like within one (the first set's row is
    kept; a problem whose sets disagree on the answer is dropped from all); ``index`` is renumbered."""
    records = [record for part in parts for record in part]
    kept, duplicates, conflicting = find_duplicates(
        [r["extra_info"]["question"] for r in records], [r["reward_model"]["ground_truth"] for r in records]
    )
    merged = [records[i] for i in sorted(kept)]
    for index, record in enumerate(merged):
        record["extra_info"] = {**record["extra_info"], "index": index}
    stats = PrepareStats(read=len(records), kept=len(merged), duplicates=duplicates, conflicting=conflicting)
    return merged, stats


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


def write_parquet(records: list[dict[str, Any]], path: Path) -> None:
    """Write records as a parquet file (creating the directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame.from_records(records).to_parquet(path, index=False)


def prepare_records(
    name: str,
    source: str | None,
    *,
    repair: bool = True,
    exclude: set[str] | None = None,
    hf_data_files: str | None = None,
) -> tuple[list[dict[str, Any]], PrepareStats]:
    """Records and counts of dataset ``name`` from a local file (``source``) or the hub (``source`` None)."""
    try:
        spec = DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None
    rows = read_local(Path(source)) if source else load_hf(spec, hf_data_files)
    records, stats = build_records(
        spec, tqdm(rows, desc=name, leave=False, disable=None), source=source or spec.hf_id, repair=repair,
        exclude=exclude,
    )  # fmt: skip
    if not records:
        raise DataError(
            f"{source or spec.hf_id}: no usable rows (read {stats.read}, without an answer {stats.no_answer})"
        )
    return records, stats


def prepare(
    name: str,
    source: str | None,
    out: Path,
    *,
    repair: bool = True,
    exclude: set[str] | None = None,
    hf_data_files: str | None = None,
) -> PrepareStats:
    """Prepare dataset ``name`` from a local file (``source``) or the hub (``source`` None) into ``out``."""
    records, stats = prepare_records(
        name, source, repair=repair, exclude=exclude, hf_data_files=hf_data_files
    )
    write_parquet(records, out)
    return stats


def benchmark_keys(files: Iterable[Path]) -> set[str]:
    """Normalised problem texts of written benchmark parquet files (for the overlap filter)."""
    keys: set[str] = set()
    for path in files:
        for extra in pd.read_parquet(path, columns=["extra_info"])["extra_info"]:
            keys.add(normalize_text(extra["question"]))
    return keys


def shared_sources(shared_dir: Path, names: Iterable[str]) -> dict[str, str]:
    """The offline file of each of ``names`` found in ``shared_dir``; raises ``DataError`` when the directory
    does not exist or holds none of them (a mistyped path must not fall back to the hub silently)."""
    if not shared_dir.is_dir():
        raise DataError(f"--shared-dir {shared_dir}: no such directory")
    expected = {name: shared_dir / DATASETS[name].shared_file for name in names if DATASETS[name].shared_file}
    found = {name: str(path) for name, path in expected.items() if path.is_file()}
    if not found:
        files = ", ".join(sorted(path.name for path in expected.values()))
        raise DataError(f"--shared-dir {shared_dir} holds none of {files}")
    return found


def prepare_all(
    out_dir: Path,
    shared_dir: Path | None,
    train_mix: list[str],
    *,
    repair: bool = True,
    drop_overlap: bool = True,
) -> dict[str, PrepareStats]:
    """Write the four benchmarks, ``train_<set>.parquet`` per ``train_mix`` set (overlap with benchmarks
    dropped) and ``train.parquet`` (the sets merged by ``merge_sets``); files absent from ``shared_dir``
    come from the hub."""
    sources = shared_sources(shared_dir, [*BENCHMARKS, *train_mix]) if shared_dir is not None else {}
    stats: dict[str, PrepareStats] = {}
    for name in BENCHMARKS:
        stats[name] = prepare(name, sources.get(name), out_dir / f"{name}.parquet", repair=repair)
    exclude = benchmark_keys(out_dir / f"{n}.parquet" for n in BENCHMARKS) if drop_overlap else None
    parts = []
    for name in train_mix:
        records, stats[name] = prepare_records(name, sources.get(name), repair=repair, exclude=exclude)
        write_parquet(records, out_dir / f"train_{name}.parquet")
        parts.append(records)
    train, stats["train"] = merge_sets(parts)
    write_parquet(train, out_dir / "train.parquet")
    return stats


def format_stats(stats: dict[str, PrepareStats]) -> str:
    """A Markdown table of the counts."""
    lines = ["| dataset | read | kept | no answer | duplicates | conflicting | repaired | overlapping |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in stats.items():
        lines.append(
            f"| {name} | {s.read} | {s.kept} | {s.no_answer} | {s.duplicates} | {s.conflicting} | {s.repaired} "
            f"| {s.overlapping} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="simpletir-prepare-data", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), help="prepare one dataset")
    parser.add_argument("--source", help="local .jsonl/.parquet file (default: the Hugging Face hub)")
    parser.add_argument("--out", help="output parquet file (with --dataset)")
    parser.add_argument("--all", action="store_true", help="write the four benchmarks and train.parquet")
    parser.add_argument("--out-dir", default="data", help="output directory for --all (default: data)")
    parser.add_argument("--shared-dir", help="directory with the offline JSONL files (e.g. ../shared/data)")
    parser.add_argument("--train-mix", default="math_l35,dapo",
                        help="training sets for train.parquet, comma-separated (default: math_l35,dapo; the paper "
                             "used math_l35,deepscaler)")  # fmt: skip
    parser.add_argument(
        "--hf-data-files", help="with --dataset: read this file through datasets.load_dataset"
    )
    parser.add_argument("--no-repair", action="store_true", help="keep control characters as they are")
    parser.add_argument(
        "--keep-overlap", action="store_true", help="keep training rows that match a benchmark"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry; returns the exit code (2 on bad input, with a one-line message)."""
    args = build_parser().parse_args(argv)
    try:
        if args.all:
            shared = Path(args.shared_dir) if args.shared_dir else None
            mix = [m.strip() for m in args.train_mix.split(",") if m.strip()]
            unknown = [m for m in mix if m not in DATASETS or DATASETS[m].kind != "train"]
            if unknown:
                raise DataError(f"--train-mix: {unknown} are not training sets")
            stats = prepare_all(Path(args.out_dir), shared, mix, repair=not args.no_repair,
                                drop_overlap=not args.keep_overlap)  # fmt: skip
            names = ["train", *(f"train_{m}" for m in mix), *BENCHMARKS]
            written = f"{', '.join(f'{n}.parquet' for n in names)} in {Path(args.out_dir).resolve()}"
        elif args.dataset and args.out:
            stats = {
                args.dataset: prepare(
                    args.dataset, args.source, Path(args.out), repair=not args.no_repair,
                    hf_data_files=args.hf_data_files,
                )
            }  # fmt: skip
            written = str(Path(args.out).resolve())
        else:
            raise DataError("give --dataset NAME --out FILE [--source FILE], or --all")
    except (DataError, OSError) as exc:
        print(f"simpletir-prepare-data: error: {exc}", file=sys.stderr)
        return 2
    print(format_stats(stats))
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
