"""Mask canvas: brush strokes give exact full-resolution pixels; undo/redo; view; overlay."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.helpers import drag, mouse, scene, screenshot
from ui.canvas import MaskCanvas
from ui.maskdoc import Brush, MaskDocument
from ui.qt import QColor, QPointF, Qt, QtCore, QtGui, QtWidgets

H, W = 300, 400  # reference size; the proxy is 4× smaller, so full resolution is really tested


def capsule_distance(x0, y0, x1, y1, shape):
    """Distance of every pixel centre to the segment (x0, y0)–(x1, y1), brute force."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64) + 0.5
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))


@pytest.fixture
def canvas(qtbot):
    widget = MaskCanvas(proxy_max_side=100)
    qtbot.addWidget(widget)
    widget.resize(W, H)  # zoom 1: widget position == image position
    widget.show()
    qtbot.waitExposed(widget)
    image, _ = scene(H, W)
    widget.set_reference(image)
    assert widget.zoom == pytest.approx(1.0)
    return widget


def test_hard_stroke_gives_exact_full_resolution_pixels(canvas, qtbot):
    canvas.set_brush_radius(10.3)
    with qtbot.waitSignal(canvas.mask_changed):
        drag(canvas, [(60.0, 100.0), (160.0, 100.0), (260.0, 180.0)])
    mask = canvas.mask()
    assert mask.shape == (H, W) and mask.dtype == np.float32
    assert canvas.document.proxy.shape == (75, 100)
    inside = (capsule_distance(60, 100, 160, 100, (H, W)) <= 10.3) | (
        capsule_distance(160, 100, 260, 180, (H, W)) <= 10.3
    )
    np.testing.assert_array_equal(mask, inside.astype(np.float32))


def test_soft_stroke_falls_off_and_right_button_erases(canvas):
    canvas.set_soft(True)
    canvas.set_brush_radius(20)
    drag(canvas, [(100.0, 150.0), (300.0, 150.0)])
    mask = canvas.mask()
    distance = capsule_distance(100, 150, 300, 150, (H, W))
    u = np.clip(distance / 20, 0, 1)
    np.testing.assert_allclose(mask, 1 - u * u * (3 - 2 * u), atol=1e-5)
    assert 0 < mask[150, 100 - 15] < 1 and mask[149, 200] > 0.99

    canvas.set_soft(False)
    canvas.set_brush_radius(5.5)
    drag(canvas, [(200.0, 130.0), (200.0, 170.0)], button=Qt.MouseButton.RightButton)
    erased = capsule_distance(200, 130, 200, 170, (H, W)) <= 5.5
    after = canvas.mask()
    assert after[erased].max() == 0.0
    np.testing.assert_array_equal(after[~erased], mask[~erased])


def test_undo_redo_restore_each_stroke_exactly(canvas):
    canvas.set_brush_radius(8)
    drag(canvas, [(50.0, 50.0), (150.0, 50.0)])
    first = canvas.mask()
    canvas.set_erase_mode(True)
    drag(canvas, [(100.0, 40.0), (100.0, 60.0)])
    second = canvas.mask()
    assert (second < first).any()

    canvas.undo()
    np.testing.assert_array_equal(canvas.mask(), first)
    canvas.undo()
    assert canvas.mask().max() == 0 and canvas.document.proxy.max() == 0
    canvas.undo()  # nothing left: no error
    canvas.redo()
    np.testing.assert_array_equal(canvas.mask(), first)
    canvas.redo()
    np.testing.assert_array_equal(canvas.mask(), second)

    canvas.clear()
    assert canvas.mask().max() == 0
    canvas.undo()
    np.testing.assert_array_equal(canvas.mask(), second)
    # a new stroke after an undo drops the redo branch
    canvas.undo()
    drag(canvas, [(10.0, 10.0), (20.0, 20.0)])
    assert not canvas.document.can_redo


def test_start_from_existing_mask_is_undoable_and_resized(canvas):
    _, alpha = scene(H // 2, W // 2)  # half size: fitted to the reference
    canvas.set_mask(alpha)
    mask = canvas.mask()
    assert mask.shape == (H, W)
    assert mask[H // 2, W // 2] == pytest.approx(1.0) and mask[0, 0] == 0.0
    canvas.undo()
    assert canvas.mask().max() == 0.0


def test_large_reference_paints_on_proxy_and_keeps_full_mask(qtbot):
    widget = MaskCanvas()  # default proxy: long side 2048
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    document_size = (3000, 4500)
    widget.set_reference(np.full((*document_size, 3), 0.5, np.float32))
    assert widget.document.proxy.shape == (1365, 2048)
    widget.set_brush_radius(40)
    start, end = widget.to_widget(1000, 1000), widget.to_widget(3000, 2000)
    drag(widget, [start, end])
    mask = widget.mask()
    assert mask.shape == document_size
    assert mask[1000, 1000] == 1.0 and mask[2000, 3000] == 1.0 and mask[1500, 2000] == 1.0
    assert mask[1000 + 60, 1000] == 0.0 and mask[0, 0] == 0.0
    assert (
        widget.document.proxy[int(1500 * widget.document.scale), int(2000 * widget.document.scale)]
        == 1.0
    )


def test_zoom_pan_fit_and_brush_keys(canvas, qtbot):
    anchor = QPointF(100, 80)
    before = canvas.to_image(anchor)
    canvas.zoom_at(2.0, anchor)
    assert canvas.zoom == pytest.approx(2.0)
    assert canvas.to_image(anchor) == pytest.approx(before)

    # wheel zooms around the cursor
    event = QtGui.QWheelEvent(
        QPointF(200, 150),
        QPointF(canvas.mapToGlobal(QtCore.QPoint(200, 150))),
        QtCore.QPoint(0, 0),
        QtCore.QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    at = canvas.to_image(QPointF(200, 150))
    QtWidgets.QApplication.sendEvent(canvas, event)
    assert canvas.zoom == pytest.approx(2.5)
    assert canvas.to_image(QPointF(200, 150)) == pytest.approx(at)

    # space + drag pans and does not paint
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    before = canvas.to_image(QPointF(50, 50))
    drag(canvas, [(50.0, 50.0), (80.0, 90.0)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.to_image(QPointF(80, 90)) == pytest.approx(before)
    assert canvas.mask().max() == 0.0

    # middle button pans too
    drag(canvas, [(50.0, 50.0), (40.0, 40.0)], button=Qt.MouseButton.MiddleButton)
    assert canvas.mask().max() == 0.0

    qtbot.keyClick(canvas, Qt.Key.Key_F)
    assert canvas.zoom == pytest.approx(1.0)

    canvas.set_brush_radius(10)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_radius == pytest.approx(12)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_radius == pytest.approx(10 / 1.2)
    qtbot.keyClick(canvas, Qt.Key.Key_X)
    assert canvas.erase_mode


def test_overlay_colour_and_opacity_follow_the_mask(canvas):
    canvas.set_brush_radius(30)
    drag(canvas, [(200.0, 150.0), (201.0, 150.0)])
    canvas.set_overlay(QColor(0, 255, 0), 1.0)
    mouse(canvas, "move", (5.0, 5.0), buttons=Qt.MouseButton.NoButton)  # show the brush cursor
    image = canvas.grab().toImage()
    centre = QColor(image.pixel(200, 150))
    corner = QColor(image.pixel(20, 20))
    assert (centre.red(), centre.green(), centre.blue()) == (0, 255, 0)
    assert corner.green() < 200
    canvas.set_overlay(opacity=0.0)
    assert QColor(canvas.grab().toImage().pixel(200, 150)).green() < 255
    canvas.set_overlay(QColor(255, 40, 80), 0.5)
    screenshot(canvas, "canvas-stroke")


def test_document_without_widget_is_binding_free():
    document = MaskDocument((40, 60), proxy_max_side=30)
    document.begin_stroke((10.0, 10.0), Brush(radius=3))
    document.add_point((50.0, 30.0))
    document.end_stroke()
    revision = document.revision
    assert document.mask()[10, 10] == 1.0 and revision > 0
    document.undo()
    assert document.revision > revision and document.mask().max() == 0.0
    document.close()


def test_zoomed_in_shows_full_resolution_pixels(qtbot):
    widget = MaskCanvas(proxy_max_side=100)  # a proxy 4× smaller than the picture
    qtbot.addWidget(widget)
    widget.resize(W, H)
    widget.show()
    stripes = np.zeros((H, W, 3), np.float32)
    stripes[:, 1::2] = 1.0  # one-pixel stripes: the proxy averages them to grey
    widget.set_reference(stripes)
    widget.zoom_at(4.0 / widget.zoom, QPointF(0, 0))
    widget._offset = QPointF(0, 0)  # image (x, y) at screen (4x, 4y)
    image = widget.grab().toImage()
    shown = [QColor(image.pixel(4 * x + 2, 10)).red() for x in range(6)]
    assert shown == [0, 255, 0, 255, 0, 255]
    widget.zoom_at(0.2 / widget.zoom, QPointF(0, 0))  # smaller than the proxy: drawn from it
    widget._offset = QPointF(0, 0)
    assert 100 < QColor(widget.grab().toImage().pixel(40, 30)).red() < 160  # stripes averaged
