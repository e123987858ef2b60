"""Real-host fixtures: an isolated Krita profile shared by the Krita tests of one run."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.hosts.helpers import HERE


@pytest.fixture(scope="session")
def krita_env(tmp_path_factory) -> dict:
    """Environment for ``kritarunner``/``krita`` with a throw-away HOME and XDG folders, and
    ``ICM_PATHS``: what Krita's Python needs to import this checkout (as the plugin's path file).

    One profile for the session, in pytest's temporary folder: Krita builds its resource
    database (~100 MB, 10-30 s) once per run, and nothing of it stays in the checkout."""
    if shutil.which("kritarunner") is None or shutil.which("krita") is None:
        pytest.skip("Krita is not installed (Debian: apt-get install krita xvfb xauth python3-pyqt5)")
    from icm_plugin.install import krita_python_version, python_paths, python_version

    if krita_python_version() not in (None, python_version()):
        pytest.skip(f"Krita embeds Python {krita_python_version()}, this is {python_version()}: "
                    "compiled packages cannot be shared")
    profile = tmp_path_factory.mktemp("krita-profile")
    for sub in ("home", "data", "config", "cache", "runtime"):
        (profile / sub).mkdir()
    (profile / "runtime").chmod(0o700)
    # Krita's embedded Python finds its home from the first ``python3`` on PATH: a pyenv or venv
    # interpreter there (as under this pytest) would replace Debian's stdlib and PyQt5.
    ours = str(Path(sys.executable).parent)
    path = [p for p in os.environ["PATH"].split(os.pathsep) if p != ours and ".pyenv" not in p]
    return dict(
        os.environ,
        PATH=os.pathsep.join(path),
        HOME=str(profile / "home"),
        XDG_DATA_HOME=str(profile / "data"),
        XDG_CONFIG_HOME=str(profile / "config"),
        XDG_CACHE_HOME=str(profile / "cache"),
        XDG_RUNTIME_DIR=str(profile / "runtime"),
        ICM_PATHS=json.dumps(python_paths()),
        PYTHONPATH=str(HERE),
    )

