"""benchmarks/icm_gpu.py runs its tiny configuration on a CPU-only machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU runs the full-size benchmark")
def test_gpu_benchmark_runs_tiny_on_cpu(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import icm_gpu

    figures = icm_gpu.main(["--json", str(tmp_path / "gpu.json"), "--targets", "1",
                            "--device", "cpu"])
    assert json.loads((tmp_path / "gpu.json").read_text()) == json.loads(json.dumps(figures))
    assert figures["configuration"].startswith("tiny") and figures["size"] == 128
    inference = figures["inference"]["float32"]
    assert inference["seconds_per_target"] > 0 and inference["peak_memory_bytes"] > 0
    training = figures["training"]
    assert training["seconds_per_step_cached"] > 0 and training["steps_per_epoch"] == 4
    sys.modules.pop("icm_gpu", None)
