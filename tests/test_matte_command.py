"""``icm-matting matte`` end to end, and every bad input refused before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from icm_core import synthetic
from icm_cli.cli import main
from icm_core.imageio import read_mask, write_alpha, write_image


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    scenes = synthetic.series(3, size=(240, 320), seed=5)
    write_image(folder / "reference.png", scenes[0].image)
    write_alpha(folder / "mask.png", (scenes[0].alpha > 0.5).astype(np.float32))
    for index, scene in enumerate(scenes[1:], 1):
        write_image(folder / f"t{index}.png", scene.image)
        write_alpha(folder / f"gt{index}.png", scene.alpha)
    return folder


def run(folder, out, *extra, targets=("t1.png", "t2.png")):
    return main([
        "matte", "--reference", str(folder / "reference.png"), "--mask", str(folder / "mask.png"),
        *[str(folder / t) for t in targets], "--out", str(out), *extra,
    ])


def test_series_writes_alpha_and_cutout_per_target(series_dir, tmp_path):
    assert run(series_dir, tmp_path, "--cutout", "--bits", "16") == 0
    for index in (1, 2):
        alpha = read_mask(tmp_path / f"t{index}_alpha.png")
        truth = read_mask(series_dir / f"gt{index}.png")
        assert alpha.shape == truth.shape == (240, 320)
        assert float(((alpha - truth) ** 2).mean()) < 0.01
        with Image.open(tmp_path / f"t{index}_cutout.png") as cutout:
            assert cutout.mode in ("RGBA", "RGBA;16") or cutout.getbands() == ("R", "G", "B", "A")
            assert cutout.size == (320, 240)
    assert not list(tmp_path.glob("*.part"))


def test_bundled_example_runs(tmp_path):
    assert main(["matte", "--example", "--out", str(tmp_path), "--cutout"]) == 0
    assert len(list(tmp_path.glob("*_alpha.png"))) == 4
    assert len(list(tmp_path.glob("*_cutout.png"))) == 4


def test_existing_outputs_are_never_overwritten(series_dir, tmp_path, capsys):
    keep = tmp_path / "t1_alpha.png"
    keep.write_bytes(b"the artist's own file")
    assert run(series_dir, tmp_path) == 2
    assert keep.read_bytes() == b"the artist's own file"
    assert not (tmp_path / "t2_alpha.png").exists()
    assert "already exist" in capsys.readouterr().err


def _bad_reference(folder, tmp_path, name, pixels):
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("case", ["empty mask", "full mask", "mask of another size",
                                  "corrupt mask", "missing reference", "truncated reference"])
def test_bad_reference_inputs_are_refused_and_nothing_is_written(series_dir, tmp_path, capsys, case):
    reference, mask = series_dir / "reference.png", series_dir / "mask.png"
    if case == "empty mask":
        mask = _bad_reference(series_dir, tmp_path, "m.png", np.zeros((240, 320), np.uint8))
        expected = "empty"
    elif case == "full mask":
        mask = _bad_reference(series_dir, tmp_path, "m.png", np.full((240, 320), 255, np.uint8))
        expected = "whole reference"
    elif case == "mask of another size":
        mask = _bad_reference(series_dir, tmp_path, "m.png", np.full((100, 100), 255, np.uint8))
        expected = "paint the mask on the reference"
    elif case == "corrupt mask":
        mask = tmp_path / "m.png"
        mask.write_bytes(b"\x89PNG\r\n\x1a\n not really")
        expected = "m.png"
    elif case == "missing reference":
        reference = tmp_path / "nowhere.png"
        expected = "does not exist"
    else:
        reference = tmp_path / "cut.png"
        reference.write_bytes((series_dir / "reference.png").read_bytes()[:500])
        expected = "cut.png"
    out = tmp_path / "out"
    code = main(["matte", "--reference", str(reference), "--mask", str(mask),
                 str(series_dir / "t1.png"), "--out", str(out)])
    assert code == 2
    assert expected in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_other_pixel_formats_are_converted_at_the_edge(series_dir, tmp_path):
    """Grey, 16-bit, RGBA and CMYK targets are read, converted and matted."""
    rgb = np.asarray(Image.open(series_dir / "t1.png").convert("RGB"))
    Image.fromarray(rgb).convert("L").save(tmp_path / "grey.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    import cv2

    cv2.imwrite(str(tmp_path / "deep.png"), (rgb[..., ::-1].astype(np.uint16) * 257))
    names = ["grey.png", "rgba.png", "cmyk.jpg", "deep.png"]
    out = tmp_path / "out"
    code = main(["matte", "--reference", str(series_dir / "reference.png"), "--mask",
                 str(series_dir / "mask.png"), *[str(tmp_path / n) for n in names], "--out", str(out)])
    assert code == 0
    truth = read_mask(series_dir / "gt1.png")
    for name in ("rgba", "cmyk", "deep"):
        alpha = read_mask(out / f"{name}_alpha.png")
        assert float(((alpha - truth) ** 2).mean()) < 0.02, name
    assert (out / "grey_alpha.png").exists()


def test_a_bad_target_is_reported_and_the_rest_of_the_series_still_done(series_dir, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    out = tmp_path / "out"
    code = main(["matte", "--reference", str(series_dir / "reference.png"), "--mask",
                 str(series_dir / "mask.png"), str(broken), str(series_dir / "t1.png"), "--out", str(out)])
    assert code == 1
    assert "broken.jpg" in capsys.readouterr().err
    assert (out / "t1_alpha.png").exists()
    assert not (out / "broken_alpha.png").exists()


def test_unknown_engine_and_bad_options(series_dir, tmp_path, capsys):
    assert run(series_dir, tmp_path, "--engine", "nope") == 2
    assert "Unknown engine" in capsys.readouterr().err
    assert run(series_dir, tmp_path, "--engine-option", "matting_side") == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
