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
