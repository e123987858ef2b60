"""The brushed reference mask: exact at full resolution, painted live on a display proxy.

A brush stroke is a chain of round segments (capsules).  Each segment is stamped twice with the
same rasteriser: at once into ``proxy`` (the display-resolution copy the canvas draws, so a
segment costs milliseconds even on a 24 MP reference), and into ``full`` (the exact
full-resolution mask handed to the engine) on a background thread, in order.  :meth:`mask`
waits for that thread, so callers always get the mask the artist painted.

Paint takes the maximum of mask and brush coverage, erase the minimum with its complement:
both are order-independent within a stroke, so stamping segment by segment equals stamping
the whole stroke at once.  Undo/redo swap saved tiles of both arrays.  No Qt here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from icm_core.geometry import resize, scale_to_fit

TILE = 256
UNDO_DEPTH = 64


@dataclass(frozen=True)
class Brush:
    radius: float  # in full-resolution pixels
    soft: bool = False
    erase: bool = False


def stamp_segment(
    mask: np.ndarray, p0, p1, radius: float, soft: bool, erase: bool, scale: float = 1.0
):
    """Stamp a round segment from ``p0`` to ``p1`` (full-resolution ``(x, y)``) into ``mask``
    whose pixels are ``scale`` times the full-resolution ones.  Returns the touched box
    ``(x0, y0, x1, y1)`` in ``mask`` pixels, or ``None`` when the segment misses the mask.

    Hard brush: coverage 1 where the pixel centre lies within ``radius`` of the segment.
    Soft brush: smoothstep falloff from 1 on the segment to 0 at ``radius``.
    """
    (ax, ay), (bx, by) = (p0[0] * scale, p0[1] * scale), (p1[0] * scale, p1[1] * scale)
    r = max(radius * scale, 0.5)
    height, width = mask.shape
    x0, x1 = max(int(np.floor(min(ax, bx) - r)), 0), min(int(np.ceil(max(ax, bx) + r)) + 1, width)
    y0, y1 = max(int(np.floor(min(ay, by) - r)), 0), min(int(np.ceil(max(ay, by) + r)) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return None
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - ax
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - ay
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    # Distance from each pixel centre to the segment: project, clamp to [0, 1], measure.
    t = np.clip((xs * dx + ys * dy) / length2, 0.0, 1.0) if length2 > 0 else np.float32(0.0)
    dist2 = (xs - t * dx) ** 2 + (ys - t * dy) ** 2
    if soft:
        u = np.clip(np.sqrt(dist2) / r, 0.0, 1.0)
        coverage = 1.0 - u * u * (3.0 - 2.0 * u)
    else:
        coverage = (dist2 <= r * r).astype(np.float32)
    region = mask[y0:y1, x0:x1]
    if erase:
        np.minimum(region, 1.0 - coverage, out=region)
    else:
        np.maximum(region, coverage, out=region)
    return x0, y0, x1, y1


@dataclass
class _Edit:
    """One undo step: tiles of ``full`` and a box of ``proxy`` before and after."""

    full_before: dict = field(default_factory=dict)
    full_after: dict = field(default_factory=dict)
    proxy_box: tuple | None = None
    proxy_before: np.ndarray | None = None
    proxy_after: np.ndarray | None = None


class MaskDocument:
    """Full-resolution mask + display proxy + undo history for one reference image."""

    def __init__(
        self, size: tuple[int, int], proxy_max_side: int = 2048, mask: np.ndarray | None = None
    ):
        self.size = tuple(size)  # (height, width) of the reference
        self.proxy_size = scale_to_fit(self.size, proxy_max_side)
        self.scale = self.proxy_size[1] / self.size[1]  # proxy px per full px (uniform)
        self.full = np.zeros(self.size, np.float32)
        self.proxy = np.zeros(self.proxy_size, np.float32)
        self.revision = 0  # bumps on every change: the reference cache key
        self._undo: list[_Edit] = []
        self._redo: list[_Edit] = []
        self._stroke: _Edit | None = None
        self._brush: Brush | None = None
        self._last_point = None
        self._stroke_box: list | None = None
        self._proxy_at_stroke_start: np.ndarray | None = None
        self._jobs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mask-full")
        if mask is not None:
            self._set_all(mask, record=False)

    # -- painting ---------------------------------------------------------------------------
    def begin_stroke(self, point, brush: Brush):
        """Start a stroke at ``point`` (full-res ``(x, y)``); returns the proxy box touched."""
        self._stroke = _Edit()
        self._brush = brush
        self._last_point = point
        self._stroke_box = None
        self._proxy_at_stroke_start = self.proxy.copy()  # display-sized: a few MB at most
        return self.add_point(point)

    def add_point(self, point):
        """Extend the stroke to ``point``; stamps the proxy now and the full mask in the background."""
        if self._stroke is None:
            return None
        start, self._last_point = self._last_point, point
        brush = self._brush
        box = stamp_segment(
            self.proxy, start, point, brush.radius, brush.soft, brush.erase, self.scale
        )
        if box is not None:
            self._grow_stroke_box(box)
        self._submit(self._stamp_full, self._stroke, start, point, brush)
        self.revision += 1
        return box

    def end_stroke(self) -> None:
        edit, self._stroke = self._stroke, None
        if edit is None:
            return
        if self._stroke_box is not None:
            x0, y0, x1, y1 = self._stroke_box
            edit.proxy_box = tuple(self._stroke_box)
            edit.proxy_before = self._proxy_at_stroke_start[y0:y1, x0:x1].copy()
            edit.proxy_after = self.proxy[y0:y1, x0:x1].copy()
        self._proxy_at_stroke_start = None
        self._submit(self._seal, edit)
        self._push(edit)

    def _grow_stroke_box(self, box) -> None:
        if self._stroke_box is None:
            self._stroke_box = list(box)
        else:
            b = self._stroke_box
            b[:] = min(b[0], box[0]), min(b[1], box[1]), max(b[2], box[2]), max(b[3], box[3])

    # -- whole-mask edits ---------------------------------------------------------------------
    def clear(self) -> None:
        self.set_mask(np.zeros(self.size, np.float32))

    def set_mask(self, mask: np.ndarray) -> None:
        """Replace the mask (from a file, a selection or a layer's alpha) as one undoable step."""
        mask = np.asarray(mask, dtype=np.float32)
        if mask.shape != self.size:
            mask = resize(mask, self.size)
        self._set_all(np.clip(mask, 0.0, 1.0), record=True)

    def _set_all(self, mask: np.ndarray, record: bool) -> None:
        edit = _Edit(
            proxy_box=(0, 0, self.proxy_size[1], self.proxy_size[0]), proxy_before=self.proxy.copy()
        )
        self.proxy[:] = resize(mask, self.proxy_size)
        edit.proxy_after = self.proxy.copy()

        def replace():
            if record:
                self._save_tiles(edit.full_before, (0, 0, self.size[1], self.size[0]))
            self.full[:] = mask
            if record:
                self._seal(edit)

        self._submit(replace)
        self.revision += 1
        if record:
            self._push(edit)

    # -- history ----------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self):
        """Undo the last edit; returns the proxy box that changed (or ``None``)."""
        if not self._undo:
            return None
        edit = self._undo.pop()
        self._redo.append(edit)
        return self._apply(edit, before=True)

    def redo(self):
        if not self._redo:
            return None
        edit = self._redo.pop()
        self._undo.append(edit)
        return self._apply(edit, before=False)

    def _apply(self, edit: _Edit, before: bool):
        tiles = edit.full_before if before else edit.full_after

        def restore():
            for (ty, tx), patch in tiles.items():
                self.full[ty : ty + patch.shape[0], tx : tx + patch.shape[1]] = patch

        self._submit(restore)
        self.revision += 1
        if edit.proxy_box is None:
            return None
        x0, y0, x1, y1 = edit.proxy_box
        self.proxy[y0:y1, x0:x1] = edit.proxy_before if before else edit.proxy_after
        return edit.proxy_box

    def _push(self, edit: _Edit) -> None:
        self._undo.append(edit)
        del self._undo[:-UNDO_DEPTH]
        self._redo.clear()

    # -- full resolution (background thread) ----------------------------------------------------
    def _submit(self, fn, *args) -> None:
        self._jobs.submit(fn, *args)

    def _stamp_full(self, edit: _Edit, start, end, brush: Brush) -> None:
        r = brush.radius
        box = (
            int(np.floor(min(start[0], end[0]) - r)),
            int(np.floor(min(start[1], end[1]) - r)),
            int(np.ceil(max(start[0], end[0]) + r)) + 1,
            int(np.ceil(max(start[1], end[1]) + r)) + 1,
        )
        self._save_tiles(edit.full_before, box)
        stamp_segment(self.full, start, end, brush.radius, brush.soft, brush.erase)

    def _save_tiles(self, store: dict, box) -> None:
        """Keep a copy of every tile of ``full`` under ``box`` the first time an edit touches it."""
        height, width = self.size
        x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height)
        for ty in range(y0 // TILE * TILE, y1, TILE):
            for tx in range(x0 // TILE * TILE, x1, TILE):
                if (ty, tx) not in store:
                    store[(ty, tx)] = self.full[ty : ty + TILE, tx : tx + TILE].copy()

    def _seal(self, edit: _Edit) -> None:
        for ty, tx in edit.full_before:
            edit.full_after[(ty, tx)] = self.full[ty : ty + TILE, tx : tx + TILE].copy()

    def mask(self) -> np.ndarray:
        """A copy of the exact full-resolution mask, after every pending stroke is applied."""
        return self._jobs.submit(self.full.copy).result()

    def wait(self) -> None:
        """Block until the full-resolution mask has caught up with the proxy."""
        self._jobs.submit(lambda: None).result()

    def close(self) -> None:
        self._jobs.shutdown(wait=True)
