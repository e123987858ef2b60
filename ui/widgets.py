"""Small widget helpers shared by the panel's parts."""

from __future__ import annotations

from .qt import QtWidgets

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
