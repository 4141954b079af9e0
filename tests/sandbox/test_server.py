"""The sandbox server (``sandbox/server.py``) over real HTTP on loopback, with the real local sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from simpletir.sandbox import create_sandbox
from simpletir.sandbox.local import LocalSandbox
from simpletir.sandbox.server import create_app

from .servers import running

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 4000


WORKERS = 2


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LocalSandbox, str]]:
    sandbox = create_sandbox("local", max_workers=WORKERS)
    assert isinstance(sandbox, LocalSandbox)
    with running(create_app(sandbox, token=TOKEN, max_request_bytes=LIMIT)) as base:
        yield sandbox, base


@pytest.fixture(scope="module")
def url(served: tuple[LocalSandbox, str]) -> str:
    return served[1]


async def test_every_worker_is_warm_before_the_first_request(served: tuple[LocalSandbox, str]) -> None:
    sandbox, url = served
    assert len(sandbox._workers) == WORKERS  # so no run, and no latency in /metrics, includes a start-up
    async with httpx.AsyncClient(headers=AUTH) as client:
        assert (await client.get(f"{url}/metrics")).json()["runs"] == 0


async def _chunks(total: int) -> AsyncIterator[bytes]:
    yield b'{"code": "'
    for _ in range(total // 1000):
        yield b"a" * 1000
    yield b'"}'


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"json": {"code": "print(1)"}}, 401),
        ({"Authorization": "Bearer wrong"}, {"json": {"code": "print(1)"}}, 401),
        ({"Authorization": TOKEN}, {"json": {"code": "print(1)"}}, 401),
        (AUTH, {"json": {"code": "print(1)"}}, 200),
        (AUTH, {"json": {"code": "print(input())", "stdin": "hi\n", "timeout": 2}}, 200),
        (AUTH, {"json": {"code": "x = '" + "a" * LIMIT + "'"}}, 413),
        (AUTH, "chunked", 413),
        (AUTH, {"json": {"code": 3}}, 422),
        (AUTH, {"json": {"cod": "print(1)"}}, 422),
        (AUTH, {"json": {"code": "print(1)", "timout": 3}}, 422),
        (AUTH, {"json": {"code": "print(1)", "timeout": 0}}, 422),
        (AUTH, {"json": {"code": "print(1)", "timeout": 1e9}}, 422),
        (AUTH, {"content": b"not json"}, 422),
        (AUTH, {"content": b"\xff\xfe{"}, 422),
        (AUTH, {"json": ["print(1)"]}, 422),
        (AUTH, {"content": b"[" * 1900 + b"]" * 1900}, 422),
    ],
)
async def test_run_answers(url: str, headers: dict, body: dict | str, status: int) -> None:
    if body == "chunked":  # no content-length: the limit must hold while reading
        body = {"content": _chunks(2 * LIMIT)}
    async with httpx.AsyncClient(headers=headers) as client:
        response = await client.post(f"{url}/run", **body)
    assert response.status_code == status, response.text
    if status == 200:
        data = response.json()
        assert data["status"] == "ok" and data["stdout"] in ("1\n", "hi\n") and data["returncode"] == 0


async def test_code_with_a_lone_surrogate_reaches_the_sandbox(url: str) -> None:
    body = b'{"code": "print(\\"\\ud800\\")"}'  # valid JSON whose string is not encodable as UTF-8
    async with httpx.AsyncClient(headers=AUTH) as client:
        response = await client.post(f"{url}/run", content=body)
    assert response.status_code == 200, response.text  # the program ran; Python itself objects
    assert response.json()["status"] == "error" and "surrogates not allowed" in response.json()["stderr"]


async def test_health_is_open_and_metrics_count(url: str) -> None:
    async with httpx.AsyncClient(headers=AUTH) as client:
        before = (await client.get(f"{url}/metrics")).json()
        slow = asyncio.create_task(client.post(f"{url}/run", json={"code": "import time; time.sleep(2)"}))
        during = {"in_flight": 0}
        while during["in_flight"] == 0 and not slow.done():  # poll until the server has it
            await asyncio.sleep(0.02)
            during = (await client.get(f"{url}/metrics")).json()
        await slow
        runs = [("print(2)", 30), ("1/0", 30), ("while True: pass", 0.5)]
        await asyncio.gather(*(client.post(f"{url}/run", json={"code": c, "timeout": t}) for c, t in runs))
        await client.post(f"{url}/run", json={"code": 1})
        after = (await client.get(f"{url}/metrics")).json()
        assert (await client.get(f"{url}/metrics", headers={"Authorization": ""})).status_code == 401
    async with httpx.AsyncClient() as open_client:
        health = await open_client.get(f"{url}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok" and "isolation" in health.json()
    assert during["in_flight"] == 1 and after["in_flight"] == 0
    assert after["runs"] - before["runs"] == 4
    for status, n in {"ok": 2, "error": 1, "timeout": 1}.items():
        assert after["by_status"].get(status, 0) - before["by_status"].get(status, 0) == n
    assert after["rejected"]["422"] - before["rejected"].get("422", 0) == 1
    latency = after["latency_s"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert latency["max"] >= 2.0  # the sleeping program


async def test_closed_sandbox_is_503_not_a_result() -> None:
    sandbox = create_sandbox("local", max_workers=1)
    await sandbox.close()
    with running(create_app(sandbox)) as base:
        async with httpx.AsyncClient() as client:
            run = await client.post(f"{base}/run", json={"code": "print(1)"})
            health = await client.get(f"{base}/health")
    assert run.status_code == 503 and "closed" in run.text
    assert health.status_code == 503
