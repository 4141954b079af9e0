"""Every recipe composes against the installed verl config (dry run) with the paper's values; --help works."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

# A dry run imports verl and composes its config (about 20 s on 2 idle cores): the limits below only stop a
# hang, on a machine that may be far busier than that.
pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
RECIPES = ["train_qwen2.5_7b", "train_qwen2.5_32b", "train_smoke_0.5b"]
DATA_FILES = ["train", "aime24", "aime25", "amc23", "math500"]


def make_data_dir(path: Path) -> Path:
    """Empty stand-ins for the parquet files recipes/prepare_data.sh writes (the dry run checks they exist)."""
    for name in DATA_FILES:
        (path / f"{name}.parquet").write_bytes(b"")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path)


@pytest.fixture(scope="module")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def composed(shared_data_dir: Path) -> Callable[[str], dict]:
    """The config a recipe composes with no extra settings (each recipe dry-run once per module)."""
    configs: dict[str, dict] = {}

    def config(name: str) -> dict:
        if name not in configs:
            proc = run_recipe(name, shared_data_dir)
            assert proc.returncode == 0, proc.stderr
            configs[name] = yaml.safe_load(proc.stdout)
        return configs[name]

    return config


def run_recipe(name: str, data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "DATA_DIR": str(data_dir), "SIMPLETIR_DRY_RUN": "1", **env}
    return subprocess.run(
        ["bash", str(REPO / "recipes" / f"{name}.sh"), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=600,
    )


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_composes_with_the_installed_verl(
    name: str, composed: Callable[[str], dict], shared_data_dir: Path
) -> None:
    config = composed(name)
    actor = config["actor_rollout_ref"]["actor"]
    assert (actor["clip_ratio_low"], actor["clip_ratio_high"], actor["clip_ratio_c"]) == (0.2, 0.28, 3.0)
    assert actor["loss_agg_mode"] == "token-mean" and actor["use_kl_loss"] is False
    assert config["algorithm"]["adv_estimator"] == "grpo"
    assert config["trainer"]["v1"]["trainer_mode"] == "simpletir"
    assert config["actor_rollout_ref"]["rollout"]["agent"]["default_agent_loop"] == "simpletir_agent"
    assert Path(config["reward"]["custom_reward_function"]["path"]).is_file()
    assert Path(config["actor_rollout_ref"]["rollout"]["agent"]["agent_loop_config_path"]).is_file()
    assert config["data"]["train_files"] == str(shared_data_dir / "train.parquet")


def test_paper_7b_values(composed: Callable[[str], dict]) -> None:
    config = composed("train_qwen2.5_7b")
    assert config["data"]["train_batch_size"] == 512
    assert config["actor_rollout_ref"]["rollout"]["n"] == 16
    assert config["actor_rollout_ref"]["actor"]["ppo_mini_batch_size"] == 128
    assert config["actor_rollout_ref"]["actor"]["optim"]["lr"] == 1e-6
    assert config["actor_rollout_ref"]["rollout"]["response_length"] == 16000
    assert (
        config["simpletir"]["agent"]["max_turns"] == 5 and config["simpletir"]["agent"]["val_max_turns"] == 10
    )
    assert config["algorithm"]["filter_groups"] == {
        **config["algorithm"]["filter_groups"],
        "enable": True,
        "metric": "acc",
        "max_inflight_gen_batches": 3,
    }


def test_32b_scale(composed: Callable[[str], dict]) -> None:
    config = composed("train_qwen2.5_32b")
    assert config["actor_rollout_ref"]["rollout"]["tensor_model_parallel_size"] == 4
    assert config["trainer"]["nnodes"] == 4 and config["data"]["train_batch_size"] == 512


def test_recipe_variables_and_overrides_pass_through(data_dir: Path) -> None:
    proc = run_recipe(
        "train_smoke_0.5b", data_dir, "simpletir.agent.max_turns=2",
        MODEL_PATH="/models/x", SANDBOX_BACKEND="http", SANDBOX_URL="http://a:1,http://b:2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert config["actor_rollout_ref"]["model"]["path"] == "/models/x"
    assert config["simpletir"]["agent"]["max_turns"] == 2
    assert config["simpletir"]["sandbox"] == {
        "backend": "http",
        "options": {"url": ["http://a:1", "http://b:2"]},
    }


def test_async_switch_selects_the_colocate_async_filter_trainer(data_dir: Path) -> None:
    proc = run_recipe("train_qwen2.5_7b", data_dir, ASYNC="1")
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert config["trainer"]["v1"]["trainer_mode"] == "simpletir_colocate_async"
    assert config["data"]["train_batch_size"] == 512 and config["actor_rollout_ref"]["rollout"]["n"] == 16
    bad = run_recipe("train_qwen2.5_7b", data_dir, ASYNC="yes")
    assert bad.returncode == 2 and "ASYNC must be 0 or 1" in bad.stderr


SANDBOX_RECIPES = sorted(
    p.stem for p in (REPO / "recipes").glob("train_*.sh") if "sandbox_overrides" in p.read_text()
)


def test_every_recipe_with_a_sandbox_is_listed() -> None:
    assert set(RECIPES) <= set(SANDBOX_RECIPES)


@pytest.mark.parametrize("name", SANDBOX_RECIPES)
@pytest.mark.parametrize("backend", ["http", "sandbox_fusion"])
def test_a_missing_sandbox_url_stops_the_recipe(name: str, backend: str, data_dir: Path) -> None:
    proc = run_recipe(name, data_dir, SANDBOX_BACKEND=backend, SANDBOX_URL="")
    assert proc.returncode != 0
    assert f"SANDBOX_URL is required for SANDBOX_BACKEND={backend}" in proc.stderr
    assert "backend: local" not in proc.stdout and "actor_rollout_ref" not in proc.stdout


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_help(name: str) -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / f"{name}.sh"), "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and f"Usage: recipes/{name}.sh" in proc.stdout


def test_tiny_cpu_recipe_help_names_its_variables() -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / "train_tiny_cpu.sh"), "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Usage: recipes/train_tiny_cpu.sh" in proc.stdout
    for variable in ("RUN_DIR", "STEPS", "MODEL_PATH"):
        assert variable in proc.stdout
