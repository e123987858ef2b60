"""The training configuration: defaults (the official recipe), a JSON or TOML file, flags.

Every field is also a command-line flag (``batch_size`` → ``--batch-size``); flags win over the
file, the file over the defaults.  Relative paths in a file are relative to the file's folder.
This module does not import torch (the CLI builds its flags from it).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api import SEED_MAX, InvalidInput
from ..icm.widths import widths_problem

GUIDANCE_STYLES = ("exact", "eroded", "dilated", "scribble", "partial")
LOSS_TERMS = ("unknown_l1", "known_l1", "laplacian", "gradient_penalty", "known_smooth_l1",
              "composition")
PATH_FIELDS = ("out", "train", "segmentation", "val", "checkpoint", "sd", "cache_dir")


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class TrainConfig:
    out: str | None = field(default=None, metadata=_help(
        "output folder: weights (last/best .safetensors), training state, logs"))
    train: list[str] = field(default_factory=list, metadata=_help(
        "grouped matting manifest (icm-matting-dataset/1); repeatable"))
    segmentation: list[str] = field(default_factory=list, metadata=_help(
        "grouped segmentation manifest (binary masks, loss on confident areas); repeatable"))
    val: str | None = field(default=None, metadata=_help(
        "validation manifest, scored with the in-context protocol"))
    checkpoint: str | None = field(default=None, metadata=_help(
        "start from these decoder weights (fine-tune) instead of random ones"))
    resume: bool = field(default=False, metadata=_help(
        "continue the run in --out from its last saved state"))
    sd: str | None = field(default=None, metadata=_help(
        "Stable Diffusion 2.1 folder or file (default: as for the icm engine)"))
    decoder_widths: dict | None = field(default=None, metadata=_help(
        "decoder widths other than the official ones, as JSON (tests use tiny ones)"))
    steps: int = field(default=20000, metadata=_help("optimiser steps"))
    batch_size: int = field(default=2, metadata=_help("samples per forward pass"))
    accumulate: int = field(default=1, metadata=_help(
        "forward passes whose gradients are summed per optimiser step"))
    lr: float = field(default=4e-4, metadata=_help("peak learning rate"))
    warmup_steps: int = field(default=250, metadata=_help(
        "linear warm-up from warmup_start·lr to lr over this many steps"))
    warmup_start: float = field(default=1e-6, metadata=_help("warm-up start factor"))
    weight_decay: float = field(default=0.0, metadata=_help(
        "AdamW weight decay (0: plain Adam, as the official code)"))
    size: int = field(default=768, metadata=_help("model input side (multiple of 64)"))
    ensemble_size: int = field(default=4, metadata=_help("SD noise draws averaged per pass"))
    timestep: int = field(default=200, metadata=_help("SD timestep of the feature pass"))
    crops: int = field(default=1, metadata=_help(
        "views per picture: view 0 is the centre square, the others random square crops "
        "(each view's features are cached)"))
    draws: int = field(default=1, metadata=_help(
        "random feature draws cached per view (more: more variety, more cache)"))
    flip: bool = field(default=True, metadata=_help(
        "random horizontal flips (applied to cached features, pictures and masks alike)"))
    guidance: dict = field(default_factory=lambda: dict.fromkeys(GUIDANCE_STYLES, 1.0),
                           metadata=_help("reference mask styles and their odds, as JSON"))
    loss_weights: dict = field(
        default_factory=lambda: {**dict.fromkeys(LOSS_TERMS, 1.0), "composition": 0.0},
        metadata=_help("weight per loss term, as JSON; composition > 0 turns it on"))
    unknown_band: float = field(default=1 / 64, metadata=_help(
        "half-width of the uncertain band around edges, as a fraction of size (matting data "
        "without a trimap)"))
    segmentation_band: float = field(default=1 / 32, metadata=_help(
        "half-width of the band around a segmentation mask's edge excluded from its loss"))
    seed: int = field(default=0, metadata=_help("random seed: same seed, same run"))
    device: str = field(default="auto", metadata=_help("auto, cuda, cuda:N, mps or cpu"))
    threads: int = field(default=0, metadata=_help(
        "CPU threads for torch (0: torch's default; 1 is fastest on a busy shared machine)"))
    amp: bool = field(default=True, metadata=_help("mixed precision for the decoder (CUDA)"))
    feature_dtype: str = field(default="auto", metadata=_help(
        "backbone precision: auto (float16 on CUDA, else float32), float16 or float32"))
    cache_dir: str | None = field(default=None, metadata=_help(
        "feature cache folder (default: <icm-matting cache>/features, shared by runs)"))
    cache_max_gb: float = field(default=50.0, metadata=_help("feature cache size bound"))
    cache_dtype: str = field(default="float16", metadata=_help(
        "precision of cached features: float16 or float32"))
    val_every: int = field(default=500, metadata=_help("validate every N steps (and at the end)"))
    checkpoint_every: int = field(default=500, metadata=_help("save the state every N steps"))
    log_every: int = field(default=10, metadata=_help("log losses every N steps"))
    allow_outside_paths: bool = field(default=False, metadata=_help(
        "accept manifest paths outside the manifest's folder"))
    progress: bool = field(default=True, metadata=_help("show a progress bar"))

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


def read_file(path: str | Path) -> dict:
    """A config file's settings, its relative paths made relative to the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"Cannot read the training config {path}: {error.strerror}.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"The training config {path} is not UTF-8 text; save it as "
                           "UTF-8.") from None
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            settings = tomllib.loads(text)
        else:
            settings = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise InvalidInput(f"The training config {path} is not valid {kind}: {error}.") from None
    if not isinstance(settings, dict):
        raise InvalidInput(f"The training config {path} must hold a table of settings.")
    base = path.resolve().parent
    for key in PATH_FIELDS:
        value = settings.get(key)
        if isinstance(value, str):
            settings[key] = str(base / value)
        elif isinstance(value, list):
            settings[key] = [str(base / v) if isinstance(v, str) else v for v in value]
    return settings


def resolve(file_settings: dict, flag_settings: dict) -> TrainConfig:
    """Defaults ← file ← flags, checked."""
    known = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(file_settings) - set(known))
    if unknown:
        raise InvalidInput(f"Unknown training setting(s): {', '.join(unknown)}. "
                           f"Known: {', '.join(known)}.")
    merged = {**file_settings, **{k: v for k, v in flag_settings.items() if v is not None}}
    config = TrainConfig(**{k: _coerce(known[k], v) for k, v in merged.items()})
    check(config)
    return config


def _coerce(spec: dataclasses.Field, value: Any) -> Any:
    """A file's or flag's value as the field's type (JSON text accepted for tables)."""
    name = spec.name
    if value is None and spec.default is None:
        return None
    if name in ("train", "segmentation"):
        value = [value] if isinstance(value, str) else value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise InvalidInput(f"{name} must be a list of manifest paths, got {value!r}.")
    if name in ("guidance", "loss_weights", "decoder_widths"):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise InvalidInput(f"{name} must be a JSON object, got {value!r}.") from None
        if isinstance(value, dict):
            return value
        raise InvalidInput(f"{name} must be a table of settings, got {value!r}.")
    expected = str if spec.default is None else type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
        raise InvalidInput(f"{name} must be {expected.__name__}, got {value!r}.")
    return value


#: (low, high) of every number; a float must also be finite
BOUNDS = {
    "steps": (1, 10**8), "batch_size": (1, 1024), "accumulate": (1, 1024),
    "ensemble_size": (1, 64), "crops": (1, 64), "draws": (1, 64), "val_every": (1, 10**8),
    "checkpoint_every": (1, 10**8), "log_every": (1, 10**8), "warmup_steps": (0, 10**8),
    "timestep": (0, 999), "size": (64, 2048), "seed": (0, SEED_MAX), "threads": (0, None),
    "lr": (0, 1), "warmup_start": (0, 1), "weight_decay": (0, 1), "cache_max_gb": (0, 10**6),
    "unknown_band": (0, 0.5), "segmentation_band": (0, 0.5),
}
OPEN_LOW = ("lr", "warmup_start", "cache_max_gb")  # must be above the low bound, not equal
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")
TABLE_MAX = 1_000_000  # a guidance odd or loss weight beyond this is a typo


def check(config: TrainConfig) -> None:
    """:class:`InvalidInput` naming every wrong setting; run before anything is written."""
    from ..engines.base import cpu_cores  # numpy: not at import (``--help`` reads this module)

    problems = []
    if not config.out:
        problems.append("an output folder (out / --out) is required")
    if not config.train and not config.segmentation:
        problems.append("give at least one training manifest (train / segmentation)")
    for name, (low, high) in BOUNDS.items():
        value = getattr(config, name)
        high = cpu_cores() if name == "threads" else high
        if not _number(value) or not low <= value <= high or (name in OPEN_LOW and value == low):
            problems.append(f"{name} must be in {'(' if name in OPEN_LOW else '['}{low}, {high}], "
                            f"not {value!r}")
    if config.size % 64:
        problems.append(f"size must be a multiple of 64, not {config.size}")
    if not DEVICE.fullmatch(config.device):
        problems.append(f"device must be auto, cpu, mps, cuda or cuda:N, not {config.device!r}")
    if config.cache_dtype not in ("float16", "float32"):
        problems.append("cache_dtype must be float16 or float32")
    if config.feature_dtype not in ("auto", "float16", "float32"):
        problems.append("feature_dtype must be auto, float16 or float32")
    if config.decoder_widths is not None and (wrong := widths_problem(config.decoder_widths)):
        problems.append(f"decoder_widths: {wrong}")
    for name, allowed in (("guidance", GUIDANCE_STYLES), ("loss_weights", LOSS_TERMS)):
        table = getattr(config, name)
        extra = sorted(map(str, set(table) - set(allowed)))
        if extra:
            problems.append(f"{name} knows {', '.join(allowed)}, not {', '.join(extra)}")
        elif not all(_number(v) and 0 <= v <= TABLE_MAX for v in table.values()):
            problems.append(f"{name} values must be numbers in [0, {TABLE_MAX}]")
        elif not any(v > 0 for v in table.values()):
            what = "guidance style" if name == "guidance" else "loss term"
            problems.append(f"at least one {what} needs a weight above 0 ({name})")
    if problems:
        raise InvalidInput("Invalid training configuration: " + "; ".join(problems) + ".")


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
