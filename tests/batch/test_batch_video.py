"""Video inputs: every frame matted (PNG sequence named by frame index), an alpha-carrying
video written losslessly, and resume working frame by frame."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from icm_core import synthetic
from icm_core.batch import MANIFEST_NAME, MatteSettings, matte_one
from icm_cli.cli import main
from icm_core.imageio import read_image, read_mask
from tests.batch.helpers import batch_args

av = pytest.importorskip("av", reason="PyAV is in the [batch] extra: pip install -e \".[batch]\"")

FRAMES = 10
RATE = 12


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 10-frame 320×240 H.264 clip of synthetic scenes."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for index in range(FRAMES):
            pixels = (synthetic.scene(index, (240, 320)).image * 255 + 0.5).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return path


def decoded_frames(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def rgba_frames(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return Fraction(stream.average_rate), [f.to_ndarray(format="rgba") for f in container.decode(stream)]


def test_video_frames_matted_and_alpha_video_round_trips(series, clip, tmp_path):
    out = tmp_path / "out"
    args = batch_args(series, out, "--alpha-video", "--shot")
    args[args.index(str(series / "targets"))] = str(clip)
    assert main(args) == 0
    names = sorted(p.name for p in (out / "clip").iterdir())
    assert names == [f"{i:06d}_alpha.png" for i in range(FRAMES)]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert [t["frame"] for t in manifest["targets"]] == list(range(FRAMES))
    assert all(t["status"] == "done" for t in manifest["targets"])
    assert manifest["alpha_videos"] == {str(clip.resolve()): "clip_alpha.mov"}

    # Frame N's alpha is the matte of decoded frame N with the shot's memory of the frames
    # before it (the previous matte carried, the reference carried to the first).
    from icm_core.engines import get_engine
    from icm_core.sequence import ShotMemory

    engine = get_engine("lite")
    start = (read_image(series / "reference.png"), read_mask(series / "mask.png"))
    reference = engine.encode_reference(*start)
    frames = decoded_frames(clip)
    memory = ShotMemory(engine, reference, start=start)
    for index in range(8):
        outcome = matte_one(engine, reference, frames[index], "frame", MatteSettings(), memory=memory)
        if index in (0, 7):
            assert outcome.files["alpha"] == (out / "clip" / f"{index:06d}_alpha.png").read_bytes()
    assert memory.previous is not None

    # The alpha video holds the frames' colours and the alphas, losslessly.
    rate, rgba = rgba_frames(out / "clip_alpha.mov")
    assert rate == RATE and len(rgba) == FRAMES
    for index, pixels in enumerate(rgba):
        alpha = (read_mask(out / "clip" / f"{index:06d}_alpha.png") * 255 + 0.5).astype(np.uint8)
        assert np.array_equal(pixels[..., 3], alpha)
        assert np.array_equal(pixels[..., :3], frames[index])

    # Resume redoes only the frame whose output is gone, and writes the video again.
    lost = out / "clip" / "000004_alpha.png"
    expected = lost.read_bytes()
    lost.unlink()
    (out / "clip_alpha.mov").unlink()
    assert main(args + ["--resume"]) == 0
    assert lost.read_bytes() == expected
    assert (out / "clip_alpha.mov").exists()
    after = json.loads((out / MANIFEST_NAME).read_text())["targets"]
    assert [t == b for t, b in zip(after, manifest["targets"])].count(False) == 1


def test_video_frames_alone_with_no_shot_or_workers(series, clip, tmp_path, capsys):
    from icm_core.engines import get_engine

    args = batch_args(series, tmp_path / "alone", "--no-shot")
    args[args.index(str(series / "targets"))] = str(clip)
    assert main(args) == 0
    engine = get_engine("lite")
    reference = engine.encode_reference(read_image(series / "reference.png"), read_mask(series / "mask.png"))
    outcome = matte_one(engine, reference, decoded_frames(clip)[7], "frame", MatteSettings())
    alone = tmp_path / "alone" / "clip" / "000007_alpha.png"
    assert outcome.files["alpha"] == alone.read_bytes()
    capsys.readouterr()

    # by default too (the memory is opt-in), and with workers
    workers = [a if a != str(tmp_path / "alone") else str(tmp_path / "workers") for a in args]
    workers[workers.index("--no-shot")] = "--workers=2"
    assert main(workers) == 0
    assert "of one shot" not in capsys.readouterr().err
    assert (tmp_path / "workers" / "clip" / "000007_alpha.png").read_bytes() == alone.read_bytes()
    # workers cannot keep a shot's frames in order: --shot is refused with them
    assert main(workers + ["--shot", "--overwrite"]) == 2
    assert "--shot mattes a shot's frames in order" in capsys.readouterr().err
