"""Fixtures for the icm engine: a tiny random SD pipeline and decoder, saved like real ones,
and a cache folder of its own for every test."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from .tiny import TINY_SIZE, TINY_WIDTHS, build_tiny_sd, tiny_decoder_state  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    for variable in ("ICM_MATTING_CHECKPOINT", "ICM_MATTING_SD"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("ICM_MATTING_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    return build_tiny_sd(tmp_path_factory.mktemp("tiny_sd"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A Lightning-style .ckpt with the decoder under ``in_context_decoder.``."""
    path = tmp_path_factory.mktemp("ckpt") / "icm.ckpt"
    torch.save({"state_dict": tiny_decoder_state(), "epoch": 3, "global_step": 20000}, path)
    return path


@pytest.fixture(scope="module")
def engine(tiny_sd, tiny_checkpoint, tmp_path_factory):
    """One engine per test module (engines are read-only after construction)."""
    from icm_core.engines import get_engine

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ICM_MATTING_HOME", str(tmp_path_factory.mktemp("engine-cache")))
        yield get_engine("icm", checkpoint=str(tiny_checkpoint), sd=str(tiny_sd),
                         size=TINY_SIZE, decoder_widths=TINY_WIDTHS, device="cpu")


def scene(height: int, width: int, shift: float = 0.0, seed: int = 0):
    """A small synthetic photo: smooth background, a textured ellipse; and its mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    inside = ((yy / height - 0.5 - shift) / 0.3) ** 2 + ((xx / width - 0.5 + shift) / 0.3) ** 2 <= 1
    background = np.stack([xx / width, yy / height, 0.5 + 0 * xx], axis=-1) * 0.6
    texture = 0.6 + 0.3 * rng.random((height, width, 3), dtype=np.float32)
    image = np.where(inside[..., None], texture, background).astype(np.float32)
    return np.clip(image, 0, 1), inside.astype(np.float32)
