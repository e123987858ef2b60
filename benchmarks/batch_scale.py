"""Batch throughput: the same synthetic series of 1 MP targets matted with lite by one process,
by a pool of 2 worker processes, and on a local Ray instance with 2 CPUs, side by side.

Each figure is one whole ``run_batch`` call (engines loaded, reference encoded, every target
read, matted and written), so start-up costs count as they do for a user.  Ray's own start
(``ray.init``) is not counted: a cluster is already up when a job is submitted to it.  The three
runs must write identical files; the script checks that too.

    python benchmarks/batch_scale.py [--targets 48] [--megapixels 1] [--json PATH]

Figures: targets per second for each mode, ``speedup_workers2`` = workers2 / single, and
``ray_overhead_pct`` = how much longer a target takes on Ray than on local workers, in percent.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from icm_core import synthetic
from icm_core.batch import Job, collect_sources, plan_targets, run_batch
from icm_core.imageio import write_alpha, write_image

TARGET_SPEEDUP = 1.6
TARGET_RAY_OVERHEAD_PCT = 10.0


def make_series(folder: Path, count: int, megapixels: float) -> None:
    side = math.sqrt(megapixels * 1e6 / 12)  # 4:3 pictures
    size = (round(3 * side), round(4 * side))
    reference = synthetic.scene(1000, size, seed=1)
    write_image(folder / "reference.png", reference.image)
    write_alpha(folder / "mask.png", (reference.alpha > 0.5).astype(np.float32))
    for index in range(count):
        write_image(folder / "targets" / f"t{index:03d}.png", synthetic.scene(index, size, seed=1).image)


def timed_run(folder: Path, out: Path, name: str, **mode) -> float:
    """Targets per second of one whole job; also prints the mean seconds a worker spent per
    target and the machine's load, which tell a busy machine from a slow mode."""
    # t000.png, t001.png… are a photo series, not frames of a shot: no shot memory
    job = Job(folder / "reference.png", folder / "mask.png", out, shot=False)
    targets = plan_targets(collect_sources([str(folder / "targets")]), out, False)
    start = time.perf_counter()
    summary = run_batch(job, targets, show_progress=False, **mode)
    seconds = time.perf_counter() - start
    if summary.failed or summary.done != len(targets):
        raise SystemExit(f"{mode}: {summary.failed} target(s) failed")
    per_target = [t["seconds"] for t in json.loads(summary.manifest.read_text())["targets"]]
    tps = len(targets) / seconds
    print(f"{name:15s}: {tps:.3f} targets/s ({seconds:.0f} s; {sum(per_target) / len(per_target):.2f} s "
          f"of matting per target; load average {os.getloadavg()[0]:.1f})")
    return tps


def outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*_alpha.png"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=48)
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        make_series(folder, args.targets, args.megapixels)
        print(f"{args.targets} targets of {args.megapixels} MP, lite engine, {os.cpu_count()} CPUs")
        single = timed_run(folder, folder / "single", "single process")
        workers2 = timed_run(folder, folder / "workers2", "--workers 2", workers=2)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        try:
            on_ray = timed_run(folder, folder / "ray", "--ray (2 CPUs)", ray="")
        finally:
            ray.shutdown()
        identical = outputs(folder / "single") == outputs(folder / "workers2") == outputs(folder / "ray")

    figures = {
        "single_tps": round(single, 4),
        "workers2_tps": round(workers2, 4),
        "ray_tps": round(on_ray, 4),
        "speedup_workers2": round(workers2 / single, 3),
        "ray_overhead_pct": round((workers2 / on_ray - 1.0) * 100.0, 1),
    }
    print(f"speedup of --workers 2 over one process: {figures['speedup_workers2']:.2f}× "
          f"(target ≥ {TARGET_SPEEDUP}×)")
    print(f"Ray time per target over local workers: {figures['ray_overhead_pct']:+.1f} % "
          f"(target ≤ {TARGET_RAY_OVERHEAD_PCT} %)")
    print(f"outputs identical across the three modes: {identical}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
