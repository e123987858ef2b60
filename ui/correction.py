"""Correcting one target in place: keep / remove strokes over its result, previewed live.

:class:`HintCanvas` shows the target with its alpha (what the matte drops lies under a grey
checkerboard) and the target's :class:`Strokes`: keep (green) and remove (red), one undo step
per stroke over both.  :class:`CorrectionView` adds the tools and
Accept / Learn from this / Back; the panel sends the strokes to the engine.
"""

from __future__ import annotations

import numpy as np

from icm_core.api import Hints
from icm_core.geometry import resize

from .canvas import MaskCanvas
from .correction_session import Strokes
from .qt import QColor, Qt, QtWidgets, Signal
from .widgets import ElidedLabel, brush_size, row, tool

KEEP_RGB, REMOVE_RGB = (40, 220, 90), (255, 50, 50)
STROKE_OPACITY = 0.6
DROPPED_COVER = 0.85  # how much of the picture the checkerboard hides where the matte drops it


class HintCanvas(MaskCanvas):
    """Paints a target's :class:`Strokes`: ``erase_mode`` is remove mode; the right button
    paints the other kind."""

    KEYS = MaskCanvas.KEYS + (Qt.Key.Key_K, Qt.Key.Key_R)

    def __init__(self, parent=None, proxy_max_side: int = 2048):
        super().__init__(parent, proxy_max_side)
        self.strokes: Strokes | None = None
        self._alpha_proxy: np.ndarray | None = None
        self._checker: np.ndarray | None = None

    @property
    def remove_document(self):
        return self.strokes.remove if self.strokes is not None else None

    def set_target(self, image: np.ndarray, alpha: np.ndarray, strokes: Strokes) -> None:
        """Show ``image`` with ``alpha`` and ``strokes`` (owned by the caller, kept painted)."""
        self.strokes = strokes
        self._alpha_proxy = None
        self.document = None  # the previous target's strokes are not ours to close
        self._show(image, strokes.keep)
        self.set_alpha(alpha)

    def set_alpha(self, alpha: np.ndarray) -> None:
        self._alpha_proxy = resize(alpha, self.document.proxy_size)
        if self._checker is None or self._checker.shape != self._alpha_proxy.shape:
            self._checker = _checkerboard(self._alpha_proxy.shape)
        self._refresh_overlay()

    def hints(self) -> Hints | None:
        return self.strokes.hints() if self.strokes is not None else None

    # -- strokes: one step on both documents ----------------------------------------------------
    def begin_stroke(self, pos, erase: bool | None = None) -> None:
        remove = self.erase_mode if erase is None else erase
        self._stroking = True
        for box in self.strokes.begin(self.to_image(pos), self.brush_radius, remove):
            self._paint_box(box)

    def continue_stroke(self, pos) -> None:
        for box in self.strokes.extend(self.to_image(pos)):
            self._paint_box(box)

    def end_stroke(self) -> None:
        self._stroking = False
        self.strokes.end()
        self.mask_changed.emit()

    def undo(self) -> None:
        if self.strokes is not None and self.strokes.undo():
            self._after_edit(None)

    def redo(self) -> None:
        if self.strokes is not None and self.strokes.redo():
            self._after_edit(None)

    def clear(self) -> None:
        if self.strokes is not None and self.strokes.clear():
            self._after_edit(None)

    def _refresh_overlay(self, box=None) -> None:
        """Premultiplied RGBA: what the matte drops under a grey checkerboard (as transparency
        looks in an editor, readable on dark and light pictures alike), then the strokes."""
        if self.document is None or self._alpha_proxy is None or self.strokes is None:
            return
        height, width = self.document.proxy_size
        x0, y0, x1, y1 = box if box is not None else (0, 0, width, height)
        area = np.s_[y0:y1, x0:x1]
        # channel by channel, premultiplied, in place: this runs after every engine answer
        alpha = (1.0 - self._alpha_proxy[area]) * np.float32(DROPPED_COVER * 255)
        grey = alpha * self._checker[area]
        channels = [grey, grey.copy(), grey.copy(), alpha]
        for proxy, rgb in ((self.strokes.keep.proxy, KEEP_RGB), (self.strokes.remove.proxy, REMOVE_RGB)):
            coverage = proxy[area]
            if not coverage.any():
                continue
            coverage = coverage * np.float32(STROKE_OPACITY)
            under = 1.0 - coverage
            for channel, value in zip(channels, (*rgb, 255)):
                channel *= under  # "over": the stroke on top of what is there
                channel += coverage * np.float32(value)
        out = self._overlay_pixels[area]
        for index, channel in enumerate(channels):
            channel += 0.5
            out[..., index] = channel  # float → uint8 truncates: +0.5 rounds
        if box is None:
            self.update()
        else:
            self.update(self._screen_rect(box))

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_K, Qt.Key.Key_R):
            self.set_erase_mode(key == Qt.Key.Key_R)
            self.update()
        else:
            super().keyPressEvent(event)


def _checkerboard(shape, square: int = 8) -> np.ndarray:
    """Light and mid grey squares (0..1) over ``shape``."""
    yy, xx = np.indices(shape)
    return np.where((yy // square + xx // square) % 2 == 0, 0.8, 0.55).astype(np.float32)


class CorrectionView(QtWidgets.QWidget):
    """The target under correction, its tools, and what to do with the result."""

    hints_changed = Signal()  # after a stroke, undo, redo or clear
    accept_requested = Signal()
    learn_requested = Signal()
    closed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layer_id: str | None = None
        self.canvas = HintCanvas()
        self.canvas.setMinimumHeight(100)
        self.title = ElidedLabel()  # a long name must not widen a docker
        self.keep_button = tool("Keep", "Paint what belongs to the subject (K)", checkable=True)
        self.remove_button = tool("Remove", "Paint what does not (R; right button)", checkable=True)
        self.keep_button.setChecked(True)
        group = QtWidgets.QButtonGroup(self)
        group.addButton(self.keep_button)
        group.addButton(self.remove_button)
        self.size_slider, self.size_label = brush_size()
        self.undo_button = tool("Undo", "Undo the last stroke (Ctrl+Z)")
        self.redo_button = tool("Redo", "Redo (Ctrl+Shift+Z)")
        self.clear_button = tool("Clear strokes", "Remove every stroke")
        self.toolbar = QtWidgets.QToolBar()
        for widget in (
            self.keep_button,
            self.remove_button,
            QtWidgets.QLabel("Size"),
            self.size_slider,
            self.size_label,
        ):
            self.toolbar.addWidget(widget)
        self.toolbar.addSeparator()
        for widget in (self.undo_button, self.redo_button, self.clear_button):
            self.toolbar.addWidget(widget)
        self.state_label = ElidedLabel()  # changing text must not resize the view while painting
        self.accept_button = QtWidgets.QPushButton("Accept")
        self.accept_button.setToolTip("Replace this target's result with the corrected one")
        self.learn_button = QtWidgets.QPushButton("Learn from this")
        self.learn_button.setToolTip(
            "Accept, and match the next runs on this target too (its corrected matte joins the "
            "reference)"
        )
        self.back_button = QtWidgets.QPushButton("Back")
        self.back_button.setToolTip(
            "Leave the result as it is; the strokes stay with this target for next time"
        )
        actions = QtWidgets.QHBoxLayout()
        actions.addStretch(1)
        for button in (self.accept_button, self.learn_button, self.back_button):
            actions.addWidget(button)
        heading = row(self.title, self.state_label)
        heading.setStretch(0, 3)
        heading.setStretch(1, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(heading)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(actions)

        canvas = self.canvas
        self.keep_button.toggled.connect(lambda on: canvas.set_erase_mode(not on))
        self.size_slider.valueChanged.connect(lambda value: canvas.set_brush_radius(value / 2))
        canvas.brush_changed.connect(self._brush_to_controls)
        self.undo_button.clicked.connect(lambda *_: canvas.undo())
        self.redo_button.clicked.connect(lambda *_: canvas.redo())
        self.clear_button.clicked.connect(lambda *_: canvas.clear())
        canvas.mask_changed.connect(self._strokes_changed)
        self.accept_button.clicked.connect(lambda *_: self.accept_requested.emit())
        self.learn_button.clicked.connect(lambda *_: self.learn_requested.emit())
        self.back_button.clicked.connect(lambda *_: self.closed.emit())

    def set_target(self, layer_id: str, name: str, pixels: np.ndarray, alpha: np.ndarray,
                   strokes: Strokes) -> None:
        self.layer_id = layer_id
        self.title.setText(f"Correcting “{name}”")
        self.canvas.blockSignals(True)  # a new picture is not a stroke
        self.canvas.set_target(pixels, alpha, strokes)
        self.canvas.set_brush_radius(max(pixels.shape[:2]) * 0.03 / 2)
        self.canvas.blockSignals(False)
        self._brush_to_controls()
        self._strokes_changed(emit=False)

    def show_session(self, session) -> None:
        """Render a :class:`CorrectionSession`: its alpha, its state, whether Accept can."""
        self.canvas.set_alpha(session.alpha)
        self.state_label.setText(session.state)
        for button in (self.accept_button, self.learn_button):
            button.setEnabled(session.can_accept)

    def _strokes_changed(self, emit: bool = True) -> None:
        strokes = self.canvas.strokes
        self.undo_button.setEnabled(bool(strokes and strokes.can_undo))
        self.redo_button.setEnabled(bool(strokes and strokes.can_redo))
        self.clear_button.setEnabled(bool(strokes and not strokes.empty))
        if emit:
            self.hints_changed.emit()

    def _brush_to_controls(self) -> None:
        self.size_slider.blockSignals(True)
        self.size_slider.setValue(round(self.canvas.brush_radius * 2))
        self.size_slider.blockSignals(False)
        self.size_label.setText(f"{self.canvas.brush_radius * 2:.0f} px")
        self.keep_button.setChecked(not self.canvas.erase_mode)
        self.remove_button.setChecked(self.canvas.erase_mode)
