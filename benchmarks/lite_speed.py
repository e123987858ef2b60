"""Speed and memory of the lite engine on 1, 4 and 24 MP targets.

Each size runs in a fresh process (so peak RSS is that of one target of that size, including
the picture itself): load a procedural scene, encode a 1 MP reference, matte the target once
to warm up caches (at 1 MP only), then time one matte with foreground colours.  The default preset runs at every size, the
others (``--presets``) at 1 MP and 24 MP.

    python benchmarks/lite_speed.py [--json PATH] [--sizes 1 4 24] [--presets fast best]
                                    [--engine-option KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scene_size(megapixels: float) -> tuple[int, int]:
    width = int(math.sqrt(megapixels * 1e6 * 4 / 3))
    return int(width * 3 / 4), width


def peak_rss_gb() -> float:
    """This process's own high-water mark.  (``ru_maxrss`` is not used: a child inherits its
    parent's value across fork/exec, which would count the parent's scene generation.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def measure(megapixels: float, folder: Path, preset: str, options: dict) -> dict:
    """Runs in the child process."""
    from icm_core import synthetic
    from icm_core.engines import get_engine, option

    reference = synthetic.scene(0, size=scene_size(1), seed=1)
    target = np.load(folder / f"target_{megapixels}.npy", mmap_mode=None)
    engine = get_engine("lite", quality=preset,
                        **{key: option("lite", key).parse("lite", value) for key, value in options.items()})
    handle = engine.encode_reference(reference.image, (reference.alpha > 0.5).astype(np.float32))
    engine.matte(reference.image, handle)  # warm-up: network, imports, thread pools
    start, cpu = time.perf_counter(), time.process_time()
    result = engine.matte(target, handle, foreground=True)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    truth = np.load(folder / f"alpha_{megapixels}.npy")
    return {
        "megapixels": target.shape[0] * target.shape[1] / 1e6,
        "preset": preset,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "load_average": os.getloadavg()[0],
        "seconds_per_megapixel": seconds / (target.shape[0] * target.shape[1] / 1e6),
        "peak_rss_gb": peak_rss_gb(),
        "mse": float(((result.alpha - truth) ** 2).mean()),
        "stages": {k: round(v, 3) for k, v in result.timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 24])
    parser.add_argument("--presets", nargs="*", default=["fast", "best"],
                        help="other quality presets to time at 1 MP and 24 MP (balanced: all sizes)")
    parser.add_argument("--engine-option", action="append", default=[], metavar="KEY=VALUE",
                        help="lite option as on the command line (e.g. objectness=false)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(float(args.child[0]), Path(args.child[1]), args.child[2],
                                 json.loads(args.child[3]))))
        return

    from icm_core import synthetic

    runs = [("balanced", size) for size in map(float, args.sizes)]
    runs += [(preset, size) for preset in args.presets if preset != "balanced"
             for size in sorted({min(args.sizes), max(args.sizes)})]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for preset, megapixels in runs:
            if not (Path(folder) / f"target_{megapixels}.npy").exists():
                scene = synthetic.scene(3, size=scene_size(megapixels), seed=1)
                np.save(Path(folder) / f"target_{megapixels}.npy", scene.image)
                np.save(Path(folder) / f"alpha_{megapixels}.npy", scene.alpha)
                del scene
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(megapixels), folder, preset,
                 json.dumps(dict(text.partition("=")[::2] for text in args.engine_option))],
                capture_output=True, text=True,
            )
            if child.returncode:
                sys.exit(f"the {preset} {megapixels} MP run failed:\n{child.stderr}")
            row = json.loads(child.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{preset:<9}{row['megapixels']:6.1f} MP  {row['seconds']:7.2f} s wall "
                  f"{row['cpu_seconds']:7.2f} s CPU  {row['seconds_per_megapixel']:5.2f} s/MP  "
                  f"peak RSS {row['peak_rss_gb']:.2f} GB  MSE {row['mse']:.4f}  "
                  f"load {row['load_average']:.1f}  {row['stages']}", flush=True)
    default = [r for r in rows if r["preset"] == "balanced"]
    summary = {
        # the headline is the worst size: small targets pay fixed costs, large ones the upsampling
        "seconds_per_megapixel": max(r["seconds_per_megapixel"] for r in default),
        "seconds_per_megapixel_by_size": {f"{r['megapixels']:.0f}": r["seconds_per_megapixel"] for r in default},
        "peak_rss_gb_24mp": next((r["peak_rss_gb"] for r in default if r["megapixels"] > 20), None),
    }
    for preset in dict.fromkeys(r["preset"] for r in rows if r["preset"] != "balanced"):
        summary[f"seconds_per_megapixel_{preset}"] = max(
            r["seconds_per_megapixel"] for r in rows if r["preset"] == preset)
    summary["runs"] = rows
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
