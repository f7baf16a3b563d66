"""Fixtures for the desired-state tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.desired_state.helpers import EXAMPLE


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """A private copy of the example desired state (desired_state/), valid as it is."""
    target = tmp_path / "desired_state"
    shutil.copytree(EXAMPLE, target)
    return target
