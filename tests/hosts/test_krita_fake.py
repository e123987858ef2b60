"""The Krita plugin on the Krita versions this OS lacks, against the fake libkis in
fake_krita.py: Krita 6 (PyQt6) and Krita 5.2/5.3 (PyQt5, ``createTransparencyMask``).  Each runs
in its own interpreter (one Qt binding per process), as krita_fake_check.py, which reuses the
checks the real Krita 5.1.5 passes in test_krita_offscreen.py.  What only a real Krita can show
(colour conversion, undo, rendering, its sip enums) is not claimed here."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.hosts.helpers import ROOT, report


@pytest.mark.parametrize("binding", ["PyQt6", "PyQt5"])
def test_plugin_host_worker_and_docker_on_fake_krita(binding, tmp_path):
    if importlib.util.find_spec(binding) is None:
        pytest.skip(f"{binding} is not installed (pip install -e '.[dev]' brings it)")
    # QT_API asks for PySide6: the binding Krita already loaded must win all the same.
    env = dict(os.environ, QT_API="pyside6", QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    env.pop("PYTEST_QT_API", None)
    run = subprocess.run([sys.executable, "-m", "tests.hosts.krita_fake_check", binding], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    result = report(run)
    print(f"\nfake Krita on {result.get('binding')}: {len(result['checks'])} checks, {result['figures']}")
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + run.stderr[-3000:]
    assert run.returncode == 0, run.stderr[-3000:]
    assert result["binding"] == binding and len(result["checks"]) >= 80
