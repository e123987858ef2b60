"""The executor that mattes targets one after another in this process, with a shot's memory
for frames matted in order (``--shot``)."""

from __future__ import annotations

import os
from collections import deque
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
        except BaseException:
            self.restore_threads()
            raise
        self.engine, self.settings, self.status = engine, settings, status
        self.finished: list[tuple[str, Outcome]] = []
        self.shots = shots or {}
        self.shot: str | None = None  # the shot being matted (its frames come in a row)
        self.memory = None
        self.recalled: deque = deque()  # its last confident frames done by an earlier run

    def _memory(self, key: str):
        from ..sequence import MEMORY_FRAMES, ShotMemory

        shot = self.shots.get(key)
        if shot is None:
            return None
        if shot != self.shot:  # the last shot is done
            self.shot, self.memory = shot, ShotMemory(self.engine, self.reference)
            self.recalled = deque(maxlen=MEMORY_FRAMES)
        return self.memory

    def recall(self, key: str, payload, alpha_path: Path) -> None:
        """A frame of a shot done by an earlier run: it joins the memory as it did then (only
        the last confident ones matter, encoded when the shot's next frame comes)."""
        from ..imageio import read_mask
        from ..sequence import confident_mask

        if self._memory(key) is not None and confident_mask(read_mask(alpha_path)) is not None:
            self.recalled.append((payload, alpha_path))

    def submit(self, key: str, payload, label: str) -> None:
        from ..imageio import decode_image, read_mask, to_rgb_float

        def progress(fraction, stage):
            if self.status:
                self.status(f"{label}: {stage}")

        memory = self._memory(key)
        while memory is not None and self.recalled:
            frame, alpha_path = self.recalled.popleft()
            image = (to_rgb_float(frame, label) if isinstance(frame, np.ndarray)
                     else decode_image(frame, label))
            memory.learn(image, read_mask(alpha_path))
        self.finished.append((key, matte_one(self.engine, self.reference, payload, label,
                                             self.settings, progress, memory)))

    def next(self) -> tuple[str, Outcome]:
        return self.finished.pop(0)

    def close(self, abort: bool = False) -> None:
        self.restore_threads()

