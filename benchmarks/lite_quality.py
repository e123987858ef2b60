"""Quality of the lite engine on the shared evaluation sets (in-context protocol).

icm58-dev (one reference per category group) and the alphamatting.com pseudo-groups, scored
as in ../shared/data/README.md; prints the per-group and overall tables.

    python benchmarks/lite_quality.py [--json PATH] [--engine lite] [--limit-groups N]
                                      [--mask exact|half|rough] [--sets icm58-dev alphamatting]

``--mask half`` brushes only half of each reference subject, ``rough`` overpaints it (see
``icm_core.evaluation.reference_mask``): how the engine copes with an artist's quick stroke.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = (ROOT / ".." / "shared" / "data").resolve()
SETS = {"icm58-dev": DATA / "icm58-dev" / "manifest.json",
        "alphamatting": DATA / "alphamatting" / "manifest.json"}
TARGET_MSE = 0.03  # issue target on icm58-dev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--engine", default="lite")
    parser.add_argument("--limit-groups", type=int)
    parser.add_argument("--mask", default="exact", help="exact, half or rough reference masks")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    args = parser.parse_args()

    from icm_core import evaluation
    from icm_core.datasets import load_manifest
    from icm_core.engines import get_engine

    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the evaluation data lives beside the repository in ../shared")
    engine = get_engine(args.engine)
    results = {}
    for name in args.sets:
        report = evaluation.evaluate(load_manifest(SETS[name]), engine,
                                     limit_groups=args.limit_groups, mask_style=args.mask)
        print(report.table(), "\n", flush=True)
        results[name] = report.as_json()
    if "icm58-dev" in results and args.mask == "exact":
        mse = results["icm58-dev"]["overall"]["mse"]
        verdict = "met" if mse <= TARGET_MSE else "NOT met"
        print(f"icm58-dev overall MSE {mse:.4f} (target ≤ {TARGET_MSE}: {verdict})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
