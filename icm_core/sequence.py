"""Shots: frames of one video (or numbered images in order) matted with a bounded memory.

Each frame's result, where it is confident, helps the frames after it, so a subject that moves,
turns or changes light is followed: it is carried to the next frame along the optical flow as
hints (by default), and it may join the user's reference as a memory frame.  Built on the public
engine API (``encode_reference``, ``combine``, ``matte`` with ``hints``), so it works for every
engine.

* The user's reference is always kept, and is the anchor: a memory frame joins as
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
* The previous frame's matte is carried to the next frame along dense optical flow
  (:func:`carried_hints`, DIS): its sure subject and sure background, away from its edge,
  become keep / remove hints wherever the flow is reliable — forward and backward flow agree
  and the pixel carried looks as it did (an occluder sliding in, or background a pan reveals,
  has no match in the frame before).  Where the previous frame cannot vouch for a pixel (an
  occluder hid it there and now uncovers it), the latest of the REACH_BACK frames before it
  that is sure of it does, along its own flow.  The first frame is carried from the user's reference
  when the reference is a frame of the shot (``start``); a frame the flow cannot follow (a
  cut, an unrelated reference picture) gets no hints.  The edge is matted afresh every frame.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from .api import Hints, MatteResult, Reference

#: the user's reference + this many recent confident frames as references.  0: with the
#: previous matte carried along the flow, memory frames made the shot worse on the whole
#: (benchmarks/lite_sequence.py --tune: mean MSE 0.0142 with 0, 0.0176 with 3; chosen on the
#: other sequences, 0 for seven of eight, 3 for sheep); ShotMemory(frames=N) still gives them
MEMORY_FRAMES = 0
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
# the carried matte: flow computed at this long side at most (DIS, ~0.1 CPU s per direction)
FLOW_SIDE = 720
# forward-backward round trip within this share of the long side: each way about half of it,
# so a hint (CARRY_MARGIN inside the carried matte's sure part) still lands on the same side
FLOW_TOLERANCE = 0.02
LOOK_TOLERANCE = 0.08  # colour change (0–1, largest channel) of a pixel carried
MIN_RELIABLE = 0.5  # share of the frame the flow must follow, else no hints (a cut)
#: frames before the previous one whose mattes vouch for what the previous frame cannot (a part
#: of the subject an occluder hid there and now reveals)
REACH_BACK = 3
#: share of the long side inside the carried matte's sure subject and background left unhinted
#: (7 px on a 700 px frame): every pixel of the edge band left free is matted afresh and its
#: error moves with the subject, which dtSSD counts each frame; chosen leave-one-sequence-out
#: over 0.005, 0.01 and 0.02 on benchmarks/lite_sequence.py by MSE and dtSSD together
#: (0.005 flickers least but pins parts of the subject wrong)
CARRY_MARGIN = 0.01


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


def _grey(image: np.ndarray, side: int) -> np.ndarray:
    scale = min(1.0, side / max(image.shape[:2]))
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor((np.clip(small, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _carry(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled where ``flow`` points (NaN outside it)."""
    rows, columns = np.indices(flow.shape[:2], dtype=np.float32)
    return cv2.remap(image, columns + flow[..., 0], rows + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)


def carried_matte(previous: np.ndarray, previous_alpha: np.ndarray,
                  frame: np.ndarray, min_reliable: float = MIN_RELIABLE) -> np.ndarray | None:
    """The previous frame's alpha (H×W, or H×W×C for several carried along one flow) carried
    to ``frame`` along dense optical flow, NaN where the
    flow is not reliable (forward and backward flow disagree, or the pixel carried does not look
    as it did: an occluder sliding in, background a pan reveals); None when the flow follows too
    little of the frame (a cut, another picture)."""
    if previous.shape != frame.shape:
        return None
    grey_before, grey = _grey(previous, FLOW_SIDE), _grey(frame, FLOW_SIDE)
    height, width = grey.shape
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    back = dis.calc(grey, grey_before, None)  # from each pixel of frame to where it was before
    forth = dis.calc(grey_before, grey, None)
    round_trip = np.sqrt(((back + _carry(forth, back)) ** 2).sum(-1))
    reliable = round_trip <= FLOW_TOLERANCE * max(height, width)  # NaN (carried off) is not
    before = cv2.resize(previous, (width, height), interpolation=cv2.INTER_AREA)
    now = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    unlike = np.nan_to_num(np.abs(_carry(before, back) - now).max(-1), nan=1.0)
    reliable &= cv2.GaussianBlur(unlike, (0, 0), 1.0) <= LOOK_TOLERANCE
    if reliable.mean() < min_reliable:
        return None
    alpha = _carry(cv2.resize(previous_alpha, (width, height), interpolation=cv2.INTER_AREA), back)
    alpha[~reliable] = np.nan
    return cv2.resize(alpha, frame.shape[1::-1], interpolation=cv2.INTER_NEAREST)


def carried_hints(carried: np.ndarray | None) -> Hints | None:
    """Keep hints where a carried matte (:func:`carried_matte`) is sure subject, remove hints
    where sure background, each CARRY_MARGIN inside its edge; None when nothing is sure."""
    if carried is None:
        return None
    margin = max(1, round(CARRY_MARGIN * max(carried.shape)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))

    def hint(sure: np.ndarray) -> np.ndarray | None:
        inside = cv2.erode(sure.astype(np.uint8), disc)
        return inside.astype(np.float32) if inside.any() else None

    with np.errstate(invalid="ignore"):  # NaN (not carried) is neither
        keep, remove = hint(carried > SURE), hint(carried < 1.0 - SURE)
    return None if keep is None and remove is None else Hints(keep, remove, brushed=False)


def _vouch_from_earlier(carried: np.ndarray, earlier: list[tuple[np.ndarray, np.ndarray]],
                       frame: np.ndarray) -> None:
    """Fill ``carried``'s gaps (NaN: the previous frame cannot vouch there, as where an
    occluder hid the subject and now uncovers it) from the latest of the ``earlier`` frames (in
    ``carried_from``'s form, oldest first) that is sure of each pixel, along its own flow.  No
    share of the frame is asked to follow (more frames apart, less of it does); the flow is
    checked per pixel."""
    for before, matte in reversed(earlier):
        gaps = np.isnan(carried[..., 0])
        if not gaps.any():
            return
        older = carried_matte(before, matte, frame, min_reliable=0.0)
        if older is None:  # a frame of another size
            continue
        with np.errstate(invalid="ignore"):
            sure = gaps & ((older[..., 1] > SURE) | (older[..., 1] < 1.0 - SURE))
        carried[sure] = older[sure]


def agreed(alpha: np.ndarray, carried: np.ndarray | None) -> np.ndarray:
    """``alpha`` where it and the matte carried to its frame are sure of the same class, 0.5
    (unsure) elsewhere: what two frames in a row agree on, the only part carried on, so a part
    one matte got wrong (a piece an occluder uncovered, dropped) is not carried as it is."""
    if carried is None:
        return np.full(alpha.shape, 0.5, np.float32)
    with np.errstate(invalid="ignore"):
        subject = (alpha > SURE) & (carried > SURE)
        background = (alpha < 1.0 - SURE) & (carried < 1.0 - SURE)
    return np.where(subject, 1.0, np.where(background, 0.0, 0.5)).astype(np.float32)


class ShotMemory:
    """An engine and the user's reference, fed each frame of a shot in order.

    ``matte(frame)`` mattes with the user's reference plus the memory, the previous frame's
    matte carried along the flow (``hints(frame)``), and where the subject was in the last
    FOLLOW_FRAMES frames as ``follow`` (so a subject an occluder cuts in two is not taken for
    look-alikes), then lets the frame join the memory if its matte is confident.
    ``learn(frame, alpha)`` does the joining alone (for a corrected frame, or a result computed
    elsewhere) and is what the next frames follow.  ``start``: the user's reference picture and
    mask, carried to the first frame (when the reference is a frame of the shot the flow can
    follow).  ``carry=False`` carries nothing (each frame matted with the references alone).
    """

    def __init__(self, engine, reference: Reference, frames: int = MEMORY_FRAMES, *,
                 start: tuple[np.ndarray, np.ndarray] | None = None, carry: bool = True):
        if frames < 0:
            raise ValueError(f"frames must be 0 or more, got {frames}.")
        self.engine = engine
        self.user_reference = reference
        self.memory: deque[Reference] = deque(maxlen=frames)
        self._reference: Reference | None = reference
        self.recent: deque[np.ndarray] = deque(maxlen=FOLLOW_FRAMES)  # alpha > 0.5 per frame
        self.carry = carry
        self.start = start if carry else None
        # the last frames, newest last, as (frame, H×W×2: its matte and what that and the matte
        # carried to it agree on), to carry to the next frame
        self.carried_from: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=1 + REACH_BACK)
        self.pending = None  # (frame, the previous frame's carried to it), computed once per frame

    def _started(self) -> tuple[np.ndarray, np.ndarray]:
        """The user's reference as a frame to carry (as matte and agreed alike, in
        ``carried_from``'s form): its painted pixels sure subject, sure
        background only where the engine's own reading of it agrees (where it has one:
        a scribble's unpainted subject is not background), the rest unsure."""
        image, mask = self.start
        self.start = None
        painted = mask > 0.5
        background = ~painted
        complete = getattr(self.engine, "complete_reference_mask", None)
        if complete is not None:
            background &= complete(image, mask) < 0.5
        matte = np.where(painted, 1.0, np.where(background, 0.0, 0.5)).astype(np.float32)
        return image, np.dstack([matte, matte])

    @property
    def previous(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The last frame and its matte (``carried_from``'s newest), or None."""
        return self.carried_from[-1] if self.carried_from else None

    @property
    def reference(self) -> Reference:
        """The user's reference combined with the frames in memory."""
        if self._reference is None:
            self._reference = self.engine.combine([self.user_reference, *self.memory])
        return self._reference

    def matte(self, frame: np.ndarray, **options) -> MatteResult:
        """``engine.matte(frame, reference, **options)`` with the memory, the carried matte and
        where the subject was; then learn from it."""
        if options.get("hints") is None:
            options["hints"] = self.hints(frame)
        options.setdefault("follow", self.follow(frame))
        result = self.engine.matte(frame, self.reference, **options)
        self.learn(frame, result.alpha)
        return result

    def hints(self, frame: np.ndarray) -> Hints | None:
        """What the previous frame's matte and the one before agreed on, carried to ``frame``
        (:func:`carried_hints`), or None."""
        carried = self._carried(frame)
        return None if carried is None else carried_hints(carried[..., 1])

    def follow(self, frame: np.ndarray) -> np.ndarray | None:
        """Where the subject was (1) in any of the last FOLLOW_FRAMES frames of ``frame``'s
        size, for ``engine.matte(..., follow=...)``; None before the first."""
        recent = [subject for subject in self.recent if subject.shape == frame.shape[:2]]
        return np.logical_or.reduce(recent).astype(np.float32) if recent else None

    def _carried(self, frame: np.ndarray) -> np.ndarray | None:
        """The previous frame's matte and what it agreed on (``previous``) carried to ``frame``
        (:func:`carried_matte`), computed once per frame."""
        if not self.carried_from and self.start is not None \
                and self.start[0].shape == frame.shape:
            self.carried_from.append(self._started())
        if self.pending is None or self.pending[0] is not frame:
            carried = None if self.previous is None else carried_matte(*self.previous, frame)
            if carried is not None:
                _vouch_from_earlier(carried, list(self.carried_from)[:-1], frame)
            self.pending = (frame, carried)
        return self.pending[1]

    def learn(self, frame: np.ndarray, alpha: np.ndarray) -> bool:
        """Let ``frame`` join the memory where ``alpha`` is confident; False if it did not.
        Its matte is carried to the next frame either way (where it is sure)."""
        if self.carry:
            carried, self.start, self.pending = self._carried(frame), None, None
            # agreement with the previous frame's own matte, not with what it agreed on: else
            # a pixel once unsure (an edge band, background a pan reveals) is never carried again
            # and the hints shrink frame by frame
            self.carried_from.append((frame, np.dstack(
                [alpha, agreed(alpha, None if carried is None else carried[..., 0])])))
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
