"""A matte that comes out empty, or covers the whole picture, is reported as a warning (on the
result, as a CLI line, in the batch manifest), never as a plain success."""

from __future__ import annotations

import json

import numpy as np
import pytest

from icm_core import synthetic
from icm_core.api import MatteResult
from icm_cli.cli import main
from icm_core.engines import get_engine
from icm_core.imageio import write_alpha, write_image

SIZE = (240, 320)


@pytest.fixture(scope="module")
def scenes():
    return synthetic.series(2, size=SIZE, seed=5)


def no_subject(seed=1):
    """A backdrop without the subject: nothing to keep."""
    return synthetic._background(np.random.default_rng(seed), SIZE, 2)


def test_result_warns_when_the_matte_is_empty_or_the_whole_picture():
    assert "empty" in MatteResult(np.zeros(SIZE, np.float32)).warnings[0]
    assert "whole picture" in MatteResult(np.ones(SIZE, np.float32)).warnings[0]
    alpha = np.zeros(SIZE, np.float32)
    alpha[50:150, 60:200] = 1
    assert MatteResult(alpha).warnings == ()
    assert MatteResult(np.zeros(SIZE, np.float32), warnings=("said so",)).warnings == ("said so",)


def test_lite_warns_on_a_target_without_the_subject(scenes):
    engine = get_engine("lite")
    reference = engine.encode_reference(scenes[0].image, (scenes[0].alpha > 0.5).astype(np.float32))
    assert engine.matte(scenes[1].image, reference).warnings == ()
    result = engine.matte(no_subject(), reference)
    assert (result.alpha < 0.5).all() and "empty" in result.warnings[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, scenes):
    folder = tmp_path_factory.mktemp("warned")
    write_image(folder / "reference.png", scenes[0].image)
    write_alpha(folder / "mask.png", (scenes[0].alpha > 0.5).astype(np.float32))
    write_image(folder / "subject.png", scenes[1].image)
    write_image(folder / "backdrop.png", no_subject())
    return folder


def test_matte_command_prints_a_warning_line_and_says_how_many(folder, tmp_path, capsys):
    code = main(["matte", "--reference", str(folder / "reference.png"), "--mask",
                 str(folder / "mask.png"), str(folder / "subject.png"), str(folder / "backdrop.png"),
                 "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0  # both were matted and written
    assert (tmp_path / "backdrop_alpha.png").exists()
    warned = [line for line in err.splitlines() if "warning" in line]
    assert len(warned) == 1 and "backdrop" in warned[0] and "empty" in warned[0]
    assert "2 of 2 target(s) matted" in out and "(1 with a warning)" in out


def test_batch_manifest_records_the_warning(folder, tmp_path):
    targets = tmp_path / "targets"
    targets.mkdir()
    for name in ("subject.png", "backdrop.png"):
        (targets / name).write_bytes((folder / name).read_bytes())
    out = tmp_path / "out"
    assert main(["batch", "--reference", str(folder / "reference.png"), "--mask",
                 str(folder / "mask.png"), str(targets), "--out", str(out)]) == 0
    entries = {entry["input"].rsplit("/", 1)[-1]: entry
               for entry in json.loads((out / "icm-batch.json").read_text())["targets"]}
    assert entries["subject.png"]["warnings"] == []
    assert entries["backdrop.png"]["status"] == "done"
    assert "empty" in entries["backdrop.png"]["warnings"][0]
