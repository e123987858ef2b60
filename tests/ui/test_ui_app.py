"""The standalone app and its files host: layers from files and folders, drag and drop,
results next to the inputs or in a chosen folder, never overwriting without asking."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from icm_core import imageio
from icm_core.api import InvalidInput, OutputError
from tests.ui.helpers import brush_subject, scene, screenshot
from ui.app import MainWindow
from ui.hostapi import FileHost
from ui.qt import QPointF, QSettings, Qt, QtCore, QtGui, QtWidgets

H, W = 90, 120


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "series"
    for index in range(3):
        imageio.write_image(images / f"frame{index}.png", scene(H, W, seed=index)[0])
    (images / "notes.txt").write_text("not an image")
    return images


@pytest.fixture
def window(qtbot, settings, folder):
    made = []

    def make(paths=(), out_dir=None):
        main = MainWindow(paths, out_dir, settings)
        qtbot.addWidget(main)
        main.show()
        qtbot.waitExposed(main)
        made.append(main)
        return main

    yield make
    for main in made:
        main.panel.shutdown()


def brush(panel):
    brush_subject(panel.canvas, H, W, seed=0)


def run(qtbot, panel):
    with qtbot.waitSignal(panel.run_finished, timeout=180_000) as finished:  # a hang guard
        assert panel.run(), panel.error_label.text()
    return finished.args[0]


def test_file_host_layers_alpha_and_atomic_never_overwriting_writes(folder, tmp_path):
    host = FileHost([folder])
    names = [layer.name for layer in host.layers()]
    assert names == ["frame0.png", "frame1.png", "frame2.png"]  # folder: images only, sorted
    assert host.layers()[0].size == (H, W)
    assert host.read_pixels(host.layers()[0].id).shape == (H, W, 3)
    assert host.read_alpha(host.layers()[0].id) is None  # opaque
    with pytest.raises(InvalidInput, match="does not exist"):
        host.add([tmp_path / "missing.png"])
    with pytest.raises(InvalidInput, match="not an image"):
        host.add([folder / "notes.txt"])
    # a bad and a missing file beside a good one: both problems said, the good one added
    good = tmp_path / "good.png"
    imageio.write_image(good, scene(H, W)[0])
    with pytest.raises(InvalidInput) as raised:
        host.add([tmp_path / "missing.png", folder / "notes.txt", good])
    assert "does not exist" in str(raised.value) and "not an image" in str(raised.value)
    assert raised.value.added == [str(good)] and str(good) in [layer.id for layer in host.layers()]
    host.remove([str(good)])

    cut = tmp_path / "cut.png"
    imageio.write_cutout(cut, scene(H, W)[0], scene(H, W)[1])
    [cut_id] = host.add([cut])
    np.testing.assert_allclose(host.read_alpha(cut_id), scene(H, W)[1], atol=1 / 255)

    layer = host.layers()[1].id
    alpha = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    written = host.write_result(layer, alpha, scene(H, W)[0], "files")
    assert [p.name for p in written.paths] == ["frame1_alpha.png", "frame1_cutout.png"]
    np.testing.assert_allclose(imageio.read_mask(written.paths[0]), alpha, atol=1 / 255)
    assert host.existing_outputs([layer]) == list(written.paths)
    before = written.paths[0].read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        host.write_result(layer, 1 - alpha, None, "files")
    assert written.paths[0].read_bytes() == before
    host.write_result(layer, 1 - alpha, None, "files", overwrite=True)
    assert written.paths[0].read_bytes() != before
    assert not list(folder.glob("*.part")) and not list(folder.glob(".*"))
    host.add([folder])  # our own results are not taken as inputs
    assert len(host.layers()) == 4

    twin = tmp_path / "other" / "frame1.png"  # same name from another folder, one output folder
    imageio.write_image(twin, scene(H, W)[0])
    host.out_dir = tmp_path / "results"
    [twin_id] = host.add([twin])
    assert host.output_paths(twin_id)[0].name == "other_frame1_png_alpha.png"
    assert host.output_paths(layer)[0].name == "series_frame1_png_alpha.png"
    assert host.output_paths(host.layers()[0].id)[0] == tmp_path / "results" / "frame0_alpha.png"


def test_app_runs_lite_out_of_the_box_and_asks_before_overwriting(qtbot, window, folder):
    main = window([folder])
    panel = main.panel
    assert panel.engine_combo.currentData() == "lite"
    brush(panel)
    screenshot(main, "app-reference-painted")
    summary = run(qtbot, panel)  # the real lite engine
    assert summary.status == "done" and len(summary.done) == 2
    outputs = sorted(
        p.name for p in folder.glob("*.png") if "_alpha" in p.name or "_cutout" in p.name
    )
    assert outputs == [
        "frame1_alpha.png",
        "frame1_cutout.png",
        "frame2_alpha.png",
        "frame2_cutout.png",
    ]
    alpha = imageio.read_mask(folder / "frame1_alpha.png")
    _, truth = scene(H, W, seed=1)
    assert alpha.shape == (H, W) and alpha[truth > 0.99].mean() > alpha[truth < 0.01].mean() + 0.5
    screenshot(main, "app-results")

    asked = []
    panel.confirm_overwrite = lambda paths: asked.append(paths) or False
    stamp = (folder / "frame1_alpha.png").stat().st_mtime_ns
    assert not panel.run()
    assert len(asked[0]) == 4 and "nothing was overwritten" in panel.error_label.text()
    assert (folder / "frame1_alpha.png").stat().st_mtime_ns == stamp

    panel.confirm_overwrite = lambda paths: True
    assert run(qtbot, panel).status == "done"
    assert (folder / "frame1_alpha.png").stat().st_mtime_ns != stamp


def test_sources_have_thumbnails_and_the_finish_message_says_where_files_went(
    qtbot, window, folder, tmp_path, fake_engine, monkeypatch
):
    import ui.run_controls

    imageio.write_image(folder / "deep.png", scene(H, W, seed=3)[0], bits=16)
    main = window([folder], out_dir=tmp_path / "results")
    panel = main.panel

    def centres():  # each row's icon at its middle: the subject's colour once it is read
        images = [panel.layer_list.item(i).icon().pixmap(40, 40).toImage() for i in range(4)]
        return [QtGui.QColor(image.pixel(image.width() // 2, image.height() // 2)) for image in images]

    assert [panel.layer_list.item(i).text() for i in range(4)] == [
        "deep.png",
        "frame0.png",
        "frame1.png",
        "frame2.png",
    ]
    qtbot.waitUntil(  # the subject's colour: the picture itself, not a blank
        lambda: all(c.red() > 180 and c.green() > 120 and c.blue() < 120 for c in centres()),
        timeout=180_000,  # a hang guard
    )
    screenshot(main, "app-thumbnails")

    opened = []
    monkeypatch.setattr(ui.run_controls, "open_folder", opened.append)
    panel.reference_combo.setCurrentIndex(1)
    panel.reference_combo.activated.emit(1)
    brush(panel)
    assert not panel.controls.open_folder_button.isVisible()
    assert run(qtbot, panel).status == "done"
    assert panel.status_label.text() == f"3 done. Saved in {tmp_path / 'results'}."
    assert panel.controls.open_folder_button.isVisible()
    panel.controls.open_folder_button.click()
    assert opened == [tmp_path / "results"]
    screenshot(main, "app-finished-with-folder")


def test_correct_and_learn_with_the_real_lite_engine(qtbot, window, folder, tmp_path):
    """A remove stroke over the subject of a target, with the real lite engine: the preview
    and final come back, Accept rewrites that target's result files (ours, nothing else), and
    "Learn from this" makes the next run combine the reference with the corrected target."""
    out = tmp_path / "results"
    main = window([folder], out_dir=out)
    panel = main.panel
    brush(panel)
    assert run(qtbot, panel).status == "done"
    target = str(folder / "frame1.png")
    alpha_file = out / "frame1_alpha.png"
    untouched = (out / "frame2_alpha.png").read_bytes()
    before = imageio.read_mask(alpha_file)
    _, truth = scene(H, W, seed=1)
    ys, xs = np.nonzero(truth > 0.99)
    cy, cx = int(ys.mean()), int(xs.mean())
    assert before[cy, cx] > 0.5

    engine = panel.runner.worker.cache.engine  # the real LiteEngine the run used
    calls = []
    real_matte = engine.matte

    def matte(target, reference, **options):
        calls.append((options.get("preview"), options.get("hints")))
        return real_matte(target, reference, **options)

    engine.matte = matte
    panel.layer_list.setCurrentRow(1)
    assert panel.start_correction()
    view = panel.correction
    view.canvas.set_erase_mode(True)  # remove
    view.canvas.set_brush_radius(W * 0.12)
    canvas = view.canvas
    from tests.ui.helpers import drag

    drag(canvas, [canvas.to_widget(cx - 5, cy), canvas.to_widget(cx + 5, cy)])
    qtbot.waitUntil(view.accept_button.isEnabled, timeout=180_000)  # a hang guard
    corrected = panel.session.corrected.alpha
    assert corrected.shape == (H, W) and corrected[cy, cx] < 0.1
    assert [preview for preview, _ in calls] == [True, False]  # a quick preview, then the final
    hints = calls[-1][1]
    assert hints.keep.max() == 0 and hints.remove[cy, cx] == 1 and hints.remove.shape == (H, W)
    screenshot(main, "app-correction-lite")

    assert panel.learn_from_correction()
    np.testing.assert_allclose(imageio.read_mask(alpha_file), corrected, atol=1 / 255)
    assert (out / "frame2_alpha.png").read_bytes() == untouched
    assert panel.results[target].alpha[cy, cx] < 0.1

    combined = []
    real_combine = engine.combine
    engine.combine = lambda references: combined.append(len(references)) or real_combine(
        references
    )
    asked = []
    panel.confirm_overwrite = lambda paths: asked.append(paths) or True
    assert alpha_file in panel.corrected_paths()  # the rerun's question names the corrected file
    assert run(qtbot, panel).status == "done"
    assert combined == [2] and alpha_file in asked[0]
    assert not panel.corrected_paths()  # replaced by the fresh result


def test_out_folder_drag_and_drop_and_reference_file(qtbot, window, folder, tmp_path, fake_engine):
    out = tmp_path / "results"
    main = window(out_dir=out)
    panel = main.panel
    assert panel.layer_list.count() == 0 and "Open images" in panel.status_label.text()
    screenshot(main, "app-empty")

    mime = QtCore.QMimeData()
    mime.setUrls(
        [
            QtCore.QUrl.fromLocalFile(str(folder / "frame1.png")),
            QtCore.QUrl.fromLocalFile(str(folder / "frame2.png")),
        ]
    )
    position = QPointF(200, 200)
    with warnings.catch_warnings():  # PySide6 flags the QPoint constructor Qt 6 still requires
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QtGui.QDragEnterEvent(
            position.toPoint(),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    QtWidgets.QApplication.sendEvent(main, enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(
        position,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(main, drop)
    assert [layer.name for layer in main.host.layers()] == ["frame1.png", "frame2.png"]
    assert panel.reference_combo.currentText() == "frame1.png"

    panel.use_reference_file(
        str(folder / "frame0.png")
    )  # a file as the reference: joins the layers
    assert panel.reference_combo.currentText() == "frame0.png"
    brush(panel)
    assert run(qtbot, panel).done == tuple(str(folder / f"frame{i}.png") for i in (1, 2))
    assert sorted(p.name for p in out.iterdir()) == [
        "frame1_alpha.png",
        "frame1_cutout.png",
        "frame2_alpha.png",
        "frame2_cutout.png",
    ]
    assert not list(folder.glob("*_alpha.png"))  # nothing next to the inputs

    mask = panel.canvas.mask()
    panel.layer_list.item(1).setSelected(True)
    main.remove_selected()
    assert [layer.name for layer in main.host.layers()] == ["frame1.png", "frame0.png"]
    assert panel.reference_combo.currentText() == "frame0.png"  # the reference and its mask stay
    np.testing.assert_array_equal(panel.canvas.mask(), mask)


def test_a_reference_file_is_read_once(window, folder, monkeypatch):
    """Choosing a large reference blocks the window while it is read: never twice."""
    main = window()
    reads = []
    original = main.host.read_pixels

    def read_pixels(layer_id):
        reads.append(layer_id)
        return original(layer_id)

    monkeypatch.setattr(main.host, "read_pixels", read_pixels)
    main.panel.use_reference_file(str(folder / "frame0.png"))
    assert reads == [str(folder / "frame0.png")]
    assert main.panel.canvas.has_reference()
    main.panel.use_reference_file(str(folder / "frame1.png"))  # another one: read, once
    assert reads == [str(folder / "frame0.png"), str(folder / "frame1.png")]


def test_gui_command_is_registered_and_lazy():
    from icm_cli import cli

    assert cli._COMMANDS["gui"] == "icm_cli.commands.gui"
    import argparse

    from icm_cli.commands import gui

    parser = argparse.ArgumentParser()
    gui.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["gui", "a.png", "shots", "--out", "results"])
    assert args.inputs == ["a.png", "shots"] and args.out == "results" and args.run is gui.run


def test_gui_command_opens_the_window_with_the_given_images(qtbot, folder, monkeypatch, tmp_path):
    import ui.app
    from icm_cli import cli

    monkeypatch.setattr(
        ui.app,
        "QSettings",
        lambda *a: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
    )
    shown = []

    def fake_exec(app):  # stands in for the event loop: look at the window, then close it
        [window] = [
            w
            for w in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(w, MainWindow) and w.isVisible()
        ]
        shown.append([layer.name for layer in window.host.layers()])
        window.close()
        return 0

    monkeypatch.setattr(ui.app, "exec_", fake_exec)
    assert (
        cli.main(["gui", str(folder / "frame2.png"), str(folder), "--out", str(tmp_path / "out")])
        == 0
    )
    assert shown == [["frame2.png", "frame0.png", "frame1.png"]]


def test_closing_with_corrections_not_accepted_asks_first(
    qtbot, window, folder, tmp_path, fake_engine
):
    out = tmp_path / "results"
    main = window([folder], out_dir=out)
    panel = main.panel
    brush(panel)
    assert run(qtbot, panel).status == "done"
    alpha_file = out / "frame1_alpha.png"
    before = alpha_file.read_bytes()
    panel.layer_list.setCurrentRow(1)
    assert panel.start_correction()
    canvas = panel.correction.canvas
    canvas.set_erase_mode(True)  # remove, over the subject
    canvas.set_brush_radius(W * 0.1)
    from tests.ui.helpers import drag

    drag(canvas, [canvas.to_widget(W // 2 - 5, H // 2), canvas.to_widget(W // 2 + 5, H // 2)])
    qtbot.waitUntil(panel.correction.accept_button.isEnabled, timeout=180_000)  # a hang guard

    # the real question, answered with its Cancel button: the window stays, strokes and all
    def answer(text):
        box = QtWidgets.QApplication.activeModalWidget()
        if box is None:
            QtCore.QTimer.singleShot(20, lambda: answer(text))
            return
        asked.append(box.text())
        next(b for b in box.buttons() if b.text().replace("&", "") == text).click()

    asked = []
    QtCore.QTimer.singleShot(0, lambda: answer("Cancel"))
    assert not main.close()
    assert "frame1" in asked[0] and main.isVisible() and canvas.hints() is not None
    QtCore.QTimer.singleShot(0, lambda: answer("Discard"))
    panel.may_close() and panel.close_correction()
    assert alpha_file.read_bytes() == before  # discarded: nothing written

    assert panel.start_correction()
    canvas.set_erase_mode(True)
    drag(canvas, [canvas.to_widget(W // 2 - 5, H // 2), canvas.to_widget(W // 2 + 5, H // 2)])
    qtbot.waitUntil(panel.correction.accept_button.isEnabled, timeout=180_000)
    QtCore.QTimer.singleShot(0, lambda: answer("Accept"))
    assert main.close()
    assert alpha_file.read_bytes() != before  # accepted on the way out
    np.testing.assert_allclose(imageio.read_mask(alpha_file), panel.results[
        str(folder / "frame1.png")].alpha, atol=1 / 255)


def test_actions_offer_only_what_can_be_done(qtbot, window, folder):
    """Issue 22 point 15: with nothing loaded, Run, Cancel, Correct, Undo and Redo are off;
    Correct… is in the Matte menu."""
    main = window()
    panel = main.panel
    menu = [a.text() for a in main.menuBar().actions()[1].menu().actions()]
    assert "Correct result" in menu
    for action in (panel.run_action, panel.cancel_action, panel.correct_action, panel.undo_action,
                   panel.redo_action):
        assert not action.isEnabled(), action.text()
    assert not panel.run_button.isEnabled()
    main.add_paths([folder])
    assert panel.run_button.isEnabled() and panel.run_action.isEnabled()
    brush(panel)
    assert panel.undo_action.isEnabled() and not panel.redo_action.isEnabled()
    panel.undo_action.trigger()
    assert panel.redo_action.isEnabled() and not panel.undo_action.isEnabled()


def test_a_result_opens_large_with_its_alpha_and_esc_closes_it(qtbot, window, folder, fake_engine):
    """Issue 22 point 15: besides Correct…, a result has a large view (View, Space in the list,
    double-click): the cutout over a checkerboard, or the alpha, fitted to a resizable window."""
    main = window([folder])
    panel = main.panel
    brush(panel)
    assert run(qtbot, panel).status == "done"
    done = panel.results[panel.targets.current_id()]
    assert panel.review.view_button.isEnabled()

    panel.layer_list.setFocus()
    qtbot.keyClick(panel.layer_list, Qt.Key.Key_Space)  # Space while the list has focus
    view = panel.result_view
    assert view is not None and view.isVisible()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is view, timeout=5_000)
    view.resize(700, 600)
    shown = view.label.pixmap()
    small = panel.preview_label.pixmap()
    assert shown.width() > small.width() and shown.height() > small.height()
    assert shown.width() > 3 * panel.layer_list.iconSize().width()

    # pixels well inside the subject and well inside what the matte drops
    alpha = done.preview["alpha"]
    inner = np.ones_like(alpha, bool)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            inner &= np.roll(alpha, (dy, dx), (0, 1)) == alpha
    inner[:3], inner[-3:], inner[:, :3], inner[:, -3:] = False, False, False, False
    subject = np.argwhere(inner & (alpha == 255))[0]
    dropped = np.argwhere(inner & (alpha == 0))[0]
    scale = shown.width() / alpha.shape[1]

    def colour(pixmap, y, x):
        return QtGui.QColor(pixmap.toImage().pixel(int((x + 0.5) * scale), int((y + 0.5) * scale)))

    cutout = done.preview["cutout"]
    seen = colour(shown, *subject)
    assert abs(seen.red() - cutout[tuple(subject)][0]) <= 3
    assert abs(seen.green() - cutout[tuple(subject)][1]) <= 3
    assert abs(seen.blue() - cutout[tuple(subject)][2]) <= 3
    seen = colour(shown, *dropped)  # the checkerboard's grey, not the picture
    assert seen.red() == seen.green() == seen.blue() and seen.red() in (140, 204)
    screenshot(view, "app-result-view")

    qtbot.keyClick(view, Qt.Key.Key_A)  # the alpha itself (a button's key clicks it shortly)
    qtbot.waitUntil(view.alpha_check.isChecked, timeout=5_000)
    shown = view.label.pixmap()
    assert colour(shown, *subject).red() == 255 and colour(shown, *dropped).red() == 0

    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.isVisible()

    item = panel.layer_list.currentItem()  # double-click opens it too, as does View
    centre = panel.layer_list.visualItemRect(item).center()
    qtbot.mouseClick(panel.layer_list.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(panel.layer_list.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert panel.result_view is not view and panel.result_view.isVisible()
    qtbot.keyClick(panel.result_view, Qt.Key.Key_Escape)
    panel.review.view_button.click()
    assert panel.result_view.isVisible()
