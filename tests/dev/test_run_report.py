"""Reading verl's file-logger JSONL and printing, summarising and plotting it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simpletir.dev.run_report import (
    best_checkpoint,
    format_best,
    format_step,
    header,
    main,
    plot,
    read_steps,
    summary,
)


def write_log(path: Path, steps: list[dict]) -> Path:
    path.write_text("".join(json.dumps({"step": i + 1, "data": d}) + "\n" for i, d in enumerate(steps)))
    return path


STEPS = [
    {"critic/score/mean": 0.25, "simpletir/void_turn_ratio": 0.5, "simpletir/masked_trajectories": 8.0,
     "actor/grad_norm": 1.5, "training/rollout_probs_diff_max": 2e-6, "simpletir/skipped_update": 0.0,
     "simpletir_diag/turn1/low_prob_0.001_share": 0.1, "simpletir_diag/post_obs/clip_frac": 0.2},
    {"critic/score/mean": 0.5, "simpletir/void_turn_ratio": 0.25, "simpletir/masked_trajectories": 16.0,
     "simpletir/skipped_update": 1.0, "actor/grad_norm": float("nan")},
]  # fmt: skip


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = write_log(tmp_path / "m.jsonl", STEPS)
    with path.open("a") as f:
        f.write('{"step": 3, "data": {"crit')  # verl is still writing
    assert [s["step"] for s in read_steps(path)] == [1, 2]
    assert read_steps(tmp_path / "absent.jsonl") == []


def test_a_line_per_step_lines_up_with_the_header() -> None:
    steps = [{"step": i + 1, "data": d} for i, d in enumerate(STEPS)]
    first, second = format_step(steps[0]), format_step(steps[1])
    assert len(first) == len(second) == len(header())
    assert "0.250" in first and "1.5" in first and "2.0e-06" in first
    assert "nan" in second and " - " in second  # a missing metric is '-', NaN stays visible


def test_summary_counts_masked_rows_and_skipped_updates() -> None:
    text = summary([{"step": i + 1, "data": d} for i, d in enumerate(STEPS)])
    assert "steps logged: 2" in text and "0.250 -> 0.500" in text
    assert "masked out of the update: 24" in text and "updates skipped (all masked): 1" in text
    assert summary([]) == "no step was logged"


def test_plot_writes_a_png_with_every_panel(tmp_path: Path) -> None:
    steps = [{"step": i + 1, "data": d} for i, d in enumerate(STEPS)]
    out = plot({"on": steps, "off": steps[:1]}, tmp_path / "plots" / "stability.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(tmp_path / "absent.jsonl")]) == 2
    assert main(["plot", str(tmp_path / "absent.jsonl"), "-o", str(tmp_path / "x.png")]) == 2
    log = write_log(tmp_path / "m.jsonl", STEPS)
    assert main(["plot", str(log), "--labels", "a", "b", "-o", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err.count("\n") == 3


def test_follow_stops_when_the_training_process_has_exited(tmp_path: Path) -> None:
    log = write_log(tmp_path / "m.jsonl", STEPS)
    gone = 2**22 + 7  # above Linux's largest pid: no such process
    proc = subprocess.run(
        [sys.executable, "-m", "simpletir.dev.run_report", "follow", str(log), "--pid", str(gone)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 3  # header + two steps


VAL = "val-core/aime24/acc/mean@1"


def checkpoint_dir(tmp_path: Path, *steps: int) -> Path:
    """verl's checkpoint layout: ``global_step_N`` folders (plus the file verl writes beside them)."""
    root = tmp_path / "ckpt"
    for step in steps:
        (root / f"global_step_{step}" / "actor").mkdir(parents=True)
    (root / "latest_checkpointed_iteration.txt").write_text(str(max(steps, default=0)))
    return root


def val_steps(values: dict[int, float]) -> list[dict]:
    """Records as verl logs them: training metrics every step, validation metrics on some."""
    return [{"step": s, "data": {"critic/score/mean": 0.1, VAL: v}} for s, v in values.items()]


def test_best_is_the_highest_validation_score_among_saved_checkpoints(tmp_path: Path) -> None:
    root = checkpoint_dir(tmp_path, 50, 100, 150)
    steps = val_steps({10: 0.9, 50: 0.3, 100: 0.5, 150: 0.4})  # step 10 scored best but was not saved
    best = best_checkpoint(steps, root, VAL)
    assert (best.step, best.value, best.path, best.compared) == (100, 0.5, root / "global_step_100", 3)
    assert format_best(best, VAL).endswith(f"): {root / 'global_step_100'}")


def test_a_later_record_of_a_step_wins_and_ties_go_to_the_earlier_step(tmp_path: Path) -> None:
    root = checkpoint_dir(tmp_path, 50, 100, 200)
    first_run = val_steps({50: 0.2, 100: 0.6})
    resumed = val_steps({100: 0.4, 200: 0.4})  # a resumed run validates step 100 again before training
    assert best_checkpoint(first_run + resumed, root, VAL).step == 100
    assert best_checkpoint(val_steps({50: 0.3, 100: 0.3}), root, VAL).step == 50
    nan = [{"step": 200, "data": {VAL: float("nan")}}]
    assert best_checkpoint(val_steps({50: 0.1}) + nan, root, VAL).step == 50


@pytest.mark.parametrize(
    ("metric", "saved", "message"),
    [
        (VAL, (100,), r"no saved checkpoint in \S+ is at a step that logged .* \(logged at steps \[50\], "
         r"checkpoints at \[100\]\)"),
        ("val-core/aime25/acc/mean@1", (50,), "no step logged val-core/aime25/acc/mean@1; validation metrics "
         "logged: val-core/aime24/acc/mean@1"),
    ],
)  # fmt: skip
def test_best_says_why_it_cannot_name_one(tmp_path: Path, metric: str, saved: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        best_checkpoint(val_steps({50: 0.5}), checkpoint_dir(tmp_path, *saved), metric)


def test_best_cli_reads_several_logs_and_prints_the_path_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = checkpoint_dir(tmp_path, 50, 100)
    stage1 = tmp_path / "stage1.jsonl"
    stage1.write_text("".join(json.dumps(r) + "\n" for r in val_steps({50: 0.2})))
    stage2 = tmp_path / "stage2.jsonl"
    stage2.write_text("".join(json.dumps(r) + "\n" for r in val_steps({100: 0.7})))
    assert main(["best", str(stage1), str(stage2), "--checkpoints", str(root), "--metric", VAL]) == 0
    out = capsys.readouterr().out.strip()
    assert out.rsplit(" ", 1)[-1] == str(root / "global_step_100") and "step 100 (0.7000; 2 saved" in out
    assert main(["best", str(tmp_path / "absent.jsonl"), "--checkpoints", str(root), "--metric", VAL]) == 2
    assert main(["best", str(stage1), "--checkpoints", str(tmp_path / "none"), "--metric", VAL]) == 2
    assert capsys.readouterr().err.count("\n") == 2
