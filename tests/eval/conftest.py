"""Fixtures for the eval tests: stand-in servers and the sandbox backend name."""

from __future__ import annotations

import importlib.util

import pytest

from simpletir.sandbox import factory as sandbox_factory


@pytest.fixture
def sandbox_backend(monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``--sandbox`` name to evaluate with: ``local`` when that backend is present."""
    if importlib.util.find_spec("simpletir.sandbox.local") is not None:
        return "local"
    monkeypatch.setitem(sandbox_factory.BACKENDS, "eval-test", "eval_standin:SubprocessSandbox")
    return "eval-test"
