"""Run the whole UI suite again on PyQt5 (Krita 5's binding) in a child pytest.

The in-process run uses PySide6 (``qt_api`` in pyproject); a process can hold only one
binding, so the second binding needs its own interpreter.  Both ``PYTEST_QT_API`` and
``QT_API`` are set: pytest-qt and our shim each pick the binding from them.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(os.environ.get("PYTEST_QT_API") == "pyqt5", reason="already the PyQt5 run")
def test_ui_suite_passes_on_pyqt5():
    if importlib.util.find_spec("PyQt5") is None:
        pytest.skip("PyQt5 is not installed (pip install -e '.[dev]' brings it)")
    env = dict(os.environ, PYTEST_QT_API="pyqt5", QT_API="pyqt5", QT_QPA_PLATFORM="offscreen")
    files = sorted(
        str(path) for path in HERE.glob("test_ui_*.py") if path.name != Path(__file__).name
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=HERE.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, f"PyQt5 run failed:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    assert "passed" in run.stdout
