"""The trainer entry: config errors are clear; without a GPU it says what it needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simpletir.main import ConfigError, compose_config

from .test_recipes import make_data_dir


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+simpletir.agent.max_turn=3", "unknown key"),
        ("simpletir.sandbox.backend=docker", "choose one of"),
        ("simpletir.filter.accuracy_band=[0.9,0.1]", "accuracy_band"),
        ("data.train_batch_size=500", "multiple of ppo_mini_batch_size"),
        ("no_such_key=1", "does not compose"),
        ("trainer.use_v1=false", "legacy trainer"),
        ("algorithm.filter_groups.max_num_gen_batches=-1", "max_num_gen_batches"),
        ("simpletir.filter.exclude_sandbox_errors=maybe", "exclude_sandbox_errors"),
    ],
)
def test_config_errors_are_clear(
    override: str, message: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    with pytest.raises(ConfigError, match=message):
        compose_config([override])


def test_missing_data_says_how_to_make_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"prepare_data\.sh"):
        compose_config([])


@pytest.mark.skipif(sys.platform != "linux", reason="linux only")
def test_without_gpu_the_entry_says_what_it_needs(data_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = subprocess.run(
        [sys.executable, "-m", "simpletir.main"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATA_DIR": str(data_dir)},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "training needs a CUDA GPU" in proc.stderr and "--dry-run" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_smoke_recipe_without_gpu_stops_before_preparing_data(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    env = {k: v for k, v in os.environ.items() if k != "SIMPLETIR_DRY_RUN"}
    proc = subprocess.run(
        ["bash", str(Path(__file__).resolve().parents[2] / "recipes" / "train_smoke_0.5b.sh")],
        capture_output=True, text=True, timeout=120,
        env={**env, "DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "training needs a CUDA GPU" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+simpletir.diagnostics.foo=1"], r"unknown key\(s\) \['foo'\] in simpletir.diagnostics"),
        (["+simpletir.foo=1"], r"unknown key\(s\) \['foo'\] in simpletir;"),
        (
            ["simpletir.agent.max_turns=3", "actor_rollout_ref.rollout.multi_turn.max_assistant_turns=4"],
            "max_assistant_turns=4 differ",
        ),
        (
            [
                "simpletir.agent.code.max_observation_chars=300",
                "actor_rollout_ref.rollout.multi_turn.max_tool_response_length=400",
            ],
            "max_tool_response_length=400 differ",
        ),
    ],
)
def test_the_whole_section_is_checked_at_dry_run(
    overrides: list[str], message: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    with pytest.raises(ConfigError, match=message):
        compose_config(overrides)


def test_values_verl_names_are_read_from_verl_and_the_clip_ratios_from_the_actor(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simpletir.config import SimpleTIRConfig

    monkeypatch.setenv("DATA_DIR", str(data_dir))
    default = SimpleTIRConfig.from_trainer_config(compose_config([]))
    assert (default.agent.max_turns, default.agent.code.max_observation_chars) == (5, 512)  # the paper's
    assert (default.diagnostics.clip_ratio_low, default.diagnostics.clip_ratio_high) == (0.2, 0.28)
    settings = SimpleTIRConfig.from_trainer_config(
        compose_config(
            [
                "actor_rollout_ref.rollout.multi_turn.max_assistant_turns=7",
                "actor_rollout_ref.rollout.multi_turn.max_tool_response_length=300",
                "actor_rollout_ref.actor.clip_ratio_high=0.4",
            ]
        )
    )
    assert (settings.agent.max_turns, settings.agent.code.max_observation_chars) == (7, 300)
    assert settings.diagnostics.clip_ratio_high == 0.4  # it was 0.28 whatever the actor's was
    own = SimpleTIRConfig.from_trainer_config(compose_config(["+simpletir.diagnostics.clip_ratio_high=0.5"]))
    assert own.diagnostics.clip_ratio_high == 0.5
