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


def combo(choices: dict) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    for key, label in choices.items():
        box.addItem(label, key)
    return box


def select(box: QtWidgets.QComboBox, key) -> None:
    index = box.findData(key)
    if index >= 0:
        box.setCurrentIndex(index)


def as_bool(value) -> bool:
    """QSettings returns 'true'/'false' strings from INI files."""
    return value in (True, "true", "1", 1)
