"""Running a planned ``simpletir-eval run``: the completion backend (a server client or the model in this process),
the sandbox, the trajectories, grading and metrics (``evaluate``)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simpletir.eval.checks import UsageError
from simpletir.eval.client import ClientSettings, CompletionClient
from simpletir.eval.completion import CompletionBackend
from simpletir.eval.metrics import all_metrics, exact_same, symbolic_same
from simpletir.eval.planner import Plan, trajectory_key
from simpletir.eval.records import CHECKPOINT_NAME, CheckpointWriter, EvalResult, TrajectoryRecord
from simpletir.eval.rollout import (
    RolloutSettings,
    TrajectoryRunner,
    estimate_tokens,
    regrade,
    run_trajectories,
)
from simpletir.tir.code_runner import CodeRunSettings


def make_backend(args: argparse.Namespace, tokenizer: Any) -> CompletionBackend:
    """The run's completion backend: a client of the ``--url`` server, or the ``--model`` directory loaded in
    this process (which takes a while; said on stderr). Raises ``UsageError`` when the model does not load."""
    if args.url:
        return CompletionClient(
            ClientSettings(
                base_url=args.url,
                model=args.model,
                api_key=args.api_key,
                timeout_s=args.request_timeout,
                retries=args.retries,
                backoff_s=args.retry_backoff,
            )
        )
    from simpletir.eval.local_model import LocalModel, LocalModelSettings, ModelLoadError, resolve_device

    args.device = str(resolve_device(args.device))  # recorded in the result's settings
    print(f"loading {args.model} on {args.device} (in-process generation)", file=sys.stderr)
    settings = LocalModelSettings(
        path=Path(args.model),
        device=args.device,
        dtype=args.dtype,
        max_batch=args.concurrency,
        seed=args.seed,
    )
    try:
        return LocalModel.load(settings, tokenizer)
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from None


async def evaluate(args: argparse.Namespace, plan: Plan) -> EvalResult:
    """Evaluate the planned trajectories and return the result (trajectories graded with ``args.grader``, the
    reused ones too; metrics computed)."""
    from simpletir.reward import compute_score
    from simpletir.sandbox import SandboxError, create_sandbox

    tokenizer = plan.tokenizer
    if tokenizer is not None:

        def count_tokens(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False))
    else:
        count_tokens = estimate_tokens
    settings = RolloutSettings(
        max_turns=args.max_turns,
        max_tokens_per_turn=args.max_tokens_per_turn,
        max_response_tokens=args.max_response_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        stop_strategy=args.stop_strategy,
        seed=args.seed,
        code=CodeRunSettings(timeout_s=args.code_timeout),
        extra_body=args.extra_body,
    )
    checkpoint = args.output_dir / CHECKPOINT_NAME

    def grade(record: TrajectoryRecord) -> dict[str, Any]:
        return compute_score(record.data_source, record.response, record.ground_truth, grader=args.grader)

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if plan.kept:
        await regrade(plan.kept, grade)
        print(
            f"regraded the {len(plan.kept)} reused trajectories with the {args.grader} grader",
            file=sys.stderr,
        )
    backend = make_backend(args, tokenizer)
    async with backend:
        model = await backend.resolve_model()
        try:
            sandbox = create_sandbox(args.sandbox, **dict(args.sandbox_option))
        except (SandboxError, ImportError, TypeError) as exc:
            raise UsageError(f"cannot create sandbox {args.sandbox!r}: {exc}") from exc
        async with sandbox:
            runner = TrajectoryRunner(backend, sandbox, settings, count_tokens)
            writer = CheckpointWriter(checkpoint, plan.kept)
            try:
                records = await run_trajectories(
                    runner,
                    plan.todo,
                    grade,
                    concurrency=args.concurrency,
                    progress=not args.no_progress,
                    on_record=writer.append,
                )
            finally:
                writer.close()
    records = sorted(plan.kept + records, key=lambda r: plan.order[trajectory_key(r)])
    same = symbolic_same if args.maj_equivalence == "symbolic" else exact_same
    recorded = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in {"api_key", "server_options"}
    }
    recorded["data"] = [str(p) for p in args.data]
    return EvalResult(
        label=args.label or model,
        model=model,
        grader=args.grader,
        settings=recorded,
        started_at=started,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        metrics=all_metrics(records, same),
        trajectories=records,
    )
