"""GPU readiness of the icm engine and of `icm-matting train`, with random weights (nothing
is downloaded).

On a machine with CUDA (or MPS): Stable Diffusion 2.1's UNet and VAE architectures and the
official decoder at 768², ensemble 4 — inference seconds per target in float16 and float32
with the peak device memory of each, and seconds per training step (batch 2, mixed precision)
in the first epoch (every view's SD features computed) and in the second (read from the
feature cache), with the training's peak memory.  On a CPU-only machine the same code runs
the tiny random configuration of the tests (128², ensemble 4 as the recipe), so the tests cover it.

    python benchmarks/icm_gpu.py [--json PATH] [--targets N] [--device cuda|mps|cpu]

CPU seconds are printed beside wall seconds; peak memory is the device's (CUDA/MPS) or the
process's peak RSS (CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from icm_core import synthetic  # noqa: E402

SCENE = (480, 640)


def random_sd21(device, dtype):
    """SD 2.1's UNet and VAE encoder with random weights, as a FeatureExtractor."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    from icm_core.icm.extractor import FeatureExtractor
    from icm_core.weights import BUNDLED_SD_CONFIG

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(
        UNet2DConditionModel.load_config(BUNDLED_SD_CONFIG, subfolder="unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(BUNDLED_SD_CONFIG, subfolder="vae"))
    vae.decoder = None
    scheduler = DDIMScheduler.from_pretrained(BUNDLED_SD_CONFIG, subfolder="scheduler")
    prompt = torch.randn(1, 77, unet.config.cross_attention_dim)
    for model in (unet, vae):
        model.requires_grad_(False).to(device, dtype)
    return FeatureExtractor(unet, vae, scheduler, prompt, ensemble_size=4, timestep=200)


def tiny_sd(device, dtype, folder: Path):
    import torch

    from icm_core.icm.extractor import FeatureExtractor
    from icm_core.weights import empty_prompt_embedding, load_sd
    from tests.icm.tiny import build_tiny_sd

    source = folder / "tiny-sd"
    if not source.is_dir():
        build_tiny_sd(source)
    stable = load_sd(source, device=device, dtype=dtype)
    prompt = empty_prompt_embedding(source).to(torch.float32)
    return FeatureExtractor(stable.unet, stable.vae, stable.scheduler, prompt, ensemble_size=4,
                            timestep=200)


class Setup:
    def __init__(self, device, folder: Path, configuration: str = "auto", size: int | None = None):
        self.device, self.folder = device, folder
        self.full = (device.type in ("cuda", "mps") if configuration == "auto"
                     else configuration == "full")
        self.size = size or (768 if self.full else 128)
        from tests.icm.tiny import TINY_WIDTHS

        self.widths = None if self.full else dict(TINY_WIDTHS)

    def extractor(self, dtype):
        return (random_sd21 if self.full else tiny_sd)(self.device, dtype, *(
            () if self.full else (self.folder,)))

    def decoder(self, extractor):
        import torch

        from icm_core.icm.model import DecoderDims, IcmDecoder

        torch.manual_seed(0)
        sides = extractor.feature_sides(self.size)
        return IcmDecoder(DecoderDims(feature_channels=extractor.feature_channels(),
                                      attention_tokens=tuple(s * s for s in sides),
                                      **(self.widths or {}))).eval()


def reset_peak(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak(device) -> int:
    from icm_core.train.trainer import peak_memory

    return peak_memory(device)


def synchronize(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def inference(setup: Setup, dtype_name: str, targets: int) -> dict:
    import torch

    from icm_core.icm.engine import IcmEngine

    dtype = getattr(torch, dtype_name)
    extractor = setup.extractor(dtype)
    engine = IcmEngine.from_components(extractor, setup.decoder(extractor), size=setup.size,
                                       attention_slicing=False)
    scenes = synthetic.series(targets + 2, SCENE, seed=11)
    mask = (scenes[0].alpha >= 0.5).astype(np.float32)
    reference = engine.encode_reference(scenes[0].image, mask)
    engine.matte(scenes[1].image, reference)  # warm-up: kernels, allocator
    reset_peak(setup.device)
    started, cpu = time.perf_counter(), time.process_time()
    for scene in scenes[2:]:
        engine.matte(scene.image, reference)
    synchronize(setup.device)
    result = {"seconds_per_target": (time.perf_counter() - started) / targets,
              "cpu_seconds_per_target": (time.process_time() - cpu) / targets,
              "peak_memory_bytes": peak(setup.device)}
    del engine, extractor
    if setup.device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def training(setup: Setup, pictures: int = 8, epochs: int = 2) -> dict:
    import torch

    from icm_core.train.config import TrainConfig
    from icm_core.train.trainer import Trainer

    data = setup.folder / "scenes"
    data.mkdir(exist_ok=True)
    members = []
    for index, scene in enumerate(synthetic.series(pictures, SCENE, seed=12)):
        from PIL import Image

        Image.fromarray(np.uint8(scene.image * 255 + 0.5)).save(data / f"{index}.png")
        Image.fromarray(np.uint8(scene.alpha * 255 + 0.5)).save(data / f"{index}_a.png")
        members.append({"id": str(index), "image": f"{index}.png", "alpha": f"{index}_a.png"})
    groups = [{"name": f"g{g}", "reference": members[4 * g]["id"],
               "members": members[4 * g : 4 * g + 4]} for g in range(pictures // 4)]
    (data / "manifest.json").write_text(json.dumps({"format": "icm-matting-dataset/1",
                                                    "groups": groups}))
    dtype = torch.float16 if setup.device.type == "cuda" else torch.float32
    extractor = setup.extractor(dtype)
    batch = 2
    per_epoch = pictures // batch
    config = TrainConfig(out=str(setup.folder / "run"), train=[str(data / "manifest.json")],
                         decoder_widths=setup.widths, size=setup.size, batch_size=batch,
                         steps=epochs * per_epoch, val_every=10**6, checkpoint_every=10**6,
                         progress=False, cache_dir=str(setup.folder / "cache"),
                         ensemble_size=extractor.ensemble_size)
    trainer = Trainer(config, extractor=extractor)
    reset_peak(setup.device)
    stamps = [(time.perf_counter(), time.process_time())]

    def clock(step, logged):
        synchronize(setup.device)
        stamps.append((time.perf_counter(), time.process_time()))

    trainer.run(on_step=clock)
    wall = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    cpu = [b[1] - a[1] for a, b in zip(stamps, stamps[1:])]
    first, second = sum(wall[:per_epoch]), sum(wall[per_epoch:2 * per_epoch])
    return {"batch_size": batch, "amp": trainer.amp, "feature_dtype": str(dtype),
            "steps_per_epoch": per_epoch,
            "seconds_per_step_first_epoch": first / per_epoch,
            "seconds_per_step_cached": second / per_epoch,
            "cpu_seconds_per_step_first_epoch": sum(cpu[:per_epoch]) / per_epoch,
            "cpu_seconds_per_step_cached": sum(cpu[per_epoch:2 * per_epoch]) / per_epoch,
            "second_epoch_speedup": first / second,
            "second_epoch_speedup_cpu": sum(cpu[:per_epoch]) / sum(cpu[per_epoch:2 * per_epoch]),
            "peak_memory_bytes": peak(setup.device)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument("--targets", type=int, default=3, help="timed targets per precision")
    parser.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    parser.add_argument("--configuration", choices=("auto", "full", "tiny"), default="auto",
                        help="full: SD 2.1's size; tiny: the tests' (default: full on a GPU)")
    parser.add_argument("--size", type=int, default=None,
                        help="picture side (default 768 full, 128 tiny; e.g. 256 runs the full "
                        "configuration on a CPU in minutes)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 on a CPU-only run — on a busy shared "
                        "machine spinning threads cost 10×; torch's default otherwise)")
    args = parser.parse_args(argv)

    import torch

    from icm_core.icm.engine import pick_device

    device = pick_device(args.device)
    threads = args.threads or (1 if device.type == "cpu" else torch.get_num_threads())
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="icm-gpu-") as folder:
        os.environ.setdefault("ICM_MATTING_HOME", str(Path(folder) / "home"))
        setup = Setup(device, Path(folder), args.configuration, args.size)
        started, cpu = time.perf_counter(), time.process_time()
        precisions = ("float16", "float32") if device.type != "cpu" else ("float32",)
        result = {
            "device": str(device),
            "configuration": "SD 2.1 size, random weights" if setup.full else "tiny",
            "size": setup.size,
            "threads": threads,
            "inference": {name: inference(setup, name, args.targets) for name in precisions},
            "training": training(setup),
        }
        if device.type == "cpu":
            result["inference"]["float16"] = "skipped: float16 is for GPUs"
        result["wall_seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = time.process_time() - cpu
        result["load_average"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
