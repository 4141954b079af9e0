"""Run one turn's code block in a sandbox and turn the result into the model's observation.

Shared by the training agent loop and the evaluation loop. Infrastructure failures
(``sandbox_error``) are retried a bounded number of times; after that they surface as an
observation and a status, never as an exception and never as a silent empty observation.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from simpletir.sandbox import ExecResult, ExecStatus, Sandbox
from simpletir.tir.protocol import build_program, format_observation, has_final_answer, observation_body

logger = logging.getLogger(__name__)

SANDBOX_FAILURE_OBSERVATION = "Sandbox error: the code could not be executed"


@dataclass(frozen=True)
class CodeRunSettings:
    """How a turn's code is executed and shown to the model (defaults: the final upstream script's values)."""

    timeout_s: PositiveFloat = 3.0
    """Wall-clock limit per program (upstream: 3 s)."""
    max_observation_chars: PositiveInt = 512
    """Observation text is cut to this many characters (head + note + tail)."""
    show_empty_output: bool = True
    """A program that printed nothing still appends ``"\\nCode execution result: \\n"`` (the final upstream code);
    False: it appends nothing (upstream's earlier behaviour)."""
    stderr_lines: NonNegativeInt = 1
    """When stderr is non-empty, only its last this-many lines are shown."""
    sandbox_retries: NonNegativeInt = 2
    """Extra attempts after a ``sandbox_error`` (an infrastructure fault), with a short backoff."""
    retry_backoff_s: NonNegativeFloat = 0.5
    """Delay before the first retry; doubles per retry."""


@dataclass(frozen=True)
class CodeRun:
    """One executed code block: the sandbox result, the observation appended, and whether it answered."""

    code: str
    result: ExecResult
    observation: str
    attempts: int

    @property
    def status(self) -> str:
        """The execution status as a plain string (``ok``, ``error``, ``timeout``, …)."""
        return self.result.status.value

    @property
    def printed_final_answer(self) -> bool:
        """True when the program's stdout contains ``\\boxed{`` (e.g. via ``final_answer``)."""
        return has_final_answer(self.result.stdout)


async def run_code_block(sandbox: Sandbox, code: str, settings: CodeRunSettings) -> CodeRun:
    """Execute ``code`` (with the ``final_answer`` prelude) and return the run with its observation."""
    program = build_program(code)
    attempts = 0
    delay = settings.retry_backoff_s
    while True:
        attempts += 1
        try:
            result = await sandbox.run(program, timeout=settings.timeout_s)
        except Exception as exc:  # a backend must not raise, but one fault must not kill a trajectory
            logger.exception("sandbox backend raised instead of returning a result")
            result = ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=f"{type(exc).__name__}: {exc}")
        if result.status is not ExecStatus.SANDBOX_ERROR or attempts > settings.sandbox_retries:
            break
        logger.warning("sandbox_error (attempt %d), retrying: %s", attempts, result.stderr[-200:])
        await asyncio.sleep(delay)
        delay *= 2
    return CodeRun(code=code, result=result, observation=_observation(result, settings), attempts=attempts)


def _observation(result: ExecResult, settings: CodeRunSettings) -> str:
    """Format what the model sees for ``result``."""
    if result.status is ExecStatus.SANDBOX_ERROR:
        return format_observation(SANDBOX_FAILURE_OBSERVATION)
    body = observation_body(
        result.stdout,
        result.stderr,
        timed_out=result.status is ExecStatus.TIMEOUT,
        max_chars=settings.max_observation_chars,
        stderr_lines=settings.stderr_lines,
    )
    return format_observation(body, show_empty=settings.show_empty_output)
