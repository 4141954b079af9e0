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


PAPER_RECIPES = ["train_qwen2.5_7b", "train_qwen2.5_32b"]


def flat(config: dict, prefix: str = "") -> dict[str, object]:
    """Every leaf of a composed config by its dotted key."""
    leaves: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            leaves.update(flat(value, f"{prefix}{key}."))
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def changed(base: dict, other: dict) -> dict[str, object]:
    """The dotted keys whose value differs between two composed configs, with the value in ``other``."""
    a, b = flat(base), flat(other)
    return {key: b.get(key) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)}


def composed_with(name: str, data_dir: Path, **env: str) -> dict:
    proc = run_recipe(name, data_dir, **env)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipes_run_by_steps_with_the_final_upstream_code_limits(
    name: str, composed: Callable[[str], dict]
) -> None:
    config = composed(name)
    trainer, agent = config["trainer"], config["simpletir"]["agent"]
    assert (trainer["total_training_steps"], trainer["total_epochs"]) == (1000, 100)
    assert (trainer["test_freq"], trainer["save_freq"]) == (10, 50)
    assert (trainer["resume_mode"], trainer["resume_from_path"]) == ("auto", None)
    assert trainer["logger"] == ["console", "file"]
    assert (agent["tool_use"], agent["max_turns"], agent["val_max_turns"]) == (True, 5, 10)
    assert (agent["max_tokens_per_turn"], agent["val_max_tokens_per_turn"]) == (8000, 12000)
    assert config["data"]["max_response_length"] == 16000
    assert agent["max_observation_tokens"] == 256 and agent["code"]["max_observation_chars"] == 512
    assert agent["code"]["show_empty_output"] is True and agent["code"]["timeout_s"] == 3
    assert config["simpletir"]["sandbox"] == {"backend": "local", "options": {"memory_mb": 512}}
    assert config["simpletir"]["filter"]["void_turn"] is True
    groups = config["algorithm"]["filter_groups"]
    assert (groups["enable"], groups["max_num_gen_batches"], groups["max_inflight_gen_batches"]) == (True, 3, 3)
    assert config["algorithm"]["rollout_correction"]["rollout_is"] is None
    assert config["algorithm"]["rollout_correction"]["rollout_rs"] is None
    # verl's dynamic batching needs one whole trajectory per GPU micro-batch
    assert config["actor_rollout_ref"]["actor"]["ppo_max_token_len_per_gpu"] >= 2048 + 16000


def test_schedule_variables_reach_verl(data_dir: Path) -> None:
    config = composed_with("train_qwen2.5_7b", data_dir, TOTAL_STEPS="300", SAVE_FREQ="25", TEST_FREQ="5",
                           LOGGER="console,file,wandb", SANDBOX_MEMORY_MB="1024")  # fmt: skip
    trainer = config["trainer"]
    assert (trainer["total_training_steps"], trainer["save_freq"], trainer["test_freq"]) == (300, 25, 5)
    assert trainer["logger"] == ["console", "file", "wandb"]
    assert config["simpletir"]["sandbox"]["options"] == {"memory_mb": 1024}


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_stage_2_raises_turns_and_budget_and_resumes(
    name: str, shared_data_dir: Path, composed: Callable[[str], dict]
) -> None:
    resume = "/ckpt/simpletir/global_step_200"
    config = composed_with(name, shared_data_dir, STAGE="2", RESUME_FROM=resume)
    assert changed(composed(name), config).keys() == {
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu",  # and what verl derives from it and the budget:
        "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu",
        "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu",
        "actor_rollout_ref.rollout.response_length",
        "distillation.teacher_models.teacher_model.inference.response_length",
        "data.max_response_length",
        "simpletir.agent.max_turns",
        "simpletir.agent.max_tokens_per_turn",
        "trainer.resume_from_path",
        "trainer.resume_mode",
    }
    agent, trainer = config["simpletir"]["agent"], config["trainer"]
    assert (agent["max_turns"], agent["max_tokens_per_turn"]) == (10, 12000)
    assert (
        config["data"]["max_response_length"]
        == config["actor_rollout_ref"]["rollout"]["response_length"]
        == 24000
    )
    assert (trainer["resume_mode"], trainer["resume_from_path"]) == ("resume_path", resume)
    assert config["actor_rollout_ref"]["actor"]["ppo_max_token_len_per_gpu"] >= 2048 + 24000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STAGE": "2"}, "STAGE=2 resumes a stage-1 run: set RESUME_FROM to its checkpoint"),
        ({"STAGE": "2", "RESUME_FROM": "/ckpt/latest"}, "RESUME_FROM must be a verl checkpoint folder"),
        ({"STAGE": "3"}, "STAGE must be 1 or 2, got '3'"),
        ({"BASELINE": "text"}, "BASELINE must be text_only or no_void_filter (or unset), got 'text'"),
        ({"LOGGER": "console,wandb"}, "LOGGER must include file"),
        ({"TOTAL_STEPS": "1e3"}, "TOTAL_STEPS must be a positive integer, got '1e3'"),
        ({"SAVE_FREQ": "25", "TEST_FREQ": "10"}, "SAVE_FREQ (25) must be a multiple of TEST_FREQ (10)"),
        ({"ROLLOUT_CORR": "tis"}, "ROLLOUT_CORR must be one of token_is, seq_is, seq_is_rs, geo_rs, k3_rs"),
    ],
)
def test_bad_paper_settings_are_one_line_errors(env: dict, message: str, data_dir: Path) -> None:
    proc = run_recipe("train_qwen2.5_7b", data_dir, **env)
    assert proc.returncode == 2 and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_a_run_logs_one_file_per_start_and_names_its_best_checkpoint(tmp_path: Path) -> None:
    """The paper recipes' glue after ``python -m simpletir.main``, run for real on two starts of a run."""
    ckpt = tmp_path / "ckpt"
    for step in (10, 20, 30):
        (ckpt / f"global_step_{step}").mkdir(parents=True)
    script = f"""
        set -euo pipefail
        HERE={REPO / "recipes"}; CKPT_DIR={ckpt}
        source "$HERE/common.sh"
        for start in 1 2; do
          file_logger
          step=$(( start * 10 ))
          printf '{{"step": %d, "data": {{"val-core/aime24/acc/mean@1": %s}}}}\\n' "$step" "0.$(( 4 - start ))" \\
            "$(( step + 10 ))" "0.$(( 2 + start ))" > "$VERL_FILE_LOGGER_PATH"
          sleep 1.1  # a new start: a new file
        done
        run_summary
    """  # fmt: skip
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env={**os.environ, "STAGE": "1"}
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list((ckpt / "metrics").glob("stage1_*.jsonl"))) == 2
    assert proc.stdout.splitlines()[-1].endswith(
        f"step 30 (0.4000; 3 saved checkpoints compared): {ckpt}/global_step_30"
    )
    dry = subprocess.run(
        ["bash", "-c", script.replace("set -euo pipefail", "set -euo pipefail; export SIMPLETIR_DRY_RUN=1")
         .replace('> "$VERL_FILE_LOGGER_PATH"', "> /dev/null")],
        capture_output=True, text=True, env={**os.environ, "STAGE": "1", "METRICS_DIR": str(tmp_path / "dry")},
    )  # fmt: skip
    assert dry.returncode == 0 and dry.stdout == "" and not (tmp_path / "dry").exists()


@pytest.mark.parametrize(
    ("baseline", "expected"),
    [
        ("no_void_filter", {"simpletir.filter.void_turn": False}),
        (
            "text_only",
            {
                "simpletir.agent.tool_use": False,
                "simpletir.agent.max_turns": 1,
                "simpletir.agent.val_max_turns": 1,
                "simpletir.agent.max_tokens_per_turn": 16000,
                "simpletir.agent.val_max_tokens_per_turn": 16000,
                "simpletir.filter.void_turn": False,
            },
        ),
    ],
)
def test_a_baseline_changes_only_its_own_settings(
    baseline: str, expected: dict, shared_data_dir: Path, composed: Callable[[str], dict]
) -> None:
    config = composed_with("train_qwen2.5_7b", shared_data_dir, BASELINE=baseline)
    assert changed(composed("train_qwen2.5_7b"), config) == expected


def rollout_correction_args(preset: str) -> list[str]:
    """The hydra overrides recipes/rollout_correction.sh makes of ROLLOUT_CORR=preset."""
    script = 'source recipes/rollout_correction.sh; rollout_correction_overrides; printf "%s\\n" "${ROLLOUT_CORR_ARGS[@]}"'
    proc = subprocess.run(
        ["bash", "-c", script], cwd=REPO, capture_output=True, text=True, env={**os.environ, "ROLLOUT_CORR": preset}
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("preset", ["token_is", "seq_is", "seq_is_rs", "geo_rs", "k3_rs"])
def test_rollout_correction_presets_are_verls(
    preset: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import fields

    from verl.trainer.config.algorithm import RolloutCorrectionConfig

    from simpletir.main import compose_config

    monkeypatch.setenv("DATA_DIR", str(data_dir))
    config = compose_config(rollout_correction_args(preset))
    verl = getattr(RolloutCorrectionConfig, f"decoupled_{preset}")()
    names = [f.name for f in fields(verl) if not f.name.startswith("_")]
    ours = config.algorithm.rollout_correction
    assert {name: ours[name] for name in names} == {name: getattr(verl, name) for name in names}
    assert config.actor_rollout_ref.rollout.calculate_log_probs is True


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_accepts_a_rollout_correction_preset_beside_the_void_filter(
    name: str, shared_data_dir: Path, composed: Callable[[str], dict]
) -> None:
    config = composed_with(name, shared_data_dir, ROLLOUT_CORR="seq_is_rs")
    assert changed(composed(name), config) == {
        "algorithm.rollout_correction.rollout_is": "sequence",
        "algorithm.rollout_correction.rollout_rs": "seq_sum_k1",
        "algorithm.rollout_correction.rollout_rs_threshold": "0.5_2.0",
    }
    assert config["simpletir"]["filter"]["void_turn"] is True


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


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipe_help_names_every_variable(name: str) -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / f"{name}.sh"), "--help"], capture_output=True, text=True
    )
    for variable in ("STAGE", "RESUME_FROM", "BASELINE", "ROLLOUT_CORR", "TOTAL_STEPS", "SAVE_FREQ", "TEST_FREQ",
                     "BEST_METRIC", "LOGGER", "METRICS_DIR", "SANDBOX_MEMORY_MB", "INFLIGHT_GEN_BATCHES"):  # fmt: skip
        assert variable in proc.stdout


def test_tiny_cpu_recipe_help_names_its_variables() -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / "train_tiny_cpu.sh"), "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Usage: recipes/train_tiny_cpu.sh" in proc.stdout
    for variable in ("RUN_DIR", "STEPS", "MODEL_PATH", "ROLLOUT_CORR"):
        assert variable in proc.stdout
