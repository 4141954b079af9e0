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
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from simpletir.data.cleaning import normalize_text
from simpletir.data.dedup import merge_sets
from simpletir.data.readers import load_hf, read_local
from simpletir.data.records import PrepareStats, build_records
from simpletir.data.registry import BENCHMARKS, DATASETS, DataError


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
