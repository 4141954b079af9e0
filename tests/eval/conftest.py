"""Fixtures for the eval tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def sandbox_backend() -> str:
    """The ``--sandbox`` backend the end-to-end runs execute code with (the real local sandbox)."""
    return "local"
