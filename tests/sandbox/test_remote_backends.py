"""The http backend against a real server on loopback, sandbox_fusion against a stand-in that speaks its API."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from fastapi import FastAPI, Request

from simpletir.sandbox import ExecStatus, create_sandbox
from simpletir.sandbox.fusion import map_fusion_reply
from simpletir.sandbox.server import create_app

from .servers import free_port, running

TOKEN = "s3cret"


def sandbox_app(**kwargs) -> FastAPI:
    return create_app(create_sandbox("local", max_workers=2), **kwargs)


async def test_http_backend_runs_programs_with_a_token() -> None:
    with running(sandbox_app(token=TOKEN)) as url:
        async with create_sandbox("http", url=url, token=TOKEN) as sb:
            ok = await sb.run("print(6 * 7)")
            err = await sb.run("1/0")
            slow = await sb.run("while True:\n    pass", timeout=0.5)
            outs = await asyncio.gather(*(sb.run(f"print({i})") for i in range(50)))
        assert (ok.status, ok.stdout) == (ExecStatus.OK, "42\n")
        assert err.status is ExecStatus.ERROR and "ZeroDivisionError" in err.stderr
        assert slow.status is ExecStatus.TIMEOUT
        assert [o.stdout for o in outs] == [f"{i}\n" for i in range(50)]
        async with httpx.AsyncClient() as client:
            assert (await client.post(f"{url}/run", json={"code": "print(1)"})).status_code == 401
            health = (await client.get(f"{url}/health")).json()
            metrics = (
                await client.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            ).json()
        assert health["status"] == "ok" and "isolation" in health
        assert metrics["requests"] == 53 and metrics["by_status"]["ok"] == 51


async def test_wrong_token_and_oversized_requests_are_refused() -> None:
    with running(sandbox_app(token=TOKEN, max_request_bytes=2000)) as url:
        async with create_sandbox("http", url=url, token="wrong") as sb:
            result = await sb.run("print(1)")
        assert result.status is ExecStatus.SANDBOX_ERROR and "401" in result.stderr
        async with create_sandbox("http", url=url, token=TOKEN) as sb:
            big = await sb.run("x = '" + "a" * 5000 + "'")
        assert big.status is ExecStatus.SANDBOX_ERROR and "413" in big.stderr
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            bad = await client.post(f"{url}/run", content=b'{"code": 3}')
            assert bad.status_code == 422


async def test_fleet_skips_a_dead_server() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with running(sandbox_app()) as live:
        async with create_sandbox("http", url=[dead, live], backoff_s=0.01) as sb:
            results = await asyncio.gather(*(sb.run(f"print({i})") for i in range(10)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(10)]


async def test_server_that_comes_up_late_is_retried() -> None:
    port = free_port()
    holder: dict = {}

    def start_later() -> None:
        time.sleep(0.6)
        holder["ctx"] = running(sandbox_app(), port=port)
        holder["ctx"].__enter__()

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        async with create_sandbox("http", url=f"http://127.0.0.1:{port}", max_retries=6, backoff_s=0.2) as sb:
            result = await sb.run("print('up')")
        assert result.stdout == "up\n"
    finally:
        thread.join()
        holder["ctx"].__exit__(None, None, None)


async def test_a_program_that_ran_is_never_sent_again() -> None:
    counter = {"requests": 0}
    app = FastAPI()

    @app.post("/run")
    async def run(request: Request) -> dict:
        counter["requests"] += 1
        await asyncio.sleep(5)  # the program "runs" past the client's deadline
        return {"status": "ok"}

    with running(app) as url:
        async with create_sandbox("http", url=url, overhead_s=0.3, max_retries=3) as sb:
            result = await sb.run("print(1)", timeout=0.1)
    assert result.status is ExecStatus.SANDBOX_ERROR and "after the request was sent" in result.stderr
    assert counter["requests"] == 1


def fusion_standin() -> FastAPI:
    """A stand-in speaking SandboxFusion's documented /run_code API."""
    app = FastAPI()

    @app.post("/run_code")
    async def run_code(body: dict) -> dict:
        assert body["language"] == "python" and "run_timeout" in body and "memory_limit_MB" in body
        code = body["code"]
        if code == "sandbox down":
            return {"status": "SandboxError", "message": "worker pool exhausted", "run_result": None}
        if code == "loop":
            return {
                "status": "Failed",
                "message": "",
                "run_result": {
                    "status": "TimeLimitExceeded",
                    "stdout": "",
                    "stderr": "",
                    "return_code": None,
                    "execution_time": body["run_timeout"],
                },
            }
        if code == "boom":
            return {
                "status": "Failed",
                "message": "",
                "run_result": {
                    "status": "Finished",
                    "stdout": "",
                    "stderr": "Traceback...\nValueError: boom\n",
                    "return_code": 1,
                    "execution_time": 0.01,
                },
            }
        return {
            "status": "Success",
            "message": "",
            "run_result": {
                "status": "Finished",
                "stdout": "42\n",
                "stderr": "",
                "return_code": 0,
                "execution_time": 0.02,
            },
        }

    return app


async def test_sandbox_fusion_backend_against_its_api() -> None:
    with running(fusion_standin()) as url:
        async with create_sandbox("sandbox_fusion", url=url) as sb:
            ok, err, loop, down = await asyncio.gather(
                sb.run("print(42)"), sb.run("boom"), sb.run("loop", timeout=1), sb.run("sandbox down")
            )
    assert (ok.status, ok.stdout, ok.returncode) == (ExecStatus.OK, "42\n", 0)
    assert err.status is ExecStatus.ERROR and err.stderr.endswith("ValueError: boom\n")
    assert loop.status is ExecStatus.TIMEOUT
    assert down.status is ExecStatus.SANDBOX_ERROR and "exhausted" in down.stderr


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ({"status": "Success", "run_result": {"status": "Finished", "return_code": 0}}, ExecStatus.OK),
        ({"status": "Failed", "run_result": {"status": "Finished", "return_code": 2}}, ExecStatus.ERROR),
        ({"status": "Failed", "run_result": {"status": "Finished", "return_code": -9}}, ExecStatus.KILLED),
        (
            {
                "status": "Failed",
                "run_result": {"status": "Finished", "return_code": 1, "stderr": "MemoryError\n"},
            },
            ExecStatus.MEMORY,
        ),
        ({"status": "Failed", "run_result": {"status": "TimeLimitExceeded"}}, ExecStatus.TIMEOUT),
        ({"status": "SandboxError", "message": "x"}, ExecStatus.SANDBOX_ERROR),
        ({"status": "Failed", "compile_result": {"stderr": "bad"}}, ExecStatus.SANDBOX_ERROR),
        ({"status": "Failed", "run_result": {"status": "Unknown"}}, ExecStatus.SANDBOX_ERROR),
    ],
)
def test_fusion_status_mapping(reply: dict, status: ExecStatus) -> None:
    assert map_fusion_reply(reply).status is status


async def test_unreachable_fusion_server_is_sandbox_error() -> None:
    async with create_sandbox("sandbox_fusion", url=f"http://127.0.0.1:{free_port()}", backoff_s=0.01) as sb:
        result = await sb.run("print(1)")
    assert result.status is ExecStatus.SANDBOX_ERROR and "cannot connect" in result.stderr
