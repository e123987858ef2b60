"""ICM Matting for Krita: the module Krita imports from ``pykrita/icm_matting/__init__.py``.

``icm-matting install krita`` copies this file there (reinstall rather than edit it).  It puts
the installation's folders on ``sys.path`` (``paths.json``, written by the installer; used only
when Krita's Python has the version they were installed for, because numpy and onnxruntime
are compiled for one), then registers the plugin.  When the packages cannot be imported it
registers a docker that says exactly what to do, instead of failing silently.
Only the standard library and Krita's own modules are used before that point.
"""

import json
import os
import sys
from importlib.util import find_spec
from pathlib import Path

import krita

HERE = Path(__file__).resolve().parent
NEEDED = ("numpy", "cv2", "onnxruntime", "icm_core", "ui", "icm_plugin")
DOCKER_ID = "icm_matting_docker"


def add_installed_paths():
    """Put the installation's folders first on sys.path; a sentence if they do not fit."""
    config_file = HERE / "paths.json"
    if not config_file.is_file():
        return None
    config = json.loads(config_file.read_text(encoding="utf-8"))
    running = "%d.%d" % sys.version_info[:2]
    if config["python"] != running:
        return (f"icm-matting was installed with Python {config['python']} "
                f"({config.get('executable', '?')}), but Krita runs Python {running}: "
                "compiled packages such as numpy and onnxruntime only load in the version they were built for.")
    for path in reversed(config["paths"]):
        if path not in sys.path:
            sys.path.insert(0, path)
    return None


def source_folder():
    """The icm-matting folder the plugin was installed from (paths.json), if it is still there."""
    config_file = HERE / "paths.json"
    if config_file.is_file():
        for path in json.loads(config_file.read_text(encoding="utf-8"))["paths"]:
            if (Path(path) / "pyproject.toml").is_file():
                return path
    return None


def instructions(problem, missing):
    version = "%d.%d" % sys.version_info[:2]
    venv = "~/.local/share/icm-matting/krita-venv"
    source = source_folder() or "PATH/TO/icm-matting"
    lines = ["ICM Matting cannot start inside Krita."]
    if problem:
        lines.append(problem)
    if os.environ.get("VIRTUAL_ENV"):
        lines.append(f"Krita was started with a virtual environment active ({os.environ['VIRTUAL_ENV']}), "
                     "which replaces Krita's own Python packages: start Krita from the menu, or run "
                     "`deactivate` in that shell first.")
    if missing:
        lines.append(f"Krita's Python {sys.version.split()[0]} cannot import: {', '.join(missing)}.")
    lines += [
        "",
        f"To fix it, install icm-matting for Python {version} from its folder (it is not on PyPI;",
        "see the Quick start in its README.md) and register it with Krita:",
        f"    python{version} -m venv {venv}",
        f"    {venv}/bin/pip install -e \"{source}\"",
        f"    {venv}/bin/icm-matting install krita",
        "then restart Krita.  (On Windows use Krita's Python version and Scripts\\ instead of bin/.)",
    ]
    return "\n".join(lines)


def register_help(text):
    """A docker that shows ``text`` in place of the panel (same id, so layouts persist)."""
    # Not ui.qt: this must work when our packages cannot be imported at all.
    binding = __import__("PyQt6" if "PyQt6" in sys.modules else "PyQt5", fromlist=["QtWidgets"])
    widgets = binding.QtWidgets

    class HelpDocker(krita.DockWidget):
        def __init__(self):
            super().__init__()
            self.setWindowTitle("ICM Matting")
            view = widgets.QPlainTextEdit(text)
            view.setReadOnly(True)
            self.setWidget(view)

        def canvasChanged(self, canvas):
            pass

    krita.Krita.instance().addDockWidgetFactory(krita.DockWidgetFactory(DOCKER_ID, dock_right(), HelpDocker))


def dock_right():
    """``DockRight``: a plain enum member in PyQt5 (Krita 5), a scoped one in PyQt6 (Krita 6)."""
    base = krita.DockWidgetFactoryBase
    return getattr(base, "DockRight", None) or base.DockPosition.DockRight


def load():
    problem = add_installed_paths()
    missing = [] if problem else [name for name in NEEDED if find_spec(name) is None]
    if not problem and not missing:
        try:
            from icm_plugin.krita.extension import register
        except Exception as error:  # e.g. a package compiled for another Python
            problem = f"Loading the plugin failed: {type(error).__name__}: {error}"
        else:
            register(DOCKER_ID, dock_right(), instructions)
            return
    print(instructions(problem, missing), file=sys.stderr)
    register_help(instructions(problem, missing))
