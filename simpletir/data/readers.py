"""Reading source rows: a local JSONL/parquet file, or a Hugging Face dataset (hub or local files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from simpletir.data.registry import DataError, DatasetSpec


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
