"""Small widget helpers shared by the panel's parts."""

from __future__ import annotations

from .qt import Qt, QtWidgets

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"


def row(*widgets) -> QtWidgets.QHBoxLayout:
    layout = QtWidgets.QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget)
    return layout


def tool(text: str, tip: str, checkable: bool = False) -> QtWidgets.QToolButton:
    button = QtWidgets.QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    return button


def brush_size() -> tuple[QtWidgets.QSlider, QtWidgets.QLabel]:
    """The brush-size slider (image pixels) and the label beside it, as both brushes use them."""
    slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
    slider.setRange(1, 1000)
    slider.setMinimumWidth(120)
    slider.setToolTip("Brush diameter in image pixels ([ and ] over the picture)")
    label = QtWidgets.QLabel()
    label.setMinimumWidth(48)
    return slider, label


def combo(choices: dict | None = None) -> QtWidgets.QComboBox:
    """A combo box that asks for eight characters' width, not its longest item's: long
    layer names or engine states must not widen a narrow docker."""
    box = QtWidgets.QComboBox()
    box.setSizeAdjustPolicy(
        QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    )
    box.setMinimumContentsLength(8)
    for key, label in (choices or {}).items():
        box.addItem(label, key)
    return box


def select(box: QtWidgets.QComboBox, key) -> None:
    index = box.findData(key)
    if index >= 0:
        box.setCurrentIndex(index)


def as_bool(value) -> bool:
    """QSettings returns 'true'/'false' strings from INI files."""
    return value in (True, "true", "1", 1)


class SummaryButton(QtWidgets.QToolButton):
    """A flat tool button whose one-line text is elided to its width ("…"), never clipped and
    never widening its column."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._full = ""
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setAutoRaise(True)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)

    def set_summary(self, text: str) -> None:
        self._full = text
        self._elide()

    def summary(self) -> str:
        return self._full

    def minimumSizeHint(self):
        hint = super().minimumSizeHint()
        hint.setWidth(self.fontMetrics().horizontalAdvance("Options…") + 2 * self.iconSize().width())
        return hint

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = max(self.width() - self.iconSize().width() - 16, 20)
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, room))


class ElidedLabel(QtWidgets.QLabel):
    """One line of text elided to the label's width ("…", the whole text in the tooltip): a
    long or changing message never widens nor heightens its column, so nothing moves under
    the artist's pointer."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self):
        hint = super().minimumSizeHint()
        hint.setWidth(self.fontMetrics().horizontalAdvance("…") * 4)
        return hint

    def paintEvent(self, event) -> None:
        from .qt import QPainter

        painter = QPainter(self)
        room = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, room.width())
        painter.drawText(room, int(self.alignment()), text)
