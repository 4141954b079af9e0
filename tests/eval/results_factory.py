"""Small hand-built result files for the report and viewer tests."""

from __future__ import annotations

from simpletir.eval.metrics import all_metrics, exact_same
from simpletir.eval.records import EvalResult, TrajectoryRecord, TurnRecord

HOSTILE = "</script><script>document.title='pwned'</script><!-- & \u2028 <b>bold</b>"


def trajectory(
    benchmark: str, pid: str, sample: int, correct: bool, turns: int = 1, void: bool = False
) -> TrajectoryRecord:
    """A graded trajectory: ``turns - 1`` code turns, then an answer (or a void) turn."""
    turn_list = [
        TurnRecord(
            index=i,
            text=f"step {i}\n```python\nprint({i})\n```",
            kind="code",
            code=f"print({i})",
            exec_status="ok",
            stdout=f"{i}\n",
            observation=f"\nCode execution result: {i}\n",
        )
        for i in range(turns - 1)
    ]
    last = HOSTILE if void else ("\\boxed{1}" if correct else "\\boxed{2}")
    turn_list.append(TurnRecord(index=turns - 1, text=last, kind="void" if void else "answer"))
    return TrajectoryRecord(
        benchmark=benchmark, problem_id=pid, sample_index=sample, data_source=benchmark, question=f"Question {pid}?",
        ground_truth="1", prompt="p", turns=turn_list, end_reason="void" if void else "answer", void=void,
        answer=None if void else ("1" if correct else "2"), correct=correct,
    )  # fmt: skip


def make_result(label: str, correct_pattern: dict[str, list[bool]], turns: int = 1) -> EvalResult:
    """A result whose benchmark ``b`` has problems ``p0..`` with the given per-sample correctness;
    wrong samples of the first problem are void turns with hostile text."""
    records = []
    for benchmark, pattern in correct_pattern.items():
        for sample, ok in enumerate(pattern):
            records.append(trajectory(benchmark, "p0", sample, ok, turns, void=not ok and sample == 0))
            records.append(trajectory(benchmark, "p1", sample, not ok, 1))
    return EvalResult(
        label=label, model=label, settings={}, started_at="t0", finished_at="t1",
        metrics=all_metrics(records, exact_same), trajectories=records,
    )  # fmt: skip
