"""``recipes/eval.sh``: options, and a whole run against a stand-in server given with ``--url``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from eval_standin import Script, ServerThread, scripted_app
from test_eval_run import KNOWN, Q1, Q2, write_jsonl

from simpletir.eval.records import load_result

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "eval.sh"
pytestmark = pytest.mark.timeout(900)


def recipe(*args: str, cwd: Path | None = None, **environ: str) -> subprocess.CompletedProcess[str]:
    """Run the recipe with the venv's console scripts first on PATH (and ``environ`` set)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MODEL_PATH", None)
    env.pop("DATA_DIR", None)
    env.update(environ)
    return subprocess.run(
        ["bash", str(RECIPE), *args],
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard: a run starts four Python processes, slow on a busy machine
        env=env,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["--help"], 0, "--max-model-len"),
        ([], 2, "pass --model PATH"),
        (["--url", "http://127.0.0.1:9"], 2, "--tokenizer PATH or --no-chat-template"),
        (["--bogus"], 2, "unknown option --bogus"),
    ],
)
def test_recipe_options(args: list[str], code: int, text: str) -> None:
    done = recipe(*args)
    assert done.returncode == code and text in done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_recipe_runs_against_a_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(
        data / "toy.jsonl",
        [{"id": "q1", "problem": Q1, "answer": "42"}, {"id": "q2", "problem": Q2, "answer": "7"}],
    )
    out = tmp_path / "out"
    with ServerThread(scripted_app(Script(KNOWN))) as url:
        done = recipe(
            "--url", url, "--no-chat-template", "--data-dir", str(data), "--benchmarks", "toy", "--samples", "4",
            "--output-dir", str(out), "--", "--no-progress",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = load_result(out / "results.json")
    assert result.metrics["toy"].avg == pytest.approx(3 / 8)
    assert result.settings["max_turns"] == 10 and result.settings["max_response_tokens"] == 36_000
    for name in ["summary.md", "report/comparison.md", "report/accuracy.png", "trajectories.html"]:
        assert (out / name).is_file()


def test_recipe_checks_the_data_before_starting_a_server(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    started = tmp_path / "vllm-started"
    (fake_bin / "vllm").write_text(f"#!/bin/sh\ntouch {started}\nexit 1\n")  # records that it was started
    (fake_bin / "vllm").chmod(0o755)
    path = f"{fake_bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = recipe("--model", str(tmp_path / "ckpt"), cwd=tmp_path, HOME=str(tmp_path), PATH=path)
    assert done.returncode == 2
    expected = tmp_path / "data" / "simpletir" / "aime24.parquet"  # prepare_data.sh's default, not ./data
    assert f"benchmark 'aime24': neither {expected}" in done.stderr
    assert not started.exists() and "starting vllm" not in done.stdout


def test_recipe_reads_data_dir_from_the_environment(tmp_path: Path) -> None:
    data = tmp_path / "prepared"
    data.mkdir()
    write_jsonl(data / "toy.jsonl", [{"id": "q1", "problem": Q1, "answer": "42"}])
    out = tmp_path / "out"
    with ServerThread(scripted_app(Script(KNOWN))) as url:
        done = recipe(
            "--url", url, "--no-chat-template", "--benchmarks", "toy", "--samples", "1", "--output-dir", str(out),
            "--", "--no-progress", DATA_DIR=str(data),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        again = recipe(
            "--url", url, "--no-chat-template", "--benchmarks", "toy", "--samples", "1", "--output-dir", str(out),
            DATA_DIR=str(data),
        )  # fmt: skip
    assert load_result(out / "results.json").trajectories[0].problem_id == "q1"
    assert again.returncode == 2 and "pass --resume to continue it, --overwrite to replace it" in again.stderr
