"""The engine protocol every matting engine implements."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from ..api import CancelToken, Hints, MatteResult, ProgressCallback, Reference


class Engine(Protocol):
    """A matting engine.  Holds no Qt object; safe to drive from one worker thread.

    ``encode_reference`` is done once per reference and its result may be reused for any
    number of targets; ``combine`` merges several encoded references into one (a corrected
    target, with its corrected alpha as the mask, teaches the rest of a series).
    ``matte`` takes correction ``hints`` (keep / remove strokes on that target) and keeps the
    target's expensive state, so matting it again after a stroke is fast; ``preview=True``
    returns a quick alpha for live feedback.  ``forget`` drops the kept state.
    Same inputs and ``seed`` give the same alpha.
    """

    name: str

    def encode_reference(self, image: np.ndarray, mask: np.ndarray) -> Reference: ...

    def combine(self, references: Sequence[Reference]) -> Reference: ...

    def matte(
        self,
        target: np.ndarray,
        reference: Reference,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        seed: int = 0,
        foreground: bool = False,
        hints: Hints | None = None,
        preview: bool = False,
    ) -> MatteResult: ...

    def forget(self) -> None: ...
