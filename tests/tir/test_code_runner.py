"""Tests for running a turn's code block: observation text, statuses and sandbox_error retries."""

from __future__ import annotations

import pytest

from simpletir.sandbox import ExecResult, ExecStatus, Sandbox
from simpletir.tir.code_runner import SANDBOX_FAILURE_OBSERVATION, CodeRunSettings, run_code_block
from simpletir.tir.protocol import FINAL_ANSWER_PRELUDE


class ScriptedSandbox(Sandbox):
    """Stands in for an unreliable sandbox service: replays results and records the programs it got."""

    def __init__(self, results: list[ExecResult | Exception]) -> None:
        self.results = list(results)
        self.programs: list[str] = []

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        self.programs.append(code)
        item = self.results.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


FAST = CodeRunSettings(retry_backoff_s=0.0)


@pytest.mark.parametrize(
    ("result", "observation", "status"),
    [
        (ExecResult(ExecStatus.OK, stdout="42\n"), "\nCode execution result: 42\n\n", "ok"),
        (ExecResult(ExecStatus.OK, stdout=""), "\nCode execution result: \n", "ok"),  # printed nothing
        (
            ExecResult(
                ExecStatus.ERROR, stdout="1\n", stderr="Traceback\nNameError: name 'x' is not defined\n"
            ),
            "\nCode execution result: NameError: name 'x' is not defined\n",
            "error",
        ),
        (ExecResult(ExecStatus.TIMEOUT), "\nCode execution result: Timeout\n", "timeout"),
    ],
)
async def test_observation_per_status(result: ExecResult, observation: str, status: str) -> None:
    run = await run_code_block(ScriptedSandbox([result]), "print(42)", FAST)
    assert run.observation == observation
    assert run.status == status
    assert run.attempts == 1


async def test_empty_output_appends_nothing_when_asked() -> None:
    quiet = CodeRunSettings(retry_backoff_s=0.0, show_empty_output=False)
    run = await run_code_block(ScriptedSandbox([ExecResult(ExecStatus.OK, stdout="")]), "x = 1", quiet)
    assert run.observation == ""
    run = await run_code_block(ScriptedSandbox([ExecResult(ExecStatus.OK, stdout="1\n")]), "print(1)", quiet)
    assert run.observation == "\nCode execution result: 1\n\n"


async def test_program_has_final_answer_prelude_and_detects_printed_answer() -> None:
    sandbox = ScriptedSandbox([ExecResult(ExecStatus.OK, stdout="\\boxed{7}\n")])
    run = await run_code_block(sandbox, "final_answer(7)", FAST)
    assert sandbox.programs == [FINAL_ANSWER_PRELUDE + "final_answer(7)"]
    assert run.printed_final_answer


async def test_sandbox_error_is_retried_then_succeeds() -> None:
    failure = ExecResult(ExecStatus.SANDBOX_ERROR, stderr="connection refused")
    sandbox = ScriptedSandbox([failure, failure, ExecResult(ExecStatus.OK, stdout="ok\n")])
    run = await run_code_block(
        sandbox, "print('ok')", CodeRunSettings(sandbox_retries=2, retry_backoff_s=0.0)
    )
    assert run.status == "ok" and run.attempts == 3
    assert len(sandbox.programs) == 3


async def test_persistent_sandbox_error_surfaces_as_observation() -> None:
    failure = ExecResult(ExecStatus.SANDBOX_ERROR, stderr="connection refused")
    sandbox = ScriptedSandbox([failure, failure])
    run = await run_code_block(sandbox, "print(1)", CodeRunSettings(sandbox_retries=1, retry_backoff_s=0.0))
    assert run.status == "sandbox_error" and run.attempts == 2
    assert run.observation == f"\nCode execution result: {SANDBOX_FAILURE_OBSERVATION}\n"


async def test_backend_exception_becomes_sandbox_error() -> None:
    sandbox = ScriptedSandbox([RuntimeError("boom")])
    run = await run_code_block(sandbox, "print(1)", CodeRunSettings(sandbox_retries=0))
    assert run.status == "sandbox_error"
    assert "RuntimeError: boom" in run.result.stderr


async def test_long_output_is_truncated_to_the_limit() -> None:
    sandbox = ScriptedSandbox([ExecResult(ExecStatus.OK, stdout="x" * 10_000)])
    run = await run_code_block(sandbox, "print('x' * 10000)", CodeRunSettings(max_observation_chars=100))
    assert "truncated to stay below 100 characters" in run.observation
    assert run.observation.removeprefix("\nCode execution result: ").count("x") == 100
