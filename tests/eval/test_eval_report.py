"""``simpletir-eval report``: comparison table numbers and PNG plots."""

from __future__ import annotations

from pathlib import Path

import pytest
from results_factory import make_result

from simpletir.eval.cli import main
from simpletir.eval.records import load_result, save_result
from simpletir.eval.report import accuracy_figure, comparison_markdown


def test_report_table_and_plots(tmp_path: Path) -> None:
    # run A, aime: p0 and p1 2/4 right each (pass@4 100), votes tie and the first vote wins (p0 right,
    # p1 wrong: maj 50); math: p0 4/4, p1 0/4 (avg, pass@4 and maj 50). Run B, aime: p0 0/4, p1 4/4.
    a = make_result("run-a", {"aime": [True, False, True, False], "math": [True] * 4}, turns=2)
    b = make_result("run-b", {"aime": [False] * 4})
    save_result(a, tmp_path / "a.json")
    save_result(b, tmp_path / "b.json")
    assert (
        main(["report", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "rep")]) == 0
    )
    table = (tmp_path / "rep" / "comparison.md").read_text()
    assert "| run-a | simpletir | 50.0 / 100.0 / 50.0 (n=4) | 50.0 / 50.0 / 50.0 (n=4) | 50.0 |" in table
    assert "| run-b | simpletir | 50.0 / 50.0 / 50.0 (n=4) | – | 50.0 |" in table
    import matplotlib.image

    for name in ["accuracy.png", "turns.png", "accuracy_by_turns.png"]:
        path = tmp_path / "rep" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width, _ = matplotlib.image.imread(path).shape
        assert height > 100 and width > 100


def test_duplicate_labels_are_told_apart() -> None:
    a = make_result("same", {"x": [True]})
    table = comparison_markdown([a, a])
    assert table.count("| same |") == 2


def test_report_rejects_a_file_that_is_not_a_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.json").write_text('{"label": 3}')
    assert main(["report", str(tmp_path / "bad.json"), "-o", str(tmp_path)]) == 2
    assert "not a simpletir-eval result file" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json")]) == 2


def test_result_file_round_trips(tmp_path: Path) -> None:
    a = make_result("r", {"x": [True, False]}, turns=3)
    save_result(a, tmp_path / "r.json")
    assert load_result(tmp_path / "r.json") == a


def test_a_version_1_result_file_reads_with_the_end_reasons_renamed(tmp_path: Path) -> None:
    """Schema 1 wrote ``budget`` where training wrote ``overlong``; schema 2 has one name (and a checkpoint line
    of a version-1 run, resumed, reads the same way)."""
    import json

    from simpletir.eval.records import SCHEMA_VERSION, load_checkpoint

    current = make_result("r", {"x": [True, False]})
    data = json.loads(current.model_dump_json())
    data["schema_version"] = 1
    data["trajectories"][0]["end_reason"] = "budget"
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = load_result(tmp_path / "old.json")
    assert old.schema_version == SCHEMA_VERSION == 2
    assert [t.end_reason for t in old.trajectories] == [
        "overlong",
        *[t.end_reason for t in current.trajectories[1:]],
    ]
    (tmp_path / "part.jsonl").write_text(json.dumps(data["trajectories"][0]) + "\n")
    assert [t.end_reason for t in load_checkpoint(tmp_path / "part.jsonl")] == ["overlong"]


def test_a_benchmark_a_run_did_not_run_is_not_drawn_as_zero() -> None:
    a = make_result("run-a", {"aime": [True, False], "math": [True, True]})
    b = make_result("run-b", {"aime": [True, True]})  # no math
    fig = accuracy_figure([a, b], ["run-a", "run-b"])
    ax = fig.axes[0]
    heights = [[bar.get_height() for bar in container] for container in ax.containers]
    assert heights == [[50.0, 50.0], [50.0]]
    labels = [text.get_text() for text in ax.texts]
    assert labels.count("not run") == 1 and "0.0" not in labels


def test_report_onto_an_existing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_result(make_result("r", {"x": [True]}), tmp_path / "r.json")
    assert main(["report", str(tmp_path / "r.json"), "-o", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert f"-o {tmp_path / 'r.json'} is a file; give a directory" in err and len(err.splitlines()) == 1
