"""Loading benchmark problems from data-prep parquet files and JSONL files."""

from __future__ import annotations

from pathlib import Path

import pytest

from simpletir.eval.benchmarks import BenchmarkFileError, load_benchmark, render_prompt
from simpletir.tir.protocol import TIR_INSTRUCTION, build_prompt_messages


def write_parquet(path: Path, rows: list[dict]) -> Path:
    """Write rows in verl's RL parquet layout."""
    import pandas as pd

    pd.DataFrame(rows).to_parquet(path)
    return path


def row(i: int, truth: object) -> dict:
    """One data-prep row."""
    return {
        "data_source": "aime24",
        "prompt": build_prompt_messages(f"Problem {i}?"),
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": truth},
        "extra_info": {"index": i, "question": f"Problem {i}?"},
        "agent_name": "simpletir_agent",
    }


def test_parquet_rows_become_problems(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "aime24.parquet", [row(0, "204"), row(1, "25")])
    problems = load_benchmark(path)
    assert [(p.benchmark, p.problem_id, p.ground_truth, p.question) for p in problems] == [
        ("aime24", "0", "204", "Problem 0?"),
        ("aime24", "1", "25", "Problem 1?"),
    ]
    assert problems[0].messages == build_prompt_messages("Problem 0?")
    assert render_prompt(problems[0].messages, None) == TIR_INSTRUCTION + "Problem 0?"
    assert len(load_benchmark(path, name="x", limit=1)) == 1


def test_jsonl_problems(tmp_path: Path) -> None:
    path = tmp_path / "toy.jsonl"
    path.write_text('{"problem": "1+1?", "answer": "2"}\n\n{"id": "b", "problem": "2+2?", "answer": 4}\n')
    problems = load_benchmark(path)
    assert [(p.problem_id, p.ground_truth, p.data_source) for p in problems] == [
        ("toy-0", "2", "toy"),
        ("b", 4, "toy"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"problem": "x"}\n', "problem/answer"),
        ("b.jsonl", "not json\n", "problem/answer"),
        ("c.jsonl", "", "no rows"),
        (
            "d.jsonl",
            '{"id": 1, "problem": "x", "answer": 1}\n{"id": 1, "problem": "y", "answer": 2}\n',
            "unique",
        ),
        ("e.csv", "problem,answer\n", "unsupported"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(BenchmarkFileError, match=message):
        load_benchmark(tmp_path / name)


def test_parquet_without_ground_truth(tmp_path: Path) -> None:
    import pandas as pd

    pd.DataFrame([{"prompt": build_prompt_messages("q")}]).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(BenchmarkFileError, match="reward_model"):
        load_benchmark(tmp_path / "x.parquet")


def test_shared_benchmark_files_load(shared_data: Path) -> None:
    sizes = {
        name: len(load_benchmark(shared_data / f"{name}.jsonl"))
        for name in ["aime24", "aime25", "amc23", "math500"]
    }
    assert sizes == {"aime24": 30, "aime25": 30, "amc23": 40, "math500": 500}
