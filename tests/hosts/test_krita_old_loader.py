"""A loader installed by an older icm-matting calls ``register()`` without arguments (it is a
copy in Krita's pykrita folder, not updated with the package): the panel must still start, and
what it says when something is missing asks for the plugin to be installed again."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.hosts.helpers import ROOT

CHECK = """
import sys
from tests.hosts import fake_krita
fake_krita.install("PyQt5", "5.1.5")
from icm_plugin.krita import extension
extension.register()  # as the loader of an older version does
[factory] = fake_krita._APP.factories
print(factory._id, factory._position.name)
print(extension.MattingDocker.instructions(None, ["onnxruntime"]))
"""


def test_an_older_loaders_call_without_arguments_still_registers_the_panel():
    if importlib.util.find_spec("PyQt5") is None:
        pytest.skip("PyQt5 is not installed (pip install -e '.[dev]' brings it)")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTEST_QT_API", None)
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    registered, said = run.stdout.split("\n", 1)
    assert registered == "icm_matting_docker DockRight"
    assert "onnxruntime" in said and "icm-matting install krita` again" in said
