"""``icm-matting weights status|locate|download|verify`` — the icm engine's weight files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from icm_core import require_extra, weights
from icm_core.api import IcmError, WeightsCorrupt

from . import HelpFormatter

DESCRIPTION = (
    "Set up and check the weights of the icm engine: the In-Context Matting checkpoint (from "
    "its authors, see `weights locate`) and Stable Diffusion 2.1 (`weights download`, about "
    "5.2 GB). The lite engine needs none of this.\n\n"
    "Exit status: 0 ready (status) or verified (verify); 1 not ready (status); 2 an error or a "
    "problem found (verify)."
)
CHECKPOINT_PACKAGES = ("torch", "safetensors")  # reading and converting checkpoints (icm extra)


def register(subparsers) -> None:
    parser = subparsers.add_parser("weights", help="set up and check the icm engine's weights",
                                   description=DESCRIPTION, formatter_class=HelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, run, text in (
        ("status", _status, "what the icm engine would load, with sizes; exit status 1 when "
         "something is missing"),
        ("locate", _locate, "remember where the ICM checkpoint / SD 2.1 are (converts once)"),
        ("download", _download, "download Stable Diffusion 2.1 from the hub into the cache"),
        ("verify", _verify, "check every file: sizes, sha256, keys and shapes"),
    ):
        action = actions.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".")
        if name != "download":
            action.add_argument("--checkpoint", help="ICM checkpoint (.ckpt/.pth/.safetensors)")
        action.add_argument("--sd", help="SD 2.1 diffusers folder, single file, or hub id"
                            + (f" (default {weights.DEFAULT_SD_REPO})" if name == "download" else ""))
        if name == "download":
            action.add_argument("--revision", help="branch, tag or commit of the hub repo")
        action.set_defaults(run=run)


def _size(count: int | None) -> str:
    if count is None:
        return "-"
    if count < 1024:
        return f"{count} B"
    for unit in ("KB", "MB"):
        count /= 1024
        if count < 1024:
            return f"{count:.1f} {unit}"
    return f"{count / 1024:.1f} GB"


def _status(args: argparse.Namespace) -> int:
    print(f"cache: {weights.cache_dir()}  (override with {weights.ENV_HOME})")
    ready = True
    for entry in weights.status(args.checkpoint, args.sd):
        optional = entry.role == "prompt embedding"  # computed on first use
        ready &= entry.path is not None or optional
        where = entry.path or (entry.problem if optional else f"missing — {entry.problem}")
        print(f"{entry.role:>17}  {_size(entry.size):>9}  {where}")
    print("ready" if ready else "not ready: see the messages above")
    return 0 if ready else 1


def _locate(args: argparse.Namespace) -> int:
    if not args.checkpoint and not args.sd:
        print(f"cache folder: {weights.cache_dir()}")
        for name, variable in (("checkpoint", weights.ENV_CHECKPOINT), ("sd", weights.ENV_SD)):
            print(f"{name}: {os.environ.get(variable) or weights.remembered().get(name) or '-'}"
                  f"  (env {variable})")
        return 0
    if args.checkpoint:
        require_extra("icm", CHECKPOINT_PACKAGES, "Reading an ICM checkpoint")
        source = Path(args.checkpoint).expanduser().resolve()
        converted = weights.checkpoint_path(source)
        weights.remember(checkpoint=str(source))
        print(f"checkpoint: {source}\n  converted: {converted}")
    if args.sd:
        value = args.sd
        if not weights.looks_like_repo_id(value):
            value = str(weights.sd_source(Path(value).expanduser().resolve()))
        weights.remember(sd=value)
        print(f"stable diffusion: {value}")
    return 0


def _download(args: argparse.Namespace) -> int:
    require_extra("icm", ("huggingface_hub",), "Downloading Stable Diffusion")
    repo = args.sd or weights.DEFAULT_SD_REPO
    folder = weights.download_sd(repo, args.revision)
    weights.remember(sd=str(folder))
    revision = weights.download_record(folder)["revision"]
    print(f"stable diffusion: {folder}\n  revision {revision}: every file matches the size and "
          "sha256 the hub publishes")
    print(weights.CHECKPOINT_HELP)
    return 0


def _verify(args: argparse.Namespace) -> int:
    require_extra("icm", CHECKPOINT_PACKAGES, "Verifying the weights")
    problems = []
    try:
        path = weights.checkpoint_path(args.checkpoint)
        from icm_core.icm.model import DecoderDims

        weights.load_decoder(DecoderDims(), path)  # strict: official widths at 768²
        print(f"icm checkpoint OK  {_size(path.stat().st_size)}  sha256 {weights.sha256(path)}  {path}")
    except IcmError as error:
        problems.append(f"icm checkpoint: {error}")
    try:
        source = weights.sd_source(args.sd)
        files = [source] if source.is_file() else sorted(
            p for p in source.rglob("*") if p.is_file() and ".cache" not in p.parts)
        record = weights.download_record(source) if source.is_dir() else None
        verified = (record or {}).get("files", {})
        for path in files:
            digest = weights.sha256(path)
            expected = verified.get(path.relative_to(source).as_posix(), {}).get("sha256") \
                if record else None
            note = "" if expected is None else "  as downloaded" if digest == expected else \
                "  CHANGED since the verified download"
            if expected not in (None, digest):
                problems.append(f"stable diffusion: {path} changed since it was downloaded and "
                                "verified; run `icm-matting weights download` to repair it")
            print(f"{_size(path.stat().st_size):>9}  sha256 {digest}  {path}{note}")
        if record:
            print(f"downloaded from {record.get('repo_id')} at {record.get('revision')}, "
                  "verified against the hub's published sha256")
        problems += [f"stable diffusion: {p}" for p in weights.check_sd(source)]
    except IcmError as error:
        problems.append(f"stable diffusion: {error}")
    for problem in problems:
        print(f"PROBLEM {problem}")
    if problems:
        raise WeightsCorrupt(f"{len(problems)} problem(s) found; see above.")
    print("all weights verified")
    return 0
