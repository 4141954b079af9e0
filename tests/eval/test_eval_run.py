"""End to end: ``simpletir-eval run`` against a scripted OpenAI-compatible stand-in server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eval_standin import Script, ServerThread, chat_only_app, scripted_app, wait_for

from simpletir.eval.cli import main
from simpletir.eval.records import load_result

Q1, Q2 = "What is six times seven?", "What is three plus four?"

# Q1: 2 of 4 correct, majority 42 (right). Q2: 1 of 4 correct, majority 8 (wrong).
KNOWN = {
    Q1: [
        ["A1: compute.\n```python\nprint(6*7)\n```", "So the answer is \\boxed{42}."],
        ["A2: answer in code.\n```py\nfinal_answer(6*7)\n```"],
        ["A3: a guess, \\boxed{41}."],
        ["Hmm, let me think about it some more."],
    ],
    Q2: [
        ["B1: \\boxed{8}"],
        ["B2: \\boxed{8}"],
        ["B3: try.\n```python\n1/0\n```", "Fine, \\boxed{7}"],
        ["B4: \\boxed{8}"],
    ],
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` as JSONL and return ``path``."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def known_data(tmp_path: Path) -> Path:
    """A two-problem benchmark matching ``KNOWN``."""
    return write_jsonl(
        tmp_path / "toy.jsonl",
        [{"id": "q1", "problem": Q1, "answer": "42"}, {"id": "q2", "problem": Q2, "answer": "7"}],
    )


def run_eval(url: str, data: Path, out: Path, sandbox: str, *extra: str) -> int:
    """Invoke the CLI the way a user would (``run`` implied) and return its exit status."""
    argv = [
        "--url", url, "--data", str(data), "--no-chat-template", "--output-dir", str(out),
        "--sandbox", sandbox, "--no-progress", "--concurrency", "4", *extra,
    ]  # fmt: skip
    return main(argv)


def test_known_metrics_exact(tmp_path: Path, known_data: Path, sandbox_backend: str) -> None:
    script = Script(KNOWN)
    with ServerThread(scripted_app(script)) as url:
        assert run_eval(url, known_data, tmp_path / "out", sandbox_backend, "--samples", "4") == 0
    result = load_result(tmp_path / "out" / "results.json")
    m = result.metrics["toy"]
    assert (m.problems, m.samples_per_problem, m.trajectories) == (2, 4, 8)
    assert m.avg == pytest.approx(3 / 8)
    assert m.pass_at == pytest.approx({1: 3 / 8, 2: (5 / 6 + 1 / 2) / 2, 4: 1.0})
    assert m.maj == pytest.approx(0.5)
    assert m.mean_turns == pytest.approx(10 / 8)
    assert m.mean_code_executions == pytest.approx(3 / 8)
    assert m.exec_status_rates == pytest.approx({"error": 1 / 3, "ok": 2 / 3})
    assert m.void_rate == pytest.approx(1 / 8)
    assert m.end_reasons == {"answer": 7, "void": 1}
    assert m.accuracy_by_turns == pytest.approx({1: 1 / 6, 2: 1.0})
    assert result.model == "scripted-model"
    assert "| toy | 2 | 4 | 37.5 |" in (tmp_path / "out" / "summary.md").read_text()

    by_text = {t.turns[0].text.split(":")[0]: t for t in result.trajectories}
    a1 = by_text["A1"]
    assert [t.kind for t in a1.turns] == ["code", "answer"]
    assert a1.turns[0].requests == 2  # stopped at the opening fence, continued to the closing one
    assert a1.turns[0].code == "print(6*7)" and a1.turns[0].observation == "\nCode execution result: 42\n\n"
    assert (
        a1.response
        == "A1: compute.\n```python\nprint(6*7)\n```\nCode execution result: 42\n\nSo the answer is \\boxed{42}."
    )
    assert (a1.correct, a1.answer, a1.end_reason) == (True, "42", "answer")
    a2 = by_text["A2"]
    assert (len(a2.turns), a2.turns[0].stdout.strip(), a2.correct) == (1, "\\boxed{42}", True)
    b3 = by_text["B3"]
    assert b3.turns[0].exec_status == "error" and "ZeroDivisionError" in b3.turns[0].observation
    void = next(t for t in result.trajectories if t.turns[0].text.startswith("Hmm"))
    assert (void.void, void.end_reason, void.correct) == (True, "void", False)
    assert all(
        r["stop"] == ["```"] and r["temperature"] == 1.0 and r["top_p"] == 1.0 for r in script.requests
    )


def test_cut_strategy_keeps_text_through_first_block(tmp_path: Path, sandbox_backend: str) -> None:
    data = write_jsonl(tmp_path / "cut.jsonl", [{"problem": Q1, "answer": "42"}])
    turns = ["Go.\n```python\nprint(6*7)\n```\nI bet \\boxed{43}", "\\boxed{42}"]
    script = Script({Q1: [turns]})
    with ServerThread(scripted_app(script)) as url:
        assert (
            run_eval(url, data, tmp_path / "o", sandbox_backend, "--samples", "1", "--stop-strategy", "cut")
            == 0
        )
    (record,) = load_result(tmp_path / "o" / "results.json").trajectories
    assert [t.text for t in record.turns] == ["Go.\n```python\nprint(6*7)\n```", "\\boxed{42}"]
    assert record.correct and "stop" not in script.requests[0]


LOOP = ["Again.\n```python\nprint(1)\n```"] * 12


@pytest.mark.parametrize(
    ("extra", "end_reason", "turns", "last_kind"),
    [
        (["--max-turns", "3"], "max_turns", 3, "code"),
        # 1 char = 1 token in the stand-in; a turn is 30 tokens, an observation ~7 (estimate)
        (["--max-response-tokens", "60"], "overlong", 2, "code"),
        (["--max-tokens-per-turn", "20"], "void", 1, "void"),  # cut inside the code block
    ],
)
def test_turn_and_token_limits(
    tmp_path: Path, sandbox_backend: str, extra: list[str], end_reason: str, turns: int, last_kind: str
) -> None:
    data = write_jsonl(tmp_path / "loop.jsonl", [{"problem": Q1, "answer": "42"}])
    with ServerThread(scripted_app(Script({Q1: [LOOP]}))) as url:
        assert run_eval(url, data, tmp_path / "o", sandbox_backend, "--samples", "1", *extra) == 0
    (record,) = load_result(tmp_path / "o" / "results.json").trajectories
    assert (record.end_reason, len(record.turns), record.turns[-1].kind) == (end_reason, turns, last_kind)


def test_server_errors_are_retried_then_recovered(
    tmp_path: Path, known_data: Path, sandbox_backend: str
) -> None:
    script = Script(KNOWN, fail_first=3)
    with ServerThread(scripted_app(script)) as url:
        code = run_eval(
            url, known_data, tmp_path / "o", sandbox_backend, "--samples", "4", "--retries", "3",
            "--retry-backoff", "0.05", "--concurrency", "1",
        )  # fmt: skip
    assert code == 0 and script.failures == 3
    result = load_result(tmp_path / "o" / "results.json")
    assert result.metrics["toy"].failed_rate == 0.0 and result.metrics["toy"].avg == pytest.approx(3 / 8)


def test_hanging_server_counts_failed_and_finishes(
    tmp_path: Path, known_data: Path, sandbox_backend: str
) -> None:
    script = Script(KNOWN, hang_s=600.0, hang_on=Q2)  # far beyond the request timeout
    with ServerThread(scripted_app(script)) as url:
        code = run_eval(
            url, known_data, tmp_path / "o", sandbox_backend, "--samples", "1", "--request-timeout", "5",
            "--retries", "1", "--retry-backoff", "0.05", "--model", "m",
        )  # fmt: skip
    assert code == 0
    q1, q2 = load_result(tmp_path / "o" / "results.json").trajectories
    assert q1.end_reason == "answer" and q1.correct
    assert q2.end_reason == "failed" and f"POST {url}/v1/completions failed after 2 attempts" in q2.error
    assert load_result(tmp_path / "o" / "results.json").metrics["toy"].failed_rate == 0.5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "http://127.0.0.1:9", "--data", "nope.jsonl", "--no-chat-template"], "does not exist"),
        (["--url", "http://127.0.0.1:9", "--data", "x.jsonl"], "--tokenizer"),
        (["--url", "http://127.0.0.1:9", "--no-chat-template", "--samples", "0"], "--samples"),
        (["--url", "http://127.0.0.1:9", "--no-chat-template", "--limit", "0"], "--limit"),
        (["--url", "http://127.0.0.1:9", "--no-chat-template", "--data-dir", "/nonexistent"], "neither"),
        (["--url", "localhost:9", "--no-chat-template"], "--url must be an http:// or https:// server root"),
        (["--url", "http://127.0.0.1:9", "--no-chat-template", "--code-timeout", "0"], "--code-timeout"),
        (["--url", "http://127.0.0.1:9", "--no-chat-template", "--resume", "--overwrite"], "choose one"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unreachable_server_is_a_clear_error(tmp_path: Path, known_data: Path, capsys) -> None:
    argv = ["--url", "http://127.0.0.1:9", "--data", str(known_data), "--no-chat-template", "--retries", "0"]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 2
    assert "GET http://127.0.0.1:9/v1/models failed after 1 attempts" in capsys.readouterr().err


def test_a_chat_only_server_stops_the_run_naming_the_endpoint(
    tmp_path: Path, known_data: Path, sandbox_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    paths: list[str] = []
    with ServerThread(chat_only_app(paths)) as url:
        assert run_eval(url, known_data, tmp_path / "o", sandbox_backend, "--samples", "8") == 2
    err = capsys.readouterr().err
    assert f"POST {url}/v1/completions -> HTTP 404" in err
    assert "only the text-completions endpoint /v1/completions" in err
    assert paths.count("/v1/completions") <= 4  # the trajectories in flight, not all 16
    assert not (tmp_path / "o" / "results.json").exists()


def test_unknown_sandbox_is_a_clear_error_before_anything_starts(
    tmp_path: Path, known_data: Path, capsys
) -> None:
    script = Script(KNOWN)
    with ServerThread(scripted_app(script)) as url, pytest.raises(SystemExit) as stopped:
        run_eval(url, known_data, tmp_path, "nope")
    assert stopped.value.code == 2 and not script.requests  # refused while parsing: no server contacted
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "'local'" in err


def test_fence_strategy_needs_a_server_that_reports_stop_strings(
    tmp_path: Path, known_data: Path, sandbox_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with ServerThread(scripted_app(Script(KNOWN, report_stop=False))) as url:
        assert run_eval(url, known_data, tmp_path / "o", sandbox_backend, "--samples", "4") == 2
        assert "--stop-strategy cut" in capsys.readouterr().err
        assert (
            run_eval(
                url, known_data, tmp_path / "cut", sandbox_backend, "--samples", "4", "--stop-strategy", "cut"
            )
            == 0
        )
    assert load_result(tmp_path / "cut" / "results.json").metrics["toy"].avg == pytest.approx(3 / 8)


def test_a_server_failing_every_request_stops_after_the_first_batch(
    tmp_path: Path, known_data: Path, sandbox_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Script(KNOWN, fail_first=1000, fail_status=400)
    with ServerThread(scripted_app(script)) as url:
        code = run_eval(url, known_data, tmp_path / "o", sandbox_backend, "--samples", "8", "--retries", "3")
    assert code == 2
    err = capsys.readouterr().err
    assert "the first 4 trajectories all failed" in err and f"POST {url}/v1/completions -> HTTP 400" in err
    # a 400 is not retried, and the run stopped once the first 4 failed (4 more at most were in flight)
    assert len(script.requests) <= 8
    assert not (tmp_path / "o" / "results.json").exists()


def test_resume_reuses_finished_trajectories(tmp_path: Path, known_data: Path, sandbox_backend: str) -> None:
    script = Script({Q1: [KNOWN[Q1][0]], Q2: [KNOWN[Q2][0]]})  # q1 always right, q2 always wrong
    out = tmp_path / "o"
    with ServerThread(scripted_app(script)) as url:
        assert run_eval(url, known_data, out, sandbox_backend, "--samples", "4") == 0
        first = load_result(out / "results.json")
        assert not (out / "trajectories.partial.jsonl").exists()
        kept = [*first.trajectories[:3], first.trajectories[3].model_copy(update={"end_reason": "failed"})]
        lines = [r.model_dump_json() for r in kept] + ['{"benchmark": "toy", "torn']
        (out / "trajectories.partial.jsonl").write_text("\n".join(lines))
        (out / "results.json").unlink()
        script.requests.clear()
        assert run_eval(url, known_data, out, sandbox_backend, "--samples", "4", "--resume") == 0
    started = [r for r in script.requests if r["prompt"].endswith((Q1, Q2))]
    assert len(started) == 5  # 8 trajectories, 3 finished ones reused, the failed one rerun
    second = load_result(out / "results.json")
    assert [(r.problem_id, r.sample_index) for r in second.trajectories] == [
        (r.problem_id, r.sample_index) for r in first.trajectories
    ]
    assert second.trajectories[:3] == first.trajectories[:3] and second.metrics["toy"].avg == 0.5


def test_an_earlier_run_is_not_overwritten_silently(
    tmp_path: Path, known_data: Path, sandbox_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Script(KNOWN)
    out = tmp_path / "o"
    with ServerThread(scripted_app(script)) as url:
        assert run_eval(url, known_data, out, sandbox_backend, "--samples", "4") == 0
        first = (out / "results.json").read_text()
        capsys.readouterr()
        assert run_eval(url, known_data, out, sandbox_backend, "--samples", "4") == 2
        assert "holds an earlier run (results.json); pass --resume" in capsys.readouterr().err
        assert (out / "results.json").read_text() == first
        script.requests.clear()
        assert run_eval(url, known_data, out, sandbox_backend, "--samples", "4", "--resume") == 0
        assert script.requests == []  # a finished run resumes from its results.json: nothing to run
        assert run_eval(url, known_data, out, sandbox_backend, "--samples", "4", "--overwrite") == 0
        assert len(script.requests) >= 8
    assert load_result(out / "results.json").metrics["toy"].avg == pytest.approx(3 / 8)


def test_dry_run_checks_without_the_server(
    tmp_path: Path, known_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--url", "http://127.0.0.1:9", "--data", str(known_data), "--no-chat-template", "--dry-run"]
    assert main([*argv, "--samples", "3", "--output-dir", str(tmp_path / "o")]) == 0
    assert "dry run: 6 trajectories (toy; 3 samples per problem), 6 to run" in capsys.readouterr().out
    assert not (tmp_path / "o").exists()


@pytest.mark.timeout(900)
def test_ctrl_c_keeps_the_finished_trajectories_and_says_how_to_resume(
    tmp_path: Path, known_data: Path, sandbox_backend: str
) -> None:
    out = tmp_path / "o"
    checkpoint = out / "trajectories.partial.jsonl"
    argv = [
        sys.executable, "-m", "simpletir.eval.cli", "--data", str(known_data), "--no-chat-template",
        "--output-dir", str(out), "--sandbox", sandbox_backend, "--no-progress", "--samples", "4",
        "--concurrency", "8",
    ]  # fmt: skip
    with ServerThread(scripted_app(Script(KNOWN, hang_s=600.0, hang_on=Q2))) as url:
        proc = subprocess.Popen(
            [*argv, "--url", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_for(
                lambda: (
                    proc.poll() is not None
                    or (checkpoint.is_file() and len(checkpoint.read_text().splitlines()) == 4)
                ),
                "the four trajectories of the question that does not hang",
                timeout_s=600,
            )
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert f"interrupted; the finished trajectories are in {checkpoint}" in err and "--resume" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    script = Script(KNOWN)
    with ServerThread(scripted_app(script)) as url:
        assert run_eval(url, known_data, out, sandbox_backend, "--samples", "4", "--resume") == 0
    started = [r["prompt"] for r in script.requests if r["prompt"].endswith((Q1, Q2))]
    assert len(started) == 4 and all(p.endswith(Q2) for p in started)  # only the interrupted question reruns
    assert load_result(out / "results.json").metrics["toy"].avg == pytest.approx(3 / 8)
