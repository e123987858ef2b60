"""Which error dominates the lite engine, per group: missing subject or extra background?

In-context protocol as ``lite_quality.py`` (same sets, same reference masks), and per target:

* ``under`` / ``over``: the MSE split into its parts where the prediction is below / above the
  ground truth (they add up to the MSE);
* ``under_core``: the part of ``under`` deeper inside the subject than 2 % of the long side
  (a lost part of the object, not a soft edge);
* recall / precision of the subject (alpha > 0.5) after each stage: the coarse map, the graph
  cut, the final alpha.

    python benchmarks/lite_completeness.py [--json PATH] [--preset NAME] [--mask exact|half|rough]
                                           [--sets icm58-dev alphamatting] [--limit-groups N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lite_quality import DATA, SETS  # noqa: E402

COLUMNS = ("mse", "under", "over", "under_core", "coarse_recall", "coarse_precision",
           "cut_recall", "cut_precision", "final_recall", "final_precision")
HEADINGS = ("MSE", "under", "over", "under core", "coarse R", "coarse P", "cut R", "cut P",
            "final R", "final P")


def recall_precision(prediction: np.ndarray, subject: np.ndarray) -> tuple[float, float]:
    found = prediction > 0.5
    both = float((found & subject).sum())
    return both / max(float(subject.sum()), 1.0), both / max(float(found.sum()), 1.0)


def target_figures(prediction, gt, coarse, cut) -> dict[str, float]:
    """The figures above for one target, at the scoring size of ``gt``."""
    error = prediction - gt
    subject = gt > 0.5
    core = ndimage.distance_transform_edt(subject) > max(3.0, 0.02 * max(gt.shape))
    missing = np.clip(-error, 0, None) ** 2
    figures = {"mse": float((error ** 2).mean()), "under": float(missing.mean()),
               "over": float((np.clip(error, 0, None) ** 2).mean()),
               "under_core": float((missing * core).mean())}
    size = gt.shape[::-1]
    stages = {"coarse": cv2.resize(coarse, size, interpolation=cv2.INTER_LINEAR),
              "cut": cv2.resize(cut.astype(np.float32), size, interpolation=cv2.INTER_NEAREST),
              "final": prediction}
    for name, map_ in stages.items():
        figures[f"{name}_recall"], figures[f"{name}_precision"] = recall_precision(map_, subject)
    return figures


def evaluate(dataset, engine, mask_style: str, limit_groups: int | None) -> dict[str, list[dict]]:
    """group → per-target figures; the coarse map and the cut are caught on their way."""
    from icm_core import evaluation
    from icm_core.geometry import resize, scale_to_fit
    from icm_core.lite import incontext
    from icm_core.refine import pipeline

    caught = {}
    coarse_probability, segment = incontext.coarse_probability, pipeline.segment

    def catch_coarse(*args, **kwargs):
        maps = coarse_probability(*args, **kwargs)
        caught["coarse"] = maps.probability
        return maps

    def catch_cut(*args, **kwargs):
        caught["cut"] = segment(*args, **kwargs)
        return caught["cut"]

    incontext.coarse_probability, pipeline.segment = catch_coarse, catch_cut
    groups = {}
    try:
        for group in dataset.groups[:limit_groups]:
            mask = evaluation.reference_mask(group.reference.load_alpha(), mask_style)
            reference = engine.encode_reference(group.reference.load_image(), mask)
            for member in group.targets:
                prediction = engine.matte(member.load_image(), reference).alpha
                gt = member.load_alpha()
                size = scale_to_fit(gt.shape, evaluation.SCORING_MAX_SIDE)
                figures = target_figures(resize(prediction, size), resize(gt, size),
                                         caught["coarse"], caught["cut"])
                groups.setdefault(group.name, []).append({"id": member.id, **figures})
    finally:
        incontext.coarse_probability, pipeline.segment = coarse_probability, segment
    return groups


def table(name: str, groups: dict[str, list[dict]]) -> str:
    lines = [name, f"{'group':<16}" + "".join(f"{h:>11}" for h in HEADINGS)]
    rows = [(group, targets) for group, targets in groups.items()]
    rows.append(("overall", [t for targets in groups.values() for t in targets]))
    for group, targets in rows:
        lines.append(f"{group:<16}" + "".join(f"{np.mean([t[c] for t in targets]):>11.4f}"
                                              for c in COLUMNS))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--preset", help="lite quality preset: fast, balanced (default) or best")
    parser.add_argument("--mask", default="exact", help="exact, half or rough reference masks")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--limit-groups", type=int)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the evaluation data lives beside the repository in ../shared")

    from icm_core.datasets import load_manifest
    from icm_core.engines import get_engine

    engine = get_engine("lite", **({"quality": args.preset} if args.preset else {}))
    results = {}
    for name in args.sets:
        results[name] = evaluate(load_manifest(SETS[name]), engine, args.mask, args.limit_groups)
        print(table(name, results[name]), "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
