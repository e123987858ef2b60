"""``icm-matting batch``: matte thousands of images or every frame of videos from one reference,
in this process, in a pool of worker processes, or on a Ray cluster; resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from icm_core.api import InvalidInput

from . import add_engine_arguments, parse_options


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="matte many images or video frames from one reference (resumable, parallel, Ray)",
        description="Encode the reference once, then matte every input: image files, folders "
        "(their images and videos), globs, or video files (every frame). Images give "
        "OUT/NAME_alpha.png, video frames OUT/VIDEO/NNNNNN_alpha.png. The job is recorded in "
        "OUT/icm-batch.json (settings, hashes, per-target status and timings) so that "
        "--resume can finish it after an interruption.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image, folder, glob or video")
    parser.add_argument("--reference", type=Path, required=True, help="the reference image")
    parser.add_argument("--mask", type=Path, required=True,
                        help="the brushed mask of the reference (white = subject)")
    parser.add_argument("--also", nargs=2, action="append", type=Path, default=[],
                        metavar=("IMAGE", "MASK"),
                        help="one more reference with its mask, combined with --reference "
                        "(e.g. a target corrected earlier); repeatable")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")
    add_engine_arguments(parser)
    parser.add_argument("--cutout", action="store_true", help="also write RGBA cutouts")
    parser.add_argument("--alpha-video", action="store_true",
                        help="also write OUT/VIDEO_alpha.mov (frames with their alpha, lossless PNG)")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=8, help="alpha PNG depth")
    parser.add_argument("--resume", action="store_true",
                        help="continue the job in --out: skip targets already done")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again in --out, replacing an earlier job's files")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes on this machine (with --ray: Ray actors; "
                        "default: one per CPU of the cluster)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run on Ray: a local instance, or --ray=ADDRESS of a cluster")
    parser.add_argument("--shot", action=argparse.BooleanOptionalAction, default=False,
                        help="the inputs are frames of shots (each video, numbered images in a "
                        "row, the rest in order): each frame's sure matte is carried to the "
                        "next along the motion (experimental; default: each frame alone)")
    parser.add_argument("--retries", type=int, default=2,
                        help="extra attempts for a target whose worker died (default 2)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from icm_core.batch import Job, MatteSettings, collect_sources, plan_targets, run_batch

    options = parse_options(args)
    if args.ray and Path(args.ray).exists():
        # `--ray shots/` — argparse took the first input for the optional address
        args.inputs.insert(0, args.ray)
        args.ray = ""
    if args.resume and args.overwrite:
        raise InvalidInput("Choose --resume (continue the job) or --overwrite (start again), not both.")
    job = Job(
        reference=args.reference, mask=args.mask, out=args.out, engine=args.engine,
        engine_options=options,
        settings=MatteSettings(seed=args.seed, cutout=args.cutout, bits=args.bits),
        alpha_video=args.alpha_video, inputs=list(args.inputs),
        also=[tuple(pair) for pair in args.also], shot=args.shot,
    )
    targets = plan_targets(collect_sources(args.inputs, args.out), args.out, args.cutout)
    args.after_interrupt = ("; the targets done are kept: run the same command with --resume"
                            + (" instead of --overwrite" if args.overwrite else "")
                            + " to finish the job")
    summary = run_batch(job, targets, workers=args.workers, ray=args.ray, resume=args.resume,
                        overwrite=args.overwrite, retries=args.retries)
    skipped = f", {summary.skipped} already done" if summary.skipped else ""
    print(f"{summary.done} of {len(targets)} target(s) matted into {args.out}{skipped}"
          f"{f', {summary.failed} failed' if summary.failed else ''} in {summary.seconds:.1f} s; "
          f"manifest: {summary.manifest}")
    for path in summary.videos:
        print(f"alpha video: {path}")
    return 1 if summary.failed else 0
