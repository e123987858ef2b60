"""The GIMP 3 bridge against real GEGL buffers (Debian's gir1.2-gegl-0.4) and a fake ``Gimp``
module: GIMP 3 itself is not packaged for this OS.  The plug-in file is installed by our
installer, then driven by tests/hosts/gimp_bridge_check.py under Debian's Python (which has
GObject introspection); its panel process is this Python, headless, with the lite engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from icm_plugin import install
from icm_plugin.gimp.session import ExchangeHost
from tests.hosts.helpers import HERE, ROOT, report

SYSTEM_PYTHON = "/usr/bin/python3"


def _gegl_available() -> bool:
    if not shutil.which(SYSTEM_PYTHON):
        return False
    probe = "import gi, numpy; gi.require_version('Gegl', '0.4'); from gi.repository import Gegl; Gegl.init(None)"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


def test_gimp_plugin_export_panel_and_import_with_real_gegl(tmp_path):
    if not _gegl_available():
        pytest.skip("needs Debian's python3 with GEGL introspection (apt-get install python3-gi gir1.2-gegl-0.4 python3-numpy)")
    plugins = tmp_path / "plug-ins"
    plan = install.gimp_plan(plugins)
    install.install(plan)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), QT_QPA_PLATFORM="offscreen", PYTHONPATH="")
    run = subprocess.run([SYSTEM_PYTHON, str(HERE / "gimp_bridge_check.py"), str(plugins / "icm-matting"), str(work)],
                         env=env, capture_output=True, text=True, timeout=600)
    result = report(run)
    print(f"\nGIMP bridge round trip IoU: {result.get('iou_round_trip')}")
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + run.stderr[-3000:]
    assert len(result["checks"]) >= 20 and run.returncode == 0


def _exchange(tmp_path, selection=True):
    height, width = 24, 32
    rng = np.random.default_rng(0)
    layers = []
    for index, name in enumerate(["Reference", "Target"]):
        pixels = rng.integers(0, 65536, (height, width, 4), dtype=np.uint16)
        pixels[..., 3] = 65535 if index else np.where(np.arange(width) < 16, 65535, 0)
        pixels.astype("<u2").tofile(tmp_path / f"layer-{index}.raw")
        layers.append({"id": str(10 + index), "name": name, "file": f"layer-{index}.raw", "format": "R'G'B'A u16"})
    if selection:
        np.full((height, width), 0.25, np.float32).tofile(tmp_path / "selection.raw")
    job = {"width": width, "height": height, "layers": layers, "selected": ["10", "11"],
           "selection": "selection.raw" if selection else None, "headless": False, "results": "results.json"}
    (tmp_path / "job.json").write_text(json.dumps(job))
    return ExchangeHost(tmp_path)


def test_exchange_host_reads_what_the_plugin_wrote(tmp_path):
    host = _exchange(tmp_path)
    assert [(l.id, l.name, l.size) for l in host.layers()] == [("10", "Reference", (24, 32)), ("11", "Target", (24, 32))]
    raw = np.fromfile(tmp_path / "layer-1.raw", "<u2").reshape(24, 32, 4)
    assert np.allclose(host.read_pixels("11"), raw[..., :3] / 65535, atol=1e-6)
    assert host.read_alpha("11") is None and host.read_alpha("10")[0, 20] == 0
    assert np.all(host.read_selection() == 0.25)
    assert host.selected_layer_ids() == ["10", "11"] and host.thread_safe


def test_exchange_host_lists_each_result_for_the_plugin(tmp_path):
    host = _exchange(tmp_path)
    alpha = np.linspace(0, 1, 24 * 32, dtype=np.float32).reshape(24, 32)
    written = host.write_result("11", alpha, None, "mask")
    host.write_result("11", alpha, None, "selection")
    assert "layer mask" in written.description
    results = host.results()
    assert [(r["layer"], r["mode"], r["name"]) for r in results] == [
        ("11", "mask", "Target matte mask"), ("11", "selection", "Target matte selection")]
    assert np.array_equal(np.fromfile(tmp_path / results[0]["file"], "<f4").reshape(24, 32), alpha)
    from icm_core.api import OutputError

    with pytest.raises(OutputError, match="alpha is 3×2"):
        host.write_result("11", np.zeros((2, 3), np.float32), None, "mask")


def test_headless_session_needs_a_mask_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = tmp_path / "x"
    folder.mkdir()
    _exchange(folder, selection=False)
    (folder / "layer-0.raw").write_bytes(np.full((24, 32, 4), 65535, "<u2").tobytes())  # opaque reference
    run = subprocess.run([sys.executable, "-m", "icm_plugin.gimp.session", str(folder), "--headless"], cwd=ROOT,
                         capture_output=True, text=True, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert run.returncode == 2 and "Select the subject in “Reference” first" in run.stderr


def test_headless_session_uses_the_panels_last_choices_without_qt(tmp_path):
    """The headless run reads the engine, quality and output the panel saved (QSettings' ini)
    and mattes with no Qt binding importable: it needs no GUI library."""
    from tests.ui.helpers import scene
    from ui.qt import QSettings

    config = tmp_path / "config"
    stored = QSettings(str(config / "icm-matting" / "gimp-panel.ini"), QSettings.Format.IniFormat)
    for key, value in {"engine": "lite", "quality": "fast", "output": "layer"}.items():
        stored.setValue(key, value)
    stored.sync()
    folder = tmp_path / "x"
    folder.mkdir()
    host = _exchange(folder, selection=False)  # the reference's alpha is its mask
    for index, seed in enumerate((0, 1)):
        image, _ = scene(24, 32, seed)
        alpha = np.where(np.arange(32) < 16, 1.0, 0.0) * np.ones((24, 1)) if index == 0 else 1.0
        rgba = np.dstack([image, np.broadcast_to(alpha, (24, 32))])
        np.rint(rgba * 65535).astype("<u2").tofile(folder / f"layer-{index}.raw")
    code = ("import sys\nfor binding in ('PySide6', 'PyQt5', 'PyQt6'):\n    sys.modules[binding] = None\n"
            "from icm_plugin.gimp.session import main\n"
            f"sys.exit(main([{str(folder)!r}, '--headless']))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, XDG_CONFIG_HOME=str(config)), timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "a new layer above “Target”" in run.stdout  # output=layer, as saved (default: mask)
    assert [(r["layer"], r["mode"], r["name"]) for r in host.results()] == [("11", "layer", "Target matte")]


def test_interactive_session_window_mattes_and_lists_results(tmp_path, qtbot, monkeypatch):
    """The window the plug-in opens: the panel on the exported layers, the real lite engine,
    every result listed for GIMP as it is written."""
    from icm_plugin.gimp.session import panel_window
    from tests.ui.helpers import scene

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = tmp_path / "exchange"
    folder.mkdir()
    host = _exchange(folder)
    for index, seed in enumerate((0, 1)):
        image, _ = scene(24, 32, seed)
        rgba = np.dstack([image, np.ones((24, 32), np.float32)])
        np.rint(rgba * 65535).astype("<u2").tofile(folder / f"layer-{index}.raw")
    window = panel_window(host)
    qtbot.addWidget(window)
    window.show()
    panel = window.panel
    assert panel.layer_list.count() == 2
    assert [panel.output_combo.itemData(i) for i in range(panel.output_combo.count())] == ["mask", "layer", "selection"]
    panel.mask_from_selection()  # 0.25 everywhere: below one half, so the panel refuses to run
    assert not panel.run() and panel.error_label.isVisible()
    mask = np.zeros((24, 32), np.float32)
    mask[6:18, 8:24] = 1.0
    panel.canvas.set_mask(mask)
    with qtbot.waitSignal(panel.run_finished, timeout=120_000) as finished:
        assert panel.run(), panel.error_label.text()
    assert finished.args[0].status == "done", finished.args[0]
    assert [(r["layer"], r["mode"]) for r in host.results()] == [("11", "mask")]
    panel.shutdown()
