"""Every import follows the layers, at module level or inside a function: icm_core imports
nothing above it, ui imports icm_core (and a Qt binding only through ui/qt.py), icm_plugin
imports ui and icm_core, and the command line (icm_cli) drives them all; nothing imports it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: each layer, and our packages it may import (itself included)
MAY_IMPORT = {
    "icm_core": {"icm_core"},
    "ui": {"ui", "icm_core"},
    "icm_plugin": {"icm_plugin", "ui", "icm_core"},
    "icm_cli": {"icm_cli", "icm_plugin", "ui", "icm_core"},
}
QT_BINDINGS = {"PySide6", "PyQt5", "PyQt6", "sip"}
SHIM = "ui/qt.py"
HOSTS = {"krita", "gi"}  # Krita's and GIMP's own APIs: the core and the panel know no host


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``: ``import``, ``from … import``
    (relative ones resolved) and ``import_module("…")`` / ``__import__("…")`` with a literal."""
    package = list(path.relative_to(root).parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            found.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "id", getattr(node.func, "attr", None))
              in ("import_module", "__import__")):
            found.append((node.lineno, node.args[0].value))
    return sorted(found)


def violations(root: Path) -> list[str]:
    """``file:line imports module`` for every import against the layers under ``root``."""
    ours = set(MAY_IMPORT)
    wrong = []
    for layer, allowed in MAY_IMPORT.items():
        for path in sorted((root / layer).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            for line, module in imported_modules(path, root):
                top = module.split(".")[0]
                refused = (
                    (top in ours and top not in allowed)
                    or (top in QT_BINDINGS and name != SHIM)
                    or (top in HOSTS and layer in ("icm_core", "ui"))
                )
                if refused:
                    wrong.append(f"{name}:{line} imports {module}")
    return wrong


def test_every_import_follows_the_layers():
    assert violations(ROOT) == []


def test_the_check_sees_imports_inside_functions_relative_and_by_name(tmp_path):
    """The rule above can fail: a core module reaching up lazily, by a relative import that
    climbs out of its package's folder, or through importlib, is caught; so are a binding
    outside the shim and a host's API in the panel."""
    for layer in MAY_IMPORT:
        (tmp_path / layer / "inner").mkdir(parents=True)
    (tmp_path / "icm_core" / "inner" / "tool.py").write_text(
        "import numpy\nfrom . import sibling\nfrom ..api import IcmError\n\n"
        "def run():\n    from ui.app import main\n    import icm_cli.cli\n"
        "    importlib.import_module('icm_plugin.install')\n")
    (tmp_path / "ui" / "panel.py").write_text("from icm_core import api\nimport PyQt5.QtCore\n"
                                              "from krita import Krita\n")
    (tmp_path / "ui" / "qt.py").write_text("import PySide6\n")
    (tmp_path / "icm_plugin" / "host.py").write_text("import krita\nfrom ui import qt\n")
    (tmp_path / "icm_cli" / "cli.py").write_text("import gi\nfrom icm_plugin import install\n")
    assert violations(tmp_path) == [
        "icm_core/inner/tool.py:6 imports ui.app",
        "icm_core/inner/tool.py:7 imports icm_cli.cli",
        "icm_core/inner/tool.py:8 imports icm_plugin.install",
        "ui/panel.py:2 imports PyQt5.QtCore",
        "ui/panel.py:3 imports krita",
    ]
