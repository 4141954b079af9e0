"""verl on a machine without an accelerator: a CPU platform for verl's platform registry.

verl 0.9 registers only accelerator platforms (nvidia, huawei, amd) and falls back to ``nvidia`` when none
is present. ``PlatformCPU`` is registered under the name ``cpu`` and selected with ``VERL_PLATFORM=cpu``
(``recipes/train_tiny_cpu.sh`` sets it); it is never auto-detected, so a GPU job is unaffected. Ray's
``GPU`` resource is the scheduling slot on CPU too: start Ray with as many "GPUs" as training processes
(``ray_kwargs.ray_init.num_gpus``), one process per slot.

Two things verl offers no extension point for are adjusted in ``apply_cpu_patches`` (called in every
Ray worker by ``simpletir.trainer.setup_ray_worker`` when this platform is active); each one is pinned
by ``tests/backends/test_cpu_platform.py``, which fails the day verl changes the code it relies on:

- ``verl.utils.distributed.initialize_global_process_group_ray`` builds the process-group backend as
  ``"cpu:gloo,{device}:{backend}"``, which is ``"cpu:gloo,cpu:gloo"`` here and torch refuses duplicate
  device types: the backend string is de-duplicated.
- verl's FSDP engines are registered for ``cuda`` and ``npu`` only: they are registered for ``cpu``
  through verl's own ``EngineRegistry``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
from verl.plugin.platform import PlatformBase, PlatformRegistry

PLATFORM_NAME = "cpu"


def _cpu_device_module() -> SimpleNamespace:
    """``torch.cpu`` plus the calls verl makes on a device module that ``torch.cpu`` lacks (no-ops on CPU)."""

    def mem_get_info(device: Any = None) -> tuple[int, int]:
        """(free, total) bytes of host memory, as ``torch.cuda.mem_get_info`` reports device memory."""
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return free, pages

    zero = lambda *args, **kwargs: 0  # noqa: E731 - memory counters have no meaning for host memory here
    none = lambda *args, **kwargs: None  # noqa: E731
    names = [n for n in dir(torch.cpu) if not n.startswith("_")]
    module = SimpleNamespace(**{n: getattr(torch.cpu, n) for n in names})
    module.__name__ = "simpletir.backends.cpu_platform.device_module"
    module.empty_cache = none
    module.ipc_collect = none
    module.set_per_process_memory_fraction = none
    module.mem_get_info = mem_get_info
    module.memory_allocated = zero
    module.memory_reserved = zero
    module.max_memory_allocated = zero
    module.max_memory_reserved = zero
    module.reset_peak_memory_stats = none
    module.get_device_name = lambda *args, **kwargs: "cpu"
    module.get_rng_state = lambda *args, **kwargs: torch.get_rng_state()
    module.set_rng_state = lambda state, *args, **kwargs: torch.set_rng_state(state)
    module.manual_seed = torch.manual_seed
    module.manual_seed_all = torch.manual_seed
    return module


@PlatformRegistry.register(platform=PLATFORM_NAME)
class PlatformCPU(PlatformBase):
    """verl's platform interface on the host CPU: gloo collectives, no IPC, no profiler ranges."""

    @property
    def device_name(self) -> str:
        """``cpu``: tensors, device meshes and autocast use the host."""
        return "cpu"

    @property
    def vendor_name(self) -> str:
        """``cpu`` (no accelerator vendor)."""
        return "cpu"

    @property
    def device_module(self) -> ModuleType:
        """``torch.cpu`` completed with no-op memory calls (see ``_cpu_device_module``)."""
        return _device_module()

    def is_available(self) -> bool:
        """Always True: every process has a CPU."""
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        """False: never auto-detected; select it with ``VERL_PLATFORM=cpu``."""
        return False

    def current_device(self) -> str:  # type: ignore[override]
        """``"cpu"``: verl passes this to ``Tensor.to``/``Module.to``, where an int would mean ``cuda:N``."""
        return "cpu"

    def device_count(self) -> int:
        """One device (the host)."""
        return 1

    def set_device(self, device_index: int) -> None:
        """No-op: there is one host device."""

    def synchronize(self, device_index: int | None = None) -> None:
        """No-op: CPU ops are synchronous."""

    def manual_seed(self, seed: int) -> None:
        """Seed torch's CPU generator."""
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        """Seed torch's CPU generator."""
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        """No-op: allocator settings are CUDA's."""

    def empty_cache(self) -> None:
        """No-op: there is no device cache."""

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        """``(None, None)``: no compute capability."""
        return None, None

    def communication_backend_name(self) -> str:
        """``gloo``: the collective backend torch offers on CPU."""
        return "gloo"

    def visible_devices_envvar(self) -> str:
        """``CUDA_VISIBLE_DEVICES``: what Ray sets for its ``GPU`` slots (ignored by CPU torch)."""
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str) -> Iterator[None]:
        """No-op profiler range."""
        yield

    def profiler_start(self) -> None:
        """No-op."""

    def profiler_stop(self) -> None:
        """No-op."""

    def ray_resource_name(self) -> str:
        """``GPU``: Ray's accelerator slot, declared by ``ray.init(num_gpus=N)`` on a CPU machine."""
        return "GPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        """Ray options for ``num_gpus`` slots."""
        return {"num_gpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        """Ray's flag that keeps it from rewriting ``CUDA_VISIBLE_DEVICES``."""
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        """False: no device IPC on CPU (verl's vLLM weight sync then goes through shared memory)."""
        return False

    def rollout_env_vars(self) -> dict[str, str]:
        """What vLLM's CPU build needs in its server process (``simpletir.backends.vllm_cpu.ROLLOUT_ENV``); set ones win."""
        from simpletir.backends.vllm_cpu import ROLLOUT_ENV

        return {name: os.environ.get(name, value) for name, value in ROLLOUT_ENV.items()}

    def cudart(self) -> Any:
        """None: no CUDA runtime."""
        return None


@functools.cache
def _device_module() -> SimpleNamespace:
    """The one device-module namespace of this process."""
    return _cpu_device_module()


def is_cpu_platform() -> bool:
    """True when verl in this process runs on ``PlatformCPU`` (``VERL_PLATFORM=cpu``)."""
    from verl.plugin.platform import get_platform

    return isinstance(get_platform(), PlatformCPU)


def dedup_backend(backend: str | None) -> str | None:
    """A torch process-group backend string without repeated device types (first wins)."""
    if not backend or ":" not in backend:
        return backend
    seen: dict[str, str] = {}
    for part in backend.split(","):
        device, _, name = part.partition(":")
        seen.setdefault(device, name)
    return ",".join(f"{device}:{name}" for device, name in seen.items())


def apply_cpu_patches() -> None:
    """Adjust verl where it has no CPU extension point (see module docstring); idempotent."""
    import verl.utils.distributed as distributed
    from verl.workers.engine.base import EngineRegistry
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead, FSDPEngineWithValueHead

    original = distributed.initialize_global_process_group_ray
    if not getattr(original, "__simpletir_cpu__", False):

        @functools.wraps(original)
        def initialize_global_process_group_ray(
            timeout_second: int | None = None, backend: str | None = None
        ):
            """verl's initializer with a backend string torch accepts on CPU."""
            from verl.utils.device import get_device_name, get_nccl_backend

            backend = dedup_backend(backend or f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}")
            return original(timeout_second=timeout_second, backend=backend)

        initialize_global_process_group_ray.__simpletir_cpu__ = True
        distributed.initialize_global_process_group_ray = initialize_global_process_group_ray
        for module_name in ("verl.workers.engine_workers", "verl.checkpoint_engine.base"):
            module = __import__(module_name, fromlist=["_"])
            module.initialize_global_process_group_ray = initialize_global_process_group_ray

    registry = EngineRegistry._engines
    for model_type, engine in (
        ("language_model", FSDPEngineWithLMHead),
        ("value_model", FSDPEngineWithValueHead),
    ):
        for backend in ("fsdp", "fsdp2"):
            if PLATFORM_NAME not in registry.get(model_type, {}).get(backend, {}):
                EngineRegistry.register(model_type=model_type, backend=backend, device=PLATFORM_NAME)(engine)
