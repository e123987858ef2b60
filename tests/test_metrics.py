"""Matting metrics: parity with the reference values in ../shared/golden/metrics, plus properties."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from icm_core import metrics
from icm_core.api import InvalidInput


def _read_8bit(path) -> np.ndarray:
    # The reference values were computed on 0–255 inputs: keep them 8-bit (see test below).
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))[..., 0]


def test_reproduces_reference_values(golden_dir):
    folder = golden_dir / "metrics"
    cases = json.loads((folder / "metrics.json").read_text())["cases"]
    assert len(cases) == 4
    for case in cases:
        pred = _read_8bit(folder / case["prediction"])
        gt = _read_8bit(folder / case["gt"])
        trimap = _read_8bit(folder / case["trimap"])
        for region_name, region in (("unknown", metrics.unknown_region(trimap)), ("all", None)):
            got = metrics.compute_all(pred, gt, region)
            expected = case["metrics"][region_name]
            for name in metrics.METRIC_NAMES:
                assert got[name] == pytest.approx(expected[name], rel=1e-6), (case["id"], region_name, name)


def test_golden_case_where_the_official_code_picks_the_background(golden_dir):
    folder = golden_dir / "metrics"
    case = next(c for c in json.loads((folder / "metrics.json").read_text())["cases"] if c["id"] == "GT04")
    expected = case["metrics"]["all"]
    assert expected["conn"] != pytest.approx(expected["conn_official_code"], rel=1e-3)
    value = metrics.conn(_read_8bit(folder / case["prediction"]), _read_8bit(folder / case["gt"]))
    assert value == pytest.approx(expected["conn"], rel=1e-6)


def _random_alpha(rng, shape=(48, 64)) -> np.ndarray:
    alpha = rng.random(shape)
    alpha[rng.random(shape) < 0.4] = 0.0
    alpha[rng.random(shape) < 0.3] = 1.0
    return alpha


@pytest.mark.parametrize("name", metrics.METRIC_NAMES)
def test_perfect_prediction_scores_zero(name):
    gt = _random_alpha(np.random.default_rng(1))
    assert getattr(metrics, name)(gt.copy(), gt) == 0.0


@pytest.mark.parametrize("name", metrics.METRIC_NAMES)
def test_metrics_are_symmetric_and_positive_for_different_alphas(name):
    rng = np.random.default_rng(2)
    pred, gt = _random_alpha(rng), _random_alpha(rng)
    metric = getattr(metrics, name)
    assert metric(pred, gt) > 0.0
    assert metric(pred, gt) == pytest.approx(metric(gt, pred), rel=1e-12)


@pytest.mark.parametrize("name", ["sad", "grad", "conn"])
def test_summed_metrics_split_over_a_region_and_its_complement(name):
    rng = np.random.default_rng(3)
    pred, gt = _random_alpha(rng), _random_alpha(rng)
    region = np.zeros(pred.shape, dtype=bool)
    region[10:30, 5:50] = True
    metric = getattr(metrics, name)
    inside, outside = metric(pred, gt, region), metric(pred, gt, ~region)
    assert 0.0 < inside < metric(pred, gt)
    assert inside + outside == pytest.approx(metric(pred, gt), rel=1e-12)


def test_mse_is_the_mean_over_the_region_only():
    pred, gt = np.zeros((10, 10)), np.zeros((10, 10))
    pred[:, :5] = 0.5
    region = np.zeros((10, 10), dtype=bool)
    region[:, 3:7] = True  # half the region has error 0.25
    assert metrics.mse(pred, gt, region) == pytest.approx(0.125)
    assert metrics.mse(pred, gt) == pytest.approx(0.125)
    assert metrics.sad(pred, gt, region) == pytest.approx(20 * 0.5 / 1000)


def test_sad_and_mse_known_values_and_input_types():
    gt = np.zeros((20, 50), dtype=np.uint8)
    pred = np.full((20, 50), 255, dtype=np.uint8)
    assert metrics.sad(pred, gt) == pytest.approx(1.0)
    assert metrics.mse(pred, gt) == pytest.approx(1.0)
    assert metrics.sad(pred.astype(np.uint16) * 257, gt.astype(np.uint16)) == pytest.approx(1.0)
    assert metrics.sad(pred > 0, gt > 0) == pytest.approx(1.0)


def test_grad_ignores_constant_offsets_even_at_the_borders():
    # 'nearest' borders: a constant image has no gradient anywhere, so only shape errors count
    assert metrics.grad(np.full((30, 40), 0.2), np.full((30, 40), 0.9)) == 0.0
    step = np.zeros((30, 40))
    step[:, 20:] = 1.0
    assert metrics.grad(step * 0.5, step) > 0.0


def test_grad_kernel_has_half_size_four_and_unit_norm():
    gauss, derivative = metrics._derivative_kernels(1.4)
    assert gauss.shape == derivative.shape == (9,)
    assert np.linalg.norm(np.outer(gauss, derivative)) == pytest.approx(1.0)


def test_conn_keeps_the_largest_foreground_component_not_the_background():
    gt = np.zeros((64, 64))
    big, small = (slice(4, 24), slice(4, 24)), (slice(50, 54), slice(50, 54))
    gt[big] = gt[small] = 1.0
    pred = np.zeros_like(gt)
    pred[big], pred[small] = 0.95, 0.5
    # big (400 px) stays connected up to θ = 0.9: φ(0.95−0.9 < 0.15) = φ(1−0.9 < 0.15) = 1, no error.
    # small (16 px) is cut off at θ = 0.1: φ(p) = 1 − 0.5, φ(g) = 1 − 1, error 0.5 each.
    # Picking the (larger) background instead would add 0.05 for each big pixel.
    assert metrics.conn(pred, gt) == pytest.approx(16 * 0.5 / 1000)


def test_conn_of_an_all_foreground_image():
    gt = np.ones((16, 16))
    assert metrics.conn(np.full((16, 16), 0.5), gt) == pytest.approx(256 * 0.5 / 1000)


def test_unknown_region_of_a_three_level_trimap():
    trimap = np.array([[0, 128, 255]], dtype=np.uint8)
    assert metrics.unknown_region(trimap).tolist() == [[False, True, False]]
    assert metrics.unknown_region(trimap / 255.0).tolist() == [[False, True, False]]


@pytest.mark.parametrize(
    "pred, gt, region",
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), None),
        (np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), None),
        (np.full((4, 4), 1.5), np.zeros((4, 4)), None),
        (np.full((4, 4), np.nan), np.zeros((4, 4)), None),
        (np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 4), dtype=bool)),
        (np.zeros((4, 4)), np.zeros((4, 4)), np.ones((3, 4), dtype=bool)),
        (np.zeros((4, 4), dtype=np.int32), np.zeros((4, 4)), None),
    ],
)
def test_bad_inputs_are_refused(pred, gt, region):
    with pytest.raises(InvalidInput):
        metrics.sad(pred, gt, region)


def test_dtssd_measures_temporal_derivatives():
    rng = np.random.default_rng(0)
    truth = [rng.random((16, 20)) for _ in range(4)]
    assert metrics.dtssd(truth, truth) == 0.0
    # a constant error does not flicker: same derivatives, dtSSD 0 (MSE is not)
    steady = [np.full((16, 20), 0.3)] * 4
    assert metrics.dtssd(steady, [np.full((16, 20), 0.6)] * 4) == 0.0
    # a matte that flickers by 0.1 on still truth: every pair's derivative is off by 0.1
    flicker = [np.full((16, 20), 0.1 * (i % 2)) for i in range(5)]
    still = [np.zeros((16, 20))] * 5
    assert metrics.dtssd(flicker, still) == pytest.approx(0.1)
    # a half-frame flicker: the root of the mean square, per pair
    half = [np.zeros((16, 20)), np.pad(np.full((8, 20), 0.2), ((0, 8), (0, 0)))]
    assert metrics.dtssd(half, still[:2]) == pytest.approx(np.sqrt(0.5 * 0.04))
    with pytest.raises(InvalidInput):
        metrics.dtssd(flicker, still[:4])
    with pytest.raises(InvalidInput):
        metrics.dtssd(flicker[:1], still[:1])
