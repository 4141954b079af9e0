"""``simpletir-sandbox`` doctor and bench on the real local backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simpletir.sandbox import local
from simpletir.sandbox.cli import main
from simpletir.sandbox.corpus import corpus, program


def test_doctor_reports_isolation_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "isolation:" in out and "network + mount namespaces" in out
    assert out.strip().endswith("healthy")
    assert "[FAIL]" not in out
    for status in ("ok", "error", "timeout", "memory", "killed"):
        assert f"[ok] {status}: {status}" in out


def test_doctor_fails_when_no_worker_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "zygote.py"
    broken.write_text("raise SystemExit(1)\n")
    monkeypatch.setattr(local, "ZYGOTE_PATH", broken)
    assert main(["doctor", "--workers", "1"]) == 1
    assert "cannot start a sandbox worker" in capsys.readouterr().out


def test_bench_writes_ratios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "bench.json"
    code = main([
        "bench", "--corpus", "light", "--repeats", "1", "--trivial-repeats", "5", "--baseline-divisor", "1",
        "--workers", "2", "--json", str(out_file),
    ])  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    assert "| python -c |" in table and "speed-up" in table
    data = json.loads(out_file.read_text())
    assert data["python -c"]["speedup"] == 1.0
    assert data["local light"]["throughput"] > 0


def test_corpus_programs_behave_as_labelled() -> None:
    from simpletir.sandbox import ExecStatus, SyncSandbox

    expected_errors = {"name_error", "zero_division"}
    with SyncSandbox(max_workers=2) as sb:
        for prog in corpus():
            result = sb.run(prog.code, timeout=prog.timeout)
            if prog.name == "infinite_loop":
                assert result.status is ExecStatus.TIMEOUT
            elif prog.name in expected_errors:
                assert result.status is ExecStatus.ERROR
            else:
                assert result.status is ExecStatus.OK, (prog.name, result.stderr)
    assert program("final_answer").heavy
    assert {p.name for p in corpus("sympy")} < {p.name for p in corpus("heavy")}
    assert all("sympy" in p.code for p in corpus("sympy"))
    with pytest.raises(ValueError, match="unknown corpus kind"):
        corpus("medium")
