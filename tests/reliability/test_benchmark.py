"""``benchmarks/reliability.py --quick`` runs end to end (it ended in IndexError once the icm
engine kept the last target's features) and reports every figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("inputs_tried", "crashes", "hangs", "foreign_exceptions", "partial_files",
           "inputs_overwritten", "files_outside_allowed", "written_after_refusal",
           "wrong_fault_advice", "run_folders_left", "data_lost", "wall_s", "cpu_s")


@pytest.mark.slow
def test_quick_run_reports_every_figure(tmp_path):
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "benchmarks/reliability.py", "--quick", "--json",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert set(FIGURES) <= set(figures)
    assert figures["inputs_tried"] > 1000
    for name in ("crashes", "hangs", "partial_files", "data_lost", "wrong_fault_advice",
                 "run_folders_left"):
        assert figures[name] == 0, (name, figures["details"])
    families = figures["details"]["fuzz_families"]
    assert all(family["inputs_tried"] > 0 for family in families.values()), families
