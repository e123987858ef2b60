"""The matting panel: pick a reference, brush its mask, choose targets, run, review, write.

Host-agnostic: it talks to a :class:`ui.hostapi.Host` on the GUI thread and drives the
engine through :class:`ui.worker.MatteRunner`.  The standalone app and the Krita docker embed
the same widget.  Settings persist through the ``QSettings`` given (the app's own by default).
"""

from __future__ import annotations

import itertools
import os
from functools import partial
from pathlib import Path

import numpy as np

from icm_core.api import IcmError

from .canvas import MaskCanvas
from .hostapi import OUTPUT_MODES, Host
from .qt import (
    QAction,
    QColor,
    QIcon,
    QKeySequence,
    QPixmap,
    QSettings,
    Qt,
    QtCore,
    QtWidgets,
    Signal,
    exec_,
    image_from_array,
)
from .worker import Finished, Job, MatteRunner, Progress, Target, TargetDone, TargetFailed

ORGANISATION, APPLICATION = "icm-matting", "panel"

ENGINES = {"lite": "Lite (built in)", "icm": "In-Context Matting (SD 2.1)"}
DEVICES = {"auto": "Auto", "cpu": "CPU", "cuda": "GPU (CUDA)"}
#: engine options for each quality preset
QUALITY = {
    "fast": (
        "Fast",
        {"lite": {"feature_side": 448, "matting_side": 512}, "icm": {"ensemble_size": 1}},
    ),
    "balanced": (
        "Balanced",
        {"lite": {"feature_side": 640, "matting_side": 1024}, "icm": {"ensemble_size": 4}},
    ),
    "best": (
        "Best",
        {"lite": {"feature_side": 896, "matting_side": 2048}, "icm": {"ensemble_size": 8}},
    ),
}
PREVIEWS = {
    "alpha": "Alpha",
    "composite": "Cutout on checkerboard",
    "side": "Side by side with source",
}
LAYER_ID_ROLE = Qt.ItemDataRole.UserRole
_reference_generation = itertools.count(1)


class Panel(QtWidgets.QWidget):
    """The whole panel.  ``results`` maps layer id → :class:`TargetDone` of the last runs."""

    # Re-emitted on the GUI thread once the panel has updated itself.  Connect plain functions
    # here, not to the worker's signals: PySide6 calls a lambda connected to a signal of
    # another thread directly in that thread.
    progressed = Signal(object)  # Progress
    target_finished = Signal(object)  # TargetDone or TargetFailed
    run_finished = Signal(object)  # Finished

    def __init__(self, host: Host, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.host = host
        self.settings = settings if settings is not None else QSettings(ORGANISATION, APPLICATION)
        self.results: dict[str, TargetDone] = {}
        self.runner = MatteRunner(self)
        self._reference: tuple[str, object] | None = (
            None  # (layer id, revision) shown on the canvas
        )
        self._reference_pixels: np.ndarray | None = None
        self._reference_generation = 0
        self._run_mode = "files"
        self._run_ids: list[str] = []
        self._loading_settings = True
        self._warmed_up = False
        self._engine_problems: dict[str, str] = {}  # engine → why it cannot run here
        self._run_overwrite = False
        self._build()
        self._connect()
        self._load_settings()
        self._loading_settings = False
        self.refresh_engines()
        self.refresh_layers()

    # == construction ==============================================================================
    def _build(self) -> None:
        self.canvas = MaskCanvas()

        # -- left: reference, brush tools, canvas
        self.reference_combo = QtWidgets.QComboBox()
        self.reference_combo.setToolTip(
            "The image whose subject you brush; the others are matted like it."
        )
        self.reference_file_button = QtWidgets.QPushButton("File…")
        self.reference_file_button.setToolTip("Use an image file as the reference")
        reference_row = _row(
            QtWidgets.QLabel("Reference:"), self.reference_combo, self.reference_file_button
        )
        reference_row.setStretch(1, 1)

        self.paint_button = _tool("Paint", "Paint the mask (X toggles)", checkable=True)
        self.erase_button = _tool(
            "Erase", "Erase the mask (X toggles; right button erases too)", checkable=True
        )
        self.paint_button.setChecked(True)
        group = QtWidgets.QButtonGroup(self)
        group.addButton(self.paint_button)
        group.addButton(self.erase_button)
        self.size_slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(1, 1000)
        self.size_slider.setToolTip("Brush diameter in image pixels ([ and ])")
        self.size_label = QtWidgets.QLabel()
        self.size_label.setMinimumWidth(48)
        self.soft_check = QtWidgets.QCheckBox("Soft")
        self.soft_check.setToolTip("Soft brush edge (otherwise hard)")
        self.color_button = _tool("Colour", "Overlay colour")
        self.opacity_slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setMaximumWidth(90)
        self.opacity_slider.setToolTip("Overlay opacity")
        brush_row = _row(
            self.paint_button,
            self.erase_button,
            QtWidgets.QLabel("Size"),
            self.size_slider,
            self.size_label,
            self.soft_check,
            self.color_button,
            self.opacity_slider,
        )
        brush_row.setStretch(3, 1)

        self.fit_button = _tool("Fit", "Fit the reference in view (F)")
        self.undo_button = _tool("Undo", "Undo the last stroke (Ctrl+Z)")
        self.redo_button = _tool("Redo", "Redo (Ctrl+Shift+Z)")
        self.clear_button = _tool("Clear", "Clear the mask")
        self.mask_from_button = _tool("Start from…", "Start from an existing mask")
        self.mask_from_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        self.mask_from_menu = QtWidgets.QMenu(self)
        self.mask_from_button.setMenu(self.mask_from_menu)
        edit_row = _row(
            self.fit_button,
            self.undo_button,
            self.redo_button,
            self.clear_button,
            self.mask_from_button,
        )
        edit_row.addStretch(1)

        left = QtWidgets.QWidget()
        left_layout = QtWidgets.QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        for row in (reference_row, brush_row, edit_row):
            left_layout.addLayout(row)
        left_layout.addWidget(self.canvas, 1)

        # -- right: layers and targets, engine, output, run, results
        self.layer_list = QtWidgets.QListWidget()
        self.layer_list.setSelectionMode(
            QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection
        )
        self.layer_list.setIconSize(QtCore.QSize(40, 40))
        self.all_radio = QtWidgets.QRadioButton("All layers")
        self.selected_radio = QtWidgets.QRadioButton("Selected layers")
        self.all_radio.setChecked(True)
        self.engine_combo = QtWidgets.QComboBox()
        for key, label in ENGINES.items():
            self.engine_combo.addItem(label, key)
        self.engine_reason = QtWidgets.QLabel()
        self.engine_reason.setWordWrap(True)
        # Qt 5's form layout ignores a wrapped label's height for width: keep two lines
        self.engine_reason.setMinimumHeight(2 * self.engine_reason.fontMetrics().lineSpacing() + 2)
        self.engine_reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.weights_button = QtWidgets.QPushButton("Set up ICM weights…")
        self.device_combo = _combo(DEVICES)
        self.quality_combo = _combo({key: label for key, (label, _) in QUALITY.items()})
        self.output_combo = QtWidgets.QComboBox()
        self.cutout_check = QtWidgets.QCheckBox("Estimate subject colours (cutouts)")
        self.cutout_check.setChecked(True)
        self.out_dir_button = QtWidgets.QPushButton()
        self.out_dir_button.setVisible(hasattr(self.host, "out_dir"))
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.setDefault(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.overall_bar = QtWidgets.QProgressBar()
        self.overall_bar.setRange(0, 1000)
        self.overall_bar.setFormat("Overall %p%")
        self.target_bar = QtWidgets.QProgressBar()
        self.target_bar.setRange(0, 1000)
        self.target_bar.setFormat("Current %p%")
        self.status_label = QtWidgets.QLabel("Ready.")
        self.status_label.setWordWrap(True)
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("color: #d23c3c;")  # this label only: hosts keep their theme
        self.error_label.hide()
        self.preview_combo = _combo(PREVIEWS)
        self.preview_label = QtWidgets.QLabel()
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(160, 180)
        self.preview_label.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored
        )

        form = QtWidgets.QFormLayout()
        form.addRow("Targets:", _row(self.all_radio, self.selected_radio))
        form.addRow("Engine:", self.engine_combo)
        form.addRow("", self.engine_reason)
        form.addRow("", self.weights_button)
        form.addRow("Device:", self.device_combo)
        form.addRow("Quality:", self.quality_combo)
        form.addRow("Output:", self.output_combo)
        form.addRow("", self.cutout_check)
        form.addRow("Save to:", self.out_dir_button)
        form.labelForField(self.out_dir_button).setVisible(self.out_dir_button.isVisible())

        right = QtWidgets.QWidget()
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(QtWidgets.QLabel("Layers"))
        right_layout.addWidget(self.layer_list, 1)
        right_layout.addLayout(form)
        right_layout.addLayout(_row(self.run_button, self.cancel_button))
        right_layout.addWidget(self.overall_bar)
        right_layout.addWidget(self.target_bar)
        right_layout.addWidget(self.status_label)
        right_layout.addWidget(self.error_label)
        right_layout.addLayout(_row(QtWidgets.QLabel("Preview:"), self.preview_combo))
        right_layout.addWidget(self.preview_label, 2)

        self.layer_list.setMinimumHeight(90)
        scroll = QtWidgets.QScrollArea()  # a short docker scrolls instead of squashing rows
        scroll.setWidget(right)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # never narrower than its content: the splitter then takes the room from the canvas
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(right.minimumSizeHint().width() + bar)
        splitter = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        # Shortcuts live on the panel (not the window) so they never steal a host's Ctrl+Z.
        self.undo_action = self._action(
            "Undo stroke", [QKeySequence.StandardKey.Undo], self.canvas.undo
        )
        self.redo_action = self._action(
            "Redo stroke", [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")], self.canvas.redo
        )
        self.run_action = self._action("Run", [QKeySequence("Ctrl+Return")], self.run)
        self.cancel_action = self._action("Cancel", [QKeySequence("Escape")], self.cancel)

    def _action(self, text, shortcuts, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcuts(shortcuts)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda *_: slot())
        self.addAction(action)
        return action

    def _connect(self) -> None:
        self.reference_combo.activated.connect(lambda *_: self._reference_chosen())
        self.reference_file_button.clicked.connect(lambda *_: self.choose_reference_file())
        self.paint_button.toggled.connect(lambda on: self.canvas.set_erase_mode(not on))
        self.canvas.brush_changed.connect(self._brush_to_controls)
        self.size_slider.valueChanged.connect(lambda value: self.canvas.set_brush_radius(value / 2))
        self.soft_check.toggled.connect(self.canvas.set_soft)
        self.color_button.clicked.connect(lambda *_: self.choose_overlay_colour())
        self.opacity_slider.valueChanged.connect(
            lambda value: self.canvas.set_overlay(opacity=value / 100)
        )
        self.fit_button.clicked.connect(lambda *_: self.canvas.fit())
        self.undo_button.clicked.connect(lambda *_: self.canvas.undo())
        self.redo_button.clicked.connect(lambda *_: self.canvas.redo())
        self.clear_button.clicked.connect(lambda *_: self.canvas.clear())
        self.canvas.mask_changed.connect(self._history_to_controls)
        self.mask_from_menu.aboutToShow.connect(self._fill_mask_menu)
        self.engine_combo.currentIndexChanged.connect(lambda *_: self._engine_changed())
        self.weights_button.clicked.connect(lambda *_: self.open_weights_setup())
        self.out_dir_button.clicked.connect(lambda *_: self.choose_out_dir())
        self.output_combo.currentIndexChanged.connect(lambda *_: self._output_changed())
        self.run_button.clicked.connect(lambda *_: self.run())
        self.cancel_button.clicked.connect(lambda *_: self.cancel())
        self.layer_list.currentItemChanged.connect(lambda *_: self.show_preview())
        self.preview_combo.currentIndexChanged.connect(lambda *_: self.show_preview())
        signals = self.runner.signals
        signals.status.connect(self._on_status)
        signals.progress.connect(self._on_progress)
        signals.target_done.connect(self._on_target_done)
        signals.target_failed.connect(self._on_target_failed)
        signals.finished.connect(self._on_finished)
        for signal in (
            self.device_combo.currentIndexChanged,
            self.quality_combo.currentIndexChanged,
            self.output_combo.currentIndexChanged,
            self.preview_combo.currentIndexChanged,
            self.all_radio.toggled,
            self.cutout_check.toggled,
            self.soft_check.toggled,
            self.size_slider.valueChanged,
            self.opacity_slider.valueChanged,
        ):
            signal.connect(lambda *_: self.save_settings())

    # == settings ================================================================================
    def _load_settings(self) -> None:
        s = self.settings
        _select(self.engine_combo, s.value("engine", "lite"))
        _select(self.device_combo, s.value("device", "auto"))
        _select(self.quality_combo, s.value("quality", "balanced"))
        _select(self.preview_combo, s.value("preview", "composite"))
        self._saved_output = s.value("output", "")
        (self.all_radio if s.value("targets", "all") == "all" else self.selected_radio).setChecked(
            True
        )
        self.cutout_check.setChecked(_bool(s.value("cutouts", True)))
        self.size_slider.setValue(int(s.value("brush_size", 40)))
        self.canvas.set_brush_radius(self.size_slider.value() / 2)
        self.soft_check.setChecked(_bool(s.value("soft", False)))
        self.canvas.set_overlay(QColor(str(s.value("overlay_color", "#ff2850"))), None)
        self.opacity_slider.setValue(int(s.value("overlay_opacity", 50)))
        self.canvas.set_overlay(opacity=self.opacity_slider.value() / 100)
        out_dir = s.value("out_dir", "")
        if (
            hasattr(self.host, "out_dir")
            and out_dir
            and self.host.out_dir is None
            and Path(out_dir).is_dir()
        ):
            self.host.out_dir = Path(out_dir)
        self._show_out_dir()

    def save_settings(self) -> None:
        if self._loading_settings:
            return
        s = self.settings
        s.setValue("engine", self.engine_combo.currentData())
        s.setValue("device", self.device_combo.currentData())
        s.setValue("quality", self.quality_combo.currentData())
        s.setValue("preview", self.preview_combo.currentData())
        if self.output_combo.currentData():
            s.setValue("output", self.output_combo.currentData())
        s.setValue("targets", "all" if self.all_radio.isChecked() else "selected")
        s.setValue("cutouts", self.cutout_check.isChecked())
        s.setValue("brush_size", self.size_slider.value())
        s.setValue("soft", self.soft_check.isChecked())
        s.setValue("overlay_color", self.canvas.overlay_color.name())
        s.setValue("overlay_opacity", self.opacity_slider.value())
        if getattr(self.host, "out_dir", None):
            s.setValue("out_dir", str(self.host.out_dir))
        s.sync()

    # == layers and reference ========================================================================
    def refresh_layers(self) -> None:
        """Re-read the host's layers (after files were added, or the document changed)."""
        layers = self.host.layers()
        current = self.reference_combo.currentData()
        self.reference_combo.clear()
        for layer in layers:
            self.reference_combo.addItem(layer.name, layer.id)
        if current is not None:
            _select(self.reference_combo, current)
        self.layer_list.clear()
        blank = QPixmap(self.layer_list.iconSize())
        blank.fill(QColor(0, 0, 0, 0))  # every row as tall as a row with a result thumbnail
        selected = set(self.host.selected_layer_ids())
        for layer in layers:
            item = QtWidgets.QListWidgetItem(layer.name)
            item.setData(LAYER_ID_ROLE, layer.id)
            item.setIcon(QIcon(blank))
            item.setToolTip(f"{layer.name}: {layer.size[1]}×{layer.size[0]} px")
            self.layer_list.addItem(item)
            item.setSelected(layer.id in selected)
            if layer.id in self.results:
                self._mark_done(item, self.results[layer.id])
        modes = self.host.output_modes()
        wanted = self.output_combo.currentData() or self._saved_output
        self.output_combo.blockSignals(True)
        self.output_combo.clear()
        for mode in modes:
            self.output_combo.addItem(OUTPUT_MODES[mode], mode)
        _select(self.output_combo, wanted)
        self.output_combo.blockSignals(False)
        self._output_changed()
        if layers and (
            self._reference is None or self._reference[0] != self.reference_combo.currentData()
        ):
            self._reference_chosen()
        self._mark_reference()
        if not layers:
            self._set_status("Open images to start: drop files here or use File ▸ Open.")

    def _mark_reference(self) -> None:
        """The reference layer is shown in bold: it is not a target."""
        reference = self._reference[0] if self._reference else None
        for item in self._items():
            font = item.font()
            font.setBold(item.data(LAYER_ID_ROLE) == reference)
            item.setFont(font)

    def _reference_chosen(self) -> None:
        layer_id = self.reference_combo.currentData()
        if layer_id is None:
            return
        try:
            self.set_reference(
                layer_id, self.host.read_pixels(layer_id), self.host.revision(layer_id)
            )
        except IcmError as error:
            self.show_error(str(error))

    def set_reference(self, layer_id: str, pixels: np.ndarray, revision=None) -> None:
        """Show ``pixels`` as the reference with an empty mask."""
        self._reference = (layer_id, revision)
        self._reference_pixels = pixels
        self._reference_generation = next(_reference_generation)
        self.canvas.set_reference(pixels)
        self._history_to_controls()
        self._mark_reference()
        self.clear_error()
        self._set_status("Brush over the subject in the reference, then Run.")

    def choose_reference_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Reference image", "", _image_filter()
        )
        if path:
            self.use_reference_file(path)

    def use_reference_file(self, path: str) -> None:
        from icm_core import imageio

        try:
            if hasattr(self.host, "add"):  # a files host: the reference becomes a layer too
                self.host.add([path])
                self.refresh_layers()
                layer_id = str(Path(path).expanduser())
                _select(self.reference_combo, layer_id)
                # refresh_layers may have just shown it (the first picture): read it only once
                if self._reference != (layer_id, self.host.revision(layer_id)):
                    self._reference_chosen()
            else:
                stat = Path(path).stat()
                self.set_reference(
                    f"file:{path}", imageio.read_image(path), (stat.st_mtime_ns, stat.st_size)
                )
        except (IcmError, OSError) as error:
            self.show_error(str(error))

    # == mask sources ==================================================================================
    def _fill_mask_menu(self) -> None:
        menu = self.mask_from_menu
        menu.clear()
        menu.addAction("Mask file…", self.choose_mask_file)
        menu.addAction("Selection", self.mask_from_selection)
        alpha_menu = menu.addMenu("Alpha of layer")
        for layer in self.host.layers():
            alpha_menu.addAction(layer.name, partial(self.mask_from_layer_alpha, layer.id))

    def choose_mask_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Mask image", "", _image_filter())
        if path:
            self.mask_from_file(path)

    def mask_from_file(self, path) -> None:
        from icm_core import imageio

        try:
            self._start_mask_from(imageio.read_mask(path), f"{Path(path).name}")
        except IcmError as error:
            self.show_error(str(error))

    def mask_from_selection(self) -> None:
        selection = self.host.read_selection()
        if selection is None:
            self.show_error("There is no active selection: select the subject in the editor first.")
            return
        self._start_mask_from(selection, "the selection")

    def mask_from_layer_alpha(self, layer_id: str) -> None:
        try:
            alpha = self.host.read_alpha(layer_id)
        except IcmError as error:
            self.show_error(str(error))
            return
        if alpha is None:
            self.show_error("That layer is fully opaque: its alpha cannot serve as a mask.")
            return
        self._start_mask_from(alpha, "the layer's alpha")

    def _start_mask_from(self, mask: np.ndarray, what: str) -> None:
        if not self.canvas.has_reference():
            self.show_error("Choose a reference image first.")
            return
        self.canvas.set_mask(mask)
        self.clear_error()
        self._set_status(f"Mask taken from {what}; refine it with the brush.")

    # == brush and overlay controls =====================================================================
    def _brush_to_controls(self) -> None:
        self.size_slider.blockSignals(True)
        self.size_slider.setValue(round(self.canvas.brush_radius * 2))
        self.size_slider.blockSignals(False)
        self.size_label.setText(f"{self.canvas.brush_radius * 2:.0f} px")
        self.erase_button.setChecked(self.canvas.erase_mode)
        self.paint_button.setChecked(not self.canvas.erase_mode)
        self.soft_check.setChecked(self.canvas.soft)
        self.save_settings()

    def _history_to_controls(self) -> None:
        document = self.canvas.document
        self.undo_button.setEnabled(bool(document and document.can_undo))
        self.redo_button.setEnabled(bool(document and document.can_redo))

    def choose_overlay_colour(self) -> None:
        colour = QtWidgets.QColorDialog.getColor(self.canvas.overlay_color, self, "Overlay colour")
        if colour.isValid():
            self.canvas.set_overlay(colour)
            self.save_settings()

    # == engine, output =============================================================================
    def refresh_engines(self) -> None:
        """Probe which engines can run (cheap) and disable the others with the reason."""
        from icm_core import engines

        model = self.engine_combo.model()
        self._engine_problems = {}
        for index in range(self.engine_combo.count()):
            key = self.engine_combo.itemData(index)
            ok, reason = engines.availability(key)
            model.item(index).setEnabled(ok)
            self.engine_combo.setItemData(
                index, reason or ENGINES[key], Qt.ItemDataRole.ToolTipRole
            )
            if not ok:
                self._engine_problems[key] = reason
        if self.engine_combo.currentData() in self._engine_problems:
            _select(self.engine_combo, "lite")
        self._engine_changed()

    def _engine_changed(self) -> None:
        problem = self._engine_problems.get("icm")
        # The first sentence in the panel, all of it in the tooltip and the weights dialog.
        self.engine_reason.setText(
            f"ICM is unavailable. {problem.split('. ')[0].rstrip('.')}." if problem else ""
        )
        self.engine_reason.setToolTip(problem or "")
        self.engine_reason.setVisible(bool(problem))
        self.weights_button.setVisible(bool(problem))
        lite = self.engine_combo.currentData() == "lite"
        self.device_combo.setEnabled(not lite)
        self.device_combo.setToolTip(
            "The lite engine runs on the CPU." if lite else "Where the model runs"
        )
        self.save_settings()

    def open_weights_setup(self) -> None:
        WeightsDialog(self).exec_dialog()
        self.refresh_engines()

    def _output_changed(self) -> None:
        mode = self.output_combo.currentData()
        self.cutout_check.setEnabled(mode in ("files", "layer"))

    def choose_out_dir(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Save results to")
        if folder:
            self.host.out_dir = Path(folder)
            self._show_out_dir()
            self.save_settings()

    def _show_out_dir(self) -> None:
        folder = getattr(self.host, "out_dir", None)
        self.out_dir_button.setText(str(folder) if folder else "Next to each image…")

    def engine_options(self) -> tuple[tuple[str, object], ...]:
        engine = self.engine_combo.currentData()
        options = dict(QUALITY[self.quality_combo.currentData()][1][engine])
        if engine == "lite":
            # Leave one core to the GUI thread so the panel stays responsive during a run.
            options["threads"] = max(1, (os.cpu_count() or 2) - 1)
        else:
            options["device"] = self.device_combo.currentData()
        return tuple(sorted(options.items()))

    # == running ===================================================================================
    def target_ids(self) -> list[str]:
        reference = self._reference[0] if self._reference else None
        if self.all_radio.isChecked():
            ids = [layer.id for layer in self.host.layers()]
        else:
            ids = [item.data(LAYER_ID_ROLE) for item in self.layer_list.selectedItems()]
        return [layer_id for layer_id in ids if layer_id != reference]

    def run(self) -> bool:
        """Start a run; returns False (with the reason shown) when it cannot start."""
        if self.runner.busy:
            return False
        self.clear_error()
        engine = self.engine_combo.currentData()
        if engine in self._engine_problems:
            return self._refuse(
                f"The {ENGINES[engine]} engine cannot run: {self._engine_problems[engine]}"
            )
        if self._reference is None:
            return self._refuse("Choose a reference image first.")
        mask = self.canvas.mask()
        if mask is None or mask.max() <= 0.5:
            return self._refuse(
                "The reference mask is empty: brush over the subject in the reference image."
            )
        ids = self.target_ids()
        if not ids:
            hint = "select layers in the list" if self.selected_radio.isChecked() else "add images"
            return self._refuse(f"There is nothing to matte besides the reference: {hint}.")
        mode = self.output_combo.currentData()
        existing = self.host.existing_outputs(ids, mode)
        overwrite = False
        if existing:
            if not self.confirm_overwrite(existing):
                return self._refuse(
                    "Run cancelled: nothing was overwritten. Choose another output folder."
                )
            overwrite = True
        names = {layer.id: layer.name for layer in self.host.layers()}
        try:
            if self.host.thread_safe:
                targets = tuple(
                    Target(i, names[i], load=partial(self.host.read_pixels, i)) for i in ids
                )
                write = partial(_write, self.host, mode=mode, overwrite=overwrite)
            else:
                targets = tuple(Target(i, names[i], pixels=self.host.read_pixels(i)) for i in ids)
                write = None
        except IcmError as error:
            return self._refuse(str(error))
        options = self.engine_options()
        job = Job(
            engine=engine,
            options=options,
            reference_key=(
                engine,
                options,
                self._reference,
                self._reference_generation,
                self.canvas.document.revision,
            ),
            reference_image=self._reference_pixels,
            reference_mask=mask,
            targets=targets,
            foreground=self.cutout_check.isChecked() and mode in ("files", "layer"),
            write=write,
        )
        self._run_mode, self._run_ids, self._run_overwrite = mode, ids, overwrite
        for item in self._items():
            if item.data(LAYER_ID_ROLE) in ids:
                item.setText(f"{_name(item)} — queued")
        self._set_running(True)
        self.runner.start(job)
        return True

    def cancel(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self._set_status("Cancelling… finished results are kept.")

    def confirm_overwrite(self, paths) -> bool:
        """Ask before overwriting existing results (tests replace this)."""
        listing = "\n".join(str(p) for p in paths[:8]) + ("\n…" if len(paths) > 8 else "")
        answer = QtWidgets.QMessageBox.question(
            self,
            "Overwrite results?",
            f"{len(paths)} result file(s) already exist:\n{listing}\n\nOverwrite them?",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            QtWidgets.QMessageBox.StandardButton.No,
        )
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def _refuse(self, message: str) -> bool:
        self.show_error(message)
        return False

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (
            self.engine_combo,
            self.device_combo,
            self.quality_combo,
            self.output_combo,
            self.reference_combo,
            self.reference_file_button,
        ):
            widget.setEnabled(not running)
        if running:
            self.overall_bar.setValue(0)
            self.target_bar.setValue(0)
        else:
            self._engine_changed()

    def _on_status(self, message: str) -> None:
        self._set_status(message)

    def _on_progress(self, progress: Progress) -> None:
        self.overall_bar.setValue(round(progress.overall * 1000))
        self.target_bar.setValue(round(progress.fraction * 1000))
        item = self._item(progress.layer_id)
        name = _name(item) if item else progress.layer_id
        self._set_status(f"{name} ({progress.index + 1}/{progress.count}): {progress.message}")
        if item is not None:
            item.setText(f"{name} — {progress.fraction:.0%}")
        self.progressed.emit(progress)

    def _on_target_done(self, done: TargetDone) -> None:
        written = done.written
        if written is None:  # a GUI-thread host: write now
            try:
                written = self.host.write_result(
                    done.layer_id, done.alpha, done.foreground, self._run_mode, self._run_overwrite
                )
            except IcmError as error:
                self._on_target_failed(
                    TargetFailed(done.index, done.layer_id, done.name, str(error))
                )
                return
        self.results[done.layer_id] = done
        item = self._item(done.layer_id)
        if item is not None:
            self._mark_done(item, done)
            item.setToolTip(f"{written.description} ({done.seconds:.1f} s)")
            if self.layer_list.currentItem() is None or self.layer_list.currentItem() is item:
                # show it without touching the selection (which may define the targets)
                self.layer_list.setCurrentItem(
                    item, QtCore.QItemSelectionModel.SelectionFlag.NoUpdate
                )
        self.show_preview()
        self.target_finished.emit(done)

    def _mark_done(self, item, done: TargetDone) -> None:
        item.setText(f"{_name(item)} — done")
        item.setIcon(QIcon(QPixmap.fromImage(image_from_array(done.preview["alpha"]))))

    def _on_target_failed(self, failed: TargetFailed) -> None:
        item = self._item(failed.layer_id)
        if item is not None:
            item.setText(f"{_name(item)} — failed")
            item.setToolTip(failed.message)
        self.show_error(f"{failed.name}: {failed.message}", append=True)
        self.target_finished.emit(failed)

    def _on_finished(self, finished: Finished) -> None:
        self._set_running(False)
        for item in self._items():
            if item.text().endswith(("queued", "%")):
                item.setText(
                    f"{_name(item)} — not run" if finished.status != "done" else _name(item)
                )
        if finished.status == "done":
            self.overall_bar.setValue(1000)
        if finished.status == "failed":
            self.show_error(finished.message, append=True)
        self._set_status(finished.message)
        self.run_finished.emit(finished)

    # == preview ================================================================================
    def show_preview(self) -> None:
        item = self.layer_list.currentItem()
        done = self.results.get(item.data(LAYER_ID_ROLE)) if item is not None else None
        if done is None:
            self.preview_label.clear()
            self.preview_label.setText("Results appear here.")
            return
        pixels = preview_pixels(done.preview, self.preview_combo.currentData())
        pixmap = QPixmap.fromImage(image_from_array(pixels))
        size = self.preview_label.size()
        self.preview_label.setPixmap(
            pixmap.scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )

    # == messages ================================================================================
    def show_error(self, message: str, append: bool = False) -> None:
        text = (
            f"{self.error_label.text()}\n{message}"
            if append and self.error_label.isVisible()
            else message
        )
        self.error_label.setText(text)
        self.error_label.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    def _set_status(self, message: str) -> None:
        self.status_label.setText(message)

    def _items(self):
        return [self.layer_list.item(row) for row in range(self.layer_list.count())]

    def _item(self, layer_id):
        return next((item for item in self._items() if item.data(LAYER_ID_ROLE) == layer_id), None)

    def shutdown(self) -> None:
        """Stop the worker thread; call before the panel goes away."""
        self.save_settings()
        self.runner.shutdown()
        if self.canvas.document is not None:
            self.canvas.document.close()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._warmed_up:  # the first time the panel shows: load torch & co in the background
            self._warmed_up = True
            self.runner.warm_up(self.engine_combo.currentData())

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


class WeightsDialog(QtWidgets.QDialog):
    """Where the ICM weights are expected, what is missing, and buttons to point at them."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("ICM weights")
        self.text = QtWidgets.QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        checkpoint = QtWidgets.QPushButton("ICM checkpoint file…")
        sd_folder = QtWidgets.QPushButton("Stable Diffusion 2.1 folder…")
        sd_file = QtWidgets.QPushButton("Stable Diffusion 2.1 file…")
        close = QtWidgets.QPushButton("Close")
        checkpoint.clicked.connect(lambda *_: self._locate("checkpoint", folder=False))
        sd_folder.clicked.connect(lambda *_: self._locate("sd", folder=True))
        sd_file.clicked.connect(lambda *_: self._locate("sd", folder=False))
        close.clicked.connect(lambda *_: self.accept())
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addLayout(_row(checkpoint, sd_folder, sd_file))
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.refresh()

    def refresh(self) -> None:
        from icm_core import weights
        from icm_core.engines import availability

        ok, reason = availability("icm")
        lines = [f"<b>{'Ready.' if ok else 'Not ready.'}</b> {reason}", "<ul>"]
        for entry in weights.status():
            where = entry.path if entry.path else entry.problem
            lines.append(f"<li>{entry.role}: {where}</li>")
        lines.append("</ul>")
        lines.append(weights.CHECKPOINT_HELP.replace("`", ""))
        self.text.setText("".join(str(line) for line in lines))

    def _locate(self, role: str, folder: bool) -> None:
        from icm_core import weights

        if folder:
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Stable Diffusion 2.1 folder")
        else:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self, "Weights file", "", "Weights (*.ckpt *.safetensors *.pth)"
            )
        if path:
            weights.remember(**{role: path})
            self.refresh()

    def exec_dialog(self) -> int:
        return exec_(self)


def preview_pixels(preview: dict, mode: str) -> np.ndarray:
    """uint8 pixels to show: the alpha, the cutout over a checkerboard, or source | cutout."""
    if mode == "alpha":
        return preview["alpha"]
    cutout = preview["cutout"].astype(np.float32) / 255
    height, width = cutout.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    checker = np.where(((yy // 12) + (xx // 12)) % 2 == 0, 0.8, 0.55).astype(np.float32)[..., None]
    alpha = cutout[..., 3:]
    composite = (cutout[..., :3] * alpha + checker * (1 - alpha)) * 255 + 0.5
    composite = composite.astype(np.uint8)
    if mode == "side":
        gap = np.full((height, 8, 3), 64, np.uint8)
        return np.concatenate([preview["source"], gap, composite], axis=1)
    return composite


def _write(host, layer_id, alpha, foreground, *, mode, overwrite):
    return host.write_result(layer_id, alpha, foreground, mode, overwrite)


def _row(*widgets) -> QtWidgets.QHBoxLayout:
    row = QtWidgets.QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row


def _tool(text: str, tip: str, checkable: bool = False) -> QtWidgets.QToolButton:
    button = QtWidgets.QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    return button


def _combo(choices: dict) -> QtWidgets.QComboBox:
    combo = QtWidgets.QComboBox()
    for key, label in choices.items():
        combo.addItem(label, key)
    return combo


def _select(combo: QtWidgets.QComboBox, key) -> None:
    index = combo.findData(key)
    if index >= 0:
        combo.setCurrentIndex(index)


def _bool(value) -> bool:
    """QSettings returns 'true'/'false' strings from INI files."""
    return value in (True, "true", "1", 1)


def _name(item) -> str:
    return item.text().split(" — ")[0]


def _image_filter() -> str:
    return "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"
