"""``simpletir.diagnostics.unmasked_grad_norm``: the norm on verl's real FSDP2 engine, and where it is refused.

The engine checks run ``engine_grad_norm.py`` in a fresh interpreter (it initialises torch.distributed)
and compare verl's numbers with a plain-torch forward and backward of the same loss on the same weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simpletir.trainer.grad_norm import check_supported

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What ``engine_grad_norm.py`` measured."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.trainer.engine_grad_norm", str(tmp_path_factory.mktemp("engine"))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_unmasked_norm_is_the_norm_of_the_gradient_with_the_original_masks(engine_run: dict) -> None:
    assert engine_run["unmasked"] == pytest.approx(engine_run["hand_unmasked"], rel=1e-5)
    assert engine_run["real_a"] == pytest.approx(engine_run["hand_masked"], rel=1e-5)
    assert abs(engine_run["unmasked"] - engine_run["real_a"]) > 1e-2 * engine_run["real_a"]


@pytest.mark.slow
def test_with_the_batchs_own_masks_it_is_verls_grad_norm(engine_run: dict) -> None:
    """No row masked: the measurement and verl's ``actor/grad_norm`` are the same number."""
    assert engine_run["same"] == engine_run["real_a"]


@pytest.mark.slow
def test_it_leaves_no_trace_on_the_update(engine_run: dict) -> None:
    """Weights, AdamW state, scheduler and grads as before; the real step then matches an untouched engine's."""
    for what in ("weights", "optimizer", "scheduler", "grads_none", "data_masks"):
        assert engine_run[what] is True, what
    assert engine_run["real_a"] == engine_run["real_b"]
    assert engine_run["same_update"] is True


def config(**changes: object) -> object:
    """The part of a trainer config ``check_supported`` reads: a supported one, with ``changes`` (dotted keys)."""
    base = OmegaConf.create(
        {
            "trainer": {"nnodes": 1, "n_gpus_per_node": 1},
            "data": {"train_batch_size": 4},
            "actor_rollout_ref": {"actor": {"strategy": "fsdp2", "ppo_mini_batch_size": 4, "ppo_epochs": 1}},
        }
    )
    for key, value in changes.items():
        OmegaConf.update(base, key, value)
    return base


def test_a_one_rank_fsdp_run_with_one_step_per_update_is_supported() -> None:
    check_supported(config())
    check_supported(config(**{"actor_rollout_ref.actor.strategy": "fsdp"}))
    check_supported(config(**{"actor_rollout_ref.actor.ppo_mini_batch_size": 1}), parameter_sync_step=4)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"trainer.n_gpus_per_node": 8}, "one rank"),
        ({"trainer.nnodes": 2}, "one rank"),
        ({"actor_rollout_ref.actor.strategy": "megatron"}, "strategy"),
        ({"actor_rollout_ref.actor.ppo_mini_batch_size": 2}, "one optimizer step"),
        ({"actor_rollout_ref.actor.ppo_epochs": 2}, "one optimizer step"),
    ],
)
def test_where_the_norm_would_not_be_the_updates_it_is_refused(changes: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_supported(config(**changes))
