"""``lite``: training-free in-context matting on EfficientNet-Lite0 features.

Reference: descriptors of the reference image split into subject and background tokens by
the brushed mask.  Target: in-context similarity gives a coarse probability on a token grid
(:mod:`icm_core.lite.incontext`); :func:`icm_core.refine.refine_alpha` snaps it to the
target's edges, mattes the boundary band and returns the alpha at full resolution.
"""

from __future__ import annotations

import re
import time
from typing import Sequence

import numpy as np

from ..api import (CancelToken, InvalidInput, MatteResult, OutOfMemory, ProgressCallback,
                   Reference, check_cancel, report)
from ..validate import check_image, check_mask
from .base import Option

FEATURE_SIDE = 640  # long side of the network input: tokens of 16 px on a 640 px picture


class LiteEngine:
    name = "lite"
    OPTIONS = (
        Option("feature_side", int, FEATURE_SIDE, "long side (px) of the feature network's input",
               low=128, high=2048),
        Option("matting_side", int, 1024, "long side (px) of the closed-form matting; "
               "more is finer and slower", low=256, high=4096),
        Option("device", str, "cpu", "lite runs on the CPU only", choices=("cpu",)),
        Option("threads", int, 1, "torch threads for the feature network", low=1),
    )

    def __init__(self, feature_side: int = FEATURE_SIDE, matting_side: int = 1024,
                 device: str = "cpu", threads: int = 1):
        if device != "cpu":
            raise InvalidInput(f"The lite engine runs on the CPU only, not {device!r}.")
        if not 128 <= feature_side <= 2048:
            raise InvalidInput(f"feature_side must be within 128…2048 px, got {feature_side}.")
        if not 256 <= matting_side <= 4096:
            raise InvalidInput(f"matting_side must be within 256…4096 px, got {matting_side}.")
        self.feature_side = feature_side
        self.matting_side = matting_side
        if threads < 1:
            raise InvalidInput(f"threads must be at least 1, got {threads}.")
        # The feature network is small: one intra-op thread is about as fast on an idle CPU and
        # several times faster when the host or other jobs share the cores (OpenMP spin-waits).
        self.threads = threads

    def _describe(self, image: np.ndarray):
        import torch

        from ..lite.features import describe

        previous = torch.get_num_threads()  # a process-wide setting: restore it for other users
        torch.set_num_threads(self.threads)
        try:
            return describe(image, self.feature_side)
        finally:
            torch.set_num_threads(previous)

    def encode_reference(self, image: np.ndarray, mask: np.ndarray) -> Reference:
        from ..lite.incontext import reference_tokens

        check_image(image, "reference image")
        check_mask(mask, image.shape, "reference mask")
        with _memory_guard():
            tokens = reference_tokens(self._describe(image), mask)
        return Reference(self.name, tokens, (image.shape[:2],))

    def combine(self, references: Sequence[Reference]) -> Reference:
        from ..lite.incontext import combine

        if not references:
            raise InvalidInput("Combine needs at least one reference.")
        for reference in references:
            _check_reference(reference)
        return Reference(
            self.name,
            combine([r.data for r in references]),
            tuple(size for r in references for size in r.image_sizes),
        )

    def matte(self, target: np.ndarray, reference: Reference, *,
              progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
              seed: int = 0, foreground: bool = False) -> MatteResult:
        from ..lite.incontext import coarse_probability
        from ..refine import estimate_foreground, refine_alpha

        check_image(target, "target image")
        _check_reference(reference)
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        # (stage, fraction of the work done when it ends), in order
        stages = [("similarity", 0.25), ("graph cut", 0.45), ("trimap", 0.5), ("matting", 0.8),
                  ("upsampling", 0.9 if foreground else 1.0)] + ([("foreground", 1.0)] if foreground else [])
        names = [name for name, _ in stages] + ["done"]
        fractions = dict(stages)

        def finished(name: str) -> None:
            """Record the stage just finished, honour cancel, announce the next stage."""
            nonlocal clock
            now = time.perf_counter()
            timings[name] = now - clock
            clock = now
            check_cancel(cancel)
            report(progress, fractions[name], names[names.index(name) + 1])

        report(progress, 0.0, "similarity")
        check_cancel(cancel)
        with _memory_guard():
            features = self._describe(target)
            check_cancel(cancel)  # the network and the similarity each take about half a second
            coarse = coarse_probability(reference.data, features)
            finished("similarity")
            alpha, matting_image, matting_alpha = refine_alpha(
                target, coarse.probability, coarse.cross, seed=seed,
                matting_side=self.matting_side, checkpoint=finished,
            )
            finished("upsampling")
            colours = None
            if foreground:
                colours = estimate_foreground(target, matting_image, matting_alpha)
                finished("foreground")
        return MatteResult(alpha, colours, timings)


def _check_reference(reference: Reference) -> None:
    if not isinstance(reference, Reference) or reference.engine != LiteEngine.name:
        engine = getattr(reference, "engine", type(reference).__name__)
        raise InvalidInput(
            f"This reference was encoded by the {engine!r} engine; encode it again with 'lite'."
        )


# how torch ("can't allocate memory"), OpenCV ("Insufficient memory") and others say it
_MEMORY_WORDS = re.compile(r"not enough memory|can.t allocate memory|cannot allocate memory|"
                           r"insufficient memory|out of memory", re.IGNORECASE)


class _memory_guard:
    """Turn allocation failures into :class:`OutOfMemory` with advice."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is not None and (issubclass(kind, MemoryError) or _MEMORY_WORDS.search(str(error))):
            raise OutOfMemory(
                "Not enough memory for this picture: close other programs, or lower the "
                "matting resolution (matting_side) or the picture size."
            ) from error
        return False
