"""Property tests over the newer surfaces: engine options as typed, seeds, correction hints,
extra references (--also), hand-edited batch manifests, mask memory, training settings and
files, decoder weights, the feature cache, odd TIFFs and decompression bombs.  Every input
works or raises our own error.  ``benchmarks/reliability.py`` runs these by the thousand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icm_core.engines import get_engine
from tests.reliability import harness

CI = settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
SIDE = 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def lite():
    return get_engine("lite", feature_side=128, matting_side=256)


@pytest.fixture(scope="module")
def scene(lite):
    rng = np.random.default_rng(0)
    image = rng.random((SIDE, SIDE, 3), dtype=np.float32)
    mask = np.zeros((SIDE, SIDE), np.float32)
    mask[8:24, 8:24] = 1.0
    return lite.encode_reference(image, mask), rng.random((SIDE, SIDE, 3), dtype=np.float32)


@CI
@given(harness.option_texts())
def test_engine_options_as_typed(case):
    harness.option_target(*case)


@CI
@given(st.integers(-2**80, 2**80) | st.floats() | st.booleans() | st.text(max_size=4))
def test_seeds(seed):
    harness.seed_target(seed)


@settings(CI, max_examples=25)
@given(harness.hint_inputs(SIDE))
def test_correction_hints(lite, scene, hints):
    reference, target = scene
    harness.hints_target(lite, reference, target, *hints)


@settings(CI, max_examples=15)
@given(harness.extra_references(SIDE))
def test_extra_references(lite, scene, pairs):
    harness.also_target(lite, pairs, scene[1])


@CI
@given(harness.edited_batch_manifests())
def test_hand_edited_batch_manifests(folder, manifest):
    harness.batch_resume_target(folder, manifest)


@CI
@given(harness.mask_memory_operations())
def test_mask_memory(tmp_path_factory, operations):
    harness.mask_memory_target(tmp_path_factory.mktemp("memory"), operations)


@CI
@given(harness.training_settings())
def test_training_settings(settings_):
    harness.training_settings_target(settings_)


@CI
@given(harness.training_files())
def test_training_files(folder, file):
    harness.training_file_target(folder, *file)


@CI
@given(harness.decoder_weights())
def test_decoder_weights(weights):
    pytest.importorskip("torch")
    harness.decoder_weights_target(*weights)


@CI
@given(harness.feature_cache_operations())
def test_feature_cache(tmp_path_factory, operations):
    pytest.importorskip("torch")
    harness.feature_cache_target(tmp_path_factory.mktemp("cache"), operations)


@CI
@given(harness.odd_files())
def test_odd_tiffs_and_bombs(folder, file):
    suffix, data = file
    harness.read_file_target(folder, f"odd{suffix}", data)
