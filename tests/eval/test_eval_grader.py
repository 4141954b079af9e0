"""``simpletir-eval run --grader``: which grader scores a run, where the result says so, a resume regrades, and
``report`` refuses to let runs of different graders pass as comparable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_standin import Script, ServerThread, scripted_app
from results_factory import make_result
from test_eval_recipe import recipe
from test_eval_run import Q1, Q2, run_eval, write_jsonl

from simpletir.eval.cli import main
from simpletir.eval.parser import GRADERS
from simpletir.eval.records import load_result, save_result
from simpletir.eval.report import comparison_markdown, summary_markdown

# Q1 (42): the official grader reads number words, ours does not. Q2 (7): ours reads 700% as 7, the official
# grader drops the % and compares 700. Each grader gets one of the two right.
SCRIPT = {Q1: [["So \\boxed{forty two}."]], Q2: [["Surely \\boxed{700\\%}"]]}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Two problems whose answers the two graders judge differently (``SCRIPT``)."""
    return write_jsonl(
        tmp_path / "toy.jsonl",
        [{"id": "q1", "problem": Q1, "answer": "42"}, {"id": "q2", "problem": Q2, "answer": "7"}],
    )


def _by_problem(out: Path) -> dict[str, tuple[str | None, bool]]:
    """Each trajectory's answer and correctness, by problem id."""
    return {t.problem_id: (t.answer, t.correct) for t in load_result(out / "results.json").trajectories}


def test_each_grader_scores_the_run_and_the_result_says_which(
    tmp_path: Path, data: Path, sandbox_backend: str
) -> None:
    with ServerThread(scripted_app(Script(SCRIPT))) as url:
        assert run_eval(url, data, tmp_path / "ours", sandbox_backend, "--samples", "1") == 0
        assert (
            run_eval(url, data, tmp_path / "paper", sandbox_backend, "--samples", "1", "--grader", "official")
            == 0
        )
    assert _by_problem(tmp_path / "ours") == {"q1": ("forty two", False), "q2": ("700\\%", True)}
    assert _by_problem(tmp_path / "paper") == {"q1": ("42", True), "q2": ("700", False)}
    for name, grader in (("ours", "simpletir"), ("paper", "official")):
        result = load_result(tmp_path / name / "results.json")
        assert result.grader == grader and result.settings["grader"] == grader
        assert f"; {grader} grader; accuracies in %" in (tmp_path / name / "summary.md").read_text()


def test_resume_with_another_grader_regrades_without_generating(
    tmp_path: Path, data: Path, sandbox_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Script(SCRIPT)
    out = tmp_path / "o"
    with ServerThread(scripted_app(script)) as url:
        assert run_eval(url, data, out, sandbox_backend, "--samples", "1") == 0
        script.requests.clear()
        assert (
            run_eval(url, data, out, sandbox_backend, "--samples", "1", "--resume", "--grader", "official")
            == 0
        )
    assert script.requests == []
    assert "regraded the 2 reused trajectories with the official grader" in capsys.readouterr().err
    assert _by_problem(out) == {"q1": ("42", True), "q2": ("700", False)}
    assert load_result(out / "results.json").grader == "official"


def test_a_result_file_without_a_grader_reads_as_ours(tmp_path: Path) -> None:
    data = json.loads(make_result("old", {"x": [True]}).model_dump_json())
    del data["grader"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert load_result(tmp_path / "old.json").grader == "simpletir"


def test_report_names_each_run_s_grader_and_warns_when_they_differ(tmp_path: Path) -> None:
    ours = make_result("ours", {"x": [True, False]})
    paper = make_result("paper", {"x": [True, True]}).model_copy(update={"grader": "official"})
    table = comparison_markdown([ours, paper])
    assert "| run | grader |" in table and "| ours | simpletir |" in table and "| paper | official |" in table
    assert "scored by different graders (official, simpletir): their accuracies are not comparable" in table
    assert "not comparable" not in comparison_markdown([ours, ours])
    assert "; official grader;" in summary_markdown(paper)
    save_result(ours, tmp_path / "a.json")
    save_result(paper, tmp_path / "b.json")
    assert (
        main(["report", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "r")]) == 0
    )
    assert "not comparable" in (tmp_path / "r" / "comparison.md").read_text()


def test_grader_choices_are_the_reward_s(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simpletir.reward.config import GRADERS as REWARD_GRADERS

    assert GRADERS == REWARD_GRADERS
    argv = ["--url", "http://127.0.0.1:9", "--data", str(data), "--no-chat-template", "--dry-run"]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--output-dir", str(tmp_path / "o"), "--grader", "paper"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "argument --grader: invalid choice: 'paper'" in err
    assert len(err.splitlines()) == 1


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("args", "environ"), [(["--grader", "paper"], {}), ([], {"GRADER": "paper"})])
def test_recipe_passes_the_grader_through(tmp_path: Path, data: Path, args: list[str], environ: dict) -> None:
    done = recipe(
        "--url", "http://127.0.0.1:9", "--no-chat-template", "--data-dir", str(data.parent), "--benchmarks", "toy",
        "--output-dir", str(tmp_path / "out"), *args, **environ,
    )  # fmt: skip
    assert done.returncode == 2 and "argument --grader: invalid choice: 'paper'" in done.stderr
