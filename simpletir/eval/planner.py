"""What a ``simpletir-eval run`` will do: its trajectories (problems x samples, prompts rendered), which an earlier
run already finished (``--resume``), and the tokenizer that counts tokens (``plan_run``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simpletir.eval.benchmarks import Problem, load_benchmark, render_prompt
from simpletir.eval.checks import UsageError, benchmark_files, check_run_args, load_tokenizer
from simpletir.eval.completion import one_line
from simpletir.eval.records import CHECKPOINT_NAME, TrajectoryRecord, load_checkpoint, load_result
from simpletir.eval.rollout import Job


def trajectory_key(record: TrajectoryRecord) -> tuple[str, str, int]:
    """Identity of a trajectory within a run: benchmark, problem id, sample number."""
    return record.benchmark, record.problem_id, record.sample_index


def reusable(output_dir: Path) -> tuple[list[TrajectoryRecord], Path]:
    """The finished trajectories of an earlier run in ``output_dir`` and the file they are from: its
    checkpoint or, when it had finished, its ``results.json``; failed ones are left out (they rerun)."""
    checkpoint = output_dir / CHECKPOINT_NAME
    results = output_dir / "results.json"
    if checkpoint.is_file() or not results.is_file():
        return [r for r in load_checkpoint(checkpoint) if r.end_reason != "failed"], checkpoint
    return [r for r in load_result(results).trajectories if r.end_reason != "failed"], results


@dataclass
class Plan:
    """What a run will do: its trajectories, which are already done, and how to count tokens."""

    jobs: list[Job]
    kept: list[TrajectoryRecord]
    todo: list[Job]
    order: dict[tuple[str, str, int], int]
    tokenizer: Any


def plan_run(args: argparse.Namespace) -> Plan:
    """Check everything that needs neither the server nor the model's weights (options, data, tokenizer,
    device, output directory) and list the trajectories to run; raises ``UsageError`` (or a file error) on
    the first problem."""
    check_run_args(args)
    problems: list[Problem] = []
    for path in benchmark_files(args):
        problems.extend(load_benchmark(path, limit=args.limit))
    tokenizer = load_tokenizer(args)
    if not args.url:
        from simpletir.eval.local_model import ModelLoadError, resolve_device, sampling_settings

        try:
            resolve_device(args.device)
            sampling_settings(
                max_tokens=1, temperature=args.temperature, top_p=args.top_p, extra=args.extra_body
            )
        except ModelLoadError as exc:
            raise UsageError(str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--extra-body: {one_line(exc)}") from None
    template = None if args.no_chat_template else tokenizer
    jobs = [
        Job(index, problem, render_prompt(problem.messages, template), sample)
        for index, (problem, sample) in enumerate((p, s) for p in problems for s in range(args.samples))
    ]
    order = {(j.problem.benchmark, j.problem.problem_id, j.sample_index): j.index for j in jobs}
    kept: list[TrajectoryRecord] = []
    if args.resume:
        earlier, source = reusable(args.output_dir)
        kept = list({trajectory_key(r): r for r in earlier if trajectory_key(r) in order}.values())
    finished = {trajectory_key(r) for r in kept}
    todo = [j for j in jobs if (j.problem.benchmark, j.problem.problem_id, j.sample_index) not in finished]
    if args.resume:
        print(f"resuming: {len(kept)} trajectories from {source}, {len(todo)} to run", file=sys.stderr)
    return Plan(jobs, kept, todo, order, tokenizer)
