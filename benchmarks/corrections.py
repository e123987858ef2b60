"""Simulated-user corrections: how many strokes until a target is right, and how a corrected
target teaches the rest of its series (issue 11).

    python benchmarks/corrections.py MANIFEST [--json PATH] [--max-strokes 5] [--engine lite]
                                     [--engine-option KEY=VALUE] [--groups NAME ...]
                                     [--mask exact|half|rough|scribble] [--mask-seed N]
    python benchmarks/corrections.py MANIFEST --merge PART.json ...  (runs split by --groups)

For every target of every group (in-context protocol, ../shared/data/README.md), starting from
the automatic result, a robot draws one stroke at a time inside the largest wrong region
(binary at α = 0.5): a disc of radius min(3 % of the long side, the region's inscribed radius)
at the region's deepest point, labelled keep or remove by the ground truth.  The target is
matted again with every stroke so far as hints; IoU (at 0.5), MSE and the update's seconds are
recorded after each stroke; ``worse_after`` is, per stroke, the share of targets that stroke
made worse by more than WORSE_BY MSE.  The reference is brushed as ``--mask`` says
(``icm_core.evaluation.reference_mask``; scribbles drawn with ``--mask-seed``).  The robot goes on to the last stroke even after IoU 0.95 (so
``mse_after`` has every entry); it stops early only when nothing is wrong.

Images are shrunk to long side ≤ 1024 px (the scoring protocol's size) before the engine sees
them, so strokes, results and scores share one grid.  Update seconds: the full update
(preview=False) is timed on those pictures; the live preview (preview=True) is timed on each
target scaled to exactly 1 MP, replaying the same strokes scaled to it (the ≤ 0.5 s figure).

"series": each group's first target is corrected until IoU ≥ 0.95 (or the last stroke), added
as a reference (``engine.combine`` of the group's reference and the target with its corrected
alpha > 0.5 as the mask), and the group's other targets are matted again.  "combine_slowdown":
wall time of a fresh target pass (kept state forgotten) with 8 combined references over one:
the first group's reference and its other members (the first target left out), as a series
that learnt from its corrected targets (references of other categories would also change
what is matted, and so the matting's cost).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from icm_core.api import Hints  # noqa: E402
from icm_core.evaluation import MASK_STYLES, SCORING_MAX_SIDE, reference_mask, score  # noqa: E402
from icm_core.geometry import resize, scale_to_fit  # noqa: E402

STROKE_SHARE = 0.03  # disc radius: 3 % of the long side at most
IOU_GOAL = 0.95
WORSE_BY = 0.005  # a stroke that raises a target's MSE by more than this backfired
PREVIEW_PIXELS = 1_000_000


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    predicted, actual = alpha >= 0.5, truth >= 0.5
    union = (predicted | actual).sum()
    return float((predicted & actual).sum() / union) if union else 1.0


def next_stroke(alpha: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """The robot's next stroke (boolean disc, keep?) or None when nothing is wrong."""
    wrong = (alpha >= 0.5) != (truth >= 0.5)
    regions, count = ndimage.label(wrong)
    if count == 0:
        return None
    sizes = ndimage.sum_labels(wrong, regions, index=np.arange(1, count + 1))
    largest = regions == 1 + int(np.argmax(sizes))
    depth = ndimage.distance_transform_edt(largest)
    row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
    radius = min(STROKE_SHARE * max(alpha.shape), float(depth[row, col]))
    rows, cols = np.ogrid[:alpha.shape[0], :alpha.shape[1]]
    disc = ((rows - row) ** 2 + (cols - col) ** 2 < radius ** 2) & largest
    disc[row, col] = True
    return disc, bool(truth[row, col] >= 0.5)


class Strokes:
    """The hints so far, and the strokes as (centre and radius relative to the long side,
    keep?) so they can be replayed on the same picture at another size."""

    def __init__(self, shape: tuple[int, int]):
        self.shape = shape
        self.keep = np.zeros(shape, np.float32)
        self.remove = np.zeros(shape, np.float32)
        self.drawn: list[tuple[float, float, float, bool]] = []

    def add(self, disc: np.ndarray, keep: bool) -> None:
        # as in the panel, a stroke wipes the other kind under it
        (self.keep if keep else self.remove)[disc] = 1.0
        (self.remove if keep else self.keep)[disc] = 0.0
        rows, cols = np.nonzero(disc)
        side = max(self.shape)
        radius = math.sqrt(len(rows) / math.pi)
        self.drawn.append((rows.mean() / side, cols.mean() / side, radius / side, keep))

    def hints(self) -> Hints:
        return Hints(self.keep.copy(), self.remove.copy())


def replayed(drawn, shape) -> list[Hints]:
    """The hints after each stroke, drawn on a picture of another ``shape``."""
    side = max(shape)
    keep, remove = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    rows, cols = np.ogrid[:shape[0], :shape[1]]
    result = []
    for row, col, radius, is_keep in drawn:
        disc = (rows - row * side) ** 2 + (cols - col * side) ** 2 <= max(radius * side, 1.0) ** 2
        (keep if is_keep else remove)[disc] = 1.0
        (remove if is_keep else keep)[disc] = 0.0
        result.append(Hints(keep.copy(), remove.copy()))
    return result


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def load(member):
    image, alpha = member.load_image(), member.load_alpha()
    size = scale_to_fit(alpha.shape, SCORING_MAX_SIDE)
    return resize(image, size), resize(alpha, size)


def correct_target(engine, reference, image, truth, max_strokes: int) -> dict:
    """The robot's session on one target: per stroke count, IoU / MSE / seconds and alpha."""
    engine.forget()
    alpha = engine.matte(image, reference).alpha
    strokes = Strokes(truth.shape)
    record = {"iou": [iou(alpha, truth)], "mse": [score(alpha, truth)[0]["mse"]], "seconds": [],
              "cpu": [], "alphas": [alpha]}
    for _ in range(max_strokes):
        stroke = next_stroke(alpha, truth)
        if stroke is not None:
            strokes.add(*stroke)
            result, wall, cpu = timed(lambda: engine.matte(image, reference, hints=strokes.hints()))
            alpha = result.alpha
            record["seconds"].append(wall)
            record["cpu"].append(cpu)
        record["iou"].append(iou(alpha, truth))
        record["mse"].append(score(alpha, truth)[0]["mse"])
        record["alphas"].append(alpha)
    record["drawn"] = strokes.drawn
    return record


def preview_seconds(engine, reference, image, drawn) -> list[tuple[float, float]]:
    """Wall and CPU seconds of preview updates replaying ``drawn`` on ``image`` at 1 MP (its
    state computed once, as when the artist starts correcting)."""
    scale = math.sqrt(PREVIEW_PIXELS / (image.shape[0] * image.shape[1]))
    size = (round(image.shape[0] * scale), round(image.shape[1] * scale))
    big = np.clip(cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR), 0, 1)
    engine.forget()
    engine.matte(big, reference, preview=True)
    times = []
    for hints in replayed(drawn, size):
        _, wall, cpu = timed(lambda: engine.matte(big, reference, hints=hints, preview=True))
        times.append((wall, cpu))
    return times


def combine_slowdown(engine, references, image) -> dict:
    """A fresh pass over one target with 1 and with 8 combined references (kept state dropped
    before each, so the features and similarity are computed as for a new target)."""
    one = references[0]
    eight = engine.combine((references * 8)[:8])
    walls = {"1": [], "8": []}
    cpus = {"1": [], "8": []}
    for _ in range(2):
        for name, reference in (("1", one), ("8", eight)):
            engine.forget()
            _, wall, cpu = timed(lambda: engine.matte(image, reference))
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {"seconds_1": min(walls["1"]), "seconds_8": min(walls["8"]),
            "cpu_1": min(cpus["1"]), "cpu_8": min(cpus["8"]),
            "ratio": min(walls["8"]) / min(walls["1"])}


def run(manifest: Path, engine_name: str, max_strokes: int, options: dict,
        only: list[str] | None = None, with_slowdown: bool = True, mask_style: str = "exact",
        mask_seed: int = 0) -> dict:
    """Every target's record (strokes, scores, seconds, series) and the combine slowdown."""
    from icm_core.datasets import load_manifest
    from icm_core.engines import get_engine

    dataset = load_manifest(manifest)
    engine = get_engine(engine_name, **options)
    records = []
    groups = [group for group in dataset.groups if not only or group.name in only]
    for group in groups:
        image, truth = load(group.reference)
        reference = engine.encode_reference(image, reference_mask(truth, mask_style, mask_seed))
        first_corrected = None
        for index, member in enumerate(group.targets):
            image, truth = load(member)
            session = correct_target(engine, reference, image, truth, max_strokes)
            first = next((k for k, value in enumerate(session["iou"]) if value >= IOU_GOAL), None)
            record = {"group": group.name, "id": member.id, "iou": session["iou"],
                      "mse": session["mse"], "noc95": max_strokes + 1 if first is None else first,
                      "update_seconds": session["seconds"], "update_cpu": session["cpu"],
                      "preview_seconds": preview_seconds(engine, reference, image,
                                                         session["drawn"])}
            records.append(record)
            print(f"{group.name}/{member.id}: strokes to IoU {IOU_GOAL}: "
                  f"{'never' if first is None else first}; IoU "
                  + " ".join(f"{v:.3f}" for v in session["iou"]) + "; MSE "
                  + " ".join(f"{v:.4f}" for v in session["mse"]), flush=True)
            if index == 0:
                corrected = session["alphas"][max_strokes if first is None else first]
                first_corrected = (image, (corrected > 0.5).astype(np.float32))
        if first_corrected is not None and len(group.targets) > 1:
            learnt = engine.combine([reference, engine.encode_reference(*first_corrected)])
            for member, record in zip(group.targets[1:], records[-len(group.targets) + 1:]):
                image, truth = load(member)
                engine.forget()
                alpha = engine.matte(image, learnt).alpha
                record["mse_after_learning"] = score(alpha, truth)[0]["mse"]
                print(f"{group.name}/{member.id}: MSE {record['mse'][0]:.4f} → "
                      f"{record['mse_after_learning']:.4f} after learning", flush=True)
    slowdown = None
    if with_slowdown:
        group = groups[0]
        series = [engine.encode_reference(image, (truth >= 0.5).astype(np.float32))
                  for image, truth in map(load, [group.reference] + list(group.targets[1:]))]
        slowdown = combine_slowdown(engine, series, load(group.targets[0])[0])
    return {"dataset": dataset.name, "engine": engine_name, "max_strokes": max_strokes,
            "mask": mask_style if mask_style != "scribble" else f"scribble seed {mask_seed}",
            "combine_slowdown": slowdown, "load_average": os.getloadavg(), "per_target": records}


def summarise(runs: list[dict]) -> dict:
    """The issue's figures over every target of one or more runs (groups split across runs)."""
    records = [record for run in runs for record in run["per_target"]]
    previews = [pair for record in records for pair in record["preview_seconds"]]
    learnt = [record for record in records if "mse_after_learning" in record]
    return {
        "dataset": runs[0]["dataset"],
        "engine": runs[0]["engine"],
        "mask": runs[0].get("mask", "exact"),
        "engine_input": f"long side ≤ {SCORING_MAX_SIDE} px (scored there)",
        "targets": len(records),
        "max_strokes": runs[0]["max_strokes"],
        "noc95": float(np.mean([record["noc95"] for record in records])),
        "reached_within_max": float(np.mean([record["noc95"] <= runs[0]["max_strokes"]
                                             for record in records])),
        "mse_after": [float(v) for v in np.mean([record["mse"] for record in records], axis=0)],
        "worse_after": [float(v) for v in np.mean([np.diff(record["mse"]) > WORSE_BY
                                                   for record in records], axis=0)],
        "worse_by": WORSE_BY,
        "update_seconds_median": median([wall for wall, _ in previews]),
        "update_cpu_seconds_median": median([cpu for _, cpu in previews]),
        "update_seconds_median_means": "preview=True at 1 MP",
        "full_update_seconds_median": median([s for r in records for s in r["update_seconds"]]),
        "full_update_cpu_seconds_median": median([s for r in records for s in r["update_cpu"]]),
        "series": {"mse_rest_before": mean([r["mse"][0] for r in learnt]),
                   "mse_rest_after_learning": mean([r["mse_after_learning"] for r in learnt]),
                   "targets": len(learnt)},
        "combine_slowdown": next((run["combine_slowdown"] for run in runs
                                  if run["combine_slowdown"]), None),
        "load_average": [run["load_average"] for run in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--max-strokes", type=int, default=5)
    parser.add_argument("--engine", default="lite")
    parser.add_argument("--engine-option", action="append", default=[], metavar="KEY=VALUE",
                        help="engine option as on the command line, repeatable")
    parser.add_argument("--groups", nargs="+", help="only these groups (e.g. to split a run)")
    parser.add_argument("--mask", default="exact", choices=MASK_STYLES,
                        help="how the reference is brushed (default: exact)")
    parser.add_argument("--mask-seed", type=int, default=0, help="seed of a scribbled mask")
    parser.add_argument("--no-slowdown", action="store_true",
                        help="skip the combine slowdown (another part of a split run measures it)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="summarise the --json files of runs over different groups instead")
    args = parser.parse_args()
    if args.merge:
        runs = [json.loads(path.read_text()) for path in args.merge]
        print(json.dumps(summarise(runs), indent=1))
        return
    if not args.manifest.is_file():
        sys.exit(f"{args.manifest} not found (the evaluation data lives in ../shared/data)")
    from icm_core.engines import option

    options = {}
    for text in args.engine_option:
        key, _, value = text.partition("=")
        options[key] = option(args.engine, key).parse(args.engine, value)
    result = run(args.manifest, args.engine, args.max_strokes, options, args.groups,
                 not args.no_slowdown, args.mask, args.mask_seed)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps(summarise([result]), indent=1))


if __name__ == "__main__":
    main()
