"""Read a training run's metrics as verl's file logger writes them, and print them for a person.

verl's ``file`` logger (``trainer.logger=[...,file]``, path ``VERL_FILE_LOGGER_PATH``) appends one JSON
object per step: ``{"step": N, "data": {metric: value, ...}}``. ``recipes/train_tiny_cpu.sh`` runs
``follow`` beside the trainer (one line per step as it lands) and ``summary`` at the end; the paper recipes run
``best`` at the end (the saved checkpoint with the best validation score).

    python -m simpletir.dev.run_report follow metrics.jsonl --pid PID
    python -m simpletir.dev.run_report summary metrics.jsonl
    python -m simpletir.dev.run_report best metrics/*.jsonl --checkpoints CKPT_DIR --metric val-core/aime24/acc/mean@1
    python -m simpletir.dev.run_report plot on.jsonl off.jsonl --labels filter-on filter-off -o stability.png
    python -m simpletir.dev.run_report curve metrics.jsonl -o training_curve.png
    python -m simpletir.dev.run_report compare eval/start/results.json eval/final/results.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLUMNS = (
    ("score", "critic/score/mean", "{:.3f}"),
    ("void", "simpletir/void_turn_ratio", "{:.2f}"),
    ("masked", "simpletir/masked_trajectories", "{:.0f}"),
    ("turns", "simpletir/num_turns_mean", "{:.2f}"),
    ("code err", "simpletir/code_error_rate", "{:.2f}"),
    ("grad norm", "actor/grad_norm", "{:.3g}"),
    ("p diff max", "training/rollout_probs_diff_max", "{:.1e}"),
    ("step s", "timing_s/step", "{:.1f}"),
)
"""What one printed line per step shows: (header, verl metric key, format)."""


def read_steps(path: Path) -> list[dict[str, Any]]:
    """Every complete ``{"step", "data"}`` record of a verl file-logger JSONL (a torn last line is skipped)."""
    steps = []
    if not path.is_file():
        return steps
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("data"), dict):
            steps.append(record)
    return steps


def _cell(data: dict[str, Any], key: str, fmt: str) -> str:
    """One formatted metric, ``-`` when the step did not log it."""
    value = data.get(key)
    if not isinstance(value, (int, float)):
        return "-"
    return "nan" if isinstance(value, float) and math.isnan(value) else fmt.format(value)


def header() -> str:
    """The column headers of ``format_step`` lines."""
    return "step " + " ".join(f"{name:>10}" for name, _, _ in COLUMNS)


def format_step(record: dict[str, Any]) -> str:
    """One step as a fixed-width line (see ``COLUMNS``)."""
    cells = [_cell(record["data"], key, fmt) for _, key, fmt in COLUMNS]
    return f"{record['step']:>4} " + " ".join(f"{cell:>10}" for cell in cells)


def _alive(pid: int) -> bool:
    """True while process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def follow(path: Path, pid: int | None, poll_s: float = 1.0) -> Iterator[str]:
    """Yield a line per new step of ``path`` until process ``pid`` has exited (then the last ones)."""
    shown = 0
    yield header()
    while True:
        running = pid is None or _alive(pid)
        steps = read_steps(path)
        for record in steps[shown:]:
            yield format_step(record)
        shown = len(steps)
        if not running:
            return
        time.sleep(poll_s)


def summary(steps: list[dict[str, Any]]) -> str:
    """A few lines on the whole run: steps, first and last score, void ratio, what was masked."""
    if not steps:
        return "no step was logged"
    first, last = steps[0]["data"], steps[-1]["data"]
    masked = sum(float(s["data"].get("simpletir/masked_trajectories", 0.0)) for s in steps)
    skipped = sum(float(s["data"].get("simpletir/skipped_update", 0.0)) for s in steps)
    lines = [
        f"steps logged: {len(steps)} (last: {steps[-1]['step']})",
        f"score: {_cell(first, 'critic/score/mean', '{:.3f}')} -> {_cell(last, 'critic/score/mean', '{:.3f}')}",
        f"void-turn ratio: {_cell(first, 'simpletir/void_turn_ratio', '{:.2f}')}"
        f" -> {_cell(last, 'simpletir/void_turn_ratio', '{:.2f}')}",
        f"trajectories masked out of the update: {masked:.0f}; updates skipped (all masked): {skipped:.0f}",
        f"rollout vs actor probability, max difference (last step): "
        f"{_cell(last, 'training/rollout_probs_diff_max', '{:.1e}')}",
    ]
    return "\n".join(lines)


CHECKPOINT_DIR = re.compile(r"global_step_(\d+)")
"""How verl names a saved checkpoint under ``trainer.default_local_dir``."""


@dataclass(frozen=True)
class BestCheckpoint:
    """The saved checkpoint whose step logged the highest value of a validation metric."""

    step: int
    value: float
    path: Path
    compared: int
    """Saved checkpoints whose step logged the metric (the ones compared)."""


def _number(value: Any) -> float | None:
    """``value`` as a finite float, None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def best_checkpoint(steps: list[dict[str, Any]], checkpoints: Path, metric: str) -> BestCheckpoint:
    """The checkpoint in ``checkpoints`` (verl's ``global_step_N`` folders) whose step N logged the highest
    ``metric`` in ``steps`` (records of one or more logs in time order: a later record of a step wins; a tie goes to
    the earlier step); raises ``ValueError`` with one line when none can be named."""
    if not checkpoints.is_dir():
        raise ValueError(f"{checkpoints}: no such checkpoint directory")
    saved = {
        int(match.group(1)): path
        for path in checkpoints.iterdir()
        if path.is_dir() and (match := CHECKPOINT_DIR.fullmatch(path.name))
    }
    logged: dict[int, float] = {}
    for record in steps:
        value = _number(record["data"].get(metric))
        if value is not None:
            logged[int(record["step"])] = value
    if not logged:
        seen = sorted({key for record in steps for key in record["data"] if key.startswith("val-core/")})
        raise ValueError(f"no step logged {metric}; validation metrics logged: {', '.join(seen) or 'none'}")
    compared = {step: value for step, value in logged.items() if step in saved}
    if not compared:
        raise ValueError(
            f"no saved checkpoint in {checkpoints} is at a step that logged {metric} "
            f"(logged at steps {sorted(logged)}, checkpoints at {sorted(saved) or 'none'})"
        )
    step = max(sorted(compared), key=lambda s: compared[s])
    return BestCheckpoint(step=step, value=compared[step], path=saved[step], compared=len(compared))


def format_best(best: BestCheckpoint, metric: str) -> str:
    """One line naming the best checkpoint; its path is the last field."""
    return (
        f"best checkpoint by {metric}: step {best.step} ({best.value:.4f}; "
        f"{best.compared} saved checkpoint{'s' if best.compared != 1 else ''} compared): {best.path}"
    )


PANELS = (
    ("reward and filter", ("critic/score/mean", "simpletir/void_turn_ratio", "simpletir/kept_ratio")),
    ("tokens with p < 1e-3, per turn", ("simpletir_diag/turn1/low_prob_0.001_share", "simpletir_diag/turn2/low_prob_0.001_share",
                                        "simpletir_diag/turn3/low_prob_0.001_share")),
    ("tokens with p < 1e-3: after an observation vs the rest", ("simpletir_diag/post_obs/low_prob_0.001_share",
                                                                "simpletir_diag/other/low_prob_0.001_share")),
    ("importance ratio outside the clip range", ("simpletir_diag/post_obs/clip_frac", "simpletir_diag/other/clip_frac")),
    ("log importance ratio, std", ("simpletir_diag/post_obs/log_ratio_std", "simpletir_diag/other/log_ratio_std")),
    ("actor gradient norm", ("actor/grad_norm",)),
)  # fmt: skip
"""The stability plot: (title, verl metric keys drawn in it)."""
CURVE_PANELS = (
    ("training reward and void turns", ("critic/score/mean", "simpletir/void_turn_ratio")),
    ("trajectories masked by the filter", ("simpletir/masked_trajectories",)),
)
"""The training curve of ``recipes/train_tiny_cpu.sh``: (title, verl metric keys)."""


def plot(
    runs: dict[str, list[dict[str, Any]]], out: Path, panels: tuple[tuple[str, tuple[str, ...]], ...] = PANELS
) -> Path:
    """Draw ``panels`` for each named run (one line style per run, one colour per metric) into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = ["-", "--", ":", "-."]
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(5 * columns, 4 * rows), constrained_layout=True, squeeze=False
    )
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, keys) in zip(axes.flat, panels, strict=False):
        drawn = False
        for (label, steps), style in zip(runs.items(), styles * len(runs), strict=False):
            for key, colour in zip(keys, ("C0", "C1", "C2"), strict=False):
                points = [
                    (s["step"], s["data"][key]) for s in steps if isinstance(s["data"].get(key), (int, float))
                ]
                if points:
                    xs, ys = zip(*points, strict=True)
                    ax.plot(xs, ys, style, color=colour, marker="o", markersize=3,
                            label=f"{key.split('/', 1)[1]} ({label})")  # fmt: skip
                    drawn = True
        ax.set_title(title)
        ax.set_xlabel("step")
        if drawn:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def compare(start: Path, final: Path) -> str:
    """One line: avg@n of every benchmark before and after training (two ``simpletir-eval`` results)."""
    from simpletir.eval.records import load_result

    before, after = load_result(start), load_result(final)
    parts = []
    for name, late in after.metrics.items():
        early = before.metrics.get(name)
        if early is None:
            continue
        points = 100 * (late.avg - early.avg)
        parts.append(
            f"{name} avg@{late.samples_per_problem} on {late.problems} held-out problems: "
            f"start {100 * early.avg:.1f}% -> trained {100 * late.avg:.1f}% ({points:+.1f} points)"
        )
    return "; ".join(parts) or "the two results share no benchmark"


def main(argv: list[str] | None = None) -> int:
    """Console entry (``follow``, ``summary``, ``best``, ``plot``, ``curve``, ``compare``); returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m simpletir.dev.run_report", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    follow_cmd = sub.add_parser("follow", help="print a line per step as the run logs it")
    follow_cmd.add_argument("path", type=Path)
    follow_cmd.add_argument("--pid", type=int, default=None, help="stop once this process has exited")
    summary_cmd = sub.add_parser("summary", help="summarise a finished run")
    summary_cmd.add_argument("path", type=Path)
    plot_cmd = sub.add_parser("plot", help="draw the stability diagnostics of one or more runs (PNG)")
    plot_cmd.add_argument("paths", type=Path, nargs="+")
    plot_cmd.add_argument("--labels", nargs="+", default=None, help="one per run (default: the file names)")
    plot_cmd.add_argument("-o", "--out", type=Path, required=True)
    curve_cmd = sub.add_parser(
        "curve", help="draw a run's training reward and void-turn ratio per step (PNG)"
    )
    curve_cmd.add_argument("path", type=Path)
    curve_cmd.add_argument("-o", "--out", type=Path, required=True)
    compare_cmd = sub.add_parser("compare", help="avg@n before and after training, in one line")
    compare_cmd.add_argument("start", type=Path)
    compare_cmd.add_argument("final", type=Path)
    best_cmd = sub.add_parser(
        "best", help="the saved checkpoint with the highest validation metric (its path is the last field)"
    )
    best_cmd.add_argument("paths", type=Path, nargs="+", help="verl file logs of the run, oldest first")
    best_cmd.add_argument("--checkpoints", type=Path, required=True, help="trainer.default_local_dir")
    best_cmd.add_argument("--metric", required=True, help="a logged key, e.g. val-core/aime24/acc/mean@1")
    args = parser.parse_args(argv)
    if args.command == "best":
        missing = [str(p) for p in args.paths if not p.is_file()]
        if missing:
            print(f"run_report: missing {', '.join(missing)}", file=sys.stderr)
            return 2
        steps = [record for path in args.paths for record in read_steps(path)]
        try:
            best = best_checkpoint(steps, args.checkpoints, args.metric)
        except ValueError as exc:
            print(f"run_report: {exc}", file=sys.stderr)
            return 2
        print(format_best(best, args.metric))
        return 0
    if args.command == "compare":
        print(compare(args.start, args.final))
        return 0
    if args.command == "curve":
        if not args.path.is_file():
            print(f"run_report: {args.path} does not exist", file=sys.stderr)
            return 2
        print(plot({"run": read_steps(args.path)}, args.out, CURVE_PANELS))
        return 0
    if args.command == "plot":
        labels = args.labels or [p.stem for p in args.paths]
        missing = [str(p) for p in args.paths if not p.is_file()]
        if missing or len(labels) != len(args.paths):
            print(
                f"run_report: {'missing ' + ', '.join(missing) if missing else 'one label per run'}",
                file=sys.stderr,
            )
            return 2
        print(plot({label: read_steps(p) for label, p in zip(labels, args.paths, strict=True)}, args.out))
        return 0
    if args.command == "follow":
        for line in follow(args.path, args.pid):
            print(line, flush=True)
        return 0
    if not args.path.is_file():
        print(f"run_report: {args.path} does not exist", file=sys.stderr)
        return 2
    print(summary(read_steps(args.path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
