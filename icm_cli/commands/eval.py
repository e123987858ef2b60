"""``icm-matting eval MANIFEST``: in-context quality and speed of an engine on a dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from icm_core.api import InvalidInput

from . import add_engine_arguments, parse_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure an engine's in-context quality on a dataset manifest",
        description=(
            "For every group, encode the reference (its ground truth thresholded at 0.5) once and "
            "matte every other member; report MSE, SAD, Grad, Conn and seconds per target."
        ),
    )
    parser.add_argument("manifest", type=Path, help="dataset manifest.json (or the folder holding it)")
    add_engine_arguments(parser)
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the scores as JSON")
    parser.add_argument("--save-dir", type=Path, metavar="DIR", help="write predictions and one contact sheet per group")
    parser.add_argument("--limit-groups", type=int, metavar="N", help="evaluate only the first N groups")
    parser.add_argument(
        "--input-max-side",
        type=int,
        metavar="PX",
        help="shrink images to this long side before matting (quick, non-standard runs)",
    )
    parser.add_argument(
        "--allow-outside-paths",
        action="store_true",
        help="accept manifest paths that point outside the manifest's folder",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from icm_core import evaluation
    from icm_core.datasets import MANIFEST_NAME, load_manifest
    from icm_core.engines import get_engine
    from icm_core.imageio import check_writable_folder

    options = parse_options(args)
    for name in ("limit_groups", "input_max_side"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InvalidInput(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
    dataset = load_manifest(args.manifest, allow_outside=args.allow_outside_paths)
    if args.json is not None:
        manifest = args.manifest / MANIFEST_NAME if args.manifest.is_dir() else args.manifest
        evaluation.check_scores_path(args.json, evaluation.input_files(dataset, manifest))
    if args.save_dir is not None:
        check_writable_folder(args.save_dir, "--save-dir")
    engine = get_engine(args.engine, **options)
    total = evaluation.count_targets(dataset, args.limit_groups)
    with tqdm(total=total, desc=f"eval {dataset.name}", unit="target", file=sys.stderr) as bar:

        def advance(target: evaluation.TargetScore) -> None:
            bar.set_postfix_str(f"{target.group}/{target.id} MSE {target.scores['mse']:.4f}")
            bar.update(1)

        report = evaluation.evaluate(
            dataset,
            engine,
            limit_groups=args.limit_groups,
            input_max_side=args.input_max_side,
            save_dir=args.save_dir,
            on_target=advance,
            seed=args.seed,
        )
    print(report.table())
    if args.json is not None:
        evaluation.write_scores(args.json, report)
        print(f"scores written to {args.json}")
    return 0
