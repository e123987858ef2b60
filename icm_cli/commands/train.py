"""``icm-matting train``: train (or fine-tune) the ICM decoder on grouped manifests."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from icm_core.train.config import TrainConfig


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune the icm engine's decoder on your mattes",
        description=(
            "Train the In-Context Matting decoder on frozen Stable Diffusion 2.1 features, from "
            "scratch or from a checkpoint. Settings come from the defaults (the official "
            "recipe), then --config FILE (JSON or TOML, same names), then these flags; the "
            "resolved settings are printed first. Writes OUT/last.safetensors and "
            "OUT/best.safetensors (load with --engine icm --engine-option checkpoint=...), "
            "log.csv, TensorBoard events and the state that --resume continues from."
        ),
    )
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="settings file (.json or .toml)")
    for spec in dataclasses.fields(TrainConfig):
        help_text = spec.metadata.get("help", "")
        if spec.type == "bool" or isinstance(spec.default, bool):
            parser.add_argument(_flag(spec.name), action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        elif spec.name in ("train", "segmentation"):
            parser.add_argument(_flag(spec.name), action="append", metavar="MANIFEST",
                                help=help_text)
        else:
            kind = {int: int, float: float}.get(type(spec.default), str)
            parser.add_argument(_flag(spec.name), type=kind, default=None, help=help_text)
    parser.set_defaults(run=run)


#: what training imports beyond the base install (all in the icm extra)
TRAINING_PACKAGES = ("torch", "diffusers", "transformers", "safetensors", "tensorboard")


def run(args: argparse.Namespace) -> int:
    from icm_core import require_extra
    from icm_core.train import config as settings

    require_extra("icm", TRAINING_PACKAGES, "Training")

    file_settings = settings.read_file(args.config) if args.config else {}
    flags = {spec.name: getattr(args, spec.name) for spec in dataclasses.fields(TrainConfig)}
    config = settings.resolve(file_settings, flags)
    print(json.dumps({"resolved training config": config.as_json()}, indent=1), flush=True)

    from icm_core.train.trainer import train

    summary = train(config)
    print(f"trained to step {summary.steps} in {summary.seconds:.0f} s; "
          f"SD feature passes computed: {summary.features_computed}; "
          f"peak memory {summary.peak_memory_bytes / 2**30:.2f} GiB")
    print(f"weights: {summary.last}")
    if summary.best is not None:
        print(f"best (validation MSE {summary.best_val_mse:.5f}): {summary.best}")
    return 0
