"""Bad input at the engine boundary: each gets its own clear error and nothing is computed."""

from __future__ import annotations

import numpy as np
import pytest

from icm_core.api import InvalidInput, OutOfMemory, WeightsCorrupt, WeightsMissing
from icm_core.engines import get_engine
from icm_core.lite import backbone

IMAGE = np.full((64, 64, 3), 0.5, np.float32)
MASK = np.zeros((64, 64), np.float32)
MASK[16:48, 16:48] = 1.0


@pytest.fixture(scope="module")
def engine():
    return get_engine("lite")


@pytest.mark.parametrize(
    "image, message",
    [
        (np.full((64, 64), 0.5, np.float32), "H×W×3"),
        (np.full((64, 64, 4), 0.5, np.float32), "H×W×3"),
        (np.full((64, 64, 3), 128, np.uint8), "float32"),
        (np.full((64, 64, 3), 0.5, np.float64), "float32"),
        (np.full((64, 64, 3), 200.0, np.float32), "divide 8-bit"),
        (np.full((8, 64, 3), 0.5, np.float32), "at least"),
        (np.array([[[np.nan, 0, 0]]] * 64 * 64, np.float32).reshape(64, 64, 3), "NaN"),
        ([[0.5]], "numpy array"),
    ],
)
def test_bad_images(engine, image, message):
    with pytest.raises(InvalidInput, match=message):
        engine.encode_reference(image, MASK)


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.zeros((64, 64), np.float32), "empty"),
        (np.ones((64, 64), np.float32), "whole reference"),
        (np.ones((32, 64), np.float32), "paint the mask on the reference"),
        (np.ones((64, 64, 1), np.float32), "single-channel"),
        (MASK.astype(np.uint8), "float32"),
        (MASK * 2, r"\[0, 1\]"),
    ],
)
def test_bad_masks(engine, mask, message):
    with pytest.raises(InvalidInput, match=message):
        engine.encode_reference(IMAGE, mask)


def test_bad_target(engine):
    reference = engine.encode_reference(IMAGE, MASK)
    with pytest.raises(InvalidInput, match="target image"):
        engine.matte(IMAGE[..., :2], reference)


def test_missing_and_wrong_weights(tmp_path):
    with pytest.raises(WeightsMissing, match="missing.*reinstall"):
        backbone.check_model(tmp_path / "absent.onnx")
    damaged = tmp_path / backbone.MODEL_PATH.name
    real = backbone.MODEL_PATH.read_bytes()
    damaged.write_bytes(real[:1000])
    with pytest.raises(WeightsCorrupt, match="damaged.*reinstall"):
        backbone.check_model(damaged)
    damaged.write_bytes(real[:1000] + bytes([real[1000] ^ 1]) + real[1001:])  # same size
    with pytest.raises(WeightsCorrupt, match="sha256"):
        backbone.check_model(damaged)
    assert backbone.check_model() == backbone.MODEL_PATH


def test_out_of_memory_becomes_an_actionable_error(engine, monkeypatch):
    reference = engine.encode_reference(IMAGE, MASK)

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("icm_core.lite.corrections.corrected_maps", exhausted)
    with pytest.raises(OutOfMemory, match="matting_side"):
        engine.matte(IMAGE, reference)
