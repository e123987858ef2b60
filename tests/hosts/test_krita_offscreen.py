"""Real Krita, headless: kritarunner runs tests/hosts/krita_offscreen.py inside Krita's own
Python (Debian's, with its PyQt5), through our host adapter and the panel's worker with the
lite engine.  Prints the measured read/write figures."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.hosts.helpers import ROOT, report

pytestmark = pytest.mark.krita


def test_krita_host_worker_and_new_nodes_inside_krita(krita_env):
    env = dict(krita_env, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(["kritarunner", "-s", "krita_offscreen", "-f", "main"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    result = report(run)
    figures = result["figures"]
    print(f"\nKrita {result.get('krita')} / Python {result.get('python')} / {result.get('binding')}")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    out = ROOT / "test-output" / "krita"
    out.mkdir(parents=True, exist_ok=True)
    (out / "offscreen-figures.json").write_text(json.dumps(result, indent=2))
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + run.stderr[-3000:]
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(result["checks"]) >= 40
