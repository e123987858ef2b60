"""Speed and memory of the icm engine at 768² with the real SD 2.1 UNet/VAE architectures
(random weights, nothing downloaded).

(a) pairwise: the official amount of work per target — a reference pass and a target pass,
    each encoding all ensemble copies through the VAE, running all up blocks and computing
    attention maps in both passes;
(b) cached: our engine, reference encoded once, then one target pass per target.
Each part runs in its own process (so peak RSS is its own); both use the same seeds, so the
alphas of the same target must agree.

    python benchmarks/icm_speed.py [--targets N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE = 768
SEED = 7


def scene(index: int) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic synthetic photo (gradient background, textured ellipse) and its mask."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    cy, cx = 0.45 + 0.05 * index, 0.5 - 0.04 * index
    inside = ((yy - cy) / 0.3) ** 2 + ((xx - cx) / 0.22) ** 2 <= 1.0
    background = np.stack([0.3 + 0.4 * xx, 0.5 + 0.2 * yy, 0.6 - 0.3 * xx], axis=-1)
    stripes = 0.5 + 0.4 * np.sin(40 * (xx + 0.3 * yy) + index)[..., None] * np.array([1, 0.6, 0.2])
    image = np.where(inside[..., None], stripes, background).astype(np.float32)
    return np.clip(image, 0, 1), inside.astype(np.float32)


def build_engine():
    import torch
    from icm_gpu import random_sd21  # SD-2.1-size random weights, seeded: the same in both processes

    from icm_core.icm.engine import IcmEngine
    from icm_core.icm.model import IcmDecoder

    extractor = random_sd21("cpu", torch.float32)
    decoder = IcmDecoder().requires_grad_(False)
    return IcmEngine.from_components(extractor, decoder, size=SIZE, attention_slicing=False)


def run_part(part: str, targets: int, out: Path) -> None:
    import torch

    engine = build_engine()
    reference_image, reference_mask = scene(0)
    images = [scene(i + 1)[0] for i in range(targets)]
    result: dict = {}
    alphas = []
    if part == "cached":
        started = time.perf_counter()
        reference = engine.encode_reference(reference_image, reference_mask, seed=SEED)
        result["reference_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        alphas = [engine.matte(image, reference, seed=SEED).alpha for image in images]
        result["seconds_per_target"] = (time.perf_counter() - started) / targets
    else:
        from icm_core.geometry import Letterbox
        from icm_core.icm.fusion import reference_tokens

        extractor = engine.extractor
        started = time.perf_counter()
        for image in images:
            pixels = engine._model_input(reference_image)
            feature = extractor.reference_feature(pixels, engine._draws(pixels, SEED),
                                                  official_work=True)
            tokens = reference_tokens(feature, torch.from_numpy(reference_mask)[None, None])
            pixels = engine._model_input(image)
            features = extractor.target_features(pixels, engine._draws(pixels, SEED),
                                                 official_work=True)
            with torch.inference_mode():
                coarse = engine.decoder(tokens, features, pixels).alpha[0, 0].numpy()
            box = Letterbox.fit(image.shape[:2], SIZE)
            alphas.append(engine._full_resolution(image, box, coarse))
        result["seconds_per_target"] = (time.perf_counter() - started) / targets
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    np.save(out.with_suffix(".npy"), np.stack(alphas))
    out.write_text(json.dumps(result))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--part", choices=["pairwise", "cached"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        run_part(args.part, args.targets, args.out)
        return 0
    parts = {}
    with tempfile.TemporaryDirectory() as folder:
        for part in ("cached", "pairwise"):
            out = Path(folder) / f"{part}.json"
            print(f"running {part} ({args.targets} targets at {SIZE}²)…", flush=True)
            subprocess.run([sys.executable, __file__, "--part", part, "--targets",
                            str(args.targets), "--out", str(out)], check=True)
            parts[part] = json.loads(out.read_text()) | {"alphas": np.load(out.with_suffix(".npy"))}
    cached, pairwise = parts["cached"], parts["pairwise"]
    figures = {
        "pairwise_seconds_per_target": round(pairwise["seconds_per_target"], 2),
        "reference_seconds": round(cached["reference_seconds"], 2),
        "cached_seconds_per_target": round(cached["seconds_per_target"], 2),
        "ratio": round(cached["seconds_per_target"] / pairwise["seconds_per_target"], 3),
        "max_abs_diff": float(np.abs(cached["alphas"] - pairwise["alphas"]).max()),
        "peak_rss_gb": round(cached["peak_rss_gb"], 2),
        "pairwise_peak_rss_gb": round(pairwise["peak_rss_gb"], 2),
        "targets": args.targets,
    }
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
