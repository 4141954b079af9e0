"""The servers' bearer token end to end: read from ``$SIMPLETIR_SANDBOX_TOKEN`` by the http client,
``doctor``, ``bench`` and ``serve``, never taken from the (printed) config, and a refusal says
"unauthorised" once, without the token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from simpletir.sandbox import ExecStatus, create_sandbox
from simpletir.sandbox.cli import main
from simpletir.sandbox.server import create_app
from simpletir.sandbox.transport import TOKEN_ENV
from simpletir.tir.agent_config import load_agent_settings

from .servers import running

TOKEN = "s3cret-token"
WRONG = "wrong-token-value"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running(create_app(create_sandbox("local", max_workers=1), token=TOKEN)) as base:
        yield base


async def test_the_client_reads_the_token_from_the_environment(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    async with create_sandbox("http", url=url) as sb:
        assert (await sb.run("print(1)")).stdout == "1\n"
    monkeypatch.setenv(TOKEN_ENV, WRONG)
    async with create_sandbox("http", url=url) as sb:
        denied = await sb.run("print(1)")
    assert denied.status is ExecStatus.SANDBOX_ERROR and "401 unauthorised" in denied.stderr, denied
    assert WRONG not in denied.stderr and TOKEN_ENV in denied.stderr
    async with create_sandbox("http", url=url, token=TOKEN) as sb:  # an explicit token wins
        assert (await sb.run("print(2)")).stdout == "2\n"
    async with create_sandbox("http", url=url, token="") as sb:  # "" sends none
        assert "401" in (await sb.run("print(3)")).stderr


def test_doctor_reads_it_and_a_refusal_is_one_unauthorised_line(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert main(["doctor", "--backend", "http", "--url", url]) == 0
    assert capsys.readouterr().out.rstrip().endswith("healthy")
    monkeypatch.setenv(TOKEN_ENV, WRONG)
    assert main(["doctor", "--backend", "http", "--url", url]) == 1
    out = capsys.readouterr().out
    assert out.count("unauthorised") == 1 and "[FAIL]" not in out and WRONG not in out, out


def test_bench_refuses_to_measure_refusals(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, WRONG)
    assert main(["bench", "--backend", "http", "--url", url, "--repeats", "1", "--trivial-repeats", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unauthorised" in err and "Traceback" not in err, err


@pytest.mark.slow
def test_serve_reads_it_and_prints_where_it_listens() -> None:
    env = {**os.environ, TOKEN_ENV: TOKEN}
    cmd = [sys.executable, "-m", "simpletir.sandbox.cli", "serve", "--port", "0", "--workers", "1",
           "--no-extras-template"]  # fmt: skip
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            line = server.stdout.readline()  # printed once the workers are warm
            assert line.startswith("simpletir-sandbox serve: listening on http://127.0.0.1:"), line
            base = line.split("listening on ")[1].split()[0]
            assert TOKEN not in line
            assert httpx.get(f"{base}/metrics", timeout=30).status_code == 401
            ok = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            assert ok.status_code == 200 and ok.json()["runs"] == 0
        finally:
            server.terminate()
            server.wait(60)


def test_a_token_in_the_config_is_refused_with_the_way_out() -> None:
    config = {"simpletir": {"sandbox": {"backend": "http", "options": {"url": "http://x:1", "token": TOKEN}}}}
    with pytest.raises(ValueError, match=TOKEN_ENV) as caught:
        load_agent_settings(config)
    assert TOKEN not in str(caught.value)
