"""``icm-matting matte``: encode one reference, matte every target, write alphas (and cutouts)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..api import IcmError, InvalidInput, OutputError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


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
    parser.add_argument("--example", action="store_true",
                        help="use the bundled example series as reference, mask and targets")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")
    parser.add_argument("--engine", default="lite", help="matting engine: lite (default) or icm")
    parser.add_argument("--engine-option", action="append", default=[], metavar="KEY=VALUE",
                        help="engine option, e.g. matting_side=1536 (repeatable)")
    parser.add_argument("--cutout", action="store_true", help="also write RGBA cutouts")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=8, help="alpha PNG depth")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(run=run)


def parse_options(pairs: list[str]) -> dict:
    """``["a=1", "b=x"]`` → ``{"a": 1, "b": "x"}`` (numbers and true/false converted)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"Engine options look like KEY=VALUE, got {pair!r}.")
        for convert in (int, float):
            try:
                options[key] = convert(value)
                break
            except ValueError:
                continue
        else:
            options[key] = {"true": True, "false": False}.get(value.lower(), value)
    return options


def output_paths(targets: list[Path], out: Path, cutout: bool) -> list[dict[str, Path]]:
    """One dict of output paths per target; stems that collide get the parent folder's name."""
    stems = [t.stem for t in targets]
    plans = []
    for target, stem in zip(targets, stems):
        if stems.count(stem) > 1:
            stem = f"{target.parent.name}_{stem}"
        plan = {"alpha": out / f"{stem}_alpha.png"}
        if cutout:
            plan["cutout"] = out / f"{stem}_cutout.png"
        plans.append(plan)
    names = [p for plan in plans for p in plan.values()]
    if len(set(names)) != len(names):
        raise InvalidInput("Two targets would write the same output file; rename one of them.")
    return plans


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..engines import get_engine
    from ..imageio import read_image, read_mask, write_alpha, write_cutout

    if args.example:
        if args.reference or args.mask or args.targets:
            raise InvalidInput("--example replaces --reference, --mask and the targets; give none of them.")
        args.reference, args.mask = EXAMPLES / "reference.jpg", EXAMPLES / "reference-mask.png"
        args.targets = sorted(EXAMPLES.glob("target-*.jpg"))
    if not (args.reference and args.mask and args.targets):
        raise InvalidInput("Give --reference, --mask and at least one TARGET (or --example).")
    plans = output_paths(args.targets, args.out, args.cutout)
    if not args.overwrite:
        existing = [str(p) for plan in plans for p in plan.values() if p.exists()]
        if existing:
            raise OutputError(
                f"{len(existing)} output file(s) already exist, e.g. {existing[0]}; "
                "choose another --out folder or pass --overwrite."
            )

    engine = get_engine(args.engine, **parse_options(args.engine_option))
    reference_image = read_image(args.reference)
    reference = engine.encode_reference(reference_image, read_mask(args.mask))
    failures = 0
    bar = tqdm(total=len(args.targets), unit="target", file=sys.stderr, dynamic_ncols=True)
    for target, plan in zip(args.targets, plans):
        bar.set_postfix_str(target.name)
        try:
            result = engine.matte(
                read_image(target), reference, seed=args.seed, foreground=args.cutout,
                progress=lambda fraction, stage: bar.set_postfix_str(f"{target.name}: {stage}"),
            )
            write_alpha(plan["alpha"], result.alpha, bits=args.bits, overwrite=args.overwrite)
            if args.cutout:
                write_cutout(plan["cutout"], result.foreground, result.alpha, bits=args.bits,
                             overwrite=args.overwrite)
        except (IcmError, MemoryError) as error:
            if not isinstance(error, IcmError) or type(error).__name__ == "Cancelled":
                raise
            failures += 1
            tqdm.write(f"icm-matting: {target}: {error}", file=sys.stderr)
        bar.update()
    bar.close()
    done = len(args.targets) - failures
    print(f"{done} of {len(args.targets)} target(s) matted into {args.out}")
    return 1 if failures else 0
