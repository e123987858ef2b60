"""The executor that mattes targets one after another in this process, with a shot's memory
for frames matted in order (``--shot``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..engines.base import encode_references
from .job import MatteSettings, Outcome, matte_one
from .threads import set_threads


class InProcess:
    """Targets one after another in this process (thread pools sized as in workers, so results
    are the same bits; OpenCV still uses every core).  Frames of a shot (``shots``: key → shot)
    are matted with that shot's memory; ``recall`` feeds it a frame done by an earlier run."""

    capacity = 1

    def __init__(self, engine, pairs: list, settings: MatteSettings, status=None,
                 shots: dict[str, str] | None = None):
        self.restore_threads = set_threads(os.cpu_count() or 1)
        try:
            self.reference = encode_references(engine, pairs)
            self.start = pairs[0]  # the user's first reference, carried to a shot's first frame
        except BaseException:
            self.restore_threads()
            raise
        self.engine, self.settings, self.status = engine, settings, status
        self.finished: list[tuple[str, Outcome]] = []
        self.shots = shots or {}
        self.shot: str | None = None  # the shot being matted (its frames come in a row)
        self.memory = None

    def _memory(self, key: str):
        from ..sequence import ShotMemory

        shot = self.shots.get(key)
        if shot is None:
            return None
        if shot != self.shot:  # the last shot is done
            self.shot = shot
            self.memory = ShotMemory(self.engine, self.reference, start=self.start)
        return self.memory

    def recall(self, key: str, payload, alpha_path: Path) -> None:
        """A frame of a shot done by an earlier run: the memory learns it as it did then (each
        frame carries its matte to the next, so every one is followed, in order)."""
        from ..imageio import decode_image, read_mask, to_rgb_float

        memory = self._memory(key)
        if memory is not None:
            image = (to_rgb_float(payload, key) if isinstance(payload, np.ndarray)
                     else decode_image(payload, key))
            memory.learn(image, read_mask(alpha_path))

    def submit(self, key: str, payload, label: str) -> None:
        def progress(fraction, stage):
            if self.status:
                self.status(f"{label}: {stage}")

        memory = self._memory(key)
        self.finished.append((key, matte_one(self.engine, self.reference, payload, label,
                                             self.settings, progress, memory)))

    def next(self) -> tuple[str, Outcome]:
        return self.finished.pop(0)

    def close(self, abort: bool = False) -> None:
        self.restore_threads()

