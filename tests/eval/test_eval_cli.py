"""``simpletir-eval`` command line: ``run`` is the default, and every bad input is one line with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from simpletir.eval.cli import main

URL = ["--url", "http://127.0.0.1:9"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "simpletir-eval run: error: the following arguments are required: --url"),
        (["-v"], "simpletir-eval run: error: the following arguments are required: --url"),
        (["foo"], "simpletir-eval: error: unknown command 'foo'; choose one of report, run, view"),
        ([*URL, "--extra-body", "{bad"], "argument --extra-body: not valid JSON"),
        ([*URL, "--extra-body", "[1]"], "argument --extra-body: expected a JSON object"),
        ([*URL, "--samples", "two"], "argument --samples: invalid int value: 'two'"),
        (["view"], "simpletir-eval view: error: the following arguments are required: result"),
        ([*URL, "--tokenizer", "./no/such/tokenizer"], "--tokenizer ./no/such/tokenizer: no such directory"),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "toy.jsonl"
    data.write_text('{"problem": "What is 1+1?", "answer": "2"}\n')
    try:
        code = main([*argv, "--data", str(data)] if "--url" in argv else argv)
    except SystemExit as exc:  # argparse's own errors exit from inside parse_args
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "usage:" not in err and "Traceback" not in err
