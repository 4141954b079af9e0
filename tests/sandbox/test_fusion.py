"""The ``sandbox_fusion`` backend against a stand-in server that speaks SandboxFusion's ``/run_code`` API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from simpletir.sandbox import ExecStatus, create_sandbox
from simpletir.sandbox.fusion import map_fusion_reply

from .servers import free_port, running


class RunCodeRequest(BaseModel):
    """The fields of SandboxFusion's RunCodeRequest this client sends (types as the server declares them)."""

    model_config = ConfigDict(extra="forbid")

    code: str
    language: str
    run_timeout: float
    memory_limit_MB: int
    stdin: str | None = None


def _run(status: str, stdout: str = "", stderr: str = "", code: int | None = 0, t: float = 0.01) -> dict:
    return {"status": status, "stdout": stdout, "stderr": stderr, "return_code": code, "execution_time": t}


REPLIES: dict[str, dict[str, Any]] = {
    "ok": {"status": "Success", "message": "", "run_result": _run("Finished", stdout="42\n")},
    "error": {
        "status": "Failed",
        "message": "",
        "run_result": _run("Finished", stderr="Traceback...\nValueError: boom\n", code=1),
    },
    "timeout": {"status": "Failed", "message": "", "run_result": _run("TimeLimitExceeded", code=None, t=1.0)},
    "memory": {
        "status": "Failed",
        "message": "",
        "run_result": _run("Finished", stderr="MemoryError\n", code=1),
    },
    "killed": {"status": "Failed", "message": "", "run_result": _run("Finished", code=-9)},
    "sandbox_error": {"status": "SandboxError", "message": "worker pool exhausted", "run_result": None},
}


@pytest.fixture(scope="module")
def fusion() -> Iterator[tuple[str, list[RunCodeRequest]]]:
    seen: list[RunCodeRequest] = []
    app = FastAPI()

    @app.post("/run_code")
    async def run_code(body: RunCodeRequest) -> JSONResponse:
        seen.append(body)
        if body.code == "echo":
            return JSONResponse(
                {"status": "Success", "message": "", "run_result": _run("Finished", stdout=body.stdin or "")}
            )
        if body.code == "http 500":
            return JSONResponse({"detail": "internal"}, status_code=500)
        return JSONResponse(REPLIES[body.code])

    with running(app) as url:
        yield url, seen


async def test_every_status_maps_through_the_api(fusion: tuple[str, list[RunCodeRequest]]) -> None:
    url, seen = fusion
    async with create_sandbox("sandbox_fusion", url=url, memory_limit_mb=512) as sb:
        results = await asyncio.gather(*(sb.run(code, timeout=1.5) for code in REPLIES))
        echo = await sb.run("echo", stdin="hello\n")
        broken = await sb.run("http 500")
    assert [r.status.value for r in results] == list(REPLIES)
    ok, error = results[0], results[1]
    assert (ok.stdout, ok.returncode, ok.duration_s) == ("42\n", 0, 0.01)
    assert error.stderr.endswith("ValueError: boom\n") and error.returncode == 1
    assert "worker pool exhausted" in results[-1].stderr
    assert echo.stdout == "hello\n"
    assert broken.status is ExecStatus.SANDBOX_ERROR and "HTTP 500" in broken.stderr
    first = next(r for r in seen if r.code == "ok")
    assert (first.language, first.run_timeout, first.memory_limit_MB) == ("python", 1.5, 512)


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ({"status": "Success", "run_result": {"status": "Finished", "return_code": 0}}, ExecStatus.OK),
        ({"status": "Failed", "run_result": {"status": "Finished", "return_code": 2}}, ExecStatus.ERROR),
        ({"status": "Failed", "run_result": {"status": "Finished", "return_code": 137}}, ExecStatus.KILLED),
        ({"status": "Failed", "run_result": {"status": "Finished", "return_code": -11}}, ExecStatus.KILLED),
        (
            {
                "status": "Failed",
                "run_result": {"status": "Finished", "return_code": 1, "stderr": "MemoryError\n"},
            },
            ExecStatus.MEMORY,
        ),
        (
            {
                "status": "Failed",
                "run_result": {"status": "Finished", "return_code": 1, "stderr": "x = 'MemoryError'"},
            },
            ExecStatus.ERROR,
        ),
        ({"status": "Failed", "run_result": {"status": "TimeLimitExceeded"}}, ExecStatus.TIMEOUT),
        (
            {"status": "Failed", "run_result": {"status": "Error", "stderr": "spawn failed"}},
            ExecStatus.SANDBOX_ERROR,
        ),
        (
            {"status": "Failed", "run_result": {"status": "Finished", "return_code": None}},
            ExecStatus.SANDBOX_ERROR,
        ),
        ({"status": "SandboxError", "message": "x"}, ExecStatus.SANDBOX_ERROR),
        ({"status": "Failed", "compile_result": {"stderr": "bad"}}, ExecStatus.SANDBOX_ERROR),
        ({"status": "Failed", "run_result": {"status": "Unknown"}}, ExecStatus.SANDBOX_ERROR),
        ({}, ExecStatus.SANDBOX_ERROR),
    ],
)
def test_status_mapping(reply: dict, status: ExecStatus) -> None:
    assert map_fusion_reply(reply).status is status


async def test_unreachable_server_is_sandbox_error() -> None:
    async with create_sandbox("sandbox_fusion", url=f"http://127.0.0.1:{free_port()}", backoff_s=0.01) as sb:
        result = await sb.run("print(1)")
    assert result.status is ExecStatus.SANDBOX_ERROR and "cannot connect" in result.stderr
