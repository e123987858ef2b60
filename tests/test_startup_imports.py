"""What each entry point imports (issue 13): ``icm-matting --help`` loads no numpy, and the lite
engine never loads torch, whether called from Python, the CLI or the standalone app.  Each case
runs in a fresh interpreter and reads its ``sys.modules``; the timings themselves are measured
by benchmarks/cold_start.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "cv2", "scipy", "PIL", "onnxruntime", "torch")


def loaded_after(code: str, tmp_path: Path) -> list[str]:
    """Run ``code`` in a new interpreter (fresh HOME) and list the HEAVY modules it loaded."""
    probe = f"{code}\nimport json, sys\nprint('LOADED', json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    env = dict(os.environ, HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("LOADED "))
    return json.loads(line[len("LOADED "):])


def test_help_imports_no_numpy_or_engine(tmp_path):
    code = ("import icm_cli.cli\n"
            "try:\n    icm_cli.cli.main(['--help'])\nexcept SystemExit as done:\n"
            "    assert done.code == 0")
    assert loaded_after(code, tmp_path) == []


def test_lite_matte_from_python_never_imports_torch(tmp_path):
    code = (
        "from icm_core import synthetic\nfrom icm_core.engines import get_engine\n"
        "engine = get_engine('lite')\n"
        "reference, target = synthetic.scene(100, (120, 160)), synthetic.scene(1, (120, 160))\n"
        "handle = engine.encode_reference(reference.image, (reference.alpha > 0.5).astype('float32'))\n"
        "result = engine.matte(target.image, handle, foreground=True)\n"
        "assert result.alpha.shape == (120, 160) and result.foreground.shape == (120, 160, 3)"
    )
    loaded = loaded_after(code, tmp_path)
    assert "onnxruntime" in loaded  # the real lite network ran
    assert "torch" not in loaded


def test_cli_matte_of_the_example_never_imports_torch(tmp_path):
    code = (
        "import icm_cli.cli\n"
        f"assert icm_cli.cli.main(['matte', '--example', '--out', {str(tmp_path / 'out')!r}, '--cutout']) == 0"
    )
    loaded = loaded_after(code, tmp_path)
    assert "onnxruntime" in loaded and "torch" not in loaded
    assert len(list((tmp_path / "out").glob("target-*_alpha.png"))) == 4


def test_standalone_app_runs_lite_without_torch(tmp_path):
    folder = tmp_path / "series"
    code = f"""
from pathlib import Path
from icm_core import imageio
from tests.ui.helpers import brush_subject, scene
from ui.app import MainWindow
from ui.qt import QSettings, QtCore, ensure_app, exec_

app = ensure_app()
folder = Path({str(folder)!r})
for index in range(2):
    imageio.write_image(folder / f"frame{{index}}.png", scene(90, 120, seed=index)[0])
window = MainWindow([folder], None, QSettings({str(tmp_path / 'settings.ini')!r}, QSettings.Format.IniFormat))
window.show()
assert window.panel.engine_combo.currentData() == "lite"
brush_subject(window.panel.canvas, 90, 120, seed=0)
finished, loop = [], QtCore.QEventLoop()
window.panel.run_finished.connect(lambda summary: (finished.append(summary), loop.quit()))
assert window.panel.run(), window.panel.error_label.text()
QtCore.QTimer.singleShot(300_000, loop.quit)
if not finished:
    exec_(loop)
assert finished and finished[0].status == "done", (finished, window.panel.error_label.text())
window.panel.shutdown()
"""
    loaded = loaded_after(code, tmp_path)
    assert "onnxruntime" in loaded and "torch" not in loaded
    assert (folder / "frame1_alpha.png").is_file()
