"""``icm-matting matte``: encode one reference, matte every target, write alphas (and cutouts)."""

from __future__ import annotations

import argparse
from pathlib import Path

import icm_core
from icm_core.api import InvalidInput

from . import add_engine_arguments, parse_options

EXAMPLES = Path(icm_core.__file__).resolve().parent / "examples"  # shipped with the core


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "matte",
        help="matte a series of targets from one brushed reference",
        description="Encode the reference once, then write TARGET_alpha.png (and with --cutout "
        "TARGET_cutout.png) into --out for every target, each at the target's exact size.",
    )
    parser.add_argument("targets", nargs="*", type=Path, metavar="TARGET", help="images to matte")
    parser.add_argument("--reference", type=Path, help="the reference image")
    parser.add_argument("--mask", type=Path, help="the brushed mask of the reference (white = subject)")
    parser.add_argument("--also", nargs=2, action="append", type=Path, default=[],
                        metavar=("IMAGE", "MASK"),
                        help="one more reference with its mask, combined with --reference "
                        "(e.g. a target corrected earlier); repeatable")
    parser.add_argument("--example", action="store_true",
                        help="use the bundled example series as reference, mask and targets")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")
    add_engine_arguments(parser)
    parser.add_argument("--cutout", action="store_true", help="also write RGBA cutouts")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=8, help="alpha PNG depth")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--shot", action=argparse.BooleanOptionalAction, default=False,
                        help="the targets are frames of one shot, in the order given: each "
                        "frame's sure matte is carried to the next along the motion "
                        "(experimental; default: each target alone)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from icm_core.batch import Job, MatteSettings, Target, output_paths, run_batch

    options = parse_options(args)
    if args.example:
        if args.reference or args.mask or args.targets:
            raise InvalidInput("--example replaces --reference, --mask and the targets; give none of them.")
        args.reference, args.mask = EXAMPLES / "reference.jpg", EXAMPLES / "reference-mask.png"
        args.targets = sorted(EXAMPLES.glob("target-*.jpg"))
    if not (args.reference and args.mask and args.targets):
        raise InvalidInput("Give --reference, --mask and at least one TARGET (or --example).")
    plans = output_paths(args.targets, args.out, args.cutout)

    job = Job(reference=args.reference, mask=args.mask, out=args.out, engine=args.engine,
              engine_options=options,
              settings=MatteSettings(seed=args.seed, cutout=args.cutout, bits=args.bits),
              also=[tuple(pair) for pair in args.also], shot=args.shot)
    targets = [Target(path, None, plan) for path, plan in zip(args.targets, plans)]
    summary = run_batch(job, targets, overwrite=args.overwrite, write_manifest=False)
    warned = f" ({summary.warned} with a warning)" if summary.warned else ""
    print(f"{summary.done} of {len(args.targets)} target(s) matted into {args.out}{warned}")
    return 1 if summary.failed else 0
