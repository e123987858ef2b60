"""Shared fixtures.  Evaluation data and golden values live in ``../shared`` beside the repository
root; tests that need them skip with a visible reason when it is absent (a user's fresh clone).

The tests never write into the user's home: HOME, the XDG folders and every cache a library
keeps there point at one temporary folder, for this process and the processes it starts."""

from __future__ import annotations

import atexit
import os
import shutil
import site
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _temporary_home() -> Path:
    """HOME and XDG_{CONFIG,CACHE,DATA,STATE}_HOME in a new temporary folder, removed at exit.

    Libraries find their caches from these (Ray's ~/.ray, platformdirs and so our weights cache,
    ONNX Runtime's ~/.cache/Microsoft, GEGL and babl under GIMP, Qt's settings); those with
    variables of their own that could point elsewhere get them set or cleared too.  Done once:
    a pytest started by a test, or this file imported again as ``tests.conftest``, keeps it."""
    if Path(os.environ.get("ICM_MATTING_TESTS_HOME", "/nonexistent")).is_dir():
        return Path(os.environ["ICM_MATTING_TESTS_HOME"])
    # user-installed packages (pip install --user) must stay importable for child processes
    os.environ.setdefault("PYTHONUSERBASE", site.getuserbase())
    root = Path(tempfile.mkdtemp(prefix="icm-matting-tests-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    os.environ["ICM_MATTING_TESTS_HOME"] = str(root)
    for variable, folder in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"),
                             ("XDG_CACHE_HOME", "cache"), ("XDG_DATA_HOME", "data"),
                             ("XDG_STATE_HOME", "state")):
        (root / folder).mkdir()
        os.environ[variable] = str(root / folder)
    os.environ["HF_HOME"] = str(root / "cache" / "huggingface")
    os.environ["TORCH_HOME"] = str(root / "cache" / "torch")
    os.environ["MPLCONFIGDIR"] = str(root / "config" / "matplotlib")
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE",
                     "ICM_MATTING_HOME", "ICM_MATTING_CHECKPOINT", "ICM_MATTING_SD"):
        os.environ.pop(variable, None)
    return root


TEMPORARY_HOME = _temporary_home()

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
