"""Shared pytest configuration: GPU marker handling and the optional ../shared data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` when no CUDA device is present."""
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public benchmark/training files in ../shared/data; skips when the directory is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (it is optional; tests/fixtures cover the logic)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny TIR model of ``recipes/train_tiny_cpu.sh``, built once per test session (about a minute)."""
    from simpletir.tiny_model import build_tiny_model

    return build_tiny_model(cache_dir=tmp_path_factory.mktemp("tiny_model_cache"))
