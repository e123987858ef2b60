"""The frozen SD backbone behind the feature cache, and flips applied to cached features."""

from __future__ import annotations

import numpy as np
import torch
from einops import rearrange

from ..icm.extractor import Draws, FeatureExtractor
from ..icm.fusion import TargetFeatures
from .cache import FeatureCache, content_key


def model_input(canvas: np.ndarray) -> torch.Tensor:
    """H×W×3 [0, 1] → [1,3,H,W] in [-1, 1] (as the icm engine)."""
    pixels = torch.from_numpy(np.ascontiguousarray(canvas, dtype=np.float32))
    return (pixels.permute(2, 0, 1)[None] * 2.0 - 1.0).contiguous()


def fingerprint(extractor: FeatureExtractor) -> str:
    """Identifies the backbone's numbers: settings, precision, a sample of every weight."""
    parts = [f"t={extractor.timestep} e={extractor.ensemble_size} {extractor.dtype}"]
    for model in (extractor.unet, extractor.vae):
        for name, tensor in model.state_dict().items():
            flat = tensor.detach().flatten()
            sample = torch.cat([flat[:64], flat[-64:]]).float().cpu().numpy().tobytes()
            parts += [name, str(tuple(tensor.shape)), sample]
    parts.append(extractor.prompt_embeds.float().cpu().numpy().tobytes())
    return content_key(*parts)


class Backbone:
    """Target features for a picture at the model size, from the cache or computed once."""

    def __init__(self, extractor: FeatureExtractor, cache: FeatureCache):
        self.extractor, self.cache = extractor, cache
        self.identity = fingerprint(extractor)
        self.computed = 0

    def features(self, canvas: np.ndarray, draw: int = 0) -> TargetFeatures:
        """[1,…] float32 CPU tensors for the S×S×3 ``canvas``; ``draw`` picks one of the cached
        random draws (VAE sample and noise), seeded by the content itself."""
        pixels = model_input(canvas)
        key = content_key(self.identity, pixels.numpy().tobytes(), f"draw {draw}")
        tensors = self.cache.get(key)
        if tensors is None:
            generator = torch.Generator().manual_seed(int(key[:15], 16))
            shape = self.extractor.latent_shape(pixels.shape[-1], 1)
            fresh = self.extractor.target_features(pixels, Draws.sample(shape, generator))
            tensors = self.cache.put(key, {
                "coarse": fresh.matting[0], "fine": fresh.matting[1],
                "attention0": fresh.attention[0], "attention1": fresh.attention[1]})
            self.computed += 1
        return TargetFeatures(tensors["fine"], (tensors["attention0"], tensors["attention1"]),
                              (tensors["coarse"], tensors["fine"]))

    def cached_extra(self, name: str, canvas: np.ndarray, alpha: np.ndarray, compute):
        """Other per-view arrays worth keeping (foreground/background estimates)."""
        key = content_key(name, canvas.tobytes(), alpha.tobytes())
        tensors = self.cache.get(key)
        if tensors is None:
            tensors = self.cache.put(key, {k: torch.from_numpy(v) for k, v in compute().items()})
        return {k: v.numpy() for k, v in tensors.items()}


def flip_attention(attention: torch.Tensor) -> torch.Tensor:
    """[B,r,r,r²] maps of a mirrored picture: mirror the query grid and the key grid."""
    side = attention.shape[1]
    grid = rearrange(attention, "b qy qx (ky kx) -> b qy qx ky kx", ky=side)
    return rearrange(grid.flip(2, 4), "b qy qx ky kx -> b qy qx (ky kx)")


def flip_features(features: TargetFeatures) -> TargetFeatures:
    return TargetFeatures(features.correspondence.flip(-1),
                          tuple(flip_attention(a) for a in features.attention),
                          tuple(m.flip(-1) for m in features.matting))


def stack(features: list[TargetFeatures], device) -> TargetFeatures:
    def cat(tensors):
        return torch.cat(list(tensors)).to(device)

    scales = range(len(features[0].attention))
    return TargetFeatures(cat(f.correspondence for f in features),
                          tuple(cat(f.attention[i] for f in features) for i in scales),
                          tuple(cat(f.matting[i] for f in features) for i in scales))
