"""Real Krita with its GUI under Xvfb, our plugin installed by our installer: the docker opens,
the panel mattes a layer, results are new nodes removed by one undo each; screenshots are saved
to test-output/krita/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.hosts.helpers import HERE, ROOT, our_warnings, run_in_krita

pytestmark = pytest.mark.krita


def test_installed_plugin_docker_panel_and_undo_in_krita_gui(krita_env, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (Debian: apt-get install xvfb xauth)")
    screenshots = ROOT / "test-output" / "krita"
    screenshots.mkdir(parents=True, exist_ok=True)
    report_file = tmp_path / "report.json"
    run, lines = run_in_krita(krita_env, HERE / "krita_gui_probe.py", "icm_matting_probe",
                              {"ICM_REPORT_FILE": str(report_file),
                               "ICM_SCREENSHOT_DIR": str(screenshots)}, timeout=300)
    assert report_file.is_file(), f"the probe wrote no report (rc {run.returncode}):\n{run.stderr[-5000:]}"
    result = json.loads(report_file.read_text())
    print(f"\nfigures: {result['figures']}; screenshots in {screenshots}")
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + run.stderr[-3000:]
    assert result.get("finished"), f"Krita ended early (rc {run.returncode}) after {result['checks']}:\n{run.stderr[-3000:]}"
    assert len(result["checks"]) >= 30
    assert run.returncode == 0, f"Krita exited with status {run.returncode}:\n{run.stderr[-3000:]}"
    assert not our_warnings(run.stderr), "\n".join(our_warnings(run.stderr))
    assert (screenshots / "krita-docker.png").stat().st_size > 10_000
    assert not (Path(krita_env["XDG_DATA_HOME"]) / "krita" / "pykrita" / "icm_matting").exists(), lines
    assert "enable_icm_matting=" not in (Path(krita_env["XDG_CONFIG_HOME"]) / "kritarc").read_text()
