"""Run the whole UI suite again on Krita's bindings — PyQt5 (Krita 5) and PyQt6 (Krita 6) — each
in a child pytest.

The in-process run uses PySide6 (``qt_api`` in pyproject); a process can hold only one
binding, so each other binding needs its own interpreter.  Both ``PYTEST_QT_API`` and
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
BINDINGS = {"pyqt5": "PyQt5", "pyqt6": "PyQt6"}


@pytest.mark.parametrize("api", list(BINDINGS))
def test_ui_suite_passes_on_krita_bindings(api):
    if os.environ.get("PYTEST_QT_API") == api:
        pytest.skip(f"already the {BINDINGS[api]} run")
    if importlib.util.find_spec(BINDINGS[api]) is None:
        pytest.skip(f"{BINDINGS[api]} is not installed (pip install -e '.[dev]' brings it)")
    env = dict(os.environ, PYTEST_QT_API=api, QT_API=api, QT_QPA_PLATFORM="offscreen")
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
        check=False,
    )
    output = f"{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, f"{BINDINGS[api]} run failed:\n{output}"
    assert "passed" in run.stdout and " skipped" not in run.stdout.splitlines()[-1], output
