"""No output ever replaces an input — a target, the brushed mask, an ``--also`` file — not even
with ``--overwrite``: the command ends in one line saying why, exit status 2, nothing written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from icm_cli.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "icm_core" / "examples"


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("icm-matting: error: "), lines
    return lines[0]


@pytest.fixture
def pictures(tmp_path) -> Path:
    folder = tmp_path / "ov"
    folder.mkdir()
    shutil.copy(EXAMPLES / "reference.jpg", folder / "ref.jpg")
    shutil.copy(EXAMPLES / "reference-mask.png", folder / "ref-mask.png")
    shutil.copy(EXAMPLES / "target-1.jpg", folder / "x.jpg")
    # a picture named like x.jpg's result, given as a target too
    shutil.copy(EXAMPLES / "target-2.jpg", folder / "x_alpha.png")
    return folder


def _matte(folder: Path, *targets: str, mask: str = "ref-mask.png", extra=()) -> int:
    return main(["matte", "--reference", str(folder / "ref.jpg"), "--mask", str(folder / mask),
                 *[str(folder / t) for t in targets], "--out", str(folder), *extra])


def _batch(folder: Path, *targets: str, mask: str = "ref-mask.png", extra=()) -> int:
    return main(["batch", "--reference", str(folder / "ref.jpg"), "--mask", str(folder / mask),
                 *[str(folder / t) for t in targets], "--out", str(folder), *extra])


@pytest.mark.parametrize("command", [_matte, _batch])
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_target_named_like_another_targets_result_is_kept(pictures, capsys, command, overwrite):
    before = _tree(pictures)
    extra = ["--overwrite"] if overwrite else []
    assert command(pictures, "x.jpg", "x_alpha.png", extra=extra) == 2
    message = _error(capsys)
    assert "x_alpha.png would replace the target" in message and "an input" in message
    assert "pass --overwrite" not in message  # the flag would not help, and must not be suggested
    assert _tree(pictures) == before


@pytest.mark.parametrize("command", [_matte, _batch])
def test_the_brushed_mask_is_kept(pictures, capsys, command):
    """``--mask ov2/t_alpha.png … ov2/t.jpg --overwrite``: the mask is the result's name."""
    os.replace(pictures / "ref-mask.png", pictures / "x_alpha.png")
    before = _tree(pictures)
    assert command(pictures, "x.jpg", mask="x_alpha.png", extra=["--overwrite"]) == 2
    assert "would replace the mask" in _error(capsys)
    assert _tree(pictures) == before


@pytest.mark.parametrize("link", [os.link, os.symlink])
def test_another_name_for_an_input_is_seen_through(pictures, tmp_path, capsys, link):
    """A hard link or a symbolic link in --out naming the mask is the mask itself."""
    out = tmp_path / "out"
    out.mkdir()
    link(pictures / "ref-mask.png", out / "x_alpha.png")
    before = _tree(pictures), os.listdir(out)
    assert main(["matte", "--reference", str(pictures / "ref.jpg"), "--mask",
                 str(pictures / "ref-mask.png"), str(pictures / "x.jpg"), "--out", str(out),
                 "--overwrite"]) == 2
    assert "would replace the mask" in _error(capsys)
    assert (_tree(pictures), os.listdir(out)) == before


@pytest.mark.parametrize("command", [_matte, _batch])
def test_an_also_file_is_kept(pictures, capsys, command):
    also = ["--also", str(pictures / "x.jpg"), str(pictures / "x_alpha.png"), "--overwrite"]
    before = _tree(pictures)
    # x.jpg's alpha would land on the --also mask
    assert command(pictures, "x.jpg", extra=also) == 2
    assert "would replace the extra reference's mask (--also)" in _error(capsys)
    assert _tree(pictures) == before


def test_a_relative_spelling_is_the_same_file(pictures, capsys, monkeypatch):
    monkeypatch.chdir(pictures)
    before = _tree(pictures)
    assert main(["matte", "--reference", "ref.jpg", "--mask", "../ov/./ref-mask.png", "x.jpg",
                 "x_alpha.png", "--out", ".", "--overwrite"]) == 2
    assert "would replace the target" in _error(capsys)
    assert _tree(pictures) == before
