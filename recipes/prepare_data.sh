#!/usr/bin/env bash
# Write everything the training and evaluation recipes read into $DATA_DIR:
# train.parquet (MATH levels 3-5 + DAPO-Math-17k by default) and aime24/aime25/amc23/math500.parquet.
#
# Reads the offline JSONL files in $SHARED_DATA_DIR when it is set (a directory that does not exist is an
# error), else in ../shared/data next to this repository when that exists, else downloads from the Hugging
# Face hub. Training rows that match a benchmark problem are dropped; duplicates (within and across the
# training sets), conflicting answers and rows without an answer are counted and dropped. Ends by printing
# the counts and where it wrote.
#
# Usage: recipes/prepare_data.sh [extra simpletir-prepare-data options, e.g. --train-mix math_l35,deepscaler]
# Environment: DATA_DIR (default ~/data/simpletir), SHARED_DATA_DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,/^set -/p' "$0" | sed -e '/^set -/d' -e 's/^# \{0,1\}//'
  exit 0
fi
DATA_DIR="${DATA_DIR:-$HOME/data/simpletir}"
SHARED_ARGS=()
if [[ -n "${SHARED_DATA_DIR:-}" ]]; then
  SHARED_ARGS=(--shared-dir "$SHARED_DATA_DIR")
elif [[ -d "$HERE/../../shared/data" ]]; then
  SHARED_ARGS=(--shared-dir "$HERE/../../shared/data")
fi
python -m simpletir.data.prepare --all --out-dir "$DATA_DIR" "${SHARED_ARGS[@]}" "$@"
