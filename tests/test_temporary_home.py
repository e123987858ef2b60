"""The suite runs with a temporary HOME (tests/conftest.py): nothing it or the programs it
starts keep in a home folder lands in the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEMPORARY_HOME


def test_home_xdg_and_caches_point_into_the_temporary_folder():
    import platformdirs

    from icm_core import weights

    for where in (Path.home(), Path(os.environ["XDG_CACHE_HOME"]), Path(os.environ["HF_HOME"]),
                  Path(platformdirs.user_cache_dir("icm-matting")),
                  Path(platformdirs.user_config_dir("icm-matting")), weights.cache_dir()):
        assert where.is_relative_to(TEMPORARY_HOME), where


def test_child_processes_get_the_temporary_home_too():
    code = ("import os, pathlib, platformdirs; "
            "print(pathlib.Path.home()); print(platformdirs.user_cache_dir('x'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert all(Path(line).is_relative_to(TEMPORARY_HOME) for line in done.stdout.split())

