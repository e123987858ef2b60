"""The job's settings, and what every executor runs for one target: decode, matte, encode
(:func:`matte_one`, whose :class:`Outcome` is the encoded files or an error for the artist)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..api import Cancelled, IcmError


@dataclass(frozen=True)
class MatteSettings:
    """What a worker needs besides the engine and the reference."""

    seed: int = 0
    cutout: bool = False
    bits: int = 8


@dataclass
class Job:
    reference: Path
    mask: Path
    out: Path
    engine: str = "lite"
    engine_options: dict = field(default_factory=dict)
    settings: MatteSettings = field(default_factory=MatteSettings)
    alpha_video: bool = False
    inputs: list[str] = field(default_factory=list)  # as the user gave them, for the manifest
    # more (image, mask) references, combined with the first: e.g. targets corrected earlier
    also: list[tuple[Path, Path]] = field(default_factory=list)
    # frames of shots matted in order with a memory (icm_core.sequence, plan_shots)
    shot: bool = False


@dataclass
class Outcome:
    """A worker's answer for one target: encoded output files, or an error for the artist.
    ``lost`` means the worker died (killed, out of memory, node gone) — the target may be retried."""

    files: dict[str, bytes] | None = None
    error: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    lost: bool = False
    warnings: tuple[str, ...] = ()  # the matte's (MatteResult.warnings)


def matte_one(engine, reference, payload: bytes | np.ndarray, label: str,
              settings: MatteSettings, progress=None, memory=None) -> Outcome:
    """Decode, matte and encode one target.  Errors meant for the artist become the outcome's
    ``error``; anything else is a bug and propagates.  With a shot's ``memory``
    (:class:`icm_core.sequence.ShotMemory`) its reference, the previous frame's matte carried
    along the flow and where the subject was in the last frames are used, and the alpha as
    written (so a resumed job learns the same) joins the memory where it is confident and is
    carried to the next frame."""
    from ..imageio import decode_image, encode_alpha, encode_cutout, quantize, to_rgb_float

    start = time.perf_counter()
    try:
        if isinstance(payload, np.ndarray):
            image = to_rgb_float(payload, label)
        else:
            image = decode_image(payload, label)
        hints = follow = None
        if memory is not None:
            reference, hints, follow = memory.reference, memory.hints(image), memory.follow(image)
        result = engine.matte(image, reference, seed=settings.seed, foreground=settings.cutout,
                              progress=progress, hints=hints, follow=follow)
        files = {"alpha": encode_alpha(result.alpha, settings.bits)}
        if memory is not None:
            written = quantize(result.alpha, settings.bits) / np.float32(2**settings.bits - 1)
            memory.learn(image, written)
        if settings.cutout:
            files["cutout"] = encode_cutout(result.foreground, result.alpha, settings.bits)
        return Outcome(files=files, seconds=time.perf_counter() - start, timings=result.timings,
                       warnings=tuple(result.warnings))
    except Cancelled:
        raise
    except IcmError as error:
        return Outcome(error=str(error), seconds=time.perf_counter() - start)
