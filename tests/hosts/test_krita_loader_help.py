"""The Krita docker's fallback help (shown when the plugin cannot import its packages) gives the
install that works: from the icm-matting folder, which it names when it knows it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOADER = ROOT / "icm_plugin" / "krita" / "loader.py"


def _help_text(folder: Path, **env) -> str:
    """The loader, installed into ``folder``, run under a bare Python with a stand-in ``krita``."""
    shutil.copy(LOADER, folder / "__init__.py")
    code = ("import sys, types; sys.modules['krita'] = types.ModuleType('krita');"
            "import importlib.util as u; spec = u.spec_from_file_location('loader', sys.argv[1]);"
            "m = u.module_from_spec(spec); spec.loader.exec_module(m);"
            "print(m.instructions(None, ['icm_core']))")
    run = subprocess.run([sys.executable, "-c", code, str(folder / "__init__.py")],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH="", **env),
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.parametrize("recorded", [True, False])
def test_fallback_help_installs_from_the_folder_not_pypi(tmp_path, recorded):
    if recorded:
        paths = {"python": "3.11", "executable": sys.executable, "paths": [str(ROOT), "/nowhere"]}
        (tmp_path / "paths.json").write_text(json.dumps(paths))
    text = _help_text(tmp_path)
    assert "pip install icm-matting" not in text and "not on PyPI" in text
    source = str(ROOT) if recorded else "PATH/TO/icm-matting"
    assert f'krita-venv/bin/pip install -e "{source}"' in text
    assert "icm-matting install krita" in text and "restart Krita" in text


def test_fallback_help_names_an_activated_virtual_environment(tmp_path):
    """Issue 22 point 12: Krita started from a shell with a venv active loses its own packages;
    the help says so instead of a silent absence."""
    text = _help_text(tmp_path, VIRTUAL_ENV="/home/me/venvs/photo")
    assert "virtual environment active (/home/me/venvs/photo)" in text and "deactivate" in text
