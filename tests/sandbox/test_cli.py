"""``simpletir-sandbox`` doctor and bench on the real local backend, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simpletir.sandbox import ExecResult, ExecStatus, Sandbox, SandboxError, local
from simpletir.sandbox.bench import BARE, PYTHON_C, interleaved, warm_up
from simpletir.sandbox.cli import main
from simpletir.sandbox.corpus import corpus


def test_doctor_reports_isolation_the_view_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "isolation:" in out and "namespaces" in out
    assert out.strip().endswith("healthy")
    assert "[FAIL]" not in out
    for status in ("ok", "error", "timeout", "memory", "killed"):
        assert f"[ok] {status}: {status}" in out
    seen = next(line for line in out.splitlines() if "a program sees: / =" in line)
    if "filesystem a program sees" in out:  # with namespaces: the minimal root, listed and as seen
        assert "/proc: this PID namespace only" in out
        assert "home" not in seen.split() and "run" not in seen.split() and "opt" not in seen.split()


def test_doctor_fails_when_no_worker_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "zygote.py"
    broken.write_text("raise SystemExit(1)\n")
    monkeypatch.setattr(local, "ZYGOTE_PATH", broken)
    assert main(["doctor", "--workers", "1"]) == 1
    assert "cannot start a sandbox worker" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["doctor", "--backend", "http"], "--backend http needs --url"),
        (["bench", "--backend", "sandbox_fusion"], "--backend sandbox_fusion needs --url"),
        (["doctor", "--backend", "http", "--url", "ftp://x"], "url must be an http(s) URL"),
        (["bench", "--json", "/nonexistent-dir/bench.json"], "/nonexistent-dir does not exist"),
        (["bench", "--repeats", "0"], "--repeats: must be at least 1"),
        (["bench", "--trivial-repeats", "0"], "--trivial-repeats: must be at least 1"),
        (["serve", "--port", "-1"], "--port: must be at least 0"),
        (["serve", "--host", "203.0.113.1", "--port", "1"], "cannot listen on 203.0.113.1:1: "),
    ],
)
def test_a_command_that_cannot_work_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if not line.startswith(("usage:", " "))]) == 1, err


class Flaky(Sandbox):
    """Stands in for a backend: every run is the result it was given."""

    def __init__(self, result: ExecResult) -> None:
        self.result = result
        self.runs = 0

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        self.runs += 1
        return self.result


async def test_warm_up_is_not_timed_and_a_failing_backend_is_refused() -> None:
    programs = corpus("light")
    ok = Flaky(ExecResult(ExecStatus.OK))
    await warm_up(ok, programs, 2)
    assert ok.runs == len(programs)
    rows = await interleaved(
        {"a": ok, "b": Flaky(ExecResult(ExecStatus.OK))}, programs, "light", 3, 2, block_runs=2
    )
    assert [r.runs for r in rows] == [3 * len(programs)] * 2  # timed runs only
    with pytest.raises(SandboxError, match="HTTP 401 unauthorised"):
        await warm_up(
            Flaky(ExecResult(ExecStatus.SANDBOX_ERROR, stderr="HTTP 401 unauthorised\nmore")), programs, 2
        )


@pytest.mark.slow
def test_bench_compares_like_with_like(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "bench.json"
    code = main([
        "bench", "--corpus", "light", "--repeats", "2", "--trivial-repeats", "4", "--baseline-divisor", "1",
        "--workers", "2", "--json", str(out_file),
    ])  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    assert f"| trivial | {BARE} |" in table and f"| light | {PYTHON_C} |" in table
    assert "local / bare warm fork throughput on light:" in table
    data = json.loads(out_file.read_text())
    assert set(data) == {"trivial", "light"}  # each speed-up against the same programs
    for programs, runs in (("trivial", 4), ("light", 2 * len(corpus("light")))):
        rows = data[programs]
        assert set(rows) == {"local", BARE, PYTHON_C}
        assert rows["local"]["runs"] == rows[BARE]["runs"] == runs  # warm-up not counted
        assert rows[PYTHON_C]["vs_python_c"] == 1.0 and rows[BARE]["vs_bare_fork"] == 1.0
        ratio = rows["local"]["throughput"] / rows[BARE]["throughput"]
        assert rows["local"]["vs_bare_fork"] == pytest.approx(ratio)
        assert rows["local"]["sandbox_errors"] == 0
