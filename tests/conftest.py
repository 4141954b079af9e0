"""Shared pytest configuration: GPU marker handling and the optional ../shared data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# No per-example time limit (hypothesis's default 200 ms fails on a loaded machine); timing is benchmarks' job.
settings.register_profile("simpletir", deadline=None)
settings.load_profile("simpletir")


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, hand out test files in collection order (see ``pytest_collection_modifyitems``).

    xdist's ``loadfile`` otherwise reorders files by their number of tests, which would start the end-to-end
    module (few tests, minutes each) last instead of first.
    """
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _schedule_rank(item: pytest.Item) -> int:
    """0: ``scheduled_first`` modules; 2: other users of the tiny model (built by then); 1: the rest."""
    if item.get_closest_marker("scheduled_first"):
        return 0
    return 2 if "tiny_model_dir" in getattr(item, "fixturenames", ()) else 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` when no CUDA device is present; run the longest module first.

    Under pytest-xdist (``-n 2 --dist loadfile``, the README's command) files are handed out in this
    order, so the end-to-end training module starts at once and overlaps everything else.
    """
    items.sort(key=_schedule_rank)
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
    """The tiny TIR model of ``recipes/train_tiny_cpu.sh``, built once per test run (about a minute).

    Built in the run's shared temporary root under a file lock, so pytest-xdist's workers build it once.
    """
    from filelock import FileLock

    from simpletir.dev.tiny_model import build_tiny_model

    cache = tmp_path_factory.getbasetemp().parent / "tiny_model_cache"
    cache.mkdir(exist_ok=True)
    with FileLock(str(cache / ".lock")):
        return build_tiny_model(cache_dir=cache)
