"""Correcting one target's result, without widgets: its strokes, the engine's answers, accept.

:class:`Strokes` are one target's keep and remove strokes (two :class:`MaskDocument`\\ s that
step together: one stroke is one undo step over both).  They belong to the target, not to a
correction: the panel keeps them until the artist clears them, so reopening Correct… shows
them and the next stroke builds on them.

:class:`CorrectionSession` is one visit to the correction of a target: every change of the
strokes makes a new request (``serial``); only the answer to the latest one counts; Accept
needs the full-quality answer to the strokes as they are now.  The standalone app and the
Krita docker drive the same session through the panel; the view only renders ``state``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from icm_core.api import Hints

from .maskdoc import Brush, MaskDocument


class Strokes:
    """Keep and remove strokes over one target; a keep stroke wipes remove strokes under it and
    the other way round, so the two never overlap (the engine refuses overlaps)."""

    def __init__(self, shape: tuple[int, int], proxy_max_side: int = 2048):
        self.keep = MaskDocument(shape, proxy_max_side)
        self.remove = MaskDocument(shape, proxy_max_side)
        self._painting = False

    @property
    def can_undo(self) -> bool:
        return self.keep.can_undo and not self._painting

    @property
    def can_redo(self) -> bool:
        return self.keep.can_redo and not self._painting

    @property
    def empty(self) -> bool:
        return self.keep.proxy.max() <= 0.5 and self.remove.proxy.max() <= 0.5

    def begin(self, point, radius: float, remove: bool) -> list:
        """Start a stroke at full-resolution ``point``; returns the proxy boxes touched."""
        painted, wiped = (self.remove, self.keep) if remove else (self.keep, self.remove)
        self._painting = True
        return [painted.begin_stroke(point, Brush(radius)),
                wiped.begin_stroke(point, Brush(radius, erase=True))]

    def extend(self, point) -> list:
        return [self.keep.add_point(point), self.remove.add_point(point)]

    def end(self) -> None:
        self._painting = False
        self.remove.end_stroke()
        self.keep.end_stroke()

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        self.remove.undo()
        self.keep.undo()
        return True

    def redo(self) -> bool:
        if not self.can_redo:
            return False
        self.remove.redo()
        self.keep.redo()
        return True

    def clear(self) -> bool:
        """Wipe both (one undo step); False when there was nothing to wipe."""
        if self.empty:
            return False
        self.remove.clear()
        self.keep.clear()
        return True

    def hints(self) -> Hints | None:
        """The strokes for the engine, or ``None`` when nothing is painted."""
        keep, remove = self.keep.mask(), self.remove.mask()
        if keep.max() <= 0.5 and remove.max() <= 0.5:
            return None
        return Hints(keep=keep, remove=remove)

    def close(self) -> None:
        self.keep.close()
        self.remove.close()


@dataclass(frozen=True)
class Answer:
    """The engine's alpha for one request (``Corrected`` without the worker's bookkeeping)."""

    alpha: np.ndarray
    foreground: np.ndarray | None
    final: bool
    seconds: float


class CorrectionSession:
    """One target under correction: ``done`` (its result when the session opened), its
    ``pixels`` and its ``strokes``.  No widgets: the panel asks :meth:`request` after each
    change of the strokes, hands the engine's answers to :meth:`answer`, and shows ``state``
    and ``alpha``."""

    def __init__(self, done, pixels: np.ndarray, strokes: Strokes):
        self.done = done
        self.pixels = pixels
        self.strokes = strokes
        self.serial = 0  # of the latest request; older answers are dropped
        self.alpha = done.alpha  # what the view shows
        self.corrected: Answer | None = None  # the full-quality answer to the current strokes
        self.error = ""
        self._waiting = False
        self._previewed = False
        self._earlier_strokes = not strokes.empty  # painted on an earlier visit

    # -- requests and answers -----------------------------------------------------------------
    def request(self) -> Hints | None:
        """The strokes changed: the hints to send (``None``: no strokes left, nothing to ask —
        the result shown is the one the session opened with)."""
        self.serial += 1
        self.corrected, self.error = None, ""
        hints = self.strokes.hints()
        self._waiting, self._previewed = hints is not None, False
        if hints is None:
            self.alpha = self.done.alpha
        return hints

    def answer(self, serial: int, answer: Answer | None, error: str = "") -> bool:
        """An answer from the engine; False (and ignored) when newer strokes came since."""
        if serial != self.serial:
            return False
        if error:
            self.error, self._waiting = error, False
            return True
        self.alpha, self._previewed = answer.alpha, True
        if answer.final:
            self.corrected, self._waiting = answer, False
        return True

    # -- what the view shows --------------------------------------------------------------------
    @property
    def can_accept(self) -> bool:
        return self.corrected is not None

    @property
    def unaccepted(self) -> bool:
        """Strokes whose result is not the target's result yet."""
        return self._waiting or self.corrected is not None

    @property
    def state(self) -> str:
        if self.error:
            return "The engine could not use these strokes."
        if self.corrected is not None:
            return "Corrected."
        if self._waiting:
            return "Preview… refining" if self._previewed else "Updating…"
        if self._earlier_strokes and not self.strokes.empty and self.serial == 0:
            return "Earlier strokes shown: paint more to refine them."
        return "Paint a stroke where the matte is wrong."
