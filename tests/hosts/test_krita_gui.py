"""Real Krita with its GUI under Xvfb, our plugin installed by our installer: the docker opens,
the panel mattes a layer, results are new nodes removed by one undo each; screenshots are saved
to test-output/krita/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from icm_plugin import install
from tests.hosts.helpers import HERE, ROOT, krita_on_xvfb, our_warnings

pytestmark = pytest.mark.krita
PROBE = "icm_matting_probe"


def test_installed_plugin_docker_panel_and_undo_in_krita_gui(krita_env, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (Debian: apt-get install xvfb xauth)")
    resources = Path(krita_env["XDG_DATA_HOME"]) / "krita"
    kritarc = Path(krita_env["XDG_CONFIG_HOME"]) / "kritarc"
    plan = install.krita_plan(resources, kritarc)
    install.install(plan)
    probe_dir = resources / "pykrita" / PROBE
    probe_dir.mkdir(exist_ok=True)
    shutil.copy(HERE / "krita_gui_probe.py", probe_dir / "__init__.py")
    (resources / "pykrita" / f"{PROBE}.desktop").write_text(
        "[Desktop Entry]\nType=Service\nServiceTypes=Krita/PythonPlugin\n"
        f"X-KDE-Library={PROBE}\nX-Python-2-Compatible=false\nName=probe\n")
    install._ini_change(kritarc, "python", f"enable_{PROBE}", "true")
    screenshots = ROOT / "test-output" / "krita"
    screenshots.mkdir(parents=True, exist_ok=True)
    report_file = tmp_path / "report.json"
    env = dict(krita_env, ICM_REPORT_FILE=str(report_file), ICM_SCREENSHOT_DIR=str(screenshots))
    env.pop("QT_QPA_PLATFORM", None)  # the real GUI, on Xvfb
    try:
        run = krita_on_xvfb(env, timeout=300)
    finally:
        shutil.rmtree(probe_dir)
        (resources / "pykrita" / f"{PROBE}.desktop").unlink()
        install._ini_change(kritarc, "python", f"enable_{PROBE}", None)
        lines = install.uninstall(plan)
    assert report_file.is_file(), f"the probe wrote no report (rc {run.returncode}):\n{run.stderr[-5000:]}"
    result = json.loads(report_file.read_text())
    print(f"\nfigures: {result['figures']}; screenshots in {screenshots}")
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + run.stderr[-3000:]
    assert result.get("finished"), f"Krita ended early (rc {run.returncode}) after {result['checks']}:\n{run.stderr[-3000:]}"
    assert len(result["checks"]) >= 30
    assert run.returncode == 0, f"Krita exited with status {run.returncode}:\n{run.stderr[-3000:]}"
    assert not our_warnings(run.stderr), "\n".join(our_warnings(run.stderr))
    assert (screenshots / "krita-docker.png").stat().st_size > 10_000
    assert not (resources / "pykrita" / "icm_matting").exists(), lines
    assert "enable_icm_matting=" not in kritarc.read_text()
