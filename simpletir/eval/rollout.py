"""The text-level TIR loop on a completion backend (a server, or a model in this process): generate a turn,
run its code, repeat.

It follows the training agent loop's protocol (``simpletir.tir.protocol`` + ``simpletir.tir.code_runner``):
a turn ends when its first code block closes; the block runs in the sandbox and the observation is
appended; the trajectory ends at ``\\boxed{`` (turn text or stdout), a void turn, the turn limit or
the token budget. Two ways to end a turn at the code block (``stop_strategy``):

- ``fence`` (default): generate with ``stop=["```"]``. A fence is ambiguous (it opens or closes a
  block), so the loop re-appends the fence and continues the same turn until the first code block is
  complete or the model stops for another reason. Needs a server that reports which stop string
  fired (vLLM's ``stop_reason``, SGLang's ``matched_stop``).
- ``cut``: generate to EOS or the turn's token limit and cut the text after the first complete block
  (the original implementation). Works with any server, wastes the tokens after the block.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tqdm.auto import tqdm

from simpletir.eval.benchmarks import Problem
from simpletir.eval.completion import Completion, CompletionBackend, CompletionError, UnsupportedServerError
from simpletir.eval.records import TrajectoryRecord, TurnRecord
from simpletir.sandbox import Sandbox
from simpletir.tir.agent_config import TIRAgentConfig
from simpletir.tir.code_runner import CodeRunSettings, run_code_block
from simpletir.tir.protocol import (
    CODE_FENCE,
    MAX_REQUESTS_PER_TURN,
    EndReason,
    TurnKind,
    classify_turn,
    end_after_observation,
    end_after_turn,
    find_first_code_block,
)

logger = logging.getLogger(__name__)

FENCE = CODE_FENCE
TokenCounter = Callable[[str], int]
Grader = Callable[[TrajectoryRecord], dict[str, Any]]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per 4 UTF-8 bytes, rounded up."""
    return -(-len(text.encode("utf-8")) // 4)


@dataclass(frozen=True)
class RolloutSettings:
    """Sampling and turn limits of one evaluation (defaults: the paper's evaluation settings, the training
    config's validation values ``simpletir.agent.val_max_turns`` / ``val_max_tokens_per_turn``)."""

    max_turns: int = TIRAgentConfig.val_max_turns
    """Turns per trajectory (generations); 10 in the paper's evaluation."""
    max_tokens_per_turn: int = TIRAgentConfig.val_max_tokens_per_turn
    """New tokens per turn (over all requests of the turn)."""
    max_response_tokens: int = 36_000
    """Response budget: model tokens plus observation tokens."""
    temperature: float = 1.0
    top_p: float = 1.0
    stop_strategy: Literal["fence", "cut"] = "fence"
    max_requests_per_turn: int = MAX_REQUESTS_PER_TURN
    """Fence strategy: requests one turn may take before it is ended as cut off."""
    seed: int | None = None
    """Base seed; request ``r`` of trajectory ``t`` is sent ``seed + 100_003 * t + r``."""
    code: CodeRunSettings = field(default_factory=CodeRunSettings)
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Extra fields merged into every completion request (server-specific options)."""


def _stop_fired(completion: Completion) -> bool:
    """True when the server says generation stopped at the fence stop string (not at EOS); raises
    ``UnsupportedServerError`` when the server does not say which stop fired."""
    if completion.finish_reason != "stop":
        return False
    if not completion.reports_stop:
        raise UnsupportedServerError(
            "the server does not report which stop string ended a completion (no stop_reason/matched_stop), "
            "so the fence strategy cannot tell a code fence from EOS; use --stop-strategy cut"
        )
    return completion.stop_string == FENCE


@dataclass
class _Turn:
    """The text and accounting of one turn while it is generated."""

    text: str = ""
    tokens: int = 0
    requests: int = 0
    finish_reason: str | None = None


class TrajectoryRunner:
    """Runs trajectories of one evaluation on one completion backend and one sandbox."""

    def __init__(
        self,
        client: CompletionBackend,
        sandbox: Sandbox,
        settings: RolloutSettings,
        count_tokens: TokenCounter = estimate_tokens,
    ) -> None:
        self.client = client
        self.sandbox = sandbox
        self.settings = settings
        self.count_tokens = count_tokens

    def _seed(self, trajectory: int, request: int) -> int | None:
        """The per-request seed, or None when no base seed is set."""
        return None if self.settings.seed is None else self.settings.seed + 100_003 * trajectory + request

    async def _generate_turn(self, context: str, budget: int, trajectory: int, request_base: int) -> _Turn:
        """Generate one turn of at most ``budget`` tokens after ``context``."""
        s = self.settings
        turn = _Turn()
        stop = [FENCE] if s.stop_strategy == "fence" else None
        while True:
            remaining = budget - turn.tokens
            if remaining <= 0 or turn.requests >= s.max_requests_per_turn:
                turn.finish_reason = "length"
                break
            completion = await self.client.complete(
                context + turn.text,
                max_tokens=remaining,
                temperature=s.temperature,
                top_p=s.top_p,
                stop=stop,
                seed=self._seed(trajectory, request_base + turn.requests),
                extra=s.extra_body,
            )
            turn.requests += 1
            turn.text += completion.text
            turn.finish_reason = completion.finish_reason
            if completion.completion_tokens is not None:
                turn.tokens += completion.completion_tokens
            else:
                turn.tokens += self.count_tokens(completion.text)
            if s.stop_strategy == "cut":
                block = find_first_code_block(turn.text)
                if block is not None and block.end < len(turn.text):
                    turn.text = turn.text[: block.end]
                    turn.tokens = min(turn.tokens, self.count_tokens(turn.text))
                break
            if not _stop_fired(completion):
                break
            turn.text += FENCE
            if find_first_code_block(turn.text) is not None:
                break
        return turn

    async def run(
        self, problem: Problem, prompt: str, sample_index: int, trajectory: int
    ) -> TrajectoryRecord:
        """Run one trajectory to its end; request failures end it with ``end_reason="failed"``."""
        s = self.settings
        started = time.monotonic()
        record = TrajectoryRecord(
            benchmark=problem.benchmark,
            problem_id=problem.problem_id,
            sample_index=sample_index,
            data_source=problem.data_source,
            question=problem.question,
            ground_truth=problem.ground_truth,
            prompt=prompt,
            end_reason=EndReason.MAX_TURNS,
            prompt_tokens=self.count_tokens(prompt),
        )
        response = ""
        used = 0
        requests = 0
        end: EndReason | None = None
        try:
            for index in range(s.max_turns):
                budget = min(s.max_tokens_per_turn, s.max_response_tokens - used)
                turn = await self._generate_turn(prompt + response, budget, trajectory, requests)
                requests += turn.requests
                used += turn.tokens
                kind = classify_turn(turn.text)
                entry = TurnRecord(
                    index=index,
                    text=turn.text,
                    kind=kind.value,
                    finish_reason=turn.finish_reason,
                    completion_tokens=turn.tokens,
                    requests=turn.requests,
                )
                record.turns.append(entry)
                response += turn.text
                end = end_after_turn(kind, used, s.max_response_tokens)
                if end is not None:
                    break
                block = find_first_code_block(turn.text)
                assert block is not None  # classify_turn said CODE
                run = await run_code_block(self.sandbox, block.code, s.code)
                entry.code = block.code
                entry.exec_status = run.status
                entry.stdout = run.result.stdout
                entry.stderr = run.result.stderr
                entry.exec_duration_s = run.result.duration_s
                entry.observation = run.observation
                entry.observation_tokens = self.count_tokens(run.observation) if run.observation else 0
                used += entry.observation_tokens
                response += run.observation
                end = end_after_observation(
                    turn.text, run.printed_final_answer, used, s.max_response_tokens, index + 1 >= s.max_turns
                )
                if end is not None:
                    break
        except CompletionError as exc:
            end = EndReason.FAILED
            record.error = str(exc)
        record.response = response
        record.end_reason = end or EndReason.MAX_TURNS  # no turn at all: max_turns < 1
        record.void = any(turn.kind == TurnKind.VOID.value for turn in record.turns)
        record.response_tokens = used
        record.elapsed_s = time.monotonic() - started
        return record


@dataclass(frozen=True)
class Job:
    """One trajectory to run: its index in the whole evaluation (stable across resumes, used for
    seeds), the problem, the rendered prompt and the sample number."""

    index: int
    problem: Problem
    prompt: str
    sample_index: int


def apply_grade(record: TrajectoryRecord, graded: dict[str, Any]) -> None:
    """Set ``record``'s answer, correctness and score from a reward result dict (``compute_score``'s)."""
    record.answer = graded.get("pred") or None
    record.correct = bool(graded.get("acc", False))
    record.score = float(graded.get("score", 0.0))


async def regrade(records: Sequence[TrajectoryRecord], grader: Grader) -> None:
    """Grade ``records`` again with ``grader`` (in threads), in place: a resumed run's finished trajectories
    are scored by the run's grader, whichever graded them before."""
    graded = await asyncio.gather(*(asyncio.to_thread(grader, record) for record in records))
    for record, result in zip(records, graded, strict=True):
        apply_grade(record, result)


async def run_trajectories(
    runner: TrajectoryRunner,
    jobs: Sequence[Job],
    grader: Grader,
    *,
    concurrency: int,
    progress: bool = True,
    on_record: Callable[[TrajectoryRecord], None] | None = None,
) -> list[TrajectoryRecord]:
    """Run every job with at most ``concurrency`` in flight, grade each finished trajectory with
    ``grader`` (in a thread), pass it to ``on_record`` (e.g. to checkpoint it), and return the records
    in job order. Raises ``UnsupportedServerError`` when the first ``concurrency`` trajectories to finish
    (all of them, when fewer) all failed: a backend that fails everything is not worth the whole run."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    semaphore = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(jobs), desc="trajectories", unit="traj", disable=not progress, dynamic_ncols=True)
    first_batch = min(concurrency, len(jobs))
    done = correct = failed_first = 0

    async def one(job: Job) -> TrajectoryRecord:
        nonlocal done, correct, failed_first
        async with semaphore:
            record = await runner.run(job.problem, job.prompt, job.sample_index, job.index)
        if record.end_reason != EndReason.FAILED:
            apply_grade(record, await asyncio.to_thread(grader, record))
        if on_record is not None:
            on_record(record)
        done += 1
        if done <= first_batch and record.end_reason == EndReason.FAILED:
            failed_first += 1
            if failed_first == first_batch:
                raise UnsupportedServerError(
                    f"the first {first_batch} trajectories all failed, so generation does not work; "
                    f"the last error: {record.error}"
                )
        correct += record.correct
        bar.set_postfix(acc=f"{correct / done:.3f}", refresh=False)
        bar.update(1)
        return record

    tasks = [asyncio.ensure_future(one(job)) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        bar.close()
