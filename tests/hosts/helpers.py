"""Plain helpers for the real-host tests."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def report(run) -> dict:
    """The ``ICM_REPORT {json}`` line a Krita-side script printed (``run``: CompletedProcess)."""
    lines = [line for line in run.stdout.splitlines() if line.startswith("ICM_REPORT ")]
    assert lines, f"the script printed no report (rc {run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    return json.loads(lines[-1][len("ICM_REPORT "):])
