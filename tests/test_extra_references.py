"""Extra reference pairs on the command line (``--also IMAGE MASK``): a target corrected earlier
teaches the rest of the series (issue 11 point 3), in ``matte`` and ``batch``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from icm_core import synthetic
from icm_core.batch import MANIFEST_NAME
from icm_cli.cli import main
from icm_core.imageio import read_mask, write_alpha, write_image

SIZE = (240, 320)


@pytest.fixture(scope="module")
def crowd_dir(tmp_path_factory):
    """A plain reference, a corrected crowd scene whose mask also takes its blue-ish bystanders,
    and a target crowd scene whose bystanders the plain reference misses."""
    folder = tmp_path_factory.mktemp("crowd")
    plain = synthetic.scene(0, size=SIZE, seed=3)
    write_image(folder / "reference.png", plain.image)
    write_alpha(folder / "mask.png", (plain.alpha > 0.5).astype(np.float32))
    corrected, bystanders = synthetic.crowd(1, size=SIZE, seed=3, cooler=True)
    write_image(folder / "corrected.png", corrected.image)
    write_alpha(folder / "corrected-mask.png",
                ((corrected.alpha > 0.5) | (bystanders > 0.5)).astype(np.float32))
    target, bystanders = synthetic.crowd(3, size=SIZE, seed=3, cooler=True)
    write_image(folder / "target.png", target.image)
    write_alpha(folder / "target-subject.png", target.alpha)
    write_alpha(folder / "target-bystanders.png", bystanders)
    return folder


def matte(folder, out, *extra):
    return main(["matte", "--reference", str(folder / "reference.png"), "--mask",
                 str(folder / "mask.png"), str(folder / "target.png"), "--out", str(out), *extra])


def test_matte_learns_from_a_corrected_target(crowd_dir, tmp_path):
    bystanders = read_mask(crowd_dir / "target-bystanders.png") > 0.5
    subject = read_mask(crowd_dir / "target-subject.png") > 0.99
    background = (read_mask(crowd_dir / "target-subject.png") < 0.01) & ~bystanders
    assert matte(crowd_dir, tmp_path / "plain") == 0
    plain = read_mask(tmp_path / "plain" / "target_alpha.png")
    assert plain[bystanders].mean() < 0.1  # the plain reference never showed them
    also = ["--also", str(crowd_dir / "corrected.png"), str(crowd_dir / "corrected-mask.png")]
    assert matte(crowd_dir, tmp_path / "learnt", *also) == 0
    learnt = read_mask(tmp_path / "learnt" / "target_alpha.png")
    assert learnt[bystanders].mean() > 0.8
    assert learnt[subject].mean() > 0.95 and learnt[background].mean() < 0.05


def test_a_bad_extra_reference_is_refused_and_nothing_is_written(crowd_dir, tmp_path, capsys):
    small = tmp_path / "small-mask.png"
    write_alpha(small, np.ones((50, 50), np.float32))
    out = tmp_path / "out"
    assert matte(crowd_dir, out, "--also", str(crowd_dir / "corrected.png"), str(small)) == 2
    error = capsys.readouterr().err
    assert "Extra reference 1 (--also)" in error and "paint the mask on the reference" in error
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(SystemExit):  # argparse: an image without its mask
        matte(crowd_dir, out, "--also", str(crowd_dir / "corrected.png"))
    assert "expected 2 arguments" in capsys.readouterr().err


def test_batch_records_extra_references_and_resume_checks_them(crowd_dir, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["batch", "--reference", str(crowd_dir / "reference.png"), "--mask",
            str(crowd_dir / "mask.png"), str(crowd_dir / "target.png"), "--out", str(out)]
    also = ["--also", str(crowd_dir / "corrected.png"), str(crowd_dir / "corrected-mask.png")]
    assert main(base + also) == 0
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    named = [crowd_dir / "corrected.png", crowd_dir / "corrected-mask.png"]
    assert [entry["path"] for entry in manifest["also"]] == [str(p.resolve()) for p in named]
    bystanders = read_mask(crowd_dir / "target-bystanders.png") > 0.5
    assert read_mask(out / "target_alpha.png")[bystanders].mean() > 0.8
    assert main(base + ["--resume"]) == 2  # the same job without its extra reference
    assert "extra references (--also) differ" in capsys.readouterr().err
    assert main(base + also + ["--resume"]) == 0
