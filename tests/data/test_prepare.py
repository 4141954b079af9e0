"""Data preparation: cleaning, counts, verl's RLHFDataset reading our files, malformed inputs, the HF path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from simpletir.data.cleaning import normalize_text, repair_control_characters, strip_dapo_wrapper
from simpletir.data.prepare import format_stats, main, prepare, prepare_all
from simpletir.data.readers import read_local
from simpletir.data.records import build_records
from simpletir.data.registry import DATASETS, DataError
from simpletir.tir.protocol import TIR_INSTRUCTION

FIXTURES = Path(__file__).parent / "fixtures"
# Subprocess limits below only stop a hang; a busy machine may need many times the idle time.
pytestmark = pytest.mark.timeout(900)
COLUMNS = ["data_source", "prompt", "ability", "reward_model", "extra_info", "agent_name"]


def test_cleaning_counts_on_a_fixture(tmp_path: Path) -> None:
    stats = prepare("math_l35", str(FIXTURES / "train_small.jsonl"), tmp_path / "t.parquet")
    assert (stats.read, stats.kept, stats.no_answer, stats.duplicates, stats.conflicting, stats.repaired) == (
        8, 3, 2, 1, 2, 1,
    )  # fmt: skip
    frame = pd.read_parquet(tmp_path / "t.parquet")
    assert list(frame.columns) == COLUMNS
    assert frame["extra_info"].map(lambda e: e["id"]).tolist() == ["t-0", "t-1", "t-6"]
    assert frame["extra_info"].map(lambda e: e["index"]).tolist() == [0, 1, 2]
    assert frame["reward_model"].map(lambda r: r["ground_truth"]).tolist() == ["2", "1", "8"]
    assert "\\frac{1}{2}" in frame["extra_info"][1]["question"]
    first = frame.iloc[0]
    assert first["prompt"][0]["content"] == TIR_INSTRUCTION + "What is $1+1$?"
    assert first["agent_name"] == "simpletir_agent" and first["ability"] == "math"
    assert first["extra_info"]["level"] == 3 and first["extra_info"]["subject"] == "Algebra"


def test_benchmark_rows_use_the_evaluation_agent_and_overlap_is_dropped(tmp_path: Path) -> None:
    prepare("aime24", str(FIXTURES / "bench_small.jsonl"), tmp_path / "b.parquet")
    bench = pd.read_parquet(tmp_path / "b.parquet")
    assert set(bench["agent_name"]) == {"simpletir_agent_eval"}
    exclude = {"howmanyprimesarebelow20"}
    stats = prepare("math_l35", str(FIXTURES / "train_small.jsonl"), tmp_path / "t.parquet", exclude=exclude)
    assert stats.overlapping == 1 and stats.kept == 2


def test_dapo_wrapper_is_stripped(tmp_path: Path) -> None:
    prepare("dapo", str(FIXTURES / "dapo_small.jsonl"), tmp_path / "d.parquet")
    row = pd.read_parquet(tmp_path / "d.parquet").iloc[0]
    assert row["extra_info"]["question"] == "What is 3*3?"
    assert row["reward_model"]["ground_truth"] == "9"
    assert strip_dapo_wrapper("plain problem") == "plain problem"


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("\x0crac{1}{2}", "\\frac{1}{2}"),
        ("\text{cm}", "\\text{cm}"),
        ("\x08inom{5}{2}", "\\binom{5}{2}"),
        ("equal\tperimeters", "equal\tperimeters"),  # a real tab stays
        ("no control characters", "no control characters"),
    ],
)
def test_control_character_repair(text: str, fixed: str) -> None:
    assert repair_control_characters(text)[0] == fixed


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_json.jsonl", r"bad_json.jsonl:2: invalid JSON"),
        ("not_object.jsonl", r"not_object.jsonl:1: expected a JSON object"),
        ("empty.jsonl", r"has no rows"),
        ("missing_field.jsonl", r"row 0: missing field 'problem'"),
        ("wrong_type.jsonl", r"the problem must be a string"),
        ("no_such_file.jsonl", r"no such file"),
    ],
)
def test_malformed_files_fail_clearly(name: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=message):
        prepare("aime24", str(FIXTURES / name), tmp_path / "x.parquet")


def test_cli_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simpletir.data.prepare", "--dataset", "aime24", "--source",
         str(FIXTURES / "bad_json.jsonl"), "--out", str(tmp_path / "x.parquet")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "invalid JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert main(["--dataset", "aime24"]) == 2


def test_hf_loader_code_path_on_a_local_file(tmp_path: Path) -> None:
    code = main([
        "--dataset", "math_l35", "--hf-data-files", str(FIXTURES / "train_small.jsonl"),
        "--out", str(tmp_path / "hf.parquet"),
    ])  # fmt: skip
    assert code == 0
    assert len(pd.read_parquet(tmp_path / "hf.parquet")) == 3


def test_verl_rlhf_dataset_reads_our_file(tmp_path: Path) -> None:
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from tests.tir.tir_fixtures import tiny_tokenizer

    prepare("math_l35", str(FIXTURES / "train_small.jsonl"), tmp_path / "t.parquet")
    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 2048, "return_raw_chat": True,
                               "filter_overlong_prompts": False, "truncation": "error"})  # fmt: skip
    dataset = RLHFDataset(data_files=[str(tmp_path / "t.parquet")], tokenizer=tiny_tokenizer(), config=config)
    assert len(dataset) == 3
    item = dataset[0]
    assert item["raw_prompt"][0]["content"].endswith("What is $1+1$?")
    assert item["agent_name"] == "simpletir_agent"
    assert item["data_source"] == "math_l35"


def test_registry_names() -> None:
    assert {"aime24", "aime25", "amc23", "math500", "math_l35", "deepscaler", "dapo"} <= set(DATASETS)
    with pytest.raises(DataError, match="unknown dataset"):
        prepare("gsm8k", None, Path("x.parquet"))


def test_build_records_rejects_nothing_silently() -> None:
    rows = [{"problem": "p", "answer": True}]  # a bool is not a checkable answer
    records, stats = build_records(DATASETS["aime24"], rows, source="inline")
    assert records == [] and stats.no_answer == 1


def test_train_is_deduplicated_across_sets(tmp_path: Path) -> None:
    stats = prepare_all(tmp_path, FIXTURES / "shared", ["math_l35", "dapo"])
    assert (stats["math_l35"].kept, stats["math_l35"].overlapping, stats["dapo"].kept) == (4, 1, 4)
    train_stats = stats["train"]
    assert (train_stats.read, train_stats.kept, train_stats.duplicates, train_stats.conflicting) == (
        8,
        4,
        2,
        2,
    )
    train = pd.read_parquet(tmp_path / "train.parquet")
    # 1+1 and 7 squared ("049" = "49") are kept once, from the first set; the roots problem (answers
    # 2+2\sqrt{2}+2\sqrt{3} and 0) is dropped from both sets
    assert train["extra_info"].map(lambda e: e["id"]).tolist() == ["m-0", "m-2", "m-4", "dapo-3"]
    assert train["data_source"].tolist() == ["math_l35", "math_l35", "math_l35", "dapo"]
    assert train["extra_info"].map(lambda e: e["index"]).tolist() == [0, 1, 2, 3]
    assert len(pd.read_parquet(tmp_path / "train_dapo.parquet")) == 4  # each set alone is not cut
    table = format_stats(stats)
    assert "| train | 8 | 4 | 0 | 2 | 2 |" in table


@pytest.mark.parametrize(
    ("shared", "message"),
    [("no_such_dir", "no such directory"), (".", "holds none of aime24.jsonl")],
)
def test_a_wrong_shared_dir_is_an_error_not_the_hub(
    shared: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--all", "--out-dir", str(tmp_path / "out"), "--shared-dir", str(tmp_path / shared)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unreachable_hub_says_how_to_work_offline(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simpletir.data.prepare", "--dataset", "aime24", "--out", str(tmp_path / "x.parquet")],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "HuggingFaceH4/aime_2024: cannot load from the Hugging Face hub" in proc.stderr
    assert "--shared-dir" in proc.stderr


def test_all_shared_files(shared_data: Path, tmp_path: Path) -> None:
    stats = prepare_all(tmp_path, shared_data, ["math_l35", "dapo"])
    assert [stats[n].kept for n in ("aime24", "aime25", "amc23", "math500")] == [30, 30, 40, 500]
    assert stats["math_l35"].read == 8519 and stats["dapo"].read == 17917
    assert stats["dapo"].conflicting > 0 and stats["dapo"].overlapping > 0
    train = pd.read_parquet(tmp_path / "train.parquet")
    merged = stats["train"]
    assert merged.read == stats["math_l35"].kept + stats["dapo"].kept
    assert merged.duplicates > 2000 and merged.conflicting >= 2
    assert len(train) == merged.kept == merged.read - merged.duplicates - merged.conflicting
    keys = train["extra_info"].map(lambda e: normalize_text(e["question"]))
    assert keys.is_unique
    assert not keys.str.contains("sumoftheabsolutevaluesoftherootsofx44x34x216x8").any()
    assert train["extra_info"].map(lambda e: e["index"]).tolist() == list(range(len(train)))
    aime = pd.read_parquet(tmp_path / "aime24.parquet")
    assert aime["reward_model"][1]["ground_truth"] == "025"  # kept as in the source; graded numerically
    assert read_local(shared_data / "amc23.jsonl")[15]["answer"] == "-1"


def test_prepare_data_recipe(shared_data: Path, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        ["bash", str(repo / "recipes" / "prepare_data.sh")], capture_output=True, text=True, timeout=600,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "DATA_DIR": str(tmp_path),
             "SHARED_DATA_DIR": str(shared_data), "HOME": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name in ("train", "aime24", "aime25", "amc23", "math500"):
        assert (tmp_path / f"{name}.parquet").is_file()
    assert f"in {tmp_path.resolve()}" in proc.stdout.splitlines()[-1]


def test_prepare_data_recipe_rejects_a_missing_shared_dir(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        ["bash", str(repo / "recipes" / "prepare_data.sh")], capture_output=True, text=True, timeout=600,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "DATA_DIR": str(tmp_path / "d"),
             "SHARED_DATA_DIR": str(tmp_path / "typo"), "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode != 0
    assert f"{tmp_path / 'typo'}: no such directory" in proc.stderr and "Traceback" not in proc.stderr
