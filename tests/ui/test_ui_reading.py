"""The engine's reading of the brushed reference, shown live on the canvas, and warned results
badged in the target list."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from icm_core import engines, imageio
from tests.ui.helpers import drag, scene, screenshot
from ui.hostapi import FileHost
from ui.worker import Read

H, W = 120, 160
HANG_GUARD_MS = 180_000  # a guard against a hung worker, not a speed target


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "shots"
    for index in range(2):
        imageio.write_image(images / f"shot{index}.png", scene(H, W, seed=index)[0])
    imageio.write_image(images / "z-dark.png", np.zeros((H, W, 3), np.float32))
    return images


def stroke(panel, y, x0, x1, radius=6):
    """One real mouse stroke on the reference, in image pixels."""
    canvas = panel.canvas
    canvas.set_brush_radius(radius)
    drag(canvas, [canvas.to_widget(x0, y), canvas.to_widget(x1, y)])


def wait_for_reading(qtbot, panel, shown_before=None):
    """Until the canvas shows a reading other than ``shown_before`` (waited for on the GUI
    thread: a blocker on the worker's own signal would stop its timer from the worker)."""
    qtbot.waitUntil(lambda: panel.canvas.reading is not None
                    and panel.canvas.reading is not shown_before, timeout=HANG_GUARD_MS)
    return panel.canvas.reading


def test_reading_appears_after_a_stroke_and_is_the_engines(qtbot, make_panel, folder):
    panel = make_panel(FileHost([folder]))
    assert panel.reference.reading_check.isChecked()  # on by default
    _, truth = scene(H, W, seed=0)
    rows, cols = np.nonzero(truth > 0.5)
    cy, cx = rows.mean(), cols.mean()
    stroke(panel, cy, cx - 10, cx + 10)  # a short scribble inside the subject
    shown = wait_for_reading(qtbot, panel)
    # the same reading the engine gives for the same strokes, computed here independently
    lite = engines.get_engine("lite", **dict(panel.controls.engine_options()))
    expected = lite.complete_reference_mask(
        imageio.read_image(folder / "shot0.png"), panel.canvas.mask(), preview=True
    )
    np.testing.assert_allclose(shown, expected, atol=1e-4)
    painted = panel.canvas.mask() > 0.5
    assert (shown >= 0.5).sum() > 1.2 * painted.sum()  # more of the disc than the scribble
    assert ((shown >= 0.5) & (truth > 0.5)).sum() > 0.9 * (shown >= 0.5).sum()
    screenshot(panel.reference, "reference-reading")

    # drawn: the picture under the reading is tinted in the reading's colour, not the brush's
    def pixel(point):
        return panel.canvas.grab().toImage().pixelColor(panel.canvas.to_widget(*point).toPoint())

    read_only = (shown >= 0.5) & ~painted  # read as subject, not brushed
    y, x = np.unravel_index(np.argmax(ndimage.distance_transform_edt(read_only)), read_only.shape)
    inside_unpainted = (x + 0.5, y + 0.5)
    tinted = pixel(inside_unpainted)
    panel.reference.reading_check.setChecked(False)
    assert panel.canvas.reading is None
    plain = pixel(inside_unpainted)
    assert tinted.blue() > plain.blue() + 20


def test_a_stale_reading_is_dropped(qtbot, make_panel, folder):
    panel = make_panel(FileHost([folder]))
    stroke(panel, 50, 60, 80)
    first = wait_for_reading(qtbot, panel)
    stroke(panel, 110, 10, 30)  # a newer stroke, on the background: the first answer is stale
    stale = Read(panel._reading_serial - 1, np.ones((H, W), np.float32))
    panel.runner.signals.read.emit(stale)
    assert panel.canvas.reading is first  # not replaced by the stale answer
    newer = wait_for_reading(qtbot, panel, shown_before=first)
    assert newer is not stale.alpha
    assert newer[110, 20] == 1.0 and first[110, 20] < 0.5  # the newer stroke is in it


def test_clearing_the_mask_or_an_engine_without_a_reading_shows_none(
    qtbot, make_panel, folder, monkeypatch
):
    panel = make_panel(FileHost([folder]))
    stroke(panel, 50, 60, 80)
    wait_for_reading(qtbot, panel)
    assert panel.canvas.reading is not None
    panel.canvas.clear()
    assert panel.canvas.reading is None
    lite = engines.engine_class("lite")
    monkeypatch.delattr(lite, "complete_reference_mask")  # as the icm engine: no reading
    stroke(panel, 50, 60, 80)
    assert panel.canvas.reading is None and panel.error_label.text() == ""


def test_a_warned_result_is_badged_in_the_list(qtbot, make_panel, folder, fake_engine):
    panel = make_panel(FileHost([folder]))
    _, truth = scene(H, W, seed=0)
    rows, cols = np.nonzero(truth > 0.5)
    stroke(panel, rows.mean(), cols.mean() - 10, cols.mean() + 10, radius=10)
    with qtbot.waitSignal(panel.run_finished, timeout=HANG_GUARD_MS):
        assert panel.run(), panel.error_label.text()
    rows = {panel.targets._item(layer_id).text(): panel.targets._item(layer_id).toolTip()
            for layer_id in panel.results}
    assert "shot1.png — done" in rows  # the fake finds the disc there: no warning
    assert "Warning" not in rows["shot1.png — done"]
    assert "z-dark.png — ⚠ done" in rows  # nothing like the subject: an empty matte
    assert "Warning: the matte is empty" in rows["z-dark.png — ⚠ done"]
    screenshot(panel, "panel-warning-badge")



def test_a_reading_of_a_replaced_picture_is_dropped_quietly(qtbot, capsys):
    """The artist switched pictures before the worker read the strokes: no answer, no noise."""
    import threading

    from ui.maskdoc import MaskDocument
    from ui.worker import Reading, Worker

    document = MaskDocument((H, W), 2048)
    document.close()  # as set_reference does to the picture shown before
    worker = Worker(threading.Event())
    answers = []
    worker.read.connect(answers.append)
    worker.post_reading(Reading("lite", (), np.zeros((H, W, 3), np.float32), document.mask, 1))
    worker.read_reference()
    assert answers == [] and "Traceback" not in capsys.readouterr().err
