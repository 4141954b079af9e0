"""Duplicates within a dataset and across the training sets: kept once when their answers agree, dropped when not."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from simpletir.data.cleaning import normalize_text
from simpletir.data.registry import PrepareStats


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
