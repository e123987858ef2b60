"""Numbers that are not pixels: NaN, infinite or out-of-range masks are refused, and an
engine that computes a NaN alpha says so instead of writing an all-transparent matte.

(Images are treated differently on purpose: float pictures may hold highlights above 1,
which are clipped with a warning; NaN and infinite pixels are refused.)
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from icm_core import imageio
from icm_core.api import IcmError, InvalidInput
from icm_cli.cli import main
from icm_core.engines import get_engine

FAST = {"feature_side": 128, "matting_side": 256}


def _float_mask(path, value):
    mask = np.zeros((48, 64), np.float32)
    mask[12:36, 16:48] = 1.0
    mask[20, 20] = value
    assert cv2.imwrite(str(path), mask)
    return path


@pytest.mark.parametrize("value, message", [(5.0, r"must lie in \[0, 1\], found 0…5"),
                                            (np.inf, "NaN or infinite"),
                                            (-np.inf, "NaN or infinite"),
                                            (np.nan, "NaN or infinite"),
                                            (-0.5, r"found -0.5…1")])
def test_float_mask_files_outside_0_1_are_refused_not_clipped(tmp_path, value, message):
    with pytest.raises(InvalidInput, match=message):
        imageio.read_mask(_float_mask(tmp_path / "mask.tif", value))


def test_float_mask_files_inside_0_1_still_read(tmp_path):
    mask = imageio.read_mask(_float_mask(tmp_path / "mask.tif", 0.25))
    assert mask.dtype == np.float32 and mask[20, 20] == 0.25 and mask.max() == 1.0


def test_matte_with_an_out_of_range_mask_says_so_and_writes_nothing(tmp_path, capsys):
    picture = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "reference.png"), picture)
    cv2.imwrite(str(tmp_path / "target.png"), picture)
    mask = _float_mask(tmp_path / "mask.tif", 255.0)
    out = tmp_path / "out"
    code = main(["matte", "--reference", str(tmp_path / "reference.png"), "--mask", str(mask),
                 "--out", str(out), str(tmp_path / "target.png")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "found 0…255" in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("preview", [False, True])
def test_lite_refuses_to_return_a_non_finite_alpha(monkeypatch, preview):
    from icm_core import refine
    from icm_core.api import Hints

    engine = get_engine("lite", **FAST)
    image = np.random.default_rng(1).random((64, 64, 3), dtype=np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1.0
    reference = engine.encode_reference(image, mask)
    real = refine.refine_alpha, refine.preview_alpha

    def poisoned(function):
        def run(*args, **kwargs):
            result = function(*args, **kwargs)
            alpha = result[0] if isinstance(result, tuple) else result
            alpha[3, 3] = np.nan
            return result
        return run

    monkeypatch.setattr(refine, "refine_alpha", poisoned(real[0]))
    monkeypatch.setattr(refine, "preview_alpha", poisoned(real[1]))
    keep = np.zeros((64, 64), np.float32)
    keep[30:34, 30:34] = 1.0
    with pytest.raises(IcmError, match="lite engine computed NaN or infinite alpha"):
        engine.matte(image, reference, hints=Hints(keep=keep), preview=preview)
