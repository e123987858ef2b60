"""Correcting one target in place: keep / remove strokes over its result, previewed live.

:class:`HintCanvas` shows the target with its alpha (what the matte drops is darkened) and
two stroke layers: keep (green) and remove (red).  A keep stroke also wipes remove strokes
under it and the other way round, so the two never overlap (the engine refuses overlaps).
Each stroke is one undo step over both layers.  :class:`CorrectionView` adds the tools and
Accept / Learn from this / Back; the panel sends the strokes to the engine.
"""

from __future__ import annotations

import numpy as np

from icm_core.api import Hints
from icm_core.geometry import resize

from .canvas import MaskCanvas
from .maskdoc import Brush, MaskDocument
from .qt import QColor, Qt, QtWidgets, Signal
from .widgets import brush_size, tool

KEEP_RGB, REMOVE_RGB = (40, 220, 90), (255, 50, 50)
STROKE_OPACITY, DROPPED_SHADE = 0.6, 0.6


class HintCanvas(MaskCanvas):
    """``erase_mode`` is remove mode; the right button paints the other kind."""

    KEYS = MaskCanvas.KEYS + (Qt.Key.Key_K, Qt.Key.Key_R)

    def __init__(self, parent=None, proxy_max_side: int = 2048):
        super().__init__(parent, proxy_max_side)
        self.remove_document: MaskDocument | None = None
        self._alpha_proxy: np.ndarray | None = None

    def set_target(self, image: np.ndarray, alpha: np.ndarray) -> None:
        if self.remove_document is not None:
            self.remove_document.close()
        self.remove_document = MaskDocument(image.shape[:2], self.proxy_max_side)
        self._alpha_proxy = None
        self.set_reference(image)  # the keep strokes are the inherited document
        self.set_alpha(alpha)

    def set_alpha(self, alpha: np.ndarray) -> None:
        self._alpha_proxy = resize(alpha, self.document.proxy_size)
        self._refresh_overlay()

    def hints(self) -> Hints | None:
        """The strokes as engine hints, or ``None`` when nothing is painted."""
        keep, remove = self.document.mask(), self.remove_document.mask()
        if keep.max() <= 0.5 and remove.max() <= 0.5:
            return None
        return Hints(keep=keep, remove=remove)

    # -- strokes: one step on both documents ----------------------------------------------------
    def begin_stroke(self, pos, erase: bool | None = None) -> None:
        remove = self.erase_mode if erase is None else erase
        painted, wiped = (self.document, self.remove_document)
        if remove:
            painted, wiped = wiped, painted
        point = self.to_image(pos)
        self._stroking = True
        self._paint_box(painted.begin_stroke(point, Brush(self.brush_radius)))
        self._paint_box(wiped.begin_stroke(point, Brush(self.brush_radius, erase=True)))

    def continue_stroke(self, pos) -> None:
        point = self.to_image(pos)
        for document in (self.document, self.remove_document):
            self._paint_box(document.add_point(point))

    def end_stroke(self) -> None:
        self._stroking = False
        self.remove_document.end_stroke()
        self.document.end_stroke()
        self.mask_changed.emit()

    def undo(self) -> None:
        if self.document is not None and not self._stroking and self.document.can_undo:
            self.remove_document.undo()
            self.document.undo()
            self._after_edit(None)

    def redo(self) -> None:
        if self.document is not None and not self._stroking and self.document.can_redo:
            self.remove_document.redo()
            self.document.redo()
            self._after_edit(None)

    def clear(self) -> None:
        if self.document is not None:
            self.remove_document.clear()
            self.document.clear()
            self._after_edit(None)

    def _refresh_overlay(self, box=None) -> None:
        """Premultiplied RGBA: the dropped part shaded, then the keep and remove strokes."""
        if self.document is None or self._alpha_proxy is None or self.remove_document is None:
            return
        height, width = self.document.proxy_size
        x0, y0, x1, y1 = box if box is not None else (0, 0, width, height)
        area = np.s_[y0:y1, x0:x1]
        shade = DROPPED_SHADE * (1.0 - self._alpha_proxy[area])
        keep = STROKE_OPACITY * self.document.proxy[area]
        remove = STROKE_OPACITY * self.remove_document.proxy[area]
        rgba = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
        rgba[..., 3] = shade * 255  # black: premultiplied colour stays 0
        for coverage, rgb in ((keep, KEEP_RGB), (remove, REMOVE_RGB)):
            layer = np.concatenate([coverage[..., None] * rgb, coverage[..., None] * 255], axis=2)
            rgba = layer + rgba * (1.0 - coverage[..., None])  # "over", premultiplied
        self._overlay_pixels[area] = (rgba + 0.5).astype(np.uint8)
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
        self.title = QtWidgets.QLabel()
        self.title.setSizePolicy(  # a long name must not widen a docker
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
        )
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
        self.state_label = QtWidgets.QLabel()
        self.accept_button = QtWidgets.QPushButton("Accept")
        self.accept_button.setToolTip("Replace this target's result with the corrected one")
        self.learn_button = QtWidgets.QPushButton("Learn from this")
        self.learn_button.setToolTip(
            "Accept, and match the next runs on this target too (its corrected matte joins the "
            "reference)"
        )
        self.back_button = QtWidgets.QPushButton("Back")
        self.back_button.setToolTip("Leave the result as it was")
        actions = QtWidgets.QHBoxLayout()
        actions.addWidget(self.state_label, 1)
        for button in (self.accept_button, self.learn_button, self.back_button):
            actions.addWidget(button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
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

    def set_target(self, layer_id: str, name: str, pixels: np.ndarray, alpha: np.ndarray) -> None:
        self.layer_id = layer_id
        self.title.setText(f"Correcting “{name}”: K keeps, R removes (right button: the other).")
        self.title.setToolTip(self.title.text())
        self.canvas.blockSignals(True)  # a new picture is not a stroke
        self.canvas.set_target(pixels, alpha)
        self.canvas.set_brush_radius(max(pixels.shape[:2]) * 0.03 / 2)
        self.canvas.blockSignals(False)
        self._brush_to_controls()
        self.set_state("Paint a stroke where the matte is wrong.", final=False)
        self._strokes_changed(emit=False)

    def show_alpha(self, alpha: np.ndarray, final: bool) -> None:
        self.canvas.set_alpha(alpha)
        self.set_state("Corrected." if final else "Preview… refining", final)

    def set_state(self, text: str, final: bool) -> None:
        """Accept needs the full-quality result of the latest strokes."""
        self.state_label.setText(text)
        for button in (self.accept_button, self.learn_button):
            button.setEnabled(final)

    def _strokes_changed(self, emit: bool = True) -> None:
        document = self.canvas.document
        self.undo_button.setEnabled(bool(document and document.can_undo))
        self.redo_button.setEnabled(bool(document and document.can_redo))
        if emit:
            self.set_state("Updating…", final=False)
            self.hints_changed.emit()

    def _brush_to_controls(self) -> None:
        self.size_slider.blockSignals(True)
        self.size_slider.setValue(round(self.canvas.brush_radius * 2))
        self.size_slider.blockSignals(False)
        self.size_label.setText(f"{self.canvas.brush_radius * 2:.0f} px")
        self.keep_button.setChecked(not self.canvas.erase_mode)
        self.remove_button.setChecked(self.canvas.erase_mode)
