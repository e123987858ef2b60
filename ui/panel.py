"""The matting panel: pick a reference, brush its mask, choose targets, run, review, write.

Host-agnostic: it talks to a :class:`ui.hostapi.Host` on the GUI thread and drives the
engine through :class:`ui.worker.MatteRunner`.  The standalone app and the Krita docker embed
the same widget.  Settings persist through the ``QSettings`` given (the app's own by default).

The panel only wires its parts, each of which owns one job: :class:`ReferenceEditor` (the
reference and its mask, kept on disk so closing or a crash never loses brushwork), :class:`TargetList` (layers, targets, their states),
:class:`TargetReview` (the current target's result), :class:`CorrectionView` (keep / remove
strokes on one target, shown in place of the reference editor while correcting) and
:class:`RunControls` (engine, output, Run, progress, messages).

Corrections (a :class:`CorrectionSession` per visit; the strokes stay with their target):
each stroke asks the worker for the target's alpha with all its strokes as hints, a quick
preview and then the final one.  Accept replaces that target's result (a files host
rewrites our result files; an editor that can replaces the node we created); "Learn from
this" also adds the target with its corrected matte to the reference for the next runs.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from icm_core.api import IcmError, coverage_warnings

from .correction import CorrectionView
from .correction_session import Answer, CorrectionSession, Strokes
from .hostapi import Host
from .lessons import Lessons
from .mask_memory import MaskMemory
from .qt import QAction, QKeySequence, QSettings, QShortcut, Qt, QtWidgets, Signal, exec_
from .reference_editor import ReferenceEditor
from .review import ResultView, TargetReview
from .run_controls import RunControls
from .target_list import TargetList
from .worker import (
    Corrected,
    Correction,
    Finished,
    Job,
    MatteRunner,
    Progress,
    Read,
    Reading,
    Target,
    TargetDone,
    TargetFailed,
    previews,
)

ORGANISATION, APPLICATION = "icm-matting", "panel"
EMPTY = "Open images to start: drop files here or use File ▸ Open."


class Panel(QtWidgets.QWidget):
    """The whole panel.  ``results`` maps layer id → :class:`TargetDone` of the last runs."""

    # Re-emitted on the GUI thread once the panel has updated itself.  Connect plain functions
    # here, not to the worker's signals: PySide6 calls a lambda connected to a signal of
    # another thread directly in that thread.
    progressed = Signal(object)  # Progress
    target_finished = Signal(object)  # TargetDone or TargetFailed
    run_finished = Signal(object)  # Finished

    def __init__(self, host: Host, settings: QSettings | None = None, parent=None,
                 review: bool = True):
        """``review=False`` leaves out the result preview: an editor shows results as layers
        on its own canvas, and a short docker needs the room for the list."""
        super().__init__(parent)
        self._review_shown = review
        self.settings = settings if settings is not None else QSettings(ORGANISATION, APPLICATION)
        self.results: dict[str, TargetDone] = {}
        #: corrected targets the next runs learn from: (image, alpha > 0.5 as mask)
        self.learned: list[tuple] = []
        self.lessons = Lessons()  # the learned targets on disk, per reference picture
        #: layer id → every result written for it, oldest first: (TargetDone, Written, mode).
        #: In an editor the latest whose nodes still exist is the result (undo removes nodes).
        self._history: dict[str, list[tuple]] = {}
        self._accepted: set[str] = set()  # targets whose result is an accepted correction
        self.session: CorrectionSession | None = None  # the target under correction
        self.result_view: ResultView | None = None  # the last result opened large
        self._strokes: dict[str, Strokes] = {}  # layer id → its correction strokes
        self._reading_serial = 0  # the latest request for the engine's reading of the reference
        self.runner = MatteRunner(self)
        self._layer_count = 0
        self._run_mode = "files"
        self._run_overwrite = False
        self._run_folders: list = []  # where this run's files went
        self._loading_settings = True
        self._warmed_up = False
        self.reference = ReferenceEditor(host, MaskMemory())
        self.targets = TargetList()
        self.review = TargetReview()
        self.correction = CorrectionView()
        self.controls = RunControls(host)
        self.host = host
        self._build()
        self._connect()
        self._load_settings()
        self._loading_settings = False
        self.controls.refresh_engines(fall_back=True)
        self.refresh_layers()

    @property
    def host(self) -> Host:
        return self._host

    @host.setter
    def host(self, host: Host) -> None:
        """A host can be swapped (Krita: another document); the parts follow."""
        self._host = self.reference.host = self.controls.host = host

    # == construction ==============================================================================
    def _build(self) -> None:
        # The parts' widgets that hosts, scripts and tests reach for, under their old names.
        self.canvas = self.reference.canvas
        self.reference_combo = self.reference.combo
        self.mask_from_menu = self.reference.mask_from_menu
        self.soft_check = self.reference.soft_check
        self.opacity_slider = self.reference.opacity_slider
        self.redo_button = self.reference.redo_button
        self.layer_list = self.targets.list
        self.all_radio, self.selected_radio = self.targets.all_radio, self.targets.selected_radio
        self.preview_combo, self.preview_label = self.review.mode_combo, self.review.label
        controls = self.controls
        self.engine_combo, self.engine_reason = controls.engine_combo, controls.engine_reason
        self.weights_button, self.quality_combo = controls.weights_button, controls.quality_combo
        self.output_combo, self.cutout_check = controls.output_combo, controls.cutout_check
        self.run_button, self.cancel_button = controls.run_button, controls.cancel_button
        self.overall_bar, self.status_label = controls.overall_bar, controls.status_label
        self.error_label = controls.error_label

        right = QtWidgets.QWidget()
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.targets, 3)
        right_layout.addWidget(self.controls.options_button)
        right_layout.addWidget(self.controls.options)
        right_layout.addWidget(self.review, 2)
        # Correct… beside Run: the way into a result never scrolls out of a short docker
        self.controls.actions_row.insertWidget(2, self.review.correct_button)
        self.review.hide()  # until there is a result: the list takes the room

        scroll = QtWidgets.QScrollArea()  # a short docker scrolls instead of squashing rows
        scroll.setWidget(right)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # never narrower than its content: the splitter then takes the room from the canvas
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(right.minimumSizeHint().width() + bar)
        self.left = QtWidgets.QStackedWidget()  # the reference, or the target being corrected
        self.left.addWidget(self.reference)
        self.left.addWidget(self.correction)
        splitter = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.left)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])  # the stretch factors share growth only: start at 3:2
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.controls)  # Run stays in view however short a docker is
        layout.addWidget(splitter, 1)

        # Actions for a window's menus (the standalone app's Matte menu).  The panel does not
        # add them to itself: inside a host their keys would collide with the host's own
        # (Krita: Ctrl+Z, E, Esc); there the canvases take their keys only while focused.
        self.undo_action = self._action(
            "Undo stroke", [QKeySequence.StandardKey.Undo], lambda: self._active_canvas().undo()
        )
        self.redo_action = self._action(
            "Redo stroke",
            [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")],
            lambda: self._active_canvas().redo(),
        )
        self.correct_action = self._action(
            "Correct result", [QKeySequence("E")], self.start_correction
        )
        self.run_action = self._action("Run", [QKeySequence("Ctrl+Return")], self.run)
        self.cancel_action = self._action("Cancel", [QKeySequence("Escape")], self.cancel)

    def _action(self, text, shortcuts, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcuts(shortcuts)
        action.triggered.connect(lambda *_: slot())
        return action

    def _connect(self) -> None:
        self.reference.message.connect(self._say)
        self.reference.problem.connect(self.show_error)
        self.reference.layers_added.connect(self.refresh_layers)
        self.reference.reference_changed.connect(
            lambda: self.targets.mark_reference(self.reference.layer_id)
        )
        self.targets.current_changed.connect(self.show_preview)
        self.review.correct_requested.connect(self.start_correction)
        if self._review_shown:  # an editor shows results large on its own canvas
            self.review.view_requested.connect(self.view_result)
            self.targets.list.itemDoubleClicked.connect(lambda *_: self.view_result())
            # Space only while the list has focus: inside a host a window-wide key would collide
            space = QShortcut(QKeySequence("Space"), self.targets.list)
            space.setContext(Qt.ShortcutContext.WidgetShortcut)
            space.activated.connect(self.view_result)
        self.correction.hints_changed.connect(self._request_correction)
        self.correction.accept_requested.connect(self.accept_correction)
        self.correction.learn_requested.connect(self.learn_from_correction)
        self.correction.closed.connect(self.close_correction)
        self.canvas.mask_changed.connect(self._update_actions)
        self.canvas.mask_changed.connect(self._request_reading)  # after a stroke, not during
        self.reference.reading_check.toggled.connect(lambda *_: self._request_reading())
        self.controls.engine_combo.currentIndexChanged.connect(lambda *_: self._request_reading())
        self.correction.canvas.mask_changed.connect(self._update_actions)
        self.reference.reference_changed.connect(self._recall_lessons)  # a new series
        self.controls.run_requested.connect(self.run)
        self.controls.cancel_requested.connect(self.cancel)
        for part in (self.reference, self.targets, self.review, self.controls):
            part.settings_changed.connect(self.save_settings)
        signals = self.runner.signals
        signals.status.connect(self.controls.set_status)
        signals.progress.connect(self._on_progress)
        signals.target_done.connect(self._on_target_done)
        signals.target_failed.connect(self._on_target_failed)
        signals.finished.connect(self._on_finished)
        signals.corrected.connect(self._on_corrected)
        signals.read.connect(self._on_read)

    # == settings ==================================================================================
    def _load_settings(self) -> None:
        for part in (self.controls, self.targets, self.review, self.reference):
            part.load_settings(self.settings)

    def save_settings(self) -> None:
        if self._loading_settings:
            return
        for part in (self.controls, self.targets, self.review, self.reference):
            part.save_settings(self.settings)
        self.settings.sync()

    # == layers and reference ======================================================================
    def refresh_layers(self) -> None:
        """Re-read the host's layers (after files were added, or the document changed)."""
        layers = self.host.layers()
        self._follow_host_history()
        thumbnail = getattr(self.host, "thumbnail", None)
        self.targets.refresh(layers, self.host.selected_layer_ids(), self.results, thumbnail)
        self.controls.refresh_outputs()
        self.reference.refresh(layers)
        self._layer_count = len(layers)
        self.targets.mark_reference(self.reference.layer_id)
        self.show_preview()
        if not layers:
            self._set_status(EMPTY)
        elif self.status_label.text() == EMPTY:
            self._set_status("Brush over the subject in the reference, then Run.")

    def set_reference(self, layer_id: str, pixels, revision=None) -> None:
        """Show ``pixels`` as the reference with an empty mask."""
        self.reference.set_reference(layer_id, pixels, revision)

    def _reference_chosen(self) -> None:
        self.reference.reference_chosen()

    def use_reference_file(self, path: str) -> None:
        self.reference.use_file(path)

    def mask_from_file(self, path) -> None:
        self.reference.mask_from_file(path)

    def mask_from_selection(self) -> None:
        self.reference.mask_from_selection()

    def mask_from_layer_alpha(self, layer_id: str) -> None:
        self.reference.mask_from_layer_alpha(layer_id)

    def choose_out_dir(self) -> None:
        self.controls.choose_out_dir()

    def engine_options(self) -> tuple[tuple[str, object], ...]:
        return self.controls.engine_options()

    # == running ===================================================================================
    def target_ids(self) -> list[str]:
        return self.targets.target_ids(self.host.layers(), self.reference.layer_id)

    def run(self) -> bool:
        """Start a run; returns False (with the reason shown) when it cannot start."""
        if self.runner.busy:
            return False
        self.clear_error()
        problem = self.controls.engine_problem() or self.reference.problem_for_run()
        if problem:
            return self._refuse(problem)
        ids = self.target_ids()
        if not ids:
            hint = "select layers in the list" if self.selected_radio.isChecked() else "add images"
            return self._refuse(f"There is nothing to matte besides the reference: {hint}.")
        mode = self.controls.output_mode()
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
        job = self._job(targets, write, foreground=self.controls.wants_cutouts())
        self._run_mode, self._run_overwrite, self._run_folders = mode, overwrite, []
        self.targets.mark_queued(ids)
        self._set_running(True)
        self.runner.start(job)
        return True

    def _job(self, targets=(), write=None, foreground=False) -> Job:
        engine, options = self.controls.engine(), self.controls.engine_options()
        examples = tuple(self.learned)
        return Job(
            engine=engine,
            options=options,
            reference_key=(engine, options, *self.reference.key(), len(examples)),
            reference_image=self.reference.pixels,
            reference_mask=self.canvas.mask(),
            targets=targets,
            foreground=foreground,
            write=write,
            examples=examples,
        )

    def cancel(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self._set_status("Cancelling… finished results are kept.")

    def confirm_overwrite(self, paths) -> bool:
        """Ask before overwriting existing results (tests replace this)."""
        corrected = self.corrected_paths()
        listing = "\n".join(str(p) + (" (corrected)" if p in corrected else "") for p in paths[:8])
        listing += "\n…" if len(paths) > 8 else ""
        mine = [p for p in paths if p in corrected]
        note = (f"\n\n{len(mine)} of them hold corrections you accepted: the run replaces them with "
                "fresh results (your strokes are kept; Correct… applies them again)." if mine else "")
        answer = QtWidgets.QMessageBox.question(
            self,
            "Overwrite results?",
            f"{len(paths)} result file(s) already exist:\n{listing}{note}\n\nOverwrite them?",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            QtWidgets.QMessageBox.StandardButton.No,
        )
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def corrected_paths(self) -> set:
        """Files holding a correction the artist accepted (a rerun would replace them)."""
        return {path for layer_id in self._accepted for path in self._history[layer_id][-1][1].paths}

    def _refuse(self, message: str) -> bool:
        self.show_error(message)
        return False

    def _set_running(self, running: bool) -> None:
        self.controls.set_running(running)
        self.reference.set_running(running)
        if running:  # finished runs enable it again through show_preview
            self.review.correct_button.setEnabled(False)
        self._update_actions()

    def _on_progress(self, progress: Progress) -> None:
        self.controls.show_progress(progress, self.targets.name(progress.layer_id))
        self.targets.mark_progress(progress.layer_id, progress.fraction)
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
        self._record(done, written, self._run_mode)
        self._accepted.discard(done.layer_id)
        self._run_folders.extend(path.parent for path in written.paths)
        self.targets.mark_done(done, f"{written.description} ({done.seconds:.1f} s)")
        self.show_preview()
        self.target_finished.emit(done)

    def _on_target_failed(self, failed: TargetFailed) -> None:
        self.targets.mark_failed(failed.layer_id, failed.message)
        self.show_error(f"{failed.name}: {failed.message}", append=True)
        self.target_finished.emit(failed)

    def _on_finished(self, finished: Finished) -> None:
        self._set_running(False)
        self.targets.mark_finished(finished.status == "done", self.results)
        self.controls.show_finished(finished, self._run_folders)
        self.show_preview()
        self.run_finished.emit(finished)

    def _record(self, done: TargetDone, written, mode: str) -> None:
        self.results[done.layer_id] = done
        self._history.setdefault(done.layer_id, []).append((done, written, mode))

    def _follow_host_history(self) -> None:
        """An editor's undo / redo removes and restores our nodes: each target's result is the
        latest one whose nodes exist; a target with none has no result (the files host keeps
        no such history: its results stay)."""
        present = getattr(self.host, "node_ids", None)
        if present is None:
            return
        ids = present()
        for layer_id, entries in self._history.items():
            alive = [entry for entry in entries if set(entry[1].nodes) & ids]
            if alive:
                self.results[layer_id] = alive[-1][0]
            else:
                self.results.pop(layer_id, None)

    def view_result(self) -> bool:
        """Open the current target's result large; False if it has none."""
        done = self.results.get(self.targets.current_id())
        if done is None:
            return False
        if self.result_view is not None:  # one large view at a time
            self.result_view.close()
            self.result_view.deleteLater()
        self.result_view = ResultView(done, self)
        self.result_view.open()
        self.result_view.activateWindow()  # its keys (A, Esc) work at once
        return True

    # == the engine's reading of the reference ======================================================
    def _request_reading(self) -> None:
        """Ask the worker what the engine takes the brushed reference's subject to be; only
        the answer to the latest request is shown.  Engines that cannot tell show nothing."""
        from icm_core.engines import engine_class

        self._reading_serial += 1
        document, engine = self.canvas.document, self.controls.engine()
        if (
            not self.reference.reading_check.isChecked()
            or document is None
            or document.proxy.max() <= 0.5
            or engine is None
            or self.controls.engine_problem()
            or not hasattr(engine_class(engine), "complete_reference_mask")
        ):
            self.canvas.set_reading(None)
            return
        self.runner.read_reference(Reading(engine, self.controls.engine_options(),
                                           self.reference.pixels, document.mask,
                                           self._reading_serial))

    def _on_read(self, read: Read) -> None:
        if read.serial == self._reading_serial:  # else newer strokes are being read already
            self.canvas.set_reading(read.alpha)

    # == correcting one target =====================================================================
    def start_correction(self) -> bool:
        """Show the current target's result for keep / remove strokes in place of the
        reference; strokes painted on an earlier visit are shown and built on."""
        done = self.results.get(self.targets.current_id())
        if done is None or self.session is not None:
            return False
        if self.runner.busy:
            return self._refuse("Wait for the run to finish (or cancel it), then correct.")
        try:
            pixels = self.host.read_pixels(done.layer_id)
        except IcmError as error:
            return self._refuse(str(error))
        if pixels.shape[:2] != done.alpha.shape:
            return self._refuse(f"{done.name} changed size since its run: run it again first.")
        strokes = self._strokes.get(done.layer_id)
        if strokes is None or strokes.keep.size != pixels.shape[:2]:
            strokes = self._strokes[done.layer_id] = Strokes(pixels.shape[:2], self.canvas.proxy_max_side)
        self.session = CorrectionSession(done, pixels, strokes)
        self.correction.set_target(done.layer_id, done.name, pixels, done.alpha, strokes)
        self.correction.show_session(self.session)
        self.left.setCurrentWidget(self.correction)
        self.show_preview()
        self.clear_error()
        self._set_status(
            "Keep (K) / Remove (R) strokes; Accept replaces the result; Back keeps the strokes."
        )
        self.correction.canvas.setFocus()
        return True

    def _request_correction(self) -> None:
        session = self.session
        hints = session.request()
        if hints is not None:
            done = session.done
            job = self._job(foreground=done.foreground is not None)  # as the result it replaces
            self.runner.correct(Correction(job, done.layer_id, session.pixels, hints, session.serial))
        self.correction.show_session(session)

    def _on_corrected(self, corrected: Corrected) -> None:
        session = self.session
        if session is None or session.done.layer_id != corrected.layer_id:
            return  # an answer for a closed correction
        answer = None if corrected.error else Answer(
            corrected.alpha, corrected.foreground, corrected.final, corrected.seconds
        )
        if session.answer(corrected.serial, answer, corrected.error):
            if corrected.error:
                self.show_error(corrected.error)
            self.correction.show_session(session)

    def accept_correction(self) -> bool:
        """Replace the target's result with the corrected one; False if there is none yet."""
        session = self.session
        if session is None or not session.can_accept:
            return False
        done, pixels, corrected = session.done, session.pixels, session.corrected
        foreground = corrected.foreground
        _, written, mode = self._history.get(done.layer_id, [(None, None, self.controls.output_mode())])[-1]
        try:
            if written is not None and hasattr(self.host, "replace_result"):
                written = self.host.replace_result(
                    written, done.layer_id, corrected.alpha, foreground, mode
                )
            else:  # our own result files are rewritten; editors get a new result
                written = self.host.write_result(
                    done.layer_id, corrected.alpha, foreground, mode, overwrite=True
                )
        except IcmError as error:
            return self._refuse(str(error))
        fixed = TargetDone(
            done.index,
            done.layer_id,
            done.name,
            corrected.alpha,
            foreground,
            previews(pixels, corrected.alpha, foreground),
            written,
            corrected.seconds,
            coverage_warnings(corrected.alpha),
        )
        self._record(fixed, written, mode)
        self._accepted.add(done.layer_id)
        self.targets.mark_done(fixed, f"Corrected. {written.description}")
        self.close_correction()
        self._set_status(f"{done.name} corrected. {written.description}")
        return True

    def _recall_lessons(self) -> None:
        self.learned[:] = self.lessons.recall(self.reference.picture_key)

    def learn_from_correction(self) -> bool:
        """Accept, and let the next runs learn from the corrected target."""
        session = self.session
        if session is None or not session.can_accept:
            return False
        pixels, alpha, name = session.pixels, session.corrected.alpha, session.done.name
        if not self.accept_correction():
            return False
        self.learned.append((pixels, (alpha > 0.5).astype(np.float32)))
        if self.reference.picture_key is not None:
            self.lessons.add(self.reference.picture_key, pixels, alpha)
        count = len(self.learned)
        self._set_status(
            f"{name} corrected and learned: the next run matches like the reference and "
            f"{count} corrected target{'s' if count > 1 else ''}."
        )
        return True

    def may_close(self) -> bool:
        """Before the window closes: a correction not accepted yet is accepted or dropped as
        the artist says; False when the artist chose to stay."""
        if self.session is None or not self.session.unaccepted:
            return True
        choice = self.ask_about_strokes(self.session.done.name, self.session.can_accept)
        if choice == "accept":
            return self.accept_correction()
        return choice == "discard"

    def ask_about_strokes(self, name: str, ready: bool) -> str:
        """"accept", "discard" or "stay" (tests replace this)."""
        buttons = QtWidgets.QMessageBox.StandardButton
        offered = buttons.Discard | buttons.Cancel | (buttons.Save if ready else buttons.NoButton)
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Question, "Corrections not accepted",
            f"The corrections on {name} are not accepted yet."
            + ("" if ready else " (The corrected result is still being computed.)"),
            offered, self)
        if ready:
            box.button(buttons.Save).setText("Accept")
        box.setDefaultButton(buttons.Cancel)
        exec_(box)
        clicked = box.clickedButton()
        if ready and clicked is box.button(buttons.Save):
            return "accept"
        return "discard" if clicked is box.button(buttons.Discard) else "stay"

    def close_correction(self) -> None:
        """Back to the reference; the target's strokes stay with it (answers on their way are
        dropped)."""
        self.session = None
        self.left.setCurrentWidget(self.reference)
        self.show_preview()

    def _active_canvas(self):
        return self.correction.canvas if self.session is not None else self.canvas

    # == preview ===================================================================================
    def show_preview(self) -> None:
        self.review.setVisible(self._review_shown and bool(self.results))
        self.review.show_result(self.results.get(self.targets.current_id()))
        if self.runner.busy or self.session is not None:
            self.review.correct_button.setEnabled(False)
        self._update_actions()

    def _update_actions(self) -> None:
        """Buttons and menu actions offer only what can be done now: Run needs a reference and
        something to matte, and nothing else going on; undo / redo follow the canvas in view."""
        idle = not self.runner.busy and self.session is None
        can_run = idle and self._layer_count >= 2
        self.controls.run_button.setEnabled(can_run)
        self.run_action.setEnabled(can_run)
        self.cancel_action.setEnabled(self.runner.busy)
        self.correct_action.setEnabled(self.review.correct_button.isEnabled())
        canvas = self._active_canvas()
        history = canvas.strokes if canvas is self.correction.canvas else canvas.document
        self.undo_action.setEnabled(bool(history is not None and history.can_undo))
        self.redo_action.setEnabled(bool(history is not None and history.can_redo))

    # == messages ==================================================================================
    def show_error(self, message: str, append: bool = False) -> None:
        self.controls.show_error(message, append)

    def clear_error(self) -> None:
        self.controls.clear_error()

    def _set_status(self, message: str) -> None:
        self.controls.set_status(message)

    def _say(self, message: str) -> None:
        self.clear_error()
        self._set_status(message)

    def shutdown(self) -> None:
        """Stop the worker thread; call before the panel goes away."""
        self.save_settings()
        self.reference.close_memory()
        self.runner.shutdown()
        if self.canvas.document is not None:
            self.canvas.document.close()
        for strokes in self._strokes.values():
            strokes.close()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._warmed_up:  # the first time the panel shows: load torch & co in the background
            self._warmed_up = True
            self.runner.warm_up(self.controls.engine())

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


def _write(host, layer_id, alpha, foreground, *, mode, overwrite):
    return host.write_result(layer_id, alpha, foreground, mode, overwrite)
