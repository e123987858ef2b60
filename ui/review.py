"""Target review: the result of the current target, as alpha, cutout or side by side, and a
large view of it in a window of its own."""

from __future__ import annotations

import numpy as np

from .qt import QKeySequence, QPixmap, Qt, QtWidgets, Signal, image_from_array
from .widgets import combo, row, select

PREVIEWS = {
    "alpha": "Alpha",
    "composite": "Cutout on checkerboard",
    "side": "Side by side with source",
}


class TargetReview(QtWidgets.QWidget):
    """The current target's result, and the way into correcting it."""

    settings_changed = Signal()
    correct_requested = Signal()
    view_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.done = None  # the TargetDone shown
        self.mode_combo = combo(PREVIEWS)
        self.label = QtWidgets.QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setMinimumSize(160, 180)
        self.label.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored
        )
        self.correct_button = QtWidgets.QPushButton("Correct…")
        self.correct_button.setToolTip(
            "Fix this result with keep / remove strokes, previewed as you paint (E)"
        )
        self.correct_button.setEnabled(False)
        self.view_button = QtWidgets.QPushButton("View")
        self.view_button.setToolTip(
            "Show this result large (Space or double-click in the list); Esc closes it"
        )
        self.view_button.setEnabled(False)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = row(
            QtWidgets.QLabel("Preview:"), self.mode_combo, self.view_button, self.correct_button
        )
        top.setStretch(1, 1)
        layout.addLayout(top)
        layout.addWidget(self.label, 1)
        self.mode_combo.currentIndexChanged.connect(lambda *_: self._changed())
        self.correct_button.clicked.connect(lambda *_: self.correct_requested.emit())
        self.view_button.clicked.connect(lambda *_: self.view_requested.emit())

    def load_settings(self, s) -> None:
        select(self.mode_combo, s.value("preview", "composite"))

    def save_settings(self, s) -> None:
        s.setValue("preview", self.mode_combo.currentData())

    def show_result(self, done) -> None:
        """Show ``done`` (a TargetDone), or a hint when there is none."""
        self.done = done
        self.correct_button.setEnabled(done is not None)
        self.view_button.setEnabled(done is not None)
        if done is None:
            self.label.clear()
            self.label.setText("Results appear here.")
            return
        pixels = preview_pixels(done.preview, self.mode_combo.currentData())
        pixmap = QPixmap.fromImage(image_from_array(pixels))
        self.label.setPixmap(
            pixmap.scaled(
                self.label.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def _changed(self) -> None:
        self.show_result(self.done)
        self.settings_changed.emit()


class ResultView(QtWidgets.QDialog):
    """One result large, fitted to a resizable window: the cutout over a checkerboard, or the
    alpha itself (A toggles); Esc closes it."""

    def __init__(self, done, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"{done.name} — result")
        self._pixmaps = {
            mode: QPixmap.fromImage(image_from_array(preview_pixels(done.preview, mode)))
            for mode in ("composite", "alpha")
        }
        self.alpha_check = QtWidgets.QCheckBox("Show alpha (A)")
        self.alpha_check.setShortcut(QKeySequence("A"))  # this window's own key, not the host's
        self.label = QtWidgets.QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setMinimumSize(200, 200)
        self.label.setSizePolicy(  # the window sets the size; the picture follows it
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored
        )
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.alpha_check)
        self.alpha_check.toggled.connect(lambda *_: self._show())
        if parent is not None:  # as large as the window it opens from
            self.resize(parent.window().size() * 0.9)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._show()

    def _show(self) -> None:
        pixmap = self._pixmaps["alpha" if self.alpha_check.isChecked() else "composite"]
        self.label.setPixmap(
            pixmap.scaled(
                self.label.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )


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
