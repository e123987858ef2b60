"""Fixtures for training: the tiny random SD pipeline, procedural grouped scenes as manifests,
and a base configuration small enough for this CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from icm_core import synthetic  # noqa: E402
from icm_core.train.config import TrainConfig  # noqa: E402

from tests.icm.tiny import TINY_SIZE, TINY_WIDTHS, build_tiny_sd  # noqa: E402

SCENE_SIZE = (112, 144)  # not square: views crop, validation letterboxes


def write_scenes(folder: Path, groups: int, per_group: int, seed: int, *,
                 binary: bool = False) -> Path:
    """A grouped manifest of procedural scenes (icm_core.synthetic); ``binary`` thresholds
    the alphas (a segmentation dataset)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for g in range(groups):
        members = []
        for m in range(per_group):
            scene = synthetic.scene(g * per_group + m, SCENE_SIZE, seed=seed)
            alpha = (scene.alpha >= 0.5).astype(np.float32) if binary else scene.alpha
            name = f"g{g}_{m}"
            Image.fromarray(np.uint8(scene.image * 255 + 0.5)).save(folder / f"{name}.png")
            Image.fromarray(np.uint8(alpha * 255 + 0.5)).save(folder / f"{name}_alpha.png")
            members.append({"id": name, "image": f"{name}.png", "alpha": f"{name}_alpha.png"})
        entries.append({"name": f"group{g}", "reference": members[0]["id"], "members": members})
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"format": "icm-matting-dataset/1", "groups": entries}))
    return manifest


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    return build_tiny_sd(tmp_path_factory.mktemp("tiny_sd"))


@pytest.fixture(scope="session")
def scenes(tmp_path_factory):
    """Training, segmentation and held-out validation manifests."""
    root = tmp_path_factory.mktemp("scenes")
    return {"train": write_scenes(root / "train", groups=3, per_group=4, seed=1),
            "segmentation": write_scenes(root / "seg", groups=1, per_group=3, seed=2, binary=True),
            "val": write_scenes(root / "val", groups=2, per_group=3, seed=3),
            "cache": root / "feature-cache"}  # content-keyed: shared by the tests


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ICM_MATTING_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ICM_MATTING_SD", raising=False)


def tiny_config(tiny_sd, scenes, out: Path, **changes) -> TrainConfig:
    settings = dict(out=str(out), train=[str(scenes["train"])], val=str(scenes["val"]),
                    sd=str(tiny_sd), decoder_widths=dict(TINY_WIDTHS), size=TINY_SIZE,
                    ensemble_size=1, steps=6, warmup_steps=2, lr=2e-3, val_every=1000,
                    checkpoint_every=1000, log_every=1, device="cpu", progress=False,
                    cache_dtype="float32",
                    cache_dir=str(scenes.get("cache") or out.parent / "feature-cache"))
    settings.update(changes)
    return TrainConfig(**settings)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine two spinning threads are 10× slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_extractor(tiny_sd, tmp_path_factory):
    from icm_core.train.trainer import build_extractor

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ICM_MATTING_HOME", str(tmp_path_factory.mktemp("home")))
        return build_extractor(tiny_config(tiny_sd, {"train": "x", "val": None},
                                           tmp_path_factory.mktemp("x") / "out"),
                               torch.device("cpu"))
