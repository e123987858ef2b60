"""The Krita plugin adds next to nothing to Krita's start: loading it and building its docker
(Krita builds every docker when a window opens, shown or not) imports neither the panel nor
OpenCV nor the engines; the panel is built when the docker first shows.  Fake libkis
(fake_krita.py) in a fresh interpreter; the real Krita's start is timed by cold_start-style
measurements, not here."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.hosts.helpers import ROOT

DEFERRED = ("ui.panel", "cv2", "scipy", "onnxruntime", "torch", "icm_core.engines")

CODE = """
import json, sys
from tests.hosts import fake_krita
fake_krita.install({binding!r}, {version!r})
from icm_plugin.krita import loader
loader.load()
docker = fake_krita._APP.factories[0]._create()  # as Krita does for every docker at start
at_start = sorted(m for m in {deferred!r} if m in sys.modules)
docker.show()
shown = docker._panel is not None and "ui.panel" in sys.modules
from icm_plugin.krita.extension import quitting
quitting()  # as on Krita's aboutToQuit
print("STARTUP", json.dumps({{"at_start": at_start, "shown": shown}}))
"""


@pytest.mark.parametrize("binding, version", [("PyQt5", "5.3.1"), ("PyQt6", "6.0.1")])
def test_loading_the_plugin_defers_the_panel_until_the_docker_shows(binding, version, tmp_path):
    if importlib.util.find_spec(binding) is None:
        pytest.skip(f"{binding} is not installed (pip install -e '.[dev]' brings it)")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    code = CODE.format(binding=binding, version=version, deferred=DEFERRED)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("STARTUP "))
    result = json.loads(line[len("STARTUP "):])
    assert result == {"at_start": [], "shown": True}
