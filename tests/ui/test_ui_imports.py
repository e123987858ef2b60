"""Import rules: only ui/qt.py touches a binding; the shim follows the host's binding; the core
and the CLI stay free of Qt."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDING_IMPORT = re.compile(r"^\s*(from|import)\s+(PySide6|PyQt5|PyQt6|sip)\b", re.MULTILINE)


def run_python(code: str, **env) -> str:
    import os

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen", **env),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_no_module_but_the_shim_imports_a_binding():
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("ui", "icm_core", "icm_plugin")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "ui" / "qt.py" and BINDING_IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_core_and_cli_do_not_load_qt():
    loaded = run_python(
        "import argparse, sys, icm_core, icm_cli.cli, icm_core.engines, icm_cli.commands.gui as gui; "
        "gui.register(argparse.ArgumentParser().add_subparsers()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'ui', 'torch')))"
    )
    assert loaded == "[]"


@pytest.mark.parametrize("binding, action_module", [("PyQt5", "QtWidgets"), ("PyQt6", "QtGui")])
def test_shim_follows_the_binding_the_host_loaded(binding, action_module):
    # Like Krita 5 / 6: its PyQt is already imported; QT_API asks for PySide6 but must not win.
    if importlib.util.find_spec(binding) is None:
        pytest.skip(f"{binding} not installed")
    out = run_python(
        f"import sys, {binding}.QtCore; from ui import qt; "
        "print(qt.API, 'PySide6' in sys.modules, qt.QAction.__module__, "
        "type(qt.qbytes(__import__('numpy').arange(4, dtype='uint8'))).__module__)",
        QT_API="pyside6",
    )
    assert out == f"{binding} False {binding}.{action_module} {binding}.QtCore"


def test_shim_defaults_to_pyside6_for_the_standalone_app():
    out = run_python("from ui import qt; print(qt.API, qt.QAction.__module__)", QT_API="")
    assert out == "PySide6 PySide6.QtGui"


def test_qbytes_holds_the_arrays_bytes_on_this_binding():
    import numpy as np

    from ui.qt import QtCore, qbytes

    array = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    data = qbytes(array)  # PyQt5 aliases ``array``: it stays alive until the check below
    assert isinstance(data, QtCore.QByteArray) and bytes(data) == array.tobytes()
    with pytest.raises(ValueError, match="C-contiguous"):
        qbytes(array[:, ::2])
