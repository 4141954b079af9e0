"""Markdown tables and PNG plots of evaluation results (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from simpletir.eval.records import BenchmarkMetrics, EvalResult, load_result

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pct(value: float) -> str:
    """A rate in [0, 1] as a percentage with one decimal."""
    return f"{100 * value:.1f}"


def _row(cells: Sequence[object]) -> str:
    """One Markdown table row; ``|`` inside a cell is escaped."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def summary_markdown(result: EvalResult) -> str:
    """One run's per-benchmark table: accuracy (percent) and tool-use statistics."""
    metrics = result.metrics
    ks = sorted({k for m in metrics.values() for k in m.pass_at})
    header = ["benchmark", "problems", "n", "avg@n", *[f"pass@{k}" for k in ks], "maj@n"]
    header += [
        "turns",
        "code runs",
        "exec error",
        "exec timeout",
        "sandbox error",
        "void",
        "answered",
        "failed",
    ]
    header += ["resp. tokens"]
    lines = [
        f"# {result.label}",
        "",
        f"model `{result.model}`, {result.finished_at}; {result.grader} grader; accuracies in %",
        "",
    ]
    lines += [_row(header), _row(["---"] * len(header))]
    for name, m in metrics.items():
        rates = m.exec_status_rates
        lines.append(
            _row(
                [name, m.problems, m.samples_per_problem, _pct(m.avg)]
                + [_pct(m.pass_at[k]) if k in m.pass_at else "" for k in ks]
                + [_pct(m.maj), f"{m.mean_turns:.2f}", f"{m.mean_code_executions:.2f}"]
                + [_pct(rates.get(s, 0.0)) for s in ("error", "timeout", "sandbox_error")]
                + [
                    _pct(m.void_rate),
                    _pct(m.answer_rate),
                    _pct(m.failed_rate),
                    f"{m.mean_response_tokens:.0f}",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def comparison_markdown(results: Sequence[EvalResult]) -> str:
    """Runs × benchmarks table of avg@n / pass@n / maj@n (percent) with each run's grader; a run lacking a
    benchmark shows ``–``; runs scored by different graders are said not to be comparable."""
    benchmarks: list[str] = []
    for result in results:
        benchmarks += [b for b in result.metrics if b not in benchmarks]
    header = ["run", "grader"] + [f"{b} avg / pass / maj" for b in benchmarks] + ["mean avg"]
    lines = ["accuracy in %, n = samples per problem (avg@n / pass@n / maj@n)", ""]
    graders = sorted({r.grader for r in results})
    if len(graders) > 1:
        lines += [
            f"**These runs were scored by different graders ({', '.join(graders)}): their accuracies are not "
            "comparable.** A run's command with `--resume --grader NAME` regrades it (nothing is generated again).",
            "",
        ]
    lines += [_row(header), _row(["---"] * len(header))]
    for result in results:
        cells: list[object] = [result.label, result.grader]
        for b in benchmarks:
            m = result.metrics.get(b)
            if m is None:
                cells.append("–")
            else:
                n = m.samples_per_problem
                cells.append(
                    f"{_pct(m.avg)} / {_pct(m.pass_at.get(n, float('nan')))} / {_pct(m.maj)} (n={n})"
                )
        averages = [m.avg for m in result.metrics.values()]
        cells.append(_pct(sum(averages) / len(averages)) if averages else "–")
        lines.append(_row(cells))
    return "\n".join(lines) + "\n"


def _unique_labels(results: Sequence[EvalResult]) -> list[str]:
    """Run labels, suffixed with ``#i`` where two runs share a label."""
    labels = [r.label for r in results]
    return [f"{label}#{i}" if labels.count(label) > 1 else label for i, label in enumerate(labels)]


def accuracy_figure(results: Sequence[EvalResult], labels: Sequence[str]) -> Figure:
    """Grouped bars: avg@n per benchmark, one bar per run; a benchmark a run did not evaluate has no bar
    (it is marked "not run", never drawn as 0)."""
    import matplotlib.pyplot as plt

    benchmarks: list[str] = []
    for result in results:
        benchmarks += [b for b in result.metrics if b not in benchmarks]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(benchmarks) * max(1, len(results)) / 2), 4))
    width = 0.8 / max(1, len(results))
    for i, (result, label) in enumerate(zip(results, labels, strict=True)):
        xs = [j + i * width for j in range(len(benchmarks))]
        ran = [
            (x, 100 * result.metrics[b].avg)
            for x, b in zip(xs, benchmarks, strict=True)
            if b in result.metrics
        ]
        bars = ax.bar([x for x, _ in ran], [y for _, y in ran], width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
        for x, b in zip(xs, benchmarks, strict=True):
            if b not in result.metrics:
                ax.text(x, 1, "not run", rotation=90, ha="center", va="bottom", fontsize=7, color="gray")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(benchmarks))], benchmarks)
    ax.set_ylabel("avg@n (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Accuracy per benchmark")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _pooled(metrics: dict[str, BenchmarkMetrics]) -> tuple[dict[int, int], dict[int, float]]:
    """Trajectory counts and accuracy per number of turns, pooled over benchmarks."""
    counts: dict[int, int] = {}
    hits: dict[int, float] = {}
    for m in metrics.values():
        for turns, count in m.trajectories_by_turns.items():
            counts[turns] = counts.get(turns, 0) + count
            hits[turns] = hits.get(turns, 0.0) + m.accuracy_by_turns[turns] * count
    return counts, {t: hits[t] / counts[t] for t in counts}


def turns_figure(results: Sequence[EvalResult], labels: Sequence[str]) -> Figure:
    """Share of trajectories per number of turns, one bar group per run (pooled over benchmarks)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(1, len(results))
    for i, (result, label) in enumerate(zip(results, labels, strict=True)):
        counts, _ = _pooled(result.metrics)
        total = sum(counts.values()) or 1
        turns = sorted(counts)
        offset = i * width - 0.4 + width / 2
        ax.bar([t + offset for t in turns], [100 * counts[t] / total for t in turns], width, label=label)
    ax.set_xlabel("turns per trajectory")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("trajectories (%)")
    ax.set_title("Turns distribution")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_by_turns_figure(results: Sequence[EvalResult], labels: Sequence[str]) -> Figure:
    """Accuracy of trajectories grouped by their number of turns, one line per run."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    for result, label in zip(results, labels, strict=True):
        _, accuracy = _pooled(result.metrics)
        turns = sorted(accuracy)
        ax.plot(turns, [100 * accuracy[t] for t in turns], marker="o", label=label)
    ax.set_xlabel("turns per trajectory")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title("Accuracy by number of turns")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_report(result_paths: Sequence[Path], output_dir: Path) -> dict[str, Path]:
    """Load result files and write ``comparison.md`` and three PNG plots; returns their paths by kind."""
    import matplotlib

    matplotlib.use("Agg")
    results = [load_result(Path(p)) for p in result_paths]
    labels = _unique_labels(results)
    for result, label in zip(results, labels, strict=True):
        result.label = label
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "table": output_dir / "comparison.md",
        "accuracy": output_dir / "accuracy.png",
        "turns": output_dir / "turns.png",
        "accuracy_by_turns": output_dir / "accuracy_by_turns.png",
    }
    sections = [comparison_markdown(results)] + [summary_markdown(r) for r in results]
    paths["table"].write_text("\n".join(sections), encoding="utf-8")
    import matplotlib.pyplot as plt

    for kind, draw in (
        ("accuracy", accuracy_figure),
        ("turns", turns_figure),
        ("accuracy_by_turns", accuracy_by_turns_figure),
    ):
        fig = draw(results, labels)
        fig.savefig(paths[kind], dpi=120)
        plt.close(fig)
    return paths
