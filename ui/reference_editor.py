"""The reference editor: which image is the reference, and the brush that paints its mask."""

from __future__ import annotations

import itertools
from functools import partial
from pathlib import Path

import numpy as np

from icm_core.api import IcmError

from .canvas import MaskCanvas
from .mask_memory import MaskMemory, picture_key
from .qt import QColor, QTimer, Qt, QtWidgets, Signal
from .widgets import IMAGE_FILTER, as_bool, brush_size, combo, row, select, tool

_generation = itertools.count(1)
#: the brush diameter as a fraction of the picture's long side, until the artist picks one
DEFAULT_BRUSH_FRACTION = 0.05
#: a mask is kept on disk this long after the last change (a stroke costs no disk write)
KEEP_AFTER_MS = 1000


class ReferenceEditor(QtWidgets.QWidget):
    """The reference picker, brush controls and mask canvas.  ``host`` is set by the panel."""

    message = Signal(object)  # str: all is well, tell the artist what to do next
    problem = Signal(object)  # str: what went wrong and what to do
    layers_added = Signal()  # a reference file joined the host's layers
    reference_changed = Signal()
    settings_changed = Signal()

    def __init__(self, host, memory: MaskMemory, parent=None):
        super().__init__(parent)
        self.host = host
        self.reference: tuple[str, object] | None = None  # (layer id, revision) on the canvas
        self.pixels: np.ndarray | None = None
        self.generation = 0
        self.brush_fraction = DEFAULT_BRUSH_FRACTION
        self.memory = memory  # keeps brushed masks on disk
        self._memory_key: str | None = None
        self._keep_timer = QTimer(self)
        self._keep_timer.setSingleShot(True)
        self._keep_timer.setInterval(KEEP_AFTER_MS)
        self._keep_timer.timeout.connect(self.keep_mask)
        self._build()
        self._connect()

    def _build(self) -> None:
        self.canvas = MaskCanvas()
        self.canvas.setMinimumHeight(100)  # a short docker keeps its Run button in view
        self.combo = combo()
        self.combo.setToolTip("The image whose subject you brush; the others are matted like it.")
        self.file_button = QtWidgets.QPushButton("File…")
        self.file_button.setToolTip("Use an image file as the reference")
        reference_row = row(QtWidgets.QLabel("Reference:"), self.combo, self.file_button)
        reference_row.setStretch(1, 1)

        self.paint_button = tool("Paint", "Paint the mask (X toggles)", checkable=True)
        self.erase_button = tool(
            "Erase", "Erase the mask (X toggles; right button erases too)", checkable=True
        )
        self.paint_button.setChecked(True)
        group = QtWidgets.QButtonGroup(self)
        group.addButton(self.paint_button)
        group.addButton(self.erase_button)
        self.size_slider, self.size_label = brush_size()
        self.soft_check = QtWidgets.QCheckBox("Soft")
        self.soft_check.setToolTip("Soft brush edge (otherwise hard)")
        self.color_button = tool("Colour", "Overlay colour")
        self.reading_check = QtWidgets.QCheckBox("Show reading")
        self.reading_check.setToolTip(
            "Outline, after each stroke, what the engine takes the subject to be: fix a wrong "
            "reading here, once, rather than on every target")
        self.reading_check.setChecked(True)
        self.opacity_slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setMinimumWidth(60)
        self.opacity_slider.setMaximumWidth(90)
        self.opacity_slider.setToolTip("How strongly the mask colour covers the picture")
        opacity_label = QtWidgets.QLabel("Opacity")
        opacity_label.setBuddy(self.opacity_slider)
        opacity = QtWidgets.QWidget()  # label and slider leave for the » menu together
        opacity_row = row(opacity_label, self.opacity_slider)
        opacity_row.setContentsMargins(0, 0, 0, 0)
        opacity.setLayout(opacity_row)
        size_label = QtWidgets.QLabel("Size")
        size_label.setBuddy(self.size_slider)

        self.fit_button = tool("Fit", "Fit the reference in view (F)")
        self.undo_button = tool("Undo", "Undo the last stroke (Ctrl+Z)")
        self.redo_button = tool("Redo", "Redo (Ctrl+Shift+Z)")
        self.clear_button = tool("Clear", "Clear the mask")
        self.mask_from_button = tool("Start from…", "Start from an existing mask")
        self.mask_from_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        self.mask_from_menu = QtWidgets.QMenu(self)
        self.mask_from_button.setMenu(self.mask_from_menu)
        # One tool bar, most used first: in a narrow docker the last tools move into its »
        # menu instead of squashing the size slider.
        self.toolbar = QtWidgets.QToolBar()
        for group in (
            (self.paint_button, self.erase_button, size_label, self.size_slider, self.size_label),
            (self.undo_button, self.redo_button, self.clear_button, self.mask_from_button),
            (self.reading_check, self.fit_button, self.soft_check, self.color_button, opacity),
        ):
            for widget in group:
                self.toolbar.addWidget(widget)
            self.toolbar.addSeparator()

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(reference_row)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)

    def _connect(self) -> None:
        canvas = self.canvas
        self.combo.activated.connect(lambda *_: self.reference_chosen())
        self.file_button.clicked.connect(lambda *_: self.choose_file())
        self.paint_button.toggled.connect(lambda on: canvas.set_erase_mode(not on))
        canvas.brush_changed.connect(self._brush_to_controls)
        self.size_slider.valueChanged.connect(lambda value: canvas.set_brush_radius(value / 2))
        self.soft_check.toggled.connect(canvas.set_soft)
        self.reading_check.toggled.connect(canvas.set_show_reading)
        self.color_button.clicked.connect(lambda *_: self.choose_overlay_colour())
        self.opacity_slider.valueChanged.connect(
            lambda value: canvas.set_overlay(opacity=value / 100)
        )
        self.fit_button.clicked.connect(lambda *_: canvas.fit())
        self.undo_button.clicked.connect(lambda *_: canvas.undo())
        self.redo_button.clicked.connect(lambda *_: canvas.redo())
        self.clear_button.clicked.connect(lambda *_: canvas.clear())
        canvas.mask_changed.connect(self._history_to_controls)
        canvas.mask_changed.connect(self._keep_timer.start)
        self.mask_from_menu.aboutToShow.connect(self._fill_mask_menu)
        for signal in (
            self.soft_check.toggled,
            self.reading_check.toggled,
            self.size_slider.valueChanged,
            self.opacity_slider.valueChanged,
        ):
            signal.connect(lambda *_: self.settings_changed.emit())

    # -- settings ----------------------------------------------------------------------------------
    def load_settings(self, s) -> None:
        self.brush_fraction = float(s.value("brush_fraction", DEFAULT_BRUSH_FRACTION))
        self.soft_check.setChecked(as_bool(s.value("soft", False)))
        self.reading_check.setChecked(as_bool(s.value("show_reading", True)))
        self.canvas.set_overlay(QColor(str(s.value("overlay_color", "#ff2850"))), None)
        self.opacity_slider.setValue(int(s.value("overlay_opacity", 50)))
        self.canvas.set_overlay(opacity=self.opacity_slider.value() / 100)

    def save_settings(self, s) -> None:
        s.setValue("brush_fraction", self.brush_fraction)
        s.setValue("soft", self.soft_check.isChecked())
        s.setValue("show_reading", self.reading_check.isChecked())
        s.setValue("overlay_color", self.canvas.overlay_color.name())
        s.setValue("overlay_opacity", self.opacity_slider.value())

    # -- the reference -----------------------------------------------------------------------------
    @property
    def layer_id(self) -> str | None:
        return self.reference[0] if self.reference else None

    def key(self) -> tuple:
        """Changes whenever the reference's pixels or mask change (the worker's cache key)."""
        return (self.reference, self.generation, self.canvas.document.revision)

    def refresh(self, layers) -> None:
        """Offer ``layers``; show the chosen one if it is not shown yet."""
        current = self.combo.currentData()
        self.combo.clear()
        for layer in layers:
            self.combo.addItem(layer.name, layer.id)
        if current not in [layer.id for layer in layers]:  # a picture of the artist's, not a result
            current = next((layer.id for layer in layers if not layer.result), None)
        select(self.combo, current)
        if layers and self.layer_id != self.combo.currentData():
            self.reference_chosen()

    @property
    def picture_key(self) -> str | None:
        """The reference picture's identity on disk (its mask and lessons are kept under it)."""
        return self._memory_key

    def reference_chosen(self) -> None:
        layer_id = self.combo.currentData()
        if layer_id is None:
            return
        try:
            self.set_reference(
                layer_id, self.host.read_pixels(layer_id), self.host.revision(layer_id)
            )
        except IcmError as error:
            self.problem.emit(str(error))

    def set_reference(self, layer_id: str, pixels: np.ndarray, revision=None) -> None:
        """Show ``pixels`` as the reference with the mask last brushed on this picture (kept
        on disk by :attr:`memory`), else an empty one."""
        self._keep_pending()  # the picture shown so far: its latest strokes
        self.reference = (layer_id, revision)
        self.pixels = pixels
        self.generation = next(_generation)
        self._memory_key = picture_key(pixels)
        recalled = self.memory.recall(self._memory_key, pixels.shape[:2])
        self.canvas.set_reference(pixels, recalled)
        self._keep_timer.stop()  # showing a mask is not a change worth writing
        # The same share of any picture: 40 px is a fine brush at 800 px, a dot at 6000 px.
        diameter = self.brush_fraction * max(pixels.shape[:2])
        self.canvas.set_brush_radius(min(max(diameter, 2), self.size_slider.maximum()) / 2)
        self._history_to_controls()
        self.reference_changed.emit()
        if recalled is not None:
            self.message.emit("Your last mask on this picture is back: refine it and Run "
                              "(Clear starts over).")
        else:
            self.message.emit("Brush over the subject in the reference, then Run.")

    def keep_mask(self) -> None:
        """Keep the shown mask on disk (a moment after the last change)."""
        self._keep_timer.stop()
        if self._memory_key is not None:
            self.memory.keep_mask(self._memory_key, self.canvas.mask())

    def _keep_pending(self) -> None:
        """Keep now a change still waiting for its moment (nothing to do without one)."""
        if self._keep_timer.isActive():
            self.keep_mask()

    def close_memory(self) -> None:
        """Keep the latest change and wait until it is on disk (before the panel goes away)."""
        self._keep_pending()
        self._memory_key = None
        self.memory.flush()

    def choose_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Reference image", "", IMAGE_FILTER)
        if path:
            self.use_file(path)

    def use_file(self, path: str) -> None:
        from icm_core import imageio

        try:
            if hasattr(self.host, "add"):  # a files host: the reference becomes a layer too
                self.host.add([path])
                self.layers_added.emit()
                layer_id = str(Path(path).expanduser())
                select(self.combo, layer_id)
                # the refresh may have just shown it (the first picture): read it only once
                if self.reference != (layer_id, self.host.revision(layer_id)):
                    self.reference_chosen()
            else:
                stat = Path(path).stat()
                self.set_reference(
                    f"file:{path}", imageio.read_image(path), (stat.st_mtime_ns, stat.st_size)
                )
        except (IcmError, OSError) as error:
            self.problem.emit(str(error))

    def problem_for_run(self) -> str | None:
        """Why the reference cannot be used yet, or ``None``."""
        if self.reference is None:
            return "Choose a reference image first."
        mask = self.canvas.mask()
        if mask is None or mask.max() <= 0.5:
            return "The reference mask is empty: brush over the subject in the reference image."
        return None

    def set_running(self, running: bool) -> None:
        self.combo.setEnabled(not running)
        self.file_button.setEnabled(not running)

    # -- mask sources ------------------------------------------------------------------------------
    def _fill_mask_menu(self) -> None:
        menu = self.mask_from_menu
        menu.clear()
        menu.addAction("Mask file…", self.choose_mask_file)
        menu.addAction("Selection", self.mask_from_selection)
        alpha_menu = menu.addMenu("Alpha of layer")
        for layer in self.host.layers():
            alpha_menu.addAction(layer.name, partial(self.mask_from_layer_alpha, layer.id))

    def choose_mask_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Mask image", "", IMAGE_FILTER)
        if path:
            self.mask_from_file(path)

    def mask_from_file(self, path) -> None:
        from icm_core import imageio

        try:
            self._start_mask_from(imageio.read_mask(path), f"{Path(path).name}")
        except IcmError as error:
            self.problem.emit(str(error))

    def mask_from_selection(self) -> None:
        selection = self.host.read_selection()
        if selection is None:
            self.problem.emit(
                "There is no active selection: select the subject in the editor first."
            )
            return
        self._start_mask_from(selection, "the selection")

    def mask_from_layer_alpha(self, layer_id: str) -> None:
        try:
            alpha = self.host.read_alpha(layer_id)
        except IcmError as error:
            self.problem.emit(str(error))
            return
        if alpha is None:
            self.problem.emit("That layer is fully opaque: its alpha cannot serve as a mask.")
            return
        self._start_mask_from(alpha, "the layer's alpha")

    def _start_mask_from(self, mask: np.ndarray, what: str) -> None:
        if not self.canvas.has_reference():
            self.problem.emit("Choose a reference image first.")
            return
        self.canvas.set_mask(mask)
        self.message.emit(f"Mask taken from {what}; refine it with the brush.")

    # -- brush and overlay controls ----------------------------------------------------------------
    def _brush_to_controls(self) -> None:
        self.size_slider.blockSignals(True)
        self.size_slider.setValue(round(self.canvas.brush_radius * 2))
        self.size_slider.blockSignals(False)
        self.size_label.setText(f"{self.canvas.brush_radius * 2:.0f} px")
        if self.canvas.document is not None:
            self.brush_fraction = self.canvas.brush_radius * 2 / max(self.canvas.document.size)
        self.erase_button.setChecked(self.canvas.erase_mode)
        self.paint_button.setChecked(not self.canvas.erase_mode)
        self.soft_check.setChecked(self.canvas.soft)
        self.settings_changed.emit()

    def _history_to_controls(self) -> None:
        document = self.canvas.document
        self.undo_button.setEnabled(bool(document and document.can_undo))
        self.redo_button.setEnabled(bool(document and document.can_redo))

    def choose_overlay_colour(self) -> None:
        colour = QtWidgets.QColorDialog.getColor(self.canvas.overlay_color, self, "Overlay colour")
        if colour.isValid():
            self.canvas.set_overlay(colour)
            self.settings_changed.emit()
