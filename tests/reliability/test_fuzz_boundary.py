"""Property tests over the public boundary: every input works or raises our own error.

Readers (random bytes, damaged real PNG/JPEG/TIFF/WebP/BMP files), pixel conversion (any
dtype/rank/value), the engine boundary (validate + lite on tiny pictures: NaN/Inf, wrong
dtypes, empty/full/1-pixel masks, mismatched sizes, huge aspect ratios), dataset and batch
manifests, plugin.json and checkpoints.  A foreign exception fails the test with the input.
The CI profile keeps the example counts small; ``benchmarks/reliability.py`` runs thousands.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icm_core import manifest as plugin_manifest
from icm_core.api import IcmError
from icm_core.engines import get_engine
from tests.reliability import harness

CI = settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def lite():
    # the smallest sizes the engine accepts keep each example well under a second
    return get_engine("lite", feature_side=128, matting_side=256)


@CI
@given(st.binary(max_size=2048), st.sampled_from(["x.png", "x.jpg", "x.tif", "x"]))
def test_random_bytes_decode_or_refuse(data, name):
    harness.decode_target(name, data)


@CI
@given(harness.real_files())
def test_real_small_files_decode(file):
    suffix, data = file
    image = harness.decode_target(f"x{suffix}", data)
    assert isinstance(image, np.ndarray), image


@CI
@given(harness.damaged_files())
def test_damaged_files_decode_or_refuse(folder, file):
    suffix, data = file
    harness.read_file_target(folder, f"damaged{suffix}", data)


@CI
@given(harness.pixel_arrays())
def test_any_pixel_array_converts_or_is_refused(pixels):
    harness.to_rgb_target(pixels)


@settings(CI, max_examples=40)
@given(harness.engine_inputs())
def test_engine_boundary(lite, inputs):
    harness.engine_target(lite, *inputs)


def test_engine_boundary_accepts_the_edge_cases(lite):
    """Not just refusals: a 1-pixel mask, a 16 px side, 1:10 and 1:250 aspect ratios all give
    alphas (a strip scaled to the matting side used to be 1 px high: the old iterative solver divided
    by zero for 10,000 iterations, then raised ValueError)."""
    rng = np.random.default_rng(0)
    image = rng.random((16, 160, 3), dtype=np.float32)
    for painted in (0.0, 1.0):  # one pixel painted; everything painted but one pixel
        mask = np.full((16, 160), painted, np.float32)
        mask[8, 80] = 1.0 - painted
        reference = lite.encode_reference(image, mask)
        for shape in ((16, 16, 3), (160, 16, 3), (17, 300, 3), (16, 4000, 3), (4000, 16, 3)):
            alpha = lite.matte(rng.random(shape, dtype=np.float32), reference).alpha
            assert alpha.shape == shape[:2] and np.isfinite(alpha).all()


@CI
@given(harness.dataset_manifests())
def test_dataset_manifests(folder, manifest):
    (folder / "a.png").write_bytes(harness.encoded_image(np.zeros((4, 4), np.uint8), ".png"))
    (folder / "b.png").write_bytes(harness.encoded_image(np.zeros((4, 4), np.uint8), ".png"))
    harness.dataset_manifest_target(folder, json.dumps(manifest))


@CI
@given(st.text(max_size=200))
def test_dataset_manifest_text(folder, text):
    harness.dataset_manifest_target(folder, text)


@CI
@given(harness.batch_manifests())
def test_batch_manifests(folder, manifest):
    harness.batch_manifest_target(folder, json.dumps(manifest))


@CI
@given(st.data())
def test_plugin_json(data):
    """The shipped manifest with keys removed or replaced by any JSON value."""
    manifest = json.loads(json.dumps(plugin_manifest()))
    for _ in range(data.draw(st.integers(1, 3))):
        node = manifest
        path = data.draw(st.sampled_from([("name",), ("version",), ("hosts",), ("hosts", "krita"),
                                          ("hosts", "krita", "actions"), ("hosts", "krita", "module"),
                                          ("hosts", "gimp"), ("hosts", "gimp", "menu_path")]))
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            if data.draw(st.booleans()):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = data.draw(harness.JSON)
    harness.plugin_manifest_target(json.dumps(manifest))


def test_plugin_json_that_is_not_json():
    assert isinstance(harness.plugin_manifest_target("{"), IcmError)


@settings(CI, max_examples=40)
@given(harness.damaged_checkpoints())
def test_checkpoints(folder, checkpoint):
    suffix, data = checkpoint
    harness.checkpoint_target(folder, suffix, data)
