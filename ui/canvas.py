"""The mask canvas: shows the reference, lets the artist brush the mask over it.

Mouse: left button paints (or erases in erase mode), right button erases, middle button or
space + left drag pans, wheel zooms around the cursor.  Keys: ``[`` / ``]`` brush size,
``X`` paint/erase, ``F`` fit, ``Ctrl+Z`` / ``Ctrl+Shift+Z`` (``Ctrl+Y``) undo / redo strokes;
moving the pointer over the canvas gives it the keyboard, leaving gives it back.  These keys belong to the canvas only while it has the
focus: it claims them through ``ShortcutOverride``, so a host's own shortcuts for the same keys
(Krita's Ctrl+Z, [ ], X) never fire beside ours (Qt then reports an "ambiguous shortcut
overload" and runs neither) and work as usual everywhere else.

Everything is drawn from display-resolution proxies (reference and mask, see
:mod:`ui.maskdoc`); the exact full-resolution mask is kept by :class:`MaskDocument`.
"""

from __future__ import annotations

import numpy as np

from icm_core.geometry import resize

from .maskdoc import Brush, MaskDocument
from .qt import (
    QColor,
    QImage,
    QPainter,
    QPen,
    QPointF,
    QRectF,
    Qt,
    QtCore,
    QtWidgets,
    Signal,
    image_from_array,
)

ZOOM_STEP = 1.25
#: the engine's reading of the subject: a colour apart from the brush's red, faint inside,
#: an outline that stays visible at any zoom
READING_RGB = (40, 220, 255)
READING_FILL, READING_EDGE = 0.25, 0.9
MIN_RADIUS, MAX_RADIUS = 0.5, 2000.0


def history_key(event) -> str | None:
    """"undo" for Ctrl+Z, "redo" for Ctrl+Shift+Z or Ctrl+Y, else ``None``."""
    control, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    key = event.key()
    if key == Qt.Key.Key_Z and modifiers == control:
        return "undo"
    if (key == Qt.Key.Key_Z and modifiers == control | shift) or (key == Qt.Key.Key_Y and modifiers == control):
        return "redo"
    return None


class MaskCanvas(QtWidgets.QWidget):
    """Brush a mask over a reference image.  ``mask()`` returns it at full resolution."""

    #: keys (without modifiers) the canvas handles itself while it has the focus
    KEYS = (Qt.Key.Key_Space, Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight, Qt.Key.Key_X,
            Qt.Key.Key_F)

    mask_changed = Signal()  # after every stroke, undo, redo, clear or load
    brush_changed = Signal()

    def __init__(self, parent=None, proxy_max_side: int = 2048):
        super().__init__(parent)
        self.setMouseTracking(True)
        # Not in the tab chain: a button hidden next to the canvas (Accept) must not hand it
        # the keyboard, or the host's Ctrl+Z would undo our strokes instead.
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setMinimumSize(200, 150)
        self.proxy_max_side = proxy_max_side
        self.document: MaskDocument | None = None
        self.brush_radius = 20.0
        self.soft = False
        self.erase_mode = False
        self.overlay_color = QColor(255, 40, 80)
        self.overlay_opacity = 0.5
        self._reference_image: QImage | None = None
        self._reference_full: QImage | None = None
        self._overlay_pixels: np.ndarray | None = (
            None  # RGBA premultiplied, aliased by _overlay_image
        )
        self._overlay_image: QImage | None = None
        self.reading: np.ndarray | None = None  # the engine's reading (alpha), if shown
        self.show_reading = True
        self._reading_image: QImage | None = None
        self._zoom = 1.0  # screen px per full-resolution px
        self._offset = QPointF(0, 0)  # screen position of the image's top-left corner
        self._stroking = False
        self._panning_from: QPointF | None = None
        self._space_held = False
        self._cursor: QPointF | None = None

    # -- content ------------------------------------------------------------------------------
    def set_reference(self, image: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Show ``image`` (float32 H×W×3) with an empty mask, or ``mask`` (not undoable)."""
        if self.document is not None:
            self.document.close()
        self._show(image, MaskDocument(image.shape[:2], self.proxy_max_side, mask))

    def _show(self, image: np.ndarray, document: MaskDocument) -> None:
        """Show ``image`` with ``document`` as the mask painted over it."""
        self.document = document
        proxy = resize(image, self.document.proxy_size)
        self._reference_image = _qimage_rgb(proxy)
        # Zoomed in past the proxy, the artist sees the real pixels (the overlay stays a proxy).
        larger = image.shape[:2] != self.document.proxy_size
        self._reference_full = _qimage_rgb(image) if larger else None
        height, width = self.document.proxy_size
        self._overlay_pixels = np.zeros((height, width, 4), np.uint8)
        self._overlay_image = QImage(
            self._overlay_pixels.data,
            width,
            height,
            width * 4,
            QImage.Format.Format_RGBA8888_Premultiplied,
        )
        self._refresh_overlay()
        self.set_reading(None)  # a reading of the picture shown before
        self.fit()
        self.mask_changed.emit()

    def has_reference(self) -> bool:
        return self.document is not None

    def mask(self) -> np.ndarray | None:
        """The exact full-resolution mask (float32 H×W), or ``None`` without a reference."""
        return None if self.document is None else self.document.mask()

    def set_mask(self, mask: np.ndarray) -> None:
        """Replace the mask as one undoable step (from a file, a selection or a layer alpha)."""
        if self.document is not None:
            self.document.set_mask(mask)
            self._after_edit(None)

    def clear(self) -> None:
        if self.document is not None:
            self.document.clear()
            self._after_edit(None)

    def undo(self) -> None:
        if self.document is not None and not self._stroking and self.document.can_undo:
            self._after_edit(self.document.undo())

    def redo(self) -> None:
        if self.document is not None and not self._stroking and self.document.can_redo:
            self._after_edit(self.document.redo())

    def _after_edit(self, box) -> None:
        self._refresh_overlay(box)
        self.mask_changed.emit()

    # -- brush and overlay settings ------------------------------------------------------------------
    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = float(min(max(radius, MIN_RADIUS), MAX_RADIUS))
        self.brush_changed.emit()
        self.update()

    def set_soft(self, soft: bool) -> None:
        self.soft = bool(soft)
        self.brush_changed.emit()

    def set_erase_mode(self, erase: bool) -> None:
        self.erase_mode = bool(erase)
        self.brush_changed.emit()

    def set_overlay(self, color: QColor | None = None, opacity: float | None = None) -> None:
        if color is not None:
            self.overlay_color = QColor(color)
        if opacity is not None:
            self.overlay_opacity = float(min(max(opacity, 0.0), 1.0))
        self._refresh_overlay()

    def _refresh_overlay(self, box=None) -> None:
        """Recolour the overlay from the proxy mask inside ``box`` (proxy px), or everywhere."""
        if self.document is None:
            return
        height, width = self.document.proxy_size
        x0, y0, x1, y1 = box if box is not None else (0, 0, width, height)
        coverage = self.document.proxy[y0:y1, x0:x1] * self.overlay_opacity
        rgba = np.array(
            [self.overlay_color.red(), self.overlay_color.green(), self.overlay_color.blue(), 255],
            np.float32,
        )
        # premultiplied: every channel scales with the coverage
        self._overlay_pixels[y0:y1, x0:x1] = (coverage[..., None] * rgba + 0.5).astype(np.uint8)
        if box is None:
            self.update()
        else:
            self.update(self._screen_rect(box))

    def set_reading(self, alpha: np.ndarray | None) -> None:
        """Show ``alpha`` (full resolution) as what the engine takes the subject to be: a
        faint tint with an outline over the proxy; ``None`` hides it."""
        self.reading = alpha
        self._reading_image = None
        if alpha is not None and self.document is not None:
            import cv2

            subject = (resize(alpha, self.document.proxy_size) >= 0.5).astype(np.uint8)
            width = max(3, round(max(self.document.proxy_size) / 250) | 1)  # odd; seen when fitted
            edge = cv2.morphologyEx(subject, cv2.MORPH_GRADIENT, np.ones((width, width), np.uint8))
            coverage = np.where(edge > 0, READING_EDGE, subject * READING_FILL)
            rgba = np.empty((*subject.shape, 4), np.uint8)
            rgba[..., :3] = READING_RGB
            rgba[..., 3] = coverage * 255 + 0.5
            self._reading_image = image_from_array(rgba)
        self.update()

    def set_show_reading(self, show: bool) -> None:
        self.show_reading = bool(show)
        self.update()

    # -- view ---------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    def fit(self) -> None:
        """Zoom so that the whole reference fits the widget, centred."""
        if self.document is None:
            return
        height, width = self.document.size
        self._zoom = max(min(self.width() / width, self.height() / height), 1e-3)
        self._offset = QPointF(
            (self.width() - width * self._zoom) / 2, (self.height() - height * self._zoom) / 2
        )
        self.update()

    def zoom_at(self, factor: float, anchor: QPointF) -> None:
        """Multiply the zoom by ``factor`` keeping the image point under ``anchor`` still."""
        image_point = self.to_image(anchor)
        self._zoom = float(min(max(self._zoom * factor, 1e-3), 64.0))
        self._offset = QPointF(
            anchor.x() - image_point[0] * self._zoom, anchor.y() - image_point[1] * self._zoom
        )
        self.update()

    def pan(self, dx: float, dy: float) -> None:
        self._offset = QPointF(self._offset.x() + dx, self._offset.y() + dy)
        self.update()

    def to_image(self, point: QPointF) -> tuple[float, float]:
        """Widget position → full-resolution image ``(x, y)``."""
        return (
            (point.x() - self._offset.x()) / self._zoom,
            (point.y() - self._offset.y()) / self._zoom,
        )

    def to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(self._offset.x() + x * self._zoom, self._offset.y() + y * self._zoom)

    def _screen_rect(self, box) -> QtCore.QRect:
        s = self._zoom / self.document.scale
        x0, y0, x1, y1 = box
        rect = QRectF(
            self._offset.x() + x0 * s, self._offset.y() + y0 * s, (x1 - x0) * s, (y1 - y0) * s
        )
        return rect.toAlignedRect().adjusted(-2, -2, 2, 2)

    # -- painting the widget --------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), QColor(48, 48, 48))
        if self.document is not None:
            s = self._zoom / self.document.scale
            painter.save()
            painter.translate(self._offset)
            if self._reference_full is not None and s > 1.0:
                painter.scale(self._zoom, self._zoom)
                painter.drawImage(QPointF(0, 0), self._reference_full)
                painter.scale(1 / self._zoom, 1 / self._zoom)
            painter.scale(s, s)
            # Smooth scaling only when shrinking; enlarged pixels stay crisp for precise edges.
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, s < 1.0)
            if self._reference_full is None or s <= 1.0:
                painter.drawImage(QPointF(0, 0), self._reference_image)
            if self.show_reading and self._reading_image is not None:
                painter.drawImage(QPointF(0, 0), self._reading_image)
            painter.drawImage(QPointF(0, 0), self._overlay_image)
            painter.restore()
            if self._cursor is not None and self._panning_from is None:
                radius = self.brush_radius * self._zoom
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
                painter.drawEllipse(self._cursor, radius, radius)
                style = Qt.PenStyle.DashLine if self.erase_mode else Qt.PenStyle.SolidLine
                painter.setPen(QPen(QColor(255, 255, 255), 1, style))
                painter.drawEllipse(self._cursor, radius, radius)
        painter.end()

    # -- input --------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        pos = _position(event)
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_held
        ):
            self._panning_from = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif (
            button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton)
            and self.document is not None
        ):
            erase = self.erase_mode or button == Qt.MouseButton.RightButton
            self.begin_stroke(pos, erase)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        # The pointer moving over the picture gives it the keyboard ([ ] X F) without a click;
        # only a real move: a canvas shown under a resting pointer takes nothing.
        if not self.hasFocus() and self.isActiveWindow():
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = _position(event)
        old_cursor, self._cursor = self._cursor, pos
        if self._panning_from is not None:
            self.pan(pos.x() - self._panning_from.x(), pos.y() - self._panning_from.y())
            self._panning_from = pos
        elif self._stroking:
            self.continue_stroke(pos)
        self._update_cursor(old_cursor)

    def mouseReleaseEvent(self, event) -> None:
        if self._panning_from is not None:
            self._panning_from = None
            self.unsetCursor()
        elif self._stroking:
            self.end_stroke()
        event.accept()

    def leaveEvent(self, event) -> None:
        # The pointer leaves: the keyboard goes back to the host (Krita's Ctrl+Z, [ ], X).
        if self.hasFocus() and not self._stroking:
            self.clearFocus()
        old_cursor, self._cursor = self._cursor, None
        self._update_cursor(old_cursor)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        pos = _position(event)
        if steps:
            self.zoom_at(ZOOM_STEP**steps, pos)
        event.accept()

    def owns_key(self, event) -> bool:
        """Whether ``event`` is one of the canvas's keys (then no shortcut may take it)."""
        plain = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier == Qt.KeyboardModifier.NoModifier
        return (plain and event.key() in self.KEYS) or history_key(event) is not None

    def event(self, event) -> bool:
        if event.type() == QtCore.QEvent.Type.ShortcutOverride and self.owns_key(event):
            event.accept()  # the key comes to keyPressEvent instead of a shortcut
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if history_key(event) == "undo":
            self.undo()
        elif history_key(event) == "redo":
            self.redo()
        elif key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif key == Qt.Key.Key_BracketLeft:
            self.set_brush_radius(self.brush_radius / 1.2)
        elif key == Qt.Key.Key_BracketRight:
            self.set_brush_radius(self.brush_radius * 1.2)
        elif key == Qt.Key.Key_X:
            self.set_erase_mode(not self.erase_mode)
            self.update()
        elif key == Qt.Key.Key_F:
            self.fit()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._panning_from is None:
                self.unsetCursor()
        else:
            super().keyReleaseEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    # -- strokes (widget coordinates) -----------------------------------------------------------
    def begin_stroke(self, pos: QPointF, erase: bool | None = None) -> None:
        brush = Brush(self.brush_radius, self.soft, self.erase_mode if erase is None else erase)
        self._stroking = True
        self._paint_box(self.document.begin_stroke(self.to_image(pos), brush))

    def continue_stroke(self, pos: QPointF) -> None:
        self._paint_box(self.document.add_point(self.to_image(pos)))

    def end_stroke(self) -> None:
        self._stroking = False
        self.document.end_stroke()
        self.mask_changed.emit()

    def _paint_box(self, box) -> None:
        if box is not None:
            self._refresh_overlay(box)

    def _update_cursor(self, old) -> None:
        radius = self.brush_radius * self._zoom + 4
        for point in (old, self._cursor):
            if point is not None:
                self.update(
                    QRectF(
                        point.x() - radius, point.y() - radius, 2 * radius, 2 * radius
                    ).toAlignedRect()
                )


def _position(event) -> QPointF:
    """Sub-pixel event position: ``position()`` in Qt 6, ``localPos()``/``posF()`` in Qt 5."""
    for name in ("position", "localPos", "posF"):
        if hasattr(event, name):
            return getattr(event, name)()
    return QPointF(event.pos())


def _qimage_rgb(image: np.ndarray) -> QImage:
    import cv2

    # saturating and rounding in one pass: several times faster than numpy on a 24 MP picture
    return image_from_array(cv2.convertScaleAbs(image, alpha=255.0))
