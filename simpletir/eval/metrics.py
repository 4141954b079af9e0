"""Benchmark metrics: avg@k, the unbiased pass@k estimator, maj@k, and tool-use statistics."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from simpletir.eval.records import BenchmarkMetrics, TrajectoryRecord

SameAnswer = Callable[[str, str], bool]
"""Decides whether two extracted answers are the same (used to group votes for maj@k)."""

MAX_EQUIVALENCE_GROUPS = 64
"""Above this many distinct answers for one problem, further answers are grouped by exact text only."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)``, as a stable product.

    ``n`` samples of which ``c`` are correct; raises ``ValueError`` unless ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def majority_correct(answers: Sequence[str | None], correct: Sequence[bool], same: SameAnswer) -> bool:
    """True when the most voted answer (grouped by ``same``) is correct; unanswered samples do not vote.

    Ties go to the group whose first vote came earliest; no answers at all counts as wrong.
    """
    groups: list[list[int]] = []
    by_text: dict[str, int] = {}
    for index, answer in enumerate(answers):
        if answer is None or not answer.strip():
            continue
        key = answer.strip()
        group = by_text.get(key)
        if group is None:
            for g, members in enumerate(groups[:MAX_EQUIVALENCE_GROUPS]):
                if same(key, answers[members[0]].strip()):
                    group = g
                    break
        if group is None:
            group = len(groups)
            groups.append([])
        by_text[key] = group
        groups[group].append(index)
    if not groups:
        return False
    best = max(groups, key=len)
    votes = Counter(correct[i] for i in best)
    return votes[True] >= votes[False]


def exact_same(a: str, b: str) -> bool:
    """Answers are the same when their normalised text is equal (no symbolic comparison)."""
    from simpletir.reward.normalize import normalize_answer

    return normalize_answer(a) == normalize_answer(b)


def symbolic_same(a: str, b: str) -> bool:
    """Answers are the same when the reward's grader finds them equivalent (either way round)."""
    from simpletir.reward import grade_answer

    return exact_same(a, b) or grade_answer(a, b) or grade_answer(b, a)


def default_pass_ks(n: int) -> list[int]:
    """The k values reported for ``n`` samples: 1, powers of two below ``n``, and ``n``."""
    ks = [1]
    while ks[-1] * 2 < n:
        ks.append(ks[-1] * 2)
    if n not in ks:
        ks.append(n)
    return ks


def benchmark_metrics(
    records: Sequence[TrajectoryRecord], same: SameAnswer = exact_same, ks: Sequence[int] | None = None
) -> BenchmarkMetrics:
    """Compute one benchmark's metrics from its trajectories (every problem must have the same count).

    avg@n is the mean accuracy over all samples; pass@k uses the unbiased estimator per problem;
    maj@n is majority voting over each problem's extracted answers. Failed trajectories count as wrong.
    """
    if not records:
        raise ValueError("no trajectories to score")
    by_problem: dict[str, list[TrajectoryRecord]] = defaultdict(list)
    for record in records:
        by_problem[record.problem_id].append(record)
    sizes = {len(group) for group in by_problem.values()}
    if len(sizes) != 1:
        raise ValueError(f"problems have different sample counts {sorted(sizes)}; metrics need equal n")
    n = sizes.pop()
    ks = [k for k in (ks or default_pass_ks(n)) if 1 <= k <= n]
    problems = len(by_problem)
    pass_sums = dict.fromkeys(ks, 0.0)
    maj_hits = 0
    for group in by_problem.values():
        group = sorted(group, key=lambda r: r.sample_index)
        c = sum(r.correct for r in group)
        for k in ks:
            pass_sums[k] += pass_at_k(n, c, k)
        maj_hits += majority_correct([r.answer for r in group], [r.correct for r in group], same)

    total = len(records)
    statuses = Counter(t.exec_status for r in records for t in r.turns if t.exec_status is not None)
    executions = sum(statuses.values())
    by_turns: dict[int, list[bool]] = defaultdict(list)
    for record in records:
        by_turns[len(record.turns)].append(record.correct)
    return BenchmarkMetrics(
        problems=problems,
        samples_per_problem=n,
        trajectories=total,
        avg=sum(r.correct for r in records) / total,
        pass_at={k: pass_sums[k] / problems for k in ks},
        maj=maj_hits / problems,
        mean_turns=sum(len(r.turns) for r in records) / total,
        mean_code_executions=executions / total,
        exec_status_rates={s: count / executions for s, count in sorted(statuses.items())},
        void_rate=sum(r.void for r in records) / total,
        answer_rate=sum(r.answer is not None for r in records) / total,
        failed_rate=sum(r.end_reason == "failed" for r in records) / total,
        mean_response_tokens=sum(r.response_tokens for r in records) / total,
        end_reasons=dict(sorted(Counter(r.end_reason for r in records).items())),
        accuracy_by_turns={t: sum(v) / len(v) for t, v in sorted(by_turns.items())},
        trajectories_by_turns={t: len(v) for t, v in sorted(by_turns.items())},
    )


def all_metrics(
    records: Sequence[TrajectoryRecord], same: SameAnswer = exact_same
) -> dict[str, BenchmarkMetrics]:
    """Metrics per benchmark, in first-seen order."""
    by_benchmark: dict[str, list[TrajectoryRecord]] = defaultdict(list)
    for record in records:
        by_benchmark[record.benchmark].append(record)
    return {name: benchmark_metrics(group, same) for name, group in by_benchmark.items()}
