"""Results are written atomically (temporary file + rename) yet get the permissions a plain
``open()`` would give them: the umask's for a new file, the old file's when one is replaced."""

from __future__ import annotations

import os
import stat
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from icm_core import imageio, synthetic
from icm_cli.cli import main

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture(params=[0o022, 0o027, 0o002], ids=lambda m: f"umask{m:03o}")
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def plain_open_mode(folder: Path) -> int:
    """What ``open(path, "wb")`` gives a new file here, under the current umask."""
    probe = folder / "probe-plain-open"
    with open(probe, "wb"):
        pass
    try:
        return mode(probe)
    finally:
        probe.unlink()


def test_cli_outputs_get_the_umask_permissions(tmp_path):
    scenes = synthetic.series(3, size=(60, 80), seed=2)
    imageio.write_image(tmp_path / "reference.png", scenes[0].image)
    imageio.write_alpha(tmp_path / "mask.png", (scenes[0].alpha > 0.5).astype(np.float32))
    targets = [str(imageio.write_image(tmp_path / f"t{i}.png", s.image))
               for i, s in enumerate(scenes[1:])]
    out = tmp_path / "out"
    previous = os.umask(0o027)  # not the usual 022: the modes below come from the umask
    try:
        assert main(["matte", "--reference", str(tmp_path / "reference.png"), "--mask",
                     str(tmp_path / "mask.png"), *targets, "--out", str(out), "--cutout",
                     "--engine-option", "feature_side=128", "--engine-option",
                     "matting_side=256"]) == 0
        expected = plain_open_mode(out)
    finally:
        os.umask(previous)
    written = sorted(out.iterdir())
    assert len(written) == 4 and expected == 0o640
    assert {p.name: mode(p) for p in written} == {p.name: expected for p in written}


def test_app_results_get_the_umask_permissions(tmp_path, umask):
    from ui.hostapi import FileHost

    scene = synthetic.scene(1, (48, 64))
    source = imageio.write_image(tmp_path / "photo.png", scene.image)
    host = FileHost([source])
    written = host.write_result(str(source), scene.alpha, scene.image)
    assert [p.name for p in written.paths] == ["photo_alpha.png", "photo_cutout.png"]
    assert [mode(p) for p in written.paths] == [plain_open_mode(tmp_path)] * 2


def test_batch_manifest_and_alpha_video_get_the_umask_permissions(tmp_path, umask):
    from icm_core import video

    pytest.importorskip("av")
    imageio.atomic_write_bytes(tmp_path / "record.json", b"{}")
    frames = [np.zeros((16, 16, 3), np.uint8)] * 2
    alphas = [np.full((16, 16), 255, np.uint8)] * 2
    movie = video.write_alpha_video(tmp_path / "clip_alpha.mov", frames, alphas, Fraction(25))
    expected = plain_open_mode(tmp_path)
    assert mode(tmp_path / "record.json") == mode(movie) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip_alpha.mov", "record.json"]


def test_a_replaced_file_keeps_its_permissions(tmp_path, umask):
    alpha = np.full((8, 8), 0.5, np.float32)
    private = imageio.write_alpha(tmp_path / "private.png", alpha)
    private.chmod(0o600)
    shared = imageio.write_alpha(tmp_path / "shared.png", alpha)
    shared.chmod(0o664)
    for path in (private, shared):
        imageio.write_alpha(path, 1 - alpha, overwrite=True)
        assert np.allclose(imageio.read_mask(path), 0.5, atol=1 / 255)
    assert (mode(private), mode(shared)) == (0o600, 0o664)
