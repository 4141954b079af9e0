"""verl on the CPU: the plugin registrations and the two patches, each pinned to the verl code it relies on.

Each check runs in a fresh interpreter (verl resolves its platform once per process) with
``VERL_PLATFORM=cpu``, as every process of ``recipes/train_tiny_cpu.sh`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from simpletir.backends.cpu_platform import dedup_backend


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; fail the test with its output when it fails."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("cpu:gloo,cpu:gloo", "cpu:gloo"),
        ("cpu:gloo,cuda:nccl", "cpu:gloo,cuda:nccl"),
        ("gloo", "gloo"),
        (None, None),
    ],
)
def test_dedup_backend(backend: str | None, expected: str | None) -> None:
    assert dedup_backend(backend) == expected


def test_verl_loads_our_plugin_in_a_fresh_process() -> None:
    run_python(
        """
        import verl
        from verl.plugin.platform import PlatformRegistry
        from verl.workers.rollout.base import get_rollout_class
        from verl.workers.rollout.replica import get_rollout_replica_class
        from simpletir.backends.hf_rollout import HFReplica, HFServerAdapter
        assert "cpu" in PlatformRegistry.registered_names()
        assert get_rollout_replica_class("hf") is HFReplica
        assert get_rollout_class("hf", "async") is HFServerAdapter
        """
    )


def test_the_cpu_platform_is_selected_only_by_name() -> None:
    run_python(
        """
        from verl.plugin.platform import get_platform
        from verl.utils.device import get_device_name, get_nccl_backend, get_torch_device, get_device_id
        import torch
        assert get_device_name() == "cpu" and get_nccl_backend() == "gloo"
        assert torch.ones(2).to(get_device_id()).device.type == "cpu"
        device = get_torch_device()
        device.empty_cache(); device.synchronize(); device.manual_seed(0)
        free, total = device.mem_get_info()
        assert 0 < free <= total and device.memory_allocated() == 0
        """,
        VERL_PLATFORM="cpu",
    )
    run_python(
        """
        from simpletir.backends.cpu_platform import PlatformCPU
        assert PlatformCPU().is_platform_available(use_smi_check=True) is False
        """
    )


def test_verl_refuses_its_own_backend_string_on_cpu_and_the_patch_fixes_it() -> None:
    """Pins verl's ``cpu:gloo,{device}:{backend}``: the day verl builds it differently this test says so."""
    run_python(
        """
        import torch.distributed as dist
        import verl.utils.distributed as distributed
        try:
            distributed.initialize_global_process_group_ray()
        except ValueError as exc:
            assert "Duplicate device type" in str(exc), exc
        else:
            raise AssertionError("verl's backend string no longer fails on cpu: the patch may be obsolete")
        from simpletir.backends.cpu_platform import apply_cpu_patches
        apply_cpu_patches()
        apply_cpu_patches()  # idempotent
        import verl.workers.engine_workers as engine_workers
        import verl.checkpoint_engine.base as checkpoint_base
        assert engine_workers.initialize_global_process_group_ray is distributed.initialize_global_process_group_ray
        assert checkpoint_base.initialize_global_process_group_ray is distributed.initialize_global_process_group_ray
        engine_workers.initialize_global_process_group_ray()
        import torch
        t = torch.ones(3)
        dist.all_reduce(t)
        assert dist.get_backend() in ("gloo", "cpu:gloo") and t.tolist() == [1.0, 1.0, 1.0]
        """,
        VERL_PLATFORM="cpu",
        RANK="0",
        WORLD_SIZE="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(29500 + os.getpid() % 1000),
    )


def test_verl_has_no_fsdp_engine_for_cpu_until_registered() -> None:
    run_python(
        """
        from verl.workers.engine.base import EngineRegistry
        try:
            EngineRegistry.get_engine_cls("language_model", "fsdp2")
        except ValueError as exc:
            assert "device='cpu'" in str(exc), exc
        else:
            raise AssertionError("verl registers an FSDP engine for cpu itself now: drop our registration")
        from simpletir.backends.cpu_platform import apply_cpu_patches
        from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead, FSDPEngineWithValueHead
        apply_cpu_patches()
        apply_cpu_patches()
        assert EngineRegistry.get_engine_cls("language_model", "fsdp2") is FSDPEngineWithLMHead
        assert EngineRegistry.get_engine_cls("language_model", "fsdp") is FSDPEngineWithLMHead
        assert EngineRegistry.get_engine_cls("value_model", "fsdp2") is FSDPEngineWithValueHead
        """,
        VERL_PLATFORM="cpu",
    )
