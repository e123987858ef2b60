"""An artist's whole session in the real Krita GUI under Xvfb (krita_session.py drives it with
xdotool): brush, Run, Correct, Accept, Krita's Ctrl+Z / Ctrl+Shift+Z, Run again, save, reopen,
Ctrl+Q.  Krita must exit with status 0 and log no warning from our code.  Screenshots of each
step go to test-output/krita-session/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.hosts.helpers import HERE, ROOT, our_warnings, run_in_krita

pytestmark = [pytest.mark.krita, pytest.mark.slow]


def test_an_artists_session_in_the_real_krita(krita_env, tmp_path):
    for tool in ("xvfb-run", "xdotool"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: apt-get install xvfb xauth xdotool)")
    screenshots = ROOT / "test-output" / "krita-session"
    shutil.rmtree(screenshots, ignore_errors=True)
    screenshots.mkdir(parents=True)
    report_file = tmp_path / "report.json"
    run, _ = run_in_krita(krita_env, HERE / "krita_session.py", "icm_matting_session",
                          {"ICM_REPORT_FILE": str(report_file),
                           "ICM_SCREENSHOT_DIR": str(screenshots), "ICM_WORK_DIR": str(tmp_path)},
                          timeout=400)
    assert report_file.is_file(), f"the session wrote no report (rc {run.returncode}):\n{run.stderr[-5000:]}"
    result = json.loads(report_file.read_text())
    (screenshots / "report.json").write_text(json.dumps(result, indent=2))
    print(f"\nfigures: {json.dumps(result['figures'], indent=1)}\nscreenshots in {screenshots}")
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + run.stderr[-3000:]
    assert result.get("finished"), f"Krita ended early (rc {run.returncode}) after {result['steps']}:\n{run.stderr[-3000:]}"
    assert len(result["checks"]) >= 20, result["checks"]
    assert run.returncode == 0, f"Krita exited with status {run.returncode}:\n{run.stderr[-3000:]}"
    assert not our_warnings(run.stderr), "\n".join(our_warnings(run.stderr))
    settings = (Path(krita_env["XDG_CONFIG_HOME"]) / "icm-matting" / "krita-panel.ini").read_text()
    assert "options_shown=true" in settings  # changed just before Ctrl+Q, kept
