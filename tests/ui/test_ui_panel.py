"""The panel with a fake engine (fast, controllable) and an in-memory editor-like host."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from tests.ui.helpers import MemoryHost, drag, mouse, scene, screenshot
from ui.review import preview_pixels
from ui.run_controls import WeightsDialog
from ui.qt import QColor, Qt, QtCore, QtWidgets

H, W = 96, 128


@pytest.fixture
def host():
    images = {name: scene(H, W, seed)[0] for seed, name in enumerate(["ref", "a", "b", "c"])}
    selection = np.zeros((H, W), np.float32)
    selection[30:60, 40:90] = 1.0
    return MemoryHost(images, selection=selection, alphas={"b": scene(H, W, 2)[1]})


@pytest.fixture
def make_panel(make_panel, fake_engine):
    """The panels here run the fake engine."""
    return make_panel


def brush_subject(panel):
    canvas = panel.canvas
    canvas.set_brush_radius(12)
    drag(canvas, [canvas.to_widget(55, 45), canvas.to_widget(70, 50)])


def run_and_wait(qtbot, panel, timeout=180_000):  # a hang guard, not a speed target
    with qtbot.waitSignal(panel.run_finished, timeout=timeout) as finished:
        assert panel.run(), panel.error_label.text()
    return finished.args[0]


def test_run_streams_results_into_every_output_mode_on_the_gui_thread(
    qtbot, make_panel, host, fake_engine
):
    panel = make_panel(host)
    assert panel.reference_combo.currentData() == "ref"
    screenshot(panel, "panel-empty-mask")
    brush_subject(panel)
    streamed = []
    panel.target_finished.connect(lambda done: streamed.append(done.layer_id))
    for mode in ("layer", "mask", "selection"):
        panel.output_combo.setCurrentIndex(panel.output_combo.findData(mode))
        finished = run_and_wait(qtbot, panel)
        assert finished.status == "done" and finished.done == ("a", "b", "c")
        assert streamed[-3:] == ["a", "b", "c"]
        assert [(layer, m) for layer, m, _ in host.written[-3:]] == [
            ("a", mode),
            ("b", mode),
            ("c", mode),
        ]
    assert host.call_threads == {threading.get_ident()}  # host touched on the GUI thread only
    assert threading.get_ident() not in fake_engine.thread_ids  # engine ran in the worker
    assert host.written[-1][2].shape == (H, W)
    assert panel.overall_bar.value() == 1000
    assert [panel.layer_list.item(i).text() for i in range(4)] == [
        "ref",
        "a — done",
        "b — done",
        "c — done",
    ]
    assert not panel.layer_list.item(1).icon().isNull()
    assert panel.preview_label.pixmap() is not None and not panel.preview_label.pixmap().isNull()
    screenshot(panel, "panel-results")


def test_reference_is_encoded_again_only_when_image_or_mask_change(
    qtbot, make_panel, host, fake_engine
):
    panel = make_panel(host)
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    run_and_wait(qtbot, panel)
    assert fake_engine.encoded == 1
    drag(panel.canvas, [panel.canvas.to_widget(20, 20), panel.canvas.to_widget(25, 20)])
    run_and_wait(qtbot, panel)
    assert fake_engine.encoded == 2
    panel.quality_combo.setCurrentIndex(panel.quality_combo.findData("fast"))  # new engine options
    run_and_wait(qtbot, panel)
    assert fake_engine.encoded == 3 and fake_engine.options == {
        "quality": "fast",
        "threads": max(1, (os.cpu_count() or 2) - 1),  # one core left to the GUI
    }
    panel.reference_combo.setCurrentIndex(1)
    panel.reference_combo.activated.emit(1)  # as when the artist picks it
    assert panel.target_ids() == ["ref", "b", "c"]
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    assert fake_engine.encoded == 4


def test_selected_targets_and_undo_redo_shortcuts(qtbot, make_panel, host):
    panel = make_panel(host)
    brush_subject(panel)
    painted = panel.canvas.mask()
    panel.activateWindow()  # shortcuts only fire in the active window
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is panel)
    panel.canvas.setFocus()
    qtbot.keyClick(panel.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.canvas.mask().max() == 0 and panel.redo_button.isEnabled()
    qtbot.keyClick(
        panel.canvas,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    np.testing.assert_array_equal(panel.canvas.mask(), painted)

    panel.selected_radio.setChecked(True)
    panel.layer_list.item(2).setSelected(True)
    panel.layer_list.item(0).setSelected(True)  # the reference is never its own target
    assert panel.target_ids() == ["b"]
    finished = run_and_wait(qtbot, panel)
    assert finished.done == ("b",) and [w[0] for w in host.written] == ["b"]


def test_errors_are_shown_inline_with_what_to_do(qtbot, make_panel, host, fake_engine):
    panel = make_panel(host)
    assert not panel.run()
    assert panel.error_label.isVisible() and "brush over the subject" in panel.error_label.text()
    screenshot(panel, "panel-error-empty-mask")

    panel.mask_from_selection()  # start from the host's selection
    assert panel.canvas.mask()[45, 60] == 1.0 and not panel.error_label.isVisible()

    panel.selected_radio.setChecked(True)
    assert not panel.run() and "select layers" in panel.error_label.text()
    panel.all_radio.setChecked(True)

    fake_engine.fail_on = {(H, W)}  # every target refused: messages come back, the thread lives
    finished = run_and_wait(qtbot, panel)
    assert finished.failed == ("a", "b", "c")
    assert "a: The target is 128×96 px; the fake refuses it." in panel.error_label.text()
    assert panel.layer_list.item(1).text() == "a — failed"
    screenshot(panel, "panel-error-target-failed")

    fake_engine.fail_on = set()
    assert run_and_wait(qtbot, panel).done == ("a", "b", "c")


def test_unexpected_engine_errors_come_back_as_messages(
    qtbot, make_panel, host, fake_engine, monkeypatch
):
    panel = make_panel(host)
    brush_subject(panel)

    def broken(image, mask):
        raise RuntimeError("feature map went missing")

    monkeypatch.setattr(fake_engine, "encode_reference", broken)
    finished = run_and_wait(qtbot, panel)
    assert finished.status == "failed"
    assert "RuntimeError: feature map went missing" in panel.error_label.text()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    monkeypatch.undo()
    assert run_and_wait(qtbot, panel).status == "done"  # same worker thread, still alive


def test_icm_status_shows_only_while_icm_is_chosen_with_the_one_action(
    qtbot, make_panel, host, monkeypatch, settings
):
    settings.setValue("engine", "icm")  # chosen last time, when the weights were there
    panel = make_panel(host)
    assert panel.engine_combo.currentData() == "lite"  # a panel opens on an engine that runs
    assert not panel.engine_reason.isVisible() and not panel.weights_button.isVisible()
    screenshot(panel, "panel-lite-no-icm-notice")

    index = panel.engine_combo.findData("icm")
    assert panel.engine_combo.itemText(index).endswith("— not set up")
    panel.engine_combo.setCurrentIndex(index)  # still selectable: choosing it says what to do
    assert panel.engine_reason.isVisible()
    assert panel.engine_reason.text() == (
        "In-Context Matting (SD 2.1) needs its weights: ICM weights are not installed."
    )
    assert panel.weights_button.isVisible()
    screenshot(panel, "panel-icm-needs-weights")

    opened = []
    monkeypatch.setattr(
        WeightsDialog, "exec_dialog", lambda dialog: opened.append(dialog.text.text())
    )
    panel.weights_button.click()
    assert opened and "Not ready" in opened[0]
    assert panel.engine_combo.currentData() == "icm"  # the artist stays where they were

    brush_subject(panel)
    assert not panel.run() and "cannot run" in panel.error_label.text()
    panel.engine_combo.setCurrentIndex(panel.engine_combo.findData("lite"))
    assert not panel.engine_reason.isVisible() and not panel.weights_button.isVisible()


def test_icm_without_torch_says_how_to_install_it(qtbot, make_panel, host, monkeypatch):
    for package in ("torch", "diffusers"):  # as on a base install: find_spec finds neither
        monkeypatch.setitem(sys.modules, package, None)
    panel = make_panel(host)
    index = panel.engine_combo.findData("icm")
    assert panel.engine_combo.itemText(index).endswith("— not installed")
    panel.engine_combo.setCurrentIndex(index)
    assert panel.engine_reason.text() == (
        'In-Context Matting (SD 2.1) is not installed: run pip install -e ".[icm]" in the '
        "icm-matting folder")
    assert not panel.weights_button.isVisible()  # weights would not help
    screenshot(panel, "panel-icm-not-installed")
    brush_subject(panel)
    assert not panel.run()
    assert 'pip install -e ".[icm]"' in panel.error_label.text()


def test_lite_without_its_packages_names_the_base_install(qtbot, make_panel, host, monkeypatch):
    from icm_core.engines import engine_class

    monkeypatch.setattr(engine_class("lite"), "REQUIREMENTS", ("no_such_package_xyz",))
    panel = make_panel(host)
    assert panel.engine_combo.itemText(panel.engine_combo.findData("lite")).endswith("— not installed")
    panel.engine_combo.setCurrentIndex(panel.engine_combo.findData("lite"))
    assert panel.engine_reason.text() == (  # lite has no extra of its own: ".[lite]" does not exist
        "Lite (built in) is not installed: run pip install -e . in the icm-matting folder")


def test_layer_list_gets_the_room_until_a_result_and_bars_say_so_before_a_run(
    qtbot, make_panel, host
):
    panel = make_panel(host)
    panel.window().resize(1600, 1000)
    qtbot.waitUntil(lambda: panel.width() == 1600)
    rows = panel.layer_list.count()
    row_height = panel.layer_list.sizeHintForRow(0)
    assert not panel.review.isVisible()  # nothing to preview: no empty box
    assert panel.layer_list.viewport().height() >= rows * row_height
    assert panel.overall_bar.text() == "Overall: not started"
    assert panel.controls.target_bar.text() == "Current: not started"
    screenshot(panel, "panel-1600-before-run")
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    assert panel.review.isVisible() and panel.preview_label.height() >= 200
    assert panel.layer_list.viewport().height() >= rows * row_height
    assert panel.overall_bar.text() == "Overall 100%"
    screenshot(panel, "panel-1600-results")


def test_default_brush_follows_the_picture_and_keys_work_on_hover(qtbot, make_panel, settings):
    from tests.ui.helpers import MemoryHost

    images = {"big": scene(900, 1200)[0], "small": scene(90, 120)[0]}
    panel = make_panel(MemoryHost(images))
    assert panel.canvas.brush_radius * 2 == pytest.approx(1200 * 0.05)
    assert panel.reference.size_label.text() == "60 px"
    panel.reference_combo.setCurrentIndex(1)
    panel.reference_combo.activated.emit(1)
    assert panel.canvas.brush_radius * 2 == pytest.approx(120 * 0.05)
    panel.canvas.set_brush_radius(12)  # the artist's choice: a fifth of this picture …
    panel.reference_combo.setCurrentIndex(0)
    panel.reference_combo.activated.emit(0)
    assert panel.canvas.brush_radius * 2 == pytest.approx(1200 / 5)  # … is a fifth of the next

    panel.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is panel)
    panel.quality_combo.setFocus()
    assert not panel.canvas.hasFocus()
    enter_event(panel.canvas)  # shown under a resting pointer: takes nothing
    assert not panel.canvas.hasFocus()
    mouse(panel.canvas, "move", (20, 20), buttons=Qt.MouseButton.NoButton)  # the pointer moves over it
    assert panel.canvas.hasFocus()
    before = panel.canvas.brush_radius
    qtbot.keyClick(panel.canvas, Qt.Key.Key_BracketRight)
    assert panel.canvas.brush_radius == pytest.approx(before * 1.2)
    leave = QtCore.QEvent(QtCore.QEvent.Type.Leave)
    QtWidgets.QApplication.sendEvent(panel.canvas, leave)  # and leaves: the keys are the host's
    assert not panel.canvas.hasFocus()
    opacity_label = [
        label
        for label in panel.findChildren(QtWidgets.QLabel)
        if label.buddy() is panel.opacity_slider
    ]
    assert [label.text() for label in opacity_label] == ["Opacity"]


def enter_event(widget):
    from ui.qt import QPointF, QtGui

    point = QPointF(widget.width() / 2, widget.height() / 2)
    if hasattr(QtGui, "QEnterEvent"):
        event = QtGui.QEnterEvent(point, point, QPointF(widget.mapToGlobal(point.toPoint())))
    else:
        event = QtCore.QEvent(QtCore.QEvent.Type.Enter)
    QtWidgets.QApplication.sendEvent(widget, event)


def test_run_button_and_brush_size_fit_a_krita_docker(qtbot, make_panel, host):
    """Krita 5 at 1070×800 gives a right-hand docker about 690×260 (measured in
    test_krita_gui's window screenshot); the primary action must be in view there."""
    panel = make_panel(host)
    panel.resize(690, 260)
    qtbot.waitUntil(lambda: panel.size().width() == 690)
    QtWidgets.QApplication.processEvents()
    path = screenshot(panel, "panel-krita-docker-690x260")
    run = panel.run_button
    inside = QtCore.QRect(run.mapTo(panel, QtCore.QPoint(0, 0)), run.size())
    assert run.isVisible() and panel.rect().contains(inside), (inside, path)
    assert not run.visibleRegion().isEmpty()
    assert panel.reference.size_slider.width() >= 80, path
    assert panel.canvas.height() >= 100, path


def test_settings_persist_across_panels(qtbot, make_panel, host, settings):
    panel = make_panel(host)
    panel.quality_combo.setCurrentIndex(panel.quality_combo.findData("best"))
    panel.output_combo.setCurrentIndex(panel.output_combo.findData("mask"))
    panel.preview_combo.setCurrentIndex(panel.preview_combo.findData("side"))
    panel.selected_radio.setChecked(True)
    panel.cutout_check.setChecked(False)
    panel.canvas.set_brush_radius(33)
    panel.soft_check.setChecked(True)
    panel.opacity_slider.setValue(70)
    panel.canvas.set_overlay(QColor("#00ff00"))
    panel.save_settings()
    panel.shutdown()

    again = make_panel(host)
    assert again.quality_combo.currentData() == "best"
    assert again.output_combo.currentData() == "mask"
    assert again.preview_combo.currentData() == "side"
    assert again.selected_radio.isChecked() and not again.cutout_check.isChecked()
    assert again.canvas.brush_radius == 33 and again.canvas.soft
    assert again.canvas.overlay_opacity == pytest.approx(0.7)
    assert again.canvas.overlay_color.name() == "#00ff00"


def test_mask_from_menu_takes_the_selection_or_a_layers_alpha(qtbot, make_panel, host):
    # The menu is built with QMenu.addAction(text, slot), whose overloads differ per binding.
    panel = make_panel(host)
    panel.mask_from_menu.aboutToShow.emit()
    actions = {action.text(): action for action in panel.mask_from_menu.actions()}
    assert list(actions) == ["Mask file…", "Selection", "Alpha of layer"]
    actions["Selection"].trigger()
    np.testing.assert_array_equal(panel.canvas.mask(), host.selection)
    alpha_of = {action.text(): action for action in actions["Alpha of layer"].menu().actions()}
    assert list(alpha_of) == ["ref", "a", "b", "c"]
    alpha_of["b"].trigger()
    np.testing.assert_allclose(panel.canvas.mask(), host.alphas["b"])
    host.selection = None
    actions["Selection"].trigger()
    assert "no active selection" in panel.error_label.text()


def test_mask_from_layer_alpha_and_previews(qtbot, make_panel, host):
    panel = make_panel(host)
    panel.mask_from_layer_alpha("a")  # opaque layer: told why
    assert "fully opaque" in panel.error_label.text()
    panel.mask_from_layer_alpha("b")
    np.testing.assert_allclose(panel.canvas.mask(), host.alphas["b"])
    finished = run_and_wait(qtbot, panel)
    done = panel.results[finished.done[0]]
    alpha = preview_pixels(done.preview, "alpha")
    side = preview_pixels(done.preview, "side")
    composite = preview_pixels(done.preview, "composite")
    assert (
        alpha.shape == (H, W) and composite.shape == (H, W, 3) and side.shape == (H, 2 * W + 8, 3)
    )
    transparent = done.preview["alpha"] == 0
    assert len(np.unique(composite[transparent].reshape(-1, 3), axis=0)) == 2  # the checkerboard
    for mode in ("alpha", "composite", "side"):
        panel.preview_combo.setCurrentIndex(panel.preview_combo.findData(mode))
        assert not panel.preview_label.pixmap().isNull()


def correct(qtbot, panel, layer_id):
    """Open the correction view on ``layer_id``'s result, as the artist does."""
    count = panel.layer_list.count()
    row = [panel.layer_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(count)]
    panel.layer_list.setCurrentRow(row.index(layer_id))
    assert panel.review.correct_button.isEnabled()
    panel.review.correct_button.click()
    assert panel.left.currentWidget() is panel.correction
    return panel.correction


def stroke(view, points, key=None):
    """One stroke through image points ``(x, y)``; ``key`` picks keep (K) / remove (R) first."""
    canvas = view.canvas
    if key is not None:
        canvas.setFocus()
        QtWidgets.QApplication.processEvents()
        from pytestqt.qtbot import QtBot

        QtBot.keyClick(canvas, key)
    drag(canvas, [canvas.to_widget(x, y) for x, y in points])


def wait_final(qtbot, view):
    qtbot.waitUntil(view.accept_button.isEnabled, timeout=180_000)  # a hang guard


def test_correct_a_target_in_place_with_strokes_undo_redo_and_accept(
    qtbot, make_panel, host, fake_engine
):
    panel = make_panel(host)
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    before = panel.results["a"].alpha.copy()
    inside = tuple(int(v) for v in np.argwhere(before > 0.5).mean(axis=0))  # (y, x)
    outside = (5, 5)
    assert before[outside] == 0
    written = len(host.written)

    view = correct(qtbot, panel, "a")
    # what the matte drops lies under an opaque-ish grey checkerboard, what it keeps is clear
    # (issue 22 point 14: 42 % darkening was unreadable on dark photos)
    scale = view.canvas.document.proxy_size[0] / H
    overlay = view.canvas._overlay_pixels
    dropped = overlay[int(outside[0] * scale), int(outside[1] * scale)]
    kept = overlay[int(inside[0] * scale), int(inside[1] * scale)]
    assert dropped[3] >= 0.8 * 255 and dropped[0] == dropped[1] == dropped[2] > 0.4 * 255 * 0.8
    assert kept[3] == 0
    assert not panel.run_button.isEnabled()  # one thing at a time: the worker is correcting
    assert not view.accept_button.isEnabled()  # nothing corrected yet
    view.canvas.set_brush_radius(4)
    stroke(view, [(inside[1] - 3, inside[0]), (inside[1] + 3, inside[0])], Qt.Key.Key_R)
    assert view.remove_button.isChecked() and view.canvas.erase_mode  # R chose remove
    wait_final(qtbot, view)
    hints, preview = fake_engine.hinted[-2]
    assert preview and not fake_engine.hinted[-1][1]  # a preview first, then the final
    assert hints.keep.max() == 0 and hints.remove[inside] == 1.0
    assert hints.remove.shape == before.shape and hints.remove.dtype == np.float32
    assert panel.session.corrected.alpha[inside] == 0.0
    screenshot(panel, "panel-correction-remove")

    panel.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is panel)
    view.canvas.setFocus()
    qtbot.keyClick(view.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo
    # every stroke undone: the run's own result, nothing to accept (issue 22 point 10)
    assert view.canvas.hints() is None and not view.accept_button.isEnabled()
    np.testing.assert_array_equal(panel.session.alpha, before)
    assert "Paint a stroke" in view.state_label.text()
    qtbot.keyClick(
        view.canvas,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )  # redo
    wait_final(qtbot, view)
    assert panel.session.corrected.alpha[inside] == 0.0

    # keep over part of the removed stroke: the two never overlap, keep wins where painted last
    right = (inside[0], W - 5)
    assert before[right] == 0
    stroke(view, [(inside[1] + 3, inside[0]), (right[1], right[0])], Qt.Key.Key_K)
    assert view.keep_button.isChecked()
    wait_final(qtbot, view)
    hints = view.canvas.hints()
    assert not ((hints.keep > 0.5) & (hints.remove > 0.5)).any()
    assert hints.keep[inside[0], inside[1] + 3] == 1 and hints.remove[inside[0], inside[1] + 3] == 0
    corrected = panel.session.corrected.alpha
    assert corrected[right] == 1.0 and corrected[inside[0], inside[1] - 3] == 0.0
    screenshot(panel, "panel-correction-keep-and-remove")

    assert panel.accept_correction()
    assert panel.left.currentWidget() is panel.reference and panel.run_button.isEnabled()
    assert len(host.written) == written + 1 and host.written[-1][0] == "a"
    np.testing.assert_array_equal(host.written[-1][2], corrected)
    np.testing.assert_array_equal(panel.results["a"].alpha, corrected)
    assert "corrected" in panel.status_label.text()


def test_back_leaves_the_result_and_late_answers_are_dropped(qtbot, make_panel, host):
    panel = make_panel(host)
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    before = panel.results["b"].alpha.copy()
    written = len(host.written)
    view = correct(qtbot, panel, "b")
    final = panel.runner.signals.corrected
    with qtbot.waitSignal(final, check_params_cb=lambda answer: answer.final, timeout=180_000):
        stroke(view, [(10, 10), (30, 10)], Qt.Key.Key_K)
        view.back_button.click()  # before the answer arrives
    assert panel.left.currentWidget() is panel.reference
    np.testing.assert_array_equal(panel.results["b"].alpha, before)
    assert len(host.written) == written
    # the stroke stays with its target (issue 22 points 5, 13): Correct… again shows it
    view = correct(qtbot, panel, "b")
    assert view.canvas.hints().keep[10, 20] == 1 and view.undo_button.isEnabled()
    assert "Earlier strokes" in view.state_label.text() and not view.accept_button.isEnabled()
    view.back_button.click()
    assert panel.review.correct_button.isEnabled()
    with qtbot.waitSignal(panel.run_finished, timeout=180_000):
        assert panel.run()
        assert not panel.review.correct_button.isEnabled()  # not while the worker runs
        assert not panel.start_correction() and "Wait for the run" in panel.error_label.text()
    assert panel.review.correct_button.isEnabled()


def test_learn_from_this_adds_the_corrected_target_to_the_reference(
    qtbot, make_panel, host, fake_engine
):
    panel = make_panel(host)
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    encoded = fake_engine.encoded
    view = correct(qtbot, panel, "c")
    stroke(view, [(5, 5), (40, 5)], Qt.Key.Key_K)
    wait_final(qtbot, view)
    corrected = panel.session.corrected.alpha
    assert panel.learn_from_correction()
    [(image, mask)] = panel.learned
    np.testing.assert_array_equal(image, host.images["c"])
    np.testing.assert_array_equal(mask, (corrected > 0.5).astype(np.float32))
    assert "learned" in panel.status_label.text()

    run_and_wait(qtbot, panel)  # the reference and the learned target, combined
    assert fake_engine.encoded == encoded + 2 and fake_engine.combined == [2]
    run_and_wait(qtbot, panel)
    assert fake_engine.encoded == encoded + 2  # cached until reference or lessons change

    panel.reference_combo.setCurrentIndex(1)
    panel.reference_combo.activated.emit(1)  # another reference: another series
    assert panel.learned == []
    panel.reference_combo.setCurrentIndex(0)
    panel.reference_combo.activated.emit(0)  # back: its lesson too
    assert len(panel.learned) == 1
    panel.shutdown()

    again = make_panel(host)  # closing the app does not forget it (issue 22 point 15)
    [(image_again, mask_again)] = again.learned
    np.testing.assert_allclose(image_again, host.images["c"], atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(mask_again, mask)


def test_brushed_masks_survive_switching_reference_and_closing_the_panel(
    qtbot, make_panel, host
):
    panel = make_panel(host)
    brush_subject(panel)
    painted = panel.canvas.mask()
    assert painted.max() == 1.0
    panel.reference_combo.setCurrentIndex(1)
    panel.reference_combo.activated.emit(1)  # another reference: its own, empty mask
    assert panel.canvas.mask().max() == 0.0
    panel.reference_combo.setCurrentIndex(0)
    panel.reference_combo.activated.emit(0)  # back: the brushwork is there
    np.testing.assert_allclose(panel.canvas.mask(), painted, atol=0.5 / 255)
    assert "last mask" in panel.status_label.text()

    drag(panel.canvas, [panel.canvas.to_widget(10, 80), panel.canvas.to_widget(30, 80)])
    painted = panel.canvas.mask()
    panel.close()  # closed right after a stroke: that stroke is kept too
    again = make_panel(host)
    np.testing.assert_allclose(again.canvas.mask(), painted, atol=0.5 / 255)

    again.reference.clear_button.click()  # Clear starts over, also for the next time
    qtbot.waitUntil(lambda: not any(again.reference.memory.folder.glob("*.png")), timeout=5000)
    again.close()
    assert make_panel(host).canvas.mask().max() == 0.0


def test_saved_output_comes_back_when_the_host_can_offer_it_again(qtbot, make_panel, host, settings):
    """Krita offers transparency masks only with a window: a panel built without one must not
    forget (nor overwrite) the artist's saved "mask" choice (issue 22 point 1)."""
    panel = make_panel(host)
    panel.output_combo.setCurrentIndex(panel.output_combo.findData("mask"))
    panel.shutdown()
    modes = host.output_modes()
    host.output_modes = lambda: [m for m in modes if m != "mask"]
    again = make_panel(host)
    assert again.output_combo.currentData() != "mask"
    again.save_settings()
    host.output_modes = lambda: modes
    again.refresh_layers()
    assert again.output_combo.currentData() == "mask"


def test_canvas_keys_only_while_it_has_focus_and_never_beside_a_hosts_shortcut(qtbot, make_panel, host):
    """In a host window with its own Ctrl+Z and X (as Krita's), Ctrl+Z on our focused canvas
    undoes our stroke and only ours; with the focus elsewhere in the panel, the host's Ctrl+Z
    runs (issue 22 point 2: Krita logged an ambiguous overload and ran neither)."""
    from ui.qt import QAction, QKeySequence

    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    panel = make_panel(host)
    window.setCentralWidget(panel)
    fired = []
    for keys in ("Ctrl+Z", "X"):
        action = QAction(keys, window)
        action.setShortcut(QKeySequence(keys))
        action.triggered.connect(lambda *_, keys=keys: fired.append(keys))
        window.addAction(action)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    brush_subject(panel)
    panel.canvas.setFocus()
    qtbot.waitUntil(panel.canvas.hasFocus)
    qtbot.keyClick(panel.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.canvas.mask().max() == 0 and fired == []
    qtbot.keyClick(panel.canvas, Qt.Key.Key_X)
    assert panel.canvas.erase_mode and fired == []
    panel.run_button.setFocus()
    qtbot.waitUntil(panel.run_button.hasFocus)
    qtbot.keyClick(panel.run_button, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert fired == ["Ctrl+Z"] and panel.redo_button.isEnabled()
    window.takeCentralWidget()  # the fixture shuts the panel down after the window is gone


class NodeHost(MemoryHost):
    """An editor whose results are nodes that its own undo can take away (as Krita's)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.nodes: set[str] = set()

    def write_result(self, layer_id, alpha, foreground, mode, overwrite=False):
        from ui.hostapi import Layer, Written

        super().write_result(layer_id, alpha, foreground, mode, overwrite)
        node = f"{layer_id} matte {len(self.written)}"
        self.nodes.add(node)
        self.layers_.insert(0, Layer(node, node, alpha.shape, result=True))
        self.images[node] = self.images[layer_id]
        return Written(f"new {mode} for {layer_id}", nodes=(node,))

    def node_ids(self):
        return set(self.nodes)


def test_results_are_never_default_targets_nor_the_reference(qtbot, make_panel, host):
    """Issue 22 points 6 and 8: a second run with Targets: All does not matte the first run's
    result layers, and a panel opening on a document with results at the top picks one of the
    artist's pictures as the reference."""
    images = {name: scene(H, W, seed)[0] for seed, name in enumerate(["ref", "a"])}
    nodes = NodeHost(images)
    panel = make_panel(nodes)
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    assert [layer.result for layer in nodes.layers()] == [True, False, False]
    panel.refresh_layers()  # as the Krita docker does when the document's layers change
    assert panel.target_ids() == ["a"]
    assert panel.layer_list.item(0).font().italic()
    panel.shutdown()
    again = make_panel(nodes)
    assert again.reference_combo.currentData() == "ref"
    again.selected_radio.setChecked(True)  # picked explicitly, a result is a target
    again.layer_list.item(0).setSelected(True)
    assert again.target_ids() == ["a matte 1"]


def test_the_list_follows_the_editors_undo_of_results_and_accepts(qtbot, make_panel, fake_engine):
    """Issue 22 point 7: a result undone in the editor is no longer listed as done (nor offered
    for correction); undoing an Accept shows the result before it again once it is back."""
    images = {name: scene(H, W, seed)[0] for seed, name in enumerate(["ref", "a"])}
    nodes = NodeHost(images)
    panel = make_panel(nodes)
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    first = panel.results["a"]
    view = correct(qtbot, panel, "a")
    inside = tuple(int(v) for v in np.argwhere(first.alpha > 0.5).mean(axis=0))
    stroke(view, [(inside[1] - 3, inside[0]), (inside[1] + 3, inside[0])], Qt.Key.Key_R)
    wait_final(qtbot, view)
    assert panel.accept_correction()
    row = next(i for i in range(panel.layer_list.count()) if panel.layer_list.item(i).data(Qt.ItemDataRole.UserRole) == "a")
    nodes.nodes.discard("a matte 2")  # the editor's first undo: the corrected node goes
    nodes.nodes.discard("a matte 1")  # (ours was removed before it went in)
    panel.refresh_layers()
    assert "a" not in panel.results and not panel.layer_list.item(row).text().endswith("done")
    nodes.nodes.add("a matte 1")  # the second undo: the uncorrected one is back
    panel.refresh_layers()
    assert panel.results["a"] is first
    nodes.nodes.discard("a matte 1")
    nodes.nodes.add("a matte 2")  # redo, redo
    panel.refresh_layers()
    assert panel.results["a"].alpha[inside] == 0.0


def test_reopening_correct_after_accept_builds_on_the_earlier_strokes(qtbot, make_panel, host, fake_engine):
    """Issue 22 point 5: the fix of the first visit (a remove stroke) is sent again with the
    keep stroke of the second visit, not lost."""
    panel = make_panel(host)
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    view = correct(qtbot, panel, "a")
    view.canvas.set_brush_radius(3)
    stroke(view, [(10, 10), (20, 10)], Qt.Key.Key_R)
    wait_final(qtbot, view)
    assert panel.accept_correction()
    view = correct(qtbot, panel, "a")
    assert view.canvas.hints().remove[10, 15] == 1
    view.canvas.set_brush_radius(3)
    stroke(view, [(60, 60), (70, 60)], Qt.Key.Key_K)
    wait_final(qtbot, view)
    hints, _ = fake_engine.hinted[-1]
    assert hints.remove[10, 15] == 1 and hints.keep[60, 65] == 1


def test_an_editor_panel_offers_no_large_view(qtbot, make_panel, host):
    """Inside an editor (``review=False``, as the Krita docker) results are layers on the
    editor's canvas: Space and double-click in the list keep the list's own meaning."""
    panel = make_panel(host, review=False)
    brush_subject(panel)
    run_and_wait(qtbot, panel)
    assert panel.results and panel.targets.current_id() in panel.results
    panel.layer_list.setFocus()
    qtbot.keyClick(panel.layer_list, Qt.Key.Key_Space)
    centre = panel.layer_list.visualItemRect(panel.layer_list.currentItem()).center()
    qtbot.mouseClick(panel.layer_list.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(panel.layer_list.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert panel.result_view is None and not panel.review.isVisible()
