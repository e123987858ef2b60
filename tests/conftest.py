"""Shared fixtures.  Evaluation data and golden values live in ``../shared`` beside the repository
root; tests that need them skip with a visible reason when it is absent (a user's fresh clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT / ".." / "shared").resolve()


def _require(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"{path} not found: evaluation data is only present in CI/dev checkouts")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (evaluation data, golden values, notes), or skip."""
    return _require(SHARED_DIR)


@pytest.fixture(scope="session")
def golden_dir(shared_dir: Path) -> Path:
    return _require(shared_dir / "golden")


@pytest.fixture(scope="session")
def data_dir(shared_dir: Path) -> Path:
    return _require(shared_dir / "data")
