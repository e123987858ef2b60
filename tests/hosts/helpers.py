"""Plain helpers for the real-host tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def report(run) -> dict:
    """The ``ICM_REPORT {json}`` line a Krita-side script printed (``run``: CompletedProcess)."""
    lines = [line for line in run.stdout.splitlines() if line.startswith("ICM_REPORT ")]
    assert lines, f"the script printed no report (rc {run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    return json.loads(lines[-1][len("ICM_REPORT "):])


# What our code (or Qt about our code) may print in Krita's log; Krita's own noise is not ours.
WARNING_SIGNS = ("QThread: Destroyed", "Ambiguous shortcut", "Traceback (most recent call last)",
                 "krita.scripting", "icm_", "icm-matting", "ICM Matting", "QBasicTimer", "QPainter::")


def our_warnings(log: str) -> list[str]:
    """Lines of a Krita log that point at our plugin."""
    return [line for line in log.splitlines() if any(sign in line for sign in WARNING_SIGNS)]


def krita_on_xvfb(env: dict, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the real Krita on its own Xvfb display.  Tried once more when Krita could not reach
    the display at all: xvfb-run's readiness wait can return before Xvfb accepts connections
    (seen once under heavy load), which says nothing about our plugin."""
    import subprocess

    for attempt in range(2):
        run = subprocess.run([*xvfb_run(), "krita", "--nosplash"], env=env, capture_output=True,
                             text=True, timeout=timeout, check=False)
        if "could not connect to display" not in run.stderr:
            break
    return run


def xvfb_run(screen: str = "1600x1000") -> list[str]:
    """``xvfb-run`` on a free display, searched from a number of this process's own: two runs
    starting at once from the default :99 race for it (seen: "could not connect to display")."""
    import os

    return ["xvfb-run", "-a", "-n", str(100 + os.getpid() % 800), "-s", f"-screen 0 {screen}x24"]
