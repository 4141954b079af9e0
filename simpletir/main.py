"""Trainer entry: verl's PPO entry with SimpleTIR's config (``python -m simpletir.main``, ``simpletir-train``).

Composes ``simpletir/config/simpletir_trainer.yaml`` (layered on verl's ``ppo_trainer.yaml``) with
the command-line overrides, checks the ``simpletir`` section, resolves every path in the driver,
and hands over to verl's ``run_ppo``. ``--dry-run`` (or ``SIMPLETIR_DRY_RUN=1``) composes,
validates and prints the config, then exits 0 without needing a GPU; ``--check-runtime`` only checks for
a CUDA GPU and vLLM (exit 2 with a message when one is missing).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONFIG_MODULE = "simpletir.config"
HF_ROLLOUT = "hf"
CPU_PLATFORM = "cpu"
CONFIG_NAME = "simpletir_trainer"
EXIT_USAGE = 2


class ConfigError(ValueError):
    """The composed config cannot run: the message says which key and what to do."""


def package_file(package: str, name: str) -> str:
    """Absolute path of file ``name`` inside importable ``package`` (the ``simpletir_file`` resolver)."""
    module = importlib.import_module(package)
    return str(Path(module.__file__).resolve().parent / name)


if not OmegaConf.has_resolver("simpletir_file"):
    OmegaConf.register_new_resolver("simpletir_file", package_file)


def compose_config(overrides: list[str]) -> DictConfig:
    """Compose our config with hydra ``overrides`` and resolve it; raises ``ConfigError`` on bad input."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from simpletir.config import register_defaults

    register_defaults()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base=None):
            config = compose(config_name=CONFIG_NAME, overrides=overrides)
        OmegaConf.resolve(config)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"the config does not compose: {exc}") from None
    validate(config)
    return config


def validate(config: DictConfig) -> None:
    """Check what verl cannot check for us: our section, the reward's options, the files it names, the batch
    sizes."""
    from simpletir.config import SimpleTIRConfig

    try:
        agent = SimpleTIRConfig.from_trainer_config(config).agent
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    reward_kwargs = OmegaConf.select(config, "reward.custom_reward_function.reward_kwargs")
    if reward_kwargs:
        from simpletir.reward.config import RewardConfig

        try:
            RewardConfig.from_kwargs(**OmegaConf.to_container(reward_kwargs))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"reward.custom_reward_function.reward_kwargs: {exc}") from None
    for key in (
        "reward.custom_reward_function.path",
        "actor_rollout_ref.rollout.agent.agent_loop_config_path",
    ):
        path = OmegaConf.select(config, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"{key}={path} does not exist")
    for key in ("data.train_files", "data.val_files"):
        files = OmegaConf.select(config, key)
        files = [files] if isinstance(files, str) else list(files or [])
        missing = [f for f in files if "://" not in f and not Path(os.path.expanduser(f)).exists()]
        if missing:
            raise ConfigError(
                f"{key}: {missing} not found; run recipes/prepare_data.sh first (or set DATA_DIR)"
            )
    if not config.trainer.use_v1:
        raise ConfigError(
            "trainer.use_v1=false selects verl's deprecated legacy trainer, which has no filter hook; "
            "simpletir-train runs the V1 trainer (trainer.v1.trainer_mode=simpletir)"
        )
    from simpletir.trainer import COLOCATE_ASYNC_MODE, FILTER_TRAINER_MODES, SEPARATE_ASYNC_MODE

    if config.trainer.v1.trainer_mode not in FILTER_TRAINER_MODES:
        print(
            f"note: trainer.v1.trainer_mode={config.trainer.v1.trainer_mode}: the void-turn and group filters are off",
            file=sys.stderr,
        )
    filter_groups = config.algorithm.get("filter_groups") or {}
    budget = filter_groups.get("max_num_gen_batches", 0)
    if not isinstance(budget, int) or budget < 0:
        raise ConfigError(
            f"algorithm.filter_groups.max_num_gen_batches={budget!r}: prompts generated per step at most, in batches "
            "of data.train_batch_size (an integer >= 0; 0: unbounded)"
        )
    if filter_groups.get("enable") and config.trainer.v1.trainer_mode in (COLOCATE_ASYNC_MODE, SEPARATE_ASYNC_MODE):
        print(
            f"note: trainer.v1.trainer_mode={config.trainer.v1.trainer_mode}: dynamic sampling is verl's async one "
            "(groups with equal metric evicted and refilled, unbounded); full batches under the simpletir.filter "
            "group filters need the sync trainer (docs/training.md, Full batches)",
            file=sys.stderr,
        )
    if config.actor_rollout_ref.rollout.name == "vllm" and os.environ.get("VERL_PLATFORM") == CPU_PLATFORM:
        from simpletir.backends.vllm_cpu import rollout_config_problems

        problems = rollout_config_problems(config.actor_rollout_ref.rollout)
        if problems:
            raise ConfigError(
                "verl's vLLM rollout on the CPU (VERL_PLATFORM=cpu) needs " + "; ".join(problems)
            )
    train_batch = config.data.train_batch_size
    mini_batch = config.actor_rollout_ref.actor.ppo_mini_batch_size
    if train_batch % mini_batch:
        raise ConfigError(
            f"data.train_batch_size={train_batch} must be a multiple of ppo_mini_batch_size={mini_batch}"
        )
    if agent.max_tokens_per_turn > config.actor_rollout_ref.rollout.response_length:
        print(
            f"note: simpletir.agent.max_tokens_per_turn={agent.max_tokens_per_turn} exceeds the response budget "
            f"{config.actor_rollout_ref.rollout.response_length}; each turn is capped by what is left",
            file=sys.stderr,
        )


def rollout_name(overrides: list[str]) -> str:
    """The rollout backend the overrides select (``actor_rollout_ref.rollout.name``; our default ``vllm``)."""
    name = "vllm"
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key == "actor_rollout_ref.rollout.name":
            name = value
    return name


def missing_runtime(rollout: str = "vllm") -> str | None:
    """What this machine lacks to train with ``rollout``, or None when it has everything.

    ``hf`` (transformers) runs on a CUDA GPU or, with ``VERL_PLATFORM=cpu``, on the CPU; ``vllm`` runs on a CUDA
    GPU with vLLM installed or, with ``VERL_PLATFORM=cpu``, on vLLM's CPU build (``simpletir.backends.vllm_cpu``);
    ``sglang`` needs a CUDA GPU and SGLang.
    """
    import torch

    on_cpu = os.environ.get("VERL_PLATFORM") == CPU_PLATFORM
    if rollout == HF_ROLLOUT:
        if torch.cuda.is_available() or on_cpu:
            return None
        return "a CUDA GPU, or VERL_PLATFORM=cpu to train on the CPU (recipes/train_tiny_cpu.sh sets it)"
    if rollout == "vllm" and on_cpu:
        from simpletir.backends.vllm_cpu import check_install

        return check_install(allow_untested=os.environ.get("SIMPLETIR_VLLM_CPU_ANY_VERSION") == "1")
    lacking = []
    if not torch.cuda.is_available():
        lacking.append("a CUDA GPU (torch.cuda.is_available() is False)")
    if importlib.util.find_spec(rollout) is None:
        lacking.append(f'{rollout} (for vLLM: pip install -e ".[gpu]")')
    return " and ".join(lacking) or None


def run(config: DictConfig) -> None:
    """Hand the config to verl's PPO runner (V1 trainer with our filter)."""
    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(
        config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config)
    )
    run_ppo(config, task_runner_class=TaskRunnerV1)


def main(argv: list[str] | None = None) -> int:
    """Console entry: ``simpletir-train [--dry-run] key=value ...``; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(
            __doc__.strip()
            + "\n\nusage: simpletir-train [--dry-run | --check-runtime] [hydra overrides, e.g. data.train_files=...]"
        )
        return 0
    dry_run = "--dry-run" in args or os.environ.get("SIMPLETIR_DRY_RUN") == "1"
    overrides = [a for a in args if a not in ("--dry-run", "--check-runtime")]
    if not dry_run:
        lacking = missing_runtime(rollout_name(overrides))
        if lacking:
            print(
                f"simpletir-train: training needs {lacking}.\n"
                "Run it on a GPU node with the GPU extra installed; `--dry-run` checks a config without one.",
                file=sys.stderr,
            )
            return EXIT_USAGE
    if "--check-runtime" in args:
        return 0
    try:
        config = compose_config(overrides)
    except ConfigError as exc:
        print(f"simpletir-train: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if dry_run:
        print(OmegaConf.to_yaml(config))
        print("simpletir-train: dry run: the config composes and validates", file=sys.stderr)
        return 0
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
