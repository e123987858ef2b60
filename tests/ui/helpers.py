"""Plain helpers for the Qt tests: real mouse events, screenshots, test pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "ui"


def mouse(widget, kind: str, pos, button=None, buttons=None):
    """Send a real QMouseEvent (press / move / release) at widget position ``pos``."""
    from ui.qt import QPointF, Qt, QtGui, QtWidgets

    types = {
        "press": QtGui.QMouseEvent.Type.MouseButtonPress,
        "move": QtGui.QMouseEvent.Type.MouseMove,
        "release": QtGui.QMouseEvent.Type.MouseButtonRelease,
    }
    button = Qt.MouseButton.LeftButton if button is None else button
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == "release" else button
    local = QPointF(*pos) if isinstance(pos, tuple) else pos
    event = QtGui.QMouseEvent(
        types[kind],
        local,
        QPointF(widget.mapToGlobal(local.toPoint())),
        Qt.MouseButton.NoButton if kind == "move" else button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(widget, event)


def drag(widget, points, button=None):
    """Press at the first widget point, move through the rest, release at the last."""
    mouse(widget, "press", points[0], button)
    for point in points[1:]:
        mouse(widget, "move", point, button)
    mouse(widget, "release", points[-1], button)


def screenshot(widget, name: str) -> Path:
    """Write a reviewable PNG of ``widget`` to test-output/ui/ (gitignored)."""
    from ui.qt import API

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{API.lower()}.png"
    assert widget.grab().save(str(path)), f"could not write {path}"
    return path


def scene(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A test picture: a bright disc (the subject) on a gradient background, and its alpha."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height * (0.45 + 0.1 * rng.random()), width * (0.45 + 0.1 * rng.random())
    radius = 0.3 * min(height, width)
    alpha = np.clip(radius - np.hypot(yy - cy, xx - cx), 0.0, 1.0).astype(np.float32)
    background = np.stack([xx / width, yy / height, np.full_like(xx, 0.3)], axis=2) * 0.6
    subject = np.array([0.95, 0.75, 0.2], np.float32)
    image = alpha[..., None] * subject + (1 - alpha[..., None]) * background
    return image.astype(np.float32), alpha


class MemoryHost:
    """An editor-like host kept in memory: GUI-thread only, all four output modes.

    Records every call's thread, so tests can check that host calls stay on the GUI thread.
    """

    name = "memory"
    thread_safe = False

    def __init__(self, images: dict, selection=None, alphas=None):
        from ui.hostapi import Layer

        self.images = dict(images)
        self.layers_ = [Layer(key, key, image.shape[:2]) for key, image in self.images.items()]
        self.selection = selection
        self.alphas = alphas or {}
        self.selected: list[str] = []
        self.written: list[tuple[str, str, np.ndarray]] = []
        self.call_threads: set[int] = set()

    def _called(self):
        import threading

        self.call_threads.add(threading.get_ident())

    def layers(self):
        self._called()
        return list(self.layers_)

    def selected_layer_ids(self):
        return list(self.selected)

    def read_pixels(self, layer_id):
        self._called()
        return self.images[layer_id]

    def read_alpha(self, layer_id):
        return self.alphas.get(layer_id)

    def read_selection(self):
        return self.selection

    def revision(self, layer_id):
        return id(self.images[layer_id])

    def output_modes(self):
        return ["layer", "mask", "selection", "files"]

    def existing_outputs(self, layer_ids, mode):
        return []

    def write_result(self, layer_id, alpha, foreground, mode, overwrite=False):
        from ui.hostapi import Written

        self._called()
        self.written.append((layer_id, mode, alpha))
        return Written(f"new {mode} for {layer_id}")


def brush_subject(canvas, height: int, width: int, seed: int = 0) -> None:
    """Brush a rough mask over about three quarters of the subject of ``scene(height, width, seed)``,
    as an artist would, with one real mouse stroke."""
    _, truth = scene(height, width, seed)
    rows, cols = np.nonzero(truth > 0.5)
    cy, cx, radius = rows.mean(), cols.mean(), (rows.max() - rows.min()) / 2
    canvas.set_brush_radius(radius * 0.7)
    drag(canvas, [canvas.to_widget(cx - radius * 0.3, cy), canvas.to_widget(cx + radius * 0.3, cy)])
