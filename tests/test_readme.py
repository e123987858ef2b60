"""The README and docs/ say what the code does: the Python snippet runs as written, the engine
options table is the one ``--help`` prints, the formats and the manifest example are real."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from icm_core import imageio, synthetic
from icm_core.datasets import load_manifest
from icm_core.engines import options_help

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_engine_options_table_is_the_one_help_prints():
    assert options_help() + "\n" in _blocks(README, "text")


def test_python_snippets_run_as_written(tmp_path, monkeypatch):
    """The matting snippet, then the correction and shot snippets that follow it in the README."""
    matting, correcting, shot = _blocks(README, "python")
    scenes = synthetic.series(3, size=(72, 96), seed=3)
    imageio.write_image(tmp_path / "ref.jpg", scenes[0].image)  # PNG inside: read by content
    imageio.write_alpha(tmp_path / "ref-mask.png", (scenes[0].alpha > 0.5).astype(np.float32))
    for index, scene in enumerate(scenes[1:]):
        imageio.write_image(tmp_path / "shots" / f"s{index}.jpg", scene.image)
    monkeypatch.chdir(tmp_path)
    names = {}
    exec(compile(matting, "README.md", "exec"), names)
    for index, scene in enumerate(scenes[1:]):
        alpha = imageio.read_mask(tmp_path / "mattes" / f"s{index}_alpha.png")
        assert alpha.shape == scene.alpha.shape
        assert np.abs(alpha - scene.alpha).mean() < 0.1  # a matte of the subject, not noise
        assert (tmp_path / "mattes" / f"s{index}_cutout.png").is_file()
    exec(compile(correcting, "README.md", "exec"), names)
    for result in (names["quick"], names["final"]):
        assert result.alpha.shape == scenes[-1].alpha.shape
        assert result.alpha[:8, :8].max() == 0.0
    assert names["reference"].count == 2
    frames = synthetic.series(3, size=(150, 200), seed=3)[1:]
    for index, scene in enumerate(frames):
        imageio.write_image(tmp_path / "shots" / f"s{index}.jpg", scene.image, overwrite=True)
    exec(compile(shot, "README.md", "exec"), names)
    assert names["result"].alpha.shape == frames[-1].alpha.shape
    last = imageio.read_image(tmp_path / "shots" / "s1.jpg")
    np.testing.assert_array_equal(names["shot"].previous[0], last)  # carried to the next


def test_the_formats_named_are_the_formats_read(tmp_path):
    from PIL import Image

    assert f"Inputs can be {', '.join(list(imageio.FORMATS)[:-1])} or {list(imageio.FORMATS)[-1]}" \
        in " ".join(README.split())
    pixels = (synthetic.scene(0, (24, 32)).image * 255).round().astype(np.uint8)
    for name, suffixes in imageio.FORMATS.items():
        path = tmp_path / f"picture{suffixes[0]}"
        Image.fromarray(pixels).save(path, **({"lossless": True} if name == "WebP" else {}))
        image = imageio.read_image(path)
        tolerance = 0.05 if name == "JPEG" else 1e-6  # JPEG is lossy
        assert np.abs(image - pixels / 255).mean() <= tolerance, name
    (tmp_path / "notes.txt").write_text("not a picture")
    try:
        imageio.read_image(tmp_path / "notes.txt")
    except imageio.UnreadableFile as error:
        assert f"({imageio.FORMAT_NAMES})" in str(error)
    else:
        raise AssertionError("a text file was read as an image")


def test_folder_scans_take_the_formats_named():
    from icm_core.batch import targets
    from ui import hostapi

    assert targets.IMAGE_SUFFIXES == imageio.IMAGE_SUFFIXES == set(hostapi.IMAGE_SUFFIXES)


def test_manifest_doc_example_is_a_valid_manifest(tmp_path):
    doc = (ROOT / "docs" / "dataset-manifest.md").read_text(encoding="utf-8")
    assert "docs/dataset-manifest.md" in README
    (example,) = _blocks(doc, "json")
    manifest = json.loads(example)
    scene = synthetic.scene(0, (24, 32))
    for member in [m for g in manifest["groups"] for m in g["members"]] + manifest["singles"]:
        imageio.write_image(tmp_path / member["image"], scene.image)
        for key in ("alpha", "trimap"):
            if key in member:
                imageio.write_alpha(tmp_path / member[key], scene.alpha)
    (tmp_path / "manifest.json").write_text(example)
    dataset = load_manifest(tmp_path)
    assert dataset.name == "my-shots" and [g.name for g in dataset.groups] == ["bears"]
    assert [m.id for m in dataset.groups[0].targets] == ["bear-2"]
    assert dataset.groups[0].targets[0].what == "brown bear, side view"
    assert [m.id for m in dataset.singles] == ["cup"]
