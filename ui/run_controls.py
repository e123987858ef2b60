"""Run controls: engine, quality and output choices, Run/Cancel, progress and messages."""

from __future__ import annotations

import os
from pathlib import Path

from .hostapi import OUTPUT_MODES
from .qt import Qt, QtCore, QtGui, QtWidgets, Signal, exec_
from .widgets import ElidedLabel, SummaryButton, as_bool, combo, row, select

DEVICES = {"auto": "Auto", "cpu": "CPU", "cuda": "GPU (CUDA)"}

#: progress bar texts before a run, and during one
IDLE_FORMATS = ("Overall: not started", "Current: not started")
RUN_FORMATS = ("Overall %p%", "Current %p%")


class RunControls(QtWidgets.QWidget):
    """Run/Cancel, progress and messages; its ``options`` widget holds engine and output.

    ``host`` is set by the panel; ``run_requested``/``cancel_requested`` go back to it."""

    run_requested = Signal()
    cancel_requested = Signal()
    settings_changed = Signal()

    def __init__(self, host, parent=None):
        super().__init__(parent)
        self.host = host
        self.engine_problems: dict[str, str] = {}  # engine → why it cannot run here
        self.engine_installed: dict[str, bool] = {}  # engine → its packages are there
        self._saved_output = ""
        self._build()
        self._connect()

    def _build(self) -> None:
        # The options form goes into the panel's column; Run, progress and messages stay in
        # this widget, which the panel keeps above everything that scrolls.
        from icm_core.engines import engine_class, engine_names
        from icm_core.engines.base import QUALITIES

        self.options = QtWidgets.QWidget()
        self.engines = {name: engine_class(name) for name in engine_names()}
        self.engine_combo = combo({name: engine.label for name, engine in self.engines.items()})
        self.engine_reason = QtWidgets.QLabel()  # shown only while ICM is chosen and not ready
        self.engine_reason.setWordWrap(True)
        # Qt 5's form layout ignores a wrapped label's height for width: keep two lines
        self.engine_reason.setMinimumHeight(2 * self.engine_reason.fontMetrics().lineSpacing() + 2)
        self.engine_reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.weights_button = QtWidgets.QPushButton("Set up ICM weights…")
        self.device_combo = combo(DEVICES)
        self.quality_combo = combo({quality: quality.capitalize() for quality in QUALITIES})
        self.output_combo = combo()
        self.cutout_check = QtWidgets.QCheckBox("Cutouts (subject colours)")
        self.cutout_check.setChecked(True)
        self.out_dir_button = QtWidgets.QPushButton()
        self.out_dir_button.setVisible(hasattr(self.host, "out_dir"))
        form = QtWidgets.QFormLayout(self.options)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Engine:", self.engine_combo)
        form.addRow("", self.engine_reason)
        form.addRow("", self.weights_button)
        form.addRow("Device:", self.device_combo)
        form.addRow("Quality:", self.quality_combo)
        form.addRow("Output:", self.output_combo)
        form.addRow("", self.cutout_check)
        form.addRow("Save to:", self.out_dir_button)
        form.labelForField(self.out_dir_button).setVisible(hasattr(self.host, "out_dir"))
        # The form folds away behind one line that says what is chosen: a short docker keeps
        # its height for the canvas and the list.
        self.options_button = SummaryButton()
        self.options_button.setCheckable(True)
        self.options.setVisible(False)

        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Matte the targets like the reference (Ctrl+Enter)")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.overall_bar = _bar(IDLE_FORMATS[0])
        self.target_bar = _bar(IDLE_FORMATS[1])
        self.status_label = ElidedLabel("Ready.")  # one line: the layout never moves
        self.open_folder_button = QtWidgets.QPushButton("Open folder")
        self.open_folder_button.setToolTip("Show the written files")
        self.open_folder_button.hide()
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("color: #d23c3c;")  # this label only: hosts keep their theme
        self.error_label.hide()
        self.written_folder: Path | None = None

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.actions_row = row(self.run_button, self.cancel_button, self.overall_bar, self.target_bar)
        self.actions_row.setStretch(2, 1)
        self.actions_row.setStretch(3, 1)
        layout.addLayout(self.actions_row)
        status = row(self.status_label, self.open_folder_button)
        status.setStretch(0, 1)
        layout.addLayout(status)
        layout.addWidget(self.error_label)

    def _connect(self) -> None:
        self.engine_combo.currentIndexChanged.connect(lambda *_: self._engine_changed())
        self.weights_button.clicked.connect(lambda *_: self.open_weights_setup())
        self.out_dir_button.clicked.connect(lambda *_: self.choose_out_dir())
        self.output_combo.currentIndexChanged.connect(lambda *_: self._output_chosen())
        self.open_folder_button.clicked.connect(lambda *_: self.open_written_folder())
        self.run_button.clicked.connect(lambda *_: self.run_requested.emit())
        self.options_button.toggled.connect(lambda *_: self._options_toggled())
        for signal in (
            self.engine_combo.currentIndexChanged,
            self.quality_combo.currentIndexChanged,
            self.output_combo.currentIndexChanged,
        ):
            signal.connect(lambda *_: self._summarise())
        self.cancel_button.clicked.connect(lambda *_: self.cancel_requested.emit())
        for signal in (
            self.device_combo.currentIndexChanged,
            self.quality_combo.currentIndexChanged,
            self.output_combo.currentIndexChanged,
            self.cutout_check.toggled,
        ):
            signal.connect(lambda *_: self.settings_changed.emit())

    # -- settings ----------------------------------------------------------------------------------
    def load_settings(self, s) -> None:
        select(self.engine_combo, s.value("engine", "lite"))
        select(self.device_combo, s.value("device", "auto"))
        select(self.quality_combo, s.value("quality", "balanced"))
        self._saved_output = s.value("output", "")
        self.cutout_check.setChecked(as_bool(s.value("cutouts", True)))
        self.options_button.setChecked(as_bool(s.value("options_shown", False)))
        self._options_toggled()
        out_dir = s.value("out_dir", "")
        if (
            hasattr(self.host, "out_dir")
            and out_dir
            and self.host.out_dir is None
            and Path(out_dir).is_dir()
        ):
            self.host.out_dir = Path(out_dir)
        self._show_out_dir()

    def save_settings(self, s) -> None:
        s.setValue("engine", self.engine_combo.currentData())
        s.setValue("device", self.device_combo.currentData())
        s.setValue("quality", self.quality_combo.currentData())
        if self._saved_output:
            s.setValue("output", self._saved_output)
        s.setValue("cutouts", self.cutout_check.isChecked())
        s.setValue("options_shown", self.options_button.isChecked())
        if getattr(self.host, "out_dir", None):
            s.setValue("out_dir", str(self.host.out_dir))

    # -- engine ------------------------------------------------------------------------------------
    def refresh_engines(self, fall_back: bool = False) -> None:
        """Probe which engines can run (cheap); with ``fall_back``, leave one that cannot.

        An engine that cannot run stays selectable: choosing it shows why and what to do."""
        from icm_core import install_hint

        self.engine_problems = {}
        for index in range(self.engine_combo.count()):
            key = self.engine_combo.itemData(index)
            engine = self.engines[key]
            ok, reason = engine.availability()
            self.engine_installed[key] = installed = not engine.missing_packages()
            if not installed:
                # not on PyPI: installed from its folder, as the README says
                reason = f"not installed: run {install_hint(engine.EXTRA)} in the icm-matting folder"
            state = "" if ok else " — not set up" if installed else " — not installed"
            self.engine_combo.setItemText(index, engine.label + state)
            tip = reason or engine.label
            self.engine_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
            if not ok:
                self.engine_problems[key] = reason
        if fall_back and self.engine() in self.engine_problems:
            select(self.engine_combo, "lite")
        self._engine_changed()

    def _engine_changed(self) -> None:
        engine = self.engines[self.engine()]
        problem = self.engine_problems.get(engine.name)
        installed = self.engine_installed.get(engine.name, True)
        if problem and installed:
            # The first sentence here; all of it in the tooltip and the weights dialog.
            text = f"{engine.label} needs its weights: {problem.split('. ')[0].rstrip('.')}."
        else:
            text = f"{engine.label} is {problem}" if problem else ""
        self.engine_reason.setText(text)
        self.engine_reason.setToolTip(problem or "")
        self.engine_reason.setVisible(bool(problem))
        # installed but not set up: what it lacks is its weights
        self.weights_button.setVisible(bool(problem) and installed)
        if problem:  # what to do must be in view
            self.options_button.setChecked(True)
        device = engine.option("device")
        self.device_combo.setEnabled(_device_choice(engine))
        self.device_combo.setToolTip("Where the model runs" if _device_choice(engine) else
                                     device.help if device else "")
        self.settings_changed.emit()

    def open_weights_setup(self) -> None:
        WeightsDialog(self).exec_dialog()
        self.refresh_engines()

    def engine(self) -> str:
        return self.engine_combo.currentData()

    def engine_problem(self) -> str | None:
        """Why the chosen engine cannot run here, as a sentence for the artist, or ``None``."""
        engine = self.engine()
        if engine in self.engine_problems:
            return f"The {self.engines[engine].label} engine cannot run: {self.engine_problems[engine]}"
        return None

    def engine_options(self) -> tuple[tuple[str, object], ...]:
        engine = self.engines[self.engine()]
        options = engine.preset(self.quality_combo.currentData())
        if engine.option("threads") is not None:
            # Leave one core to the GUI thread so the panel stays responsive during a run.
            options["threads"] = max(1, (os.cpu_count() or 2) - 1)
        if _device_choice(engine):
            options["device"] = self.device_combo.currentData()
        return tuple(sorted(options.items()))

    # -- output ------------------------------------------------------------------------------------
    def refresh_outputs(self) -> None:
        """Offer the host's output modes, keeping the chosen (or saved) one: a mode the host
        cannot offer for now (Krita without a window) comes back once it can."""
        wanted = self._saved_output or self.output_combo.currentData()
        self.output_combo.blockSignals(True)
        self.output_combo.clear()
        for mode in self.host.output_modes():
            self.output_combo.addItem(OUTPUT_MODES[mode], mode)
        select(self.output_combo, wanted)
        self.output_combo.blockSignals(False)
        self._output_changed()

    def output_mode(self) -> str:
        return self.output_combo.currentData()

    def wants_cutouts(self) -> bool:
        return self.cutout_check.isChecked() and self.output_mode() in ("files", "layer")

    def _output_chosen(self) -> None:
        self._saved_output = self.output_mode()
        self._output_changed()

    def _output_changed(self) -> None:
        self.cutout_check.setEnabled(self.output_mode() in ("files", "layer"))

    def choose_out_dir(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Save results to")
        if folder:
            self.host.out_dir = Path(folder)
            self._show_out_dir()
            self.settings_changed.emit()

    def _show_out_dir(self) -> None:
        folder = getattr(self.host, "out_dir", None)
        self.out_dir_button.setText(str(folder) if folder else "Next to each image…")

    # -- running -----------------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (
            self.engine_combo,
            self.device_combo,
            self.quality_combo,
            self.output_combo,
        ):
            widget.setEnabled(not running)
        if running:
            self.open_folder_button.hide()
            for bar, text in zip((self.overall_bar, self.target_bar), RUN_FORMATS):
                bar.setFormat(text)
                bar.setValue(0)
        else:
            self._engine_changed()

    def show_progress(self, progress, name: str) -> None:
        self.overall_bar.setValue(round(progress.overall * 1000))
        self.target_bar.setValue(round(progress.fraction * 1000))
        self.set_status(f"{name} ({progress.index + 1}/{progress.count}): {progress.message}")

    def _options_toggled(self) -> None:
        shown = self.options_button.isChecked()
        self.options.setVisible(shown)
        self.options_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self._summarise()
        self.settings_changed.emit()

    def _summarise(self) -> None:
        chosen = [box.currentText() for box in (self.engine_combo, self.quality_combo, self.output_combo)]
        text = "Options: " + " · ".join(part for part in chosen if part)
        self.options_button.set_summary(text)
        self.options_button.setToolTip(f"{text}\nClick to {'hide' if self.options.isVisible() else 'change'} them")

    def show_finished(self, finished, folders=()) -> None:
        """Say how the run ended and, for files, where they went (with a button to open it);
        a run that did not finish leaves no half-filled bars behind."""
        if finished.status == "done":
            self.overall_bar.setValue(1000)
        else:
            for bar, text in zip((self.overall_bar, self.target_bar), IDLE_FORMATS):
                bar.setFormat(text)
                bar.setValue(0)
        if finished.status == "failed":
            self.show_error(finished.message, append=True)
        message = finished.message
        folders = sorted(set(folders))
        if len(folders) == 1:
            message += f" Saved in {folders[0]}."
        elif folders:
            message += f" Saved next to each image ({len(folders)} folders)."
        self.written_folder = folders[0] if len(folders) == 1 else None
        self.open_folder_button.setVisible(self.written_folder is not None)
        self.set_status(message)

    def open_written_folder(self) -> None:
        open_folder(self.written_folder)

    # -- messages ----------------------------------------------------------------------------------
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

    def set_status(self, message: str) -> None:
        self.status_label.setText(message)


def _device_choice(engine) -> bool:
    """Whether the engine lets the artist choose where it runs."""
    device = engine.option("device")
    return device is not None and len(device.choices) > 1


def open_folder(folder: Path | None) -> None:
    """Show ``folder`` in the desktop's file manager."""
    if folder is not None:
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(folder)))


def _bar(idle_text: str) -> QtWidgets.QProgressBar:
    bar = QtWidgets.QProgressBar()
    bar.setRange(0, 1000)
    bar.setValue(0)
    bar.setFormat(idle_text)
    return bar


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
        layout.addLayout(row(checkpoint, sd_folder, sd_file))
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
