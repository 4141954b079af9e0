"""Evaluation of TIR models on math benchmarks (``simpletir-eval``), against an OpenAI-compatible server or with
a transformers model in this process (``simpletir.eval.local_model``, imported on its own: it loads torch)."""

from simpletir.eval.benchmarks import Problem, load_benchmark, render_prompt
from simpletir.eval.client import ClientSettings, CompletionClient
from simpletir.eval.completion import Completion, CompletionBackend, CompletionError
from simpletir.eval.metrics import benchmark_metrics, majority_correct, pass_at_k
from simpletir.eval.records import (
    BenchmarkMetrics,
    EvalResult,
    TrajectoryRecord,
    TurnRecord,
    load_result,
    save_result,
)
from simpletir.eval.report import write_report
from simpletir.eval.rollout import Job, RolloutSettings, TrajectoryRunner, run_trajectories
from simpletir.eval.viewer import write_viewer

__all__ = [
    "BenchmarkMetrics",
    "ClientSettings",
    "Completion",
    "CompletionBackend",
    "CompletionClient",
    "CompletionError",
    "EvalResult",
    "Job",
    "Problem",
    "RolloutSettings",
    "TrajectoryRecord",
    "TrajectoryRunner",
    "TurnRecord",
    "benchmark_metrics",
    "load_benchmark",
    "load_result",
    "majority_correct",
    "pass_at_k",
    "render_prompt",
    "run_trajectories",
    "save_result",
    "write_report",
    "write_viewer",
]
