"""The void-turn filter in miniature: the tiny CPU recipe with the filter on and off, several seeds, the same budget.

Each run is ``recipes/train_tiny_cpu.sh`` (verl's V1 trainer, the hf rollout, the tiny model) with ``EVAL=0`` and
``STEPS`` steps; a seed sets verl's data order (``data.seed``) and rollout sampling (``rollout.seed``). Settings:

- ``filter``: the recipe as it is (the void-turn filter and the paper's group filters);
- ``no_filter``: ``simpletir.filter.void_turn=false`` (void trajectories stay in the update);
- ``baseline`` (``--baseline``): the paper's "no void-turn, no group filter" — the void-turn filter and every
  group filter off.

Per step, over seeds (mean and spread): training reward, void-turn ratio, ``actor/grad_norm``, and the share of
sampled tokens with probability < 1e-3 in turns that follow an observation (``simpletir_diag/post_obs``, the
paper's low-probability tokens). Writes a markdown table (stdout, and appended to ``--results`` when given) and
a PNG of the four curves.

Usage: python benchmarks/filter_ablation.py [--seeds 3] [--steps 16] [--baseline] [--out docs/img/filter_ablation.png]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from simpletir.dev.run_report import read_steps  # noqa: E402

NO_GROUP_FILTERS = [
    "simpletir.filter.min_group_reward_std=null",
    "simpletir.filter.accuracy_band=null",
    "simpletir.filter.mask_overlong=false",
    "simpletir.filter.min_non_overlong=0",
]
SETTINGS = {
    "filter": [],
    "no_filter": ["simpletir.filter.void_turn=false"],
    "baseline": ["simpletir.filter.void_turn=false", *NO_GROUP_FILTERS],
}
METRICS = (
    ("training reward", "critic/score/mean"),
    ("void-turn ratio", "simpletir/void_turn_ratio"),
    ("actor grad norm", "actor/grad_norm"),
    ("p < 1e-3 share after an observation", "simpletir_diag/post_obs/low_prob_0.001_share"),
)


def run(setting: str, seed: int, steps: int, root: Path) -> list[dict]:
    """One recipe run; returns its per-step records (raises with the log's end when it fails)."""
    run_dir = root / f"{setting}_seed{seed}"
    overrides = [*SETTINGS[setting], f"data.seed={seed}", f"actor_rollout_ref.rollout.seed={seed}"]
    env = {**os.environ, "RUN_DIR": str(run_dir), "STEPS": str(steps), "EVAL": "0"}
    start = time.perf_counter()
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / "train_tiny_cpu.sh"), *overrides],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"{setting} seed {seed} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    print(f"{setting} seed {seed}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return read_steps(run_dir / "metrics.jsonl")


def series(runs: list[list[dict]], key: str) -> list[list[float]]:
    """Per step, the values of ``key`` over runs (steps where a run did not log it are left out)."""
    steps = max(len(r) for r in runs)
    out = []
    for i in range(steps):
        out.append(
            [
                r[i]["data"][key]
                for r in runs
                if i < len(r) and isinstance(r[i]["data"].get(key), (int, float))
            ]
        )
    return out


def table(results: dict[str, list[list[dict]]], steps: int) -> str:
    """Markdown: per setting, the last step's mean ± std over seeds, the largest grad norm, masked rows in all."""
    lines = [
        f"| setting | seeds | reward, step {steps} | void ratio, step {steps} | grad norm, max | "
        "p<1e-3 after obs, mean | masked rows |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for setting, runs in results.items():
        last = [r[-1]["data"] for r in runs]

        def spread(values: list[float]) -> str:
            return f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f}"

        grad_max = max(max(s["data"].get("actor/grad_norm", 0.0) for s in r) for r in runs)
        low = [
            statistics.mean(v for s in r if isinstance(v := s["data"].get(METRICS[3][1]), (int, float)))
            for r in runs
        ]
        masked = sum(s["data"].get("simpletir/masked_trajectories", 0.0) for r in runs for s in r)
        lines.append(
            f"| {setting} | {len(runs)} | {spread([d['critic/score/mean'] for d in last])} | "
            f"{spread([d['simpletir/void_turn_ratio'] for d in last])} | {grad_max:.2f} | {spread(low)} | "
            f"{masked / len(runs):.0f} per run |"
        )
    return "\n".join(lines)


def plot(results: dict[str, list[list[dict]]], out: Path) -> Path:
    """Four panels (``METRICS``): the mean over seeds per step, with the min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4), constrained_layout=True)
    for ax, (title, key) in zip(axes, METRICS, strict=True):
        for (setting, runs), colour in zip(results.items(), ("C0", "C1", "C2"), strict=False):
            values = series(runs, key)
            steps = [i + 1 for i, v in enumerate(values) if v]
            mean = [statistics.mean(v) for v in values if v]
            ax.plot(steps, mean, color=colour, marker="o", markersize=3, label=setting)
            ax.fill_between(
                steps, [min(v) for v in values if v], [max(v) for v in values if v], color=colour, alpha=0.15
            )
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    """Run every setting for every seed, then print the table and draw the curves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--baseline", action="store_true", help="also the paper's no-filter-at-all baseline")
    parser.add_argument(
        "--root", type=Path, default=Path("outputs/filter_ablation"), help="the runs' folders"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "filter_ablation.png")
    parser.add_argument("--results", type=Path, default=None, help="append the table to this markdown file")
    args = parser.parse_args()
    settings = [s for s in SETTINGS if s != "baseline" or args.baseline]
    results: dict[str, list[list[dict]]] = {s: [] for s in settings}
    for seed in range(args.seeds):  # seed by seed, so that a drifting machine touches every setting alike
        for setting in settings:
            results[setting].append(run(setting, seed, args.steps, args.root))
    text = table(results, args.steps)
    print(text)
    print(f"plot: {plot(results, args.out)}")
    if args.results:
        with args.results.open("a", encoding="utf-8") as f:
            f.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
