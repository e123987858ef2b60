"""Shots: frames of one video (or numbered images in order) matted with a bounded memory.

Each frame's result, where it is confident, joins the user's reference for the frames after it,
so a subject that moves, turns or changes light is followed.  Built on the public engine API
(``encode_reference``, ``combine``, ``matte``), so it works for every engine.

* The user's reference is always kept, and is the anchor: a frame joins as
  ``encode_reference(..., memory=True)``, which an engine may teach literally (lite: no
  completion of strokes, which a matte's sure reading is not) and give less say than the user's
  references (lite: ``incontext.MEMORY_MARGIN``), so a confident mistake a frame learnt does
  not outvote the user's reference on the frames after it.  The memory holds at most
  ``frames`` earlier frames (the most recent confident ones), so time and memory per frame
  stay bounded.
* A frame joins only where its matte is confident: pixels with alpha > ``SURE`` teach subject,
  below ``1 − SURE`` background, each away from the matte's edge (``MARGIN``,
  ``BACKGROUND_MARGIN``).  The uncertain rest is given to ``encode_reference`` as a 50 %
  checkerboard: both engines take a feature cell as subject only when the mask covers it wholly
  (and lite as background only when it covers none of it), so a half-covered cell teaches
  neither — the closest the public API comes to "unknown".
* A frame whose matte is unsure as a whole (an empty or near-full matte, or an uncertain band
  larger than ``MAX_UNSURE`` times its sure subject) does not join at all.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from .api import MatteResult, Reference

#: the user's reference + this many recent confident frames (not chosen leave-one-sequence-out
#: yet: ``benchmarks/lite_sequence.py --tune`` compares 0, 1, 3 and 5 that way)
MEMORY_FRAMES = 3
SURE = 0.95  # alpha above: sure subject; below 1 − SURE: sure background
MAX_UNSURE = 0.5  # uncertain pixels per sure subject pixel beyond which a frame does not join
# shares of the long side inside and outside a matte's edge that teach neither class: a part
# the matte dropped (a car's wheels, a bottle's neck) lies just outside its edge and would be
# taught as background to every later frame; the background far from the subject (what a
# panning camera reveals) is still learned
MARGIN = 0.02
BACKGROUND_MARGIN = 0.15
MIN_SHARE = 0.002  # a frame joins only with at least this share of sure subject and background
#: a frame follows where the subject was (alpha > 0.5) in any of this many frames before it: a
#: part one frame's matte dropped is still followed on the next
FOLLOW_FRAMES = 3


def confident_mask(alpha: np.ndarray) -> np.ndarray | None:
    """The mask that teaches a frame's confident pixels (1 subject, 0 background, a 50 %
    checkerboard where unsure), or None when the frame's matte is not confident enough."""
    subject = alpha > SURE
    background = alpha < 1.0 - SURE
    unsure = ~(subject | background)
    if subject.mean() < MIN_SHARE or background.mean() < MIN_SHARE:
        return None
    if unsure.sum() > MAX_UNSURE * subject.sum():
        return None
    # a margin round the matte's edge teaches neither class: an edge or a thin part the matte
    # got wrong (a bottle's neck dropped) would otherwise be taught wrong to every later frame
    def shrink(sure: np.ndarray, share: float) -> np.ndarray:
        margin = max(1, round(share * max(alpha.shape)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        return cv2.erode(sure.astype(np.uint8), disc, borderValue=1) > 0

    subject = shrink(subject, MARGIN)
    background = shrink(background, BACKGROUND_MARGIN)
    if not (subject.any() and background.any()):
        return None
    unsure = ~(subject | background)
    mask = subject.astype(np.float32)
    rows, columns = np.indices(alpha.shape)
    mask[unsure] = ((rows + columns) % 2 == 0)[unsure]
    return mask


class ShotMemory:
    """An engine and the user's reference, fed each frame of a shot in order.

    ``matte(frame)`` mattes with the user's reference plus the memory, and where the subject was
    in the last FOLLOW_FRAMES frames as ``follow`` (so a subject an occluder cuts in two is not
    taken for look-alikes), then lets the frame join the memory if its matte is confident.
    ``learn(frame, alpha)`` does the joining alone (for a corrected frame, or a result computed
    elsewhere) and is what the next frames follow.
    """

    def __init__(self, engine, reference: Reference, frames: int = MEMORY_FRAMES):
        if frames < 0:
            raise ValueError(f"frames must be 0 or more, got {frames}.")
        self.engine = engine
        self.user_reference = reference
        self.memory: deque[Reference] = deque(maxlen=frames)
        self._reference: Reference | None = reference
        self.recent: deque[np.ndarray] = deque(maxlen=FOLLOW_FRAMES)  # alpha > 0.5 per frame

    @property
    def reference(self) -> Reference:
        """The user's reference combined with the frames in memory."""
        if self._reference is None:
            self._reference = self.engine.combine([self.user_reference, *self.memory])
        return self._reference

    def matte(self, frame: np.ndarray, **options) -> MatteResult:
        """``engine.matte(frame, reference, **options)`` with the memory and where the subject
        was; then learn from it."""
        recent = [subject for subject in self.recent if subject.shape == frame.shape[:2]]
        if recent:
            options.setdefault("follow", np.logical_or.reduce(recent).astype(np.float32))
        result = self.engine.matte(frame, self.reference, **options)
        self.learn(frame, result.alpha)
        return result

    def learn(self, frame: np.ndarray, alpha: np.ndarray) -> bool:
        """Let ``frame`` join the memory where ``alpha`` is confident; False if it did not."""
        self.recent.append(alpha > 0.5)
        if self.memory.maxlen == 0:
            return False
        mask = confident_mask(alpha)
        if mask is None:
            return False
        self.memory.append(self.engine.encode_reference(frame, mask, memory=True))
        self._reference = None
        return True


# --- which inputs are one shot ------------------------------------------------------------------

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
# numbered images in a row needed to call them frames of a shot: a third of a second of film
# at 24 fps, more than the few shots of a photo series (IMG_0001.jpg…) usually are
MIN_NUMBERED = 8


def numbered_shots(paths: list[Path]) -> list[list[int]]:
    """Runs of image paths (as indices into ``paths``) that are frames of one shot: at least
    ``MIN_NUMBERED`` files in a row of the list, in one folder, named PREFIX + a number of one
    width + one suffix, numbered consecutively (frame_0001.png, frame_0002.png, …)."""

    def key(path: Path):
        match = _NUMBERED.match(path.stem)
        if not match:
            return None, None
        prefix, digits = match.groups()
        return (path.parent, prefix, len(digits), path.suffix.lower()), int(digits)

    shots, run = [], []
    for index, path in enumerate(paths):
        name, number = key(path)
        if run and name is not None and key(paths[run[-1]]) == (name, number - 1):
            run.append(index)
            continue
        if len(run) >= MIN_NUMBERED:
            shots.append(run)
        run = [index] if name is not None else []
    if len(run) >= MIN_NUMBERED:
        shots.append(run)
    return shots
