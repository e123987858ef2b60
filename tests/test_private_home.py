"""Nothing is written outside the outputs and the tool's own folders, and nothing phones home:
the command line (``matte``, ``batch``) and the app run with an empty HOME (the XDG folders and
TMPDIR inside it), and afterwards the only files there are in ``icm-matting`` folders; no
process of theirs tries to open a network connection.

ONNX Runtime's telemetry is the reason this exists: an official build, imported plainly, creates
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}`` and queues events
for Microsoft (see icm_core/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "icm_core" / "examples"
XDG = {"XDG_CONFIG_HOME": "config", "XDG_CACHE_HOME": "cache", "XDG_DATA_HOME": "data",
       "XDG_STATE_HOME": "state", "TMPDIR": "tmp"}
# variables that would send a library's files elsewhere, or switch telemetry off for the
# program under test: each must find its own way, as on a user's machine
CLEARED = ("HF_HOME", "TORCH_HOME", "MPLCONFIGDIR", "ICM_MATTING_HOME", "ORT_DISABLE_TELEMETRY",
           "RAY_USAGE_STATS_ENABLED", "HF_HUB_DISABLE_TELEMETRY", "ICM_MATTING_TESTS_HOME")


# loaded by every Python process of the run (workers too): a connection to the network is
# refused and recorded (a native library's own sockets are not seen: the files test covers those)
NO_NETWORK = textwrap.dedent("""
    import os, socket, traceback

    def _refuse(self, address, *rest):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            with open(os.environ["ICM_TEST_CONNECTIONS"], "a") as log:
                log.write(f"{address}\\n{''.join(traceback.format_stack())}\\n")
            raise OSError("the network is off in this test")
        return _connect(self, address, *rest)

    _connect = socket.socket.connect
    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
""")


def _run_in_empty_home(home: Path, arguments: list[str]) -> list[str]:
    """Run ``python ARGUMENTS`` with HOME = ``home/home``; every file under ``home`` afterwards.
    No process of the run may try to connect to the network."""
    site = home / "site"
    site.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    connections = home / "connections.log"
    env = {key: value for key, value in os.environ.items() if key not in CLEARED}
    env.update(HOME=str(home / "home"), PYTHONPATH=f"{ROOT}{os.pathsep}{site}",
               ICM_TEST_CONNECTIONS=str(connections))
    (home / "home").mkdir(parents=True)
    for variable, folder in XDG.items():
        (home / "home" / folder).mkdir()
        env[variable] = str(home / "home" / folder)
    done = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, env=env,
                          cwd=home, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not connections.exists(), connections.read_text()
    return sorted(str(p.relative_to(home / "home")) for p in (home / "home").rglob("*")
                  if not p.is_dir())


def _outside_our_folders(files: list[str]) -> list[str]:
    return [name for name in files
            if not (name.split("/")[0] in XDG.values() and name.split("/")[1:2] == ["icm-matting"])]


def test_matte_writes_only_its_outputs(tmp_path):
    out = tmp_path / "mattes"
    files = _run_in_empty_home(tmp_path / "h", ["-m", "icm_cli", "matte", "--example",
                                                "--out", str(out), "--cutout"])
    assert files == []  # lite keeps nothing between runs
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"target-{n}_{kind}.png" for n in range(1, 5) for kind in ("alpha", "cutout"))


def test_batch_writes_only_its_outputs(tmp_path):
    out = tmp_path / "mattes"
    files = _run_in_empty_home(tmp_path / "h", [
        "-m", "icm_cli", "batch", "--reference", str(EXAMPLES / "reference.jpg"),
        "--mask", str(EXAMPLES / "reference-mask.png"), str(EXAMPLES / "target-1.jpg"),
        str(EXAMPLES / "target-2.jpg"), "--out", str(out), "--workers", "2"])
    assert files == []
    assert sorted(p.name for p in out.iterdir()) == [
        "icm-batch.json", "target-1_alpha.png", "target-2_alpha.png"]


APP = textwrap.dedent("""
    import sys
    from pathlib import Path

    from tests.ui.helpers import brush_subject, scene
    from icm_core.imageio import write_image
    from ui.app import MainWindow
    from ui.panel import APPLICATION, ORGANISATION
    from ui.qt import QSettings, QtCore, ensure_app

    pictures, out = Path(sys.argv[1]), Path(sys.argv[2])
    for index in range(2):
        write_image(pictures / f"frame{index}.png", scene(90, 120, seed=index)[0])
    app = ensure_app(sys.argv[:1])
    window = MainWindow([pictures], out, QSettings(ORGANISATION, APPLICATION))
    window.show()
    brush_subject(window.panel.canvas, 90, 120, seed=0)
    results = []
    loop = QtCore.QEventLoop()
    window.panel.run_finished.connect(lambda summary: (results.append(summary), loop.quit()))
    QtCore.QTimer.singleShot(300_000, loop.quit)  # a hang guard
    assert window.panel.run(), window.panel.error_label.text()
    loop.exec()
    assert results and results[0].status == "done", results
    window.close()
    app.processEvents()
""")


def test_the_app_writes_only_its_outputs_settings_and_mask_memory(tmp_path):
    pytest.importorskip("PySide6", reason="the app needs the gui extra")
    pictures, out = tmp_path / "pictures", tmp_path / "results"
    pictures.mkdir()
    files = _run_in_empty_home(tmp_path / "h", ["-c", APP, str(pictures), str(out)])
    assert _outside_our_folders(files) == []
    assert any(name.startswith("data/icm-matting/reference-masks/") for name in files)
    assert sorted(p.name for p in out.iterdir()) == ["frame1_alpha.png", "frame1_cutout.png"]
