"""The ``http`` backend (``HttpSandbox``) against real servers on loopback: parity, fleets, retries."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from simpletir.sandbox import ExecStatus, SandboxError, create_sandbox, transport
from simpletir.sandbox.cli import main
from simpletir.sandbox.server import create_app

from .procs import until
from .servers import free_port, running

TOKEN = "s3cret"

PROGRAMS = [
    ("print(6 * 7)", None, 5.0),
    ("import sympy; print(sympy.factor('x**2 - 1'))", None, 5.0),
    ("1/0", None, 5.0),
    ("import sys; sys.exit(3)", None, 5.0),
    ("while True:\n    pass", None, 0.5),
    ("print(input()[::-1])", "abc\n", 5.0),
    ("print('é' * 3)", None, 5.0),
    ("print('\ud800')", None, 5.0),
    ("s = '\ud800'; print(len(s))", "\ud800", 5.0),
]


def sandbox_app(token: str | None = None, **options: Any) -> FastAPI:
    return create_app(create_sandbox("local", max_workers=1, **options), token=token)


@pytest.fixture(scope="module")
def two_servers() -> Iterator[list[str]]:
    with running(sandbox_app(token=TOKEN)) as a, running(sandbox_app(token=TOKEN)) as b:
        yield [a, b]


async def _runs(url: str) -> int:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        return (await client.get(f"{url}/metrics")).json()["runs"]


async def test_same_results_as_the_local_backend(two_servers: list[str]) -> None:
    async with (
        create_sandbox("local", max_workers=1) as local,
        create_sandbox("http", url=two_servers[0], token=TOKEN) as remote,
    ):
        seen = set()
        for code, stdin, timeout in PROGRAMS:
            want = await local.run(code, stdin=stdin, timeout=timeout)
            got = await remote.run(code, stdin=stdin, timeout=timeout)
            assert (got.status, got.stdout, got.stderr, got.returncode) == (
                want.status, want.stdout, want.stderr, want.returncode,
            ), code  # fmt: skip
            seen.add(got.status)
    assert {ExecStatus.OK, ExecStatus.ERROR, ExecStatus.TIMEOUT} <= seen


async def test_fleet_spreads_requests_over_both_servers(two_servers: list[str]) -> None:
    before = [await _runs(u) for u in two_servers]
    async with create_sandbox("http", url=",".join(two_servers), token=TOKEN) as sb:
        concurrent = await asyncio.gather(*(sb.run(f"print({i})") for i in range(20)))
        sequential = [await sb.run(f"print({i})") for i in range(10)]
    assert [r.stdout for r in concurrent + sequential] == [f"{i}\n" for i in [*range(20), *range(10)]]
    served = [await _runs(u) - b for u, b in zip(two_servers, before, strict=True)]
    assert sum(served) == 30 and min(served) >= 5, served


async def test_token_and_size_refusals_are_sandbox_errors_and_not_retried(two_servers: list[str]) -> None:
    url = two_servers[0]
    async with create_sandbox("http", url=url, token="wrong", backoff_s=0.01) as sb:
        denied = await sb.run("print(1)")
    assert denied.status is ExecStatus.SANDBOX_ERROR and "401" in denied.stderr
    async with httpx.AsyncClient() as client:
        before = (await client.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    async with create_sandbox("http", url=url, token=TOKEN, backoff_s=0.01) as sb:
        big = await sb.run("x = '" + "a" * 2_000_000 + "'")
    async with httpx.AsyncClient() as client:
        after = (await client.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert big.status is ExecStatus.SANDBOX_ERROR and "413" in big.stderr
    assert after["rejected"]["413"] - before["rejected"].get("413", 0) == 1


async def test_a_dead_server_in_the_fleet_is_skipped(two_servers: list[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with create_sandbox("http", url=[dead, two_servers[0]], token=TOKEN, backoff_s=0.01) as sb:
        results = await asyncio.gather(*(sb.run(f"print({i})") for i in range(10)))
        assert sb.fleet.down_until[dead] > time.monotonic()
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(10)]


async def test_a_503_server_cools_down_and_is_not_asked_again(two_servers: list[str]) -> None:
    hits = {"n": 0}
    draining = FastAPI()

    @draining.post("/run")
    async def refuse() -> JSONResponse:
        hits["n"] += 1
        return JSONResponse({"detail": "not accepted: shutting down"}, status_code=503)

    with running(draining) as busy:
        async with create_sandbox("http", url=[busy, two_servers[1]], token=TOKEN, cooldown_s=60) as sb:
            results = [await sb.run(f"print({i})") for i in range(8)]
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(8)]
    assert hits["n"] == 1


async def test_a_server_that_comes_up_late_is_retried_with_backoff() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    go, stop = threading.Event(), threading.Event()

    def serve_when_told() -> None:
        if go.wait(120):
            with running(sandbox_app(extras_template=False), port=port):
                stop.wait(120)

    thread = threading.Thread(target=serve_when_told)
    thread.start()
    try:
        async with create_sandbox("http", url=url, max_retries=12, backoff_s=0.1) as sb:
            pending = asyncio.ensure_future(sb.run("print('up')"))
            assert await until(lambda: sb.fleet.down_until[url] > 0)  # refused: the server is not up yet
            go.set()
            result = await pending
        assert result.stdout == "up\n", result
    finally:
        go.set()
        stop.set()
        thread.join()


async def test_no_server_up_is_a_sandbox_error_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep
    this_thread = threading.get_ident()  # the test servers' threads sleep too

    async def recorded_sleep(delay: float) -> None:
        if threading.get_ident() == this_thread:
            waits.append(delay)
        await real_sleep(0 if threading.get_ident() == this_thread else delay)

    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    async with create_sandbox("http", url=urls, max_retries=3, backoff_s=0.05) as sb:
        monkeypatch.setattr(transport.asyncio, "sleep", recorded_sleep)
        result = await sb.run("print(1)")
    assert result.status is ExecStatus.SANDBOX_ERROR
    assert "4 attempts" in result.stderr and "cannot connect" in result.stderr
    assert waits == [0.05]  # one backoff wait (after both servers failed), not one per server


@pytest.fixture
async def raw_server() -> AsyncIterator[tuple[str, dict]]:
    """A TCP server that reads one whole HTTP request, counts it, then hangs up or stays silent."""
    state = {"requests": 0, "mode": "hang_up"}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        state["requests"] += 1
        if state["mode"] == "silent":
            await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", state
        server.close()


@pytest.mark.parametrize("mode", ["hang_up", "silent"])
async def test_a_program_that_was_sent_is_never_sent_again(raw_server: tuple[str, dict], mode: str) -> None:
    url, state = raw_server
    state["mode"] = mode
    async with create_sandbox("http", url=url, overhead_s=2.0, max_retries=3, backoff_s=0.01) as sb:
        result = await sb.run("print(1)", timeout=0.1)
    assert result.status is ExecStatus.SANDBOX_ERROR and "after the request was sent" in result.stderr
    assert state["requests"] == 1


@pytest.mark.parametrize(
    ("options", "call"),
    [
        ({"url": "ftp://x"}, None),
        ({"url": []}, None),
        ({"url": ["http://127.0.0.1:1", 5]}, None),
        ({"url": "http://127.0.0.1:1", "max_retries": -1}, None),
        ({"url": "http://127.0.0.1:1", "default_timeout": 0}, None),
        ({"url": "http://127.0.0.1:1"}, {"code": "print(1)", "timeout": 0}),
        ({"url": "http://127.0.0.1:1"}, {"code": b"print(1)"}),
    ],
)
async def test_misuse_raises_sandbox_error(options: dict, call: dict | None) -> None:
    if call is None:
        with pytest.raises(SandboxError):
            create_sandbox("http", **options)
        return
    async with create_sandbox("http", **options) as sb:
        with pytest.raises(SandboxError):
            await sb.run(**call)


async def test_isolation_comes_from_the_first_healthy_server(two_servers: list[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with create_sandbox("http", url=[dead, two_servers[0]], token=TOKEN) as sb:
        info = await sb.isolation()
    assert "python" in info and "namespaces" in info
    async with create_sandbox("http", url=dead) as sb:
        with pytest.raises(SandboxError, match="no sandbox server is healthy"):
            await sb.isolation()


def test_doctor_checks_a_remote_server(two_servers: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor", "--backend", "http", "--url", two_servers[1], "--token", TOKEN])
    out = capsys.readouterr().out
    assert code == 0 and "isolation:" in out and out.rstrip().endswith("healthy"), out
