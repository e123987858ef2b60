"""The one place that imports a Qt binding.  Everything else in ``ui/`` does ``from .qt import …``.

The binding is chosen by what the process already loaded, because a host application owns its
Qt: Krita 5 runs PyQt5 and Krita 6 PyQt6, and importing another binding there either fails
(Krita's import guard) or loads a second Qt into the process.  Order:

1. a binding already in ``sys.modules`` (PyQt6, then PyQt5, then PySide6) — the host's;
2. ``QT_API`` (``pyside6``, ``pyqt6``, ``pyqt5``) — what pytest-qt and qtpy honour too;
3. PySide6, the standalone app's binding.

Our code uses only fully qualified enums (``Qt.AlignmentFlag.AlignLeft``), which all three
bindings accept.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module

_BINDINGS = ("PyQt6", "PyQt5", "PySide6")


def _choose() -> str:
    for name in _BINDINGS:
        if name in sys.modules:
            return name
    wanted = os.environ.get("QT_API", "").lower()
    for name in _BINDINGS:
        if name.lower() == wanted:
            return name
    return "PySide6"


API = _choose()
QtCore = import_module(f"{API}.QtCore")
QtGui = import_module(f"{API}.QtGui")
QtWidgets = import_module(f"{API}.QtWidgets")

if API == "PySide6":
    Signal, Slot = QtCore.Signal, QtCore.Slot
else:
    Signal, Slot = QtCore.pyqtSignal, QtCore.pyqtSlot

# QAction and QShortcut moved from QtWidgets to QtGui in Qt 6.
QAction = getattr(QtGui, "QAction", None) or QtWidgets.QAction
QShortcut = getattr(QtGui, "QShortcut", None) or QtWidgets.QShortcut
QActionGroup = getattr(QtGui, "QActionGroup", None) or QtWidgets.QActionGroup

Qt = QtCore.Qt
QCoreApplication, QEvent = QtCore.QCoreApplication, QtCore.QEvent
QObject, QThread, QTimer, QSettings = (
    QtCore.QObject,
    QtCore.QThread,
    QtCore.QTimer,
    QtCore.QSettings,
)
QPointF, QRectF, QRect, QSize = QtCore.QPointF, QtCore.QRectF, QtCore.QRect, QtCore.QSize
QColor, QImage, QPainter, QPen, QPixmap, QIcon = (
    QtGui.QColor,
    QtGui.QImage,
    QtGui.QPainter,
    QtGui.QPen,
    QtGui.QPixmap,
    QtGui.QIcon,
)
QKeySequence, QBrush, QTransform = QtGui.QKeySequence, QtGui.QBrush, QtGui.QTransform


def exec_(obj) -> int:
    """``exec()`` of an application, dialog or menu; PyQt5 only knows ``exec_()``."""
    run = getattr(obj, "exec", None) or obj.exec_
    return run()


def qbytes(array) -> QtCore.QByteArray:
    """A QByteArray of a C-contiguous numpy array, for APIs that take one (Krita's
    ``setPixelData``).  PyQt5 wraps the array's memory without a copy (``fromRawData``), so the
    CALLER must hold ``array`` until Qt has copied it; PyQt6 has no ``fromRawData`` and copies
    any buffer it is given; PySide6 takes bytes."""
    if not array.flags.c_contiguous:
        raise ValueError("arrays handed to Qt as bytes must be C-contiguous")
    if API == "PyQt5":
        return QtCore.QByteArray.fromRawData(array)
    if API == "PyQt6":
        return QtCore.QByteArray(array.data)
    return QtCore.QByteArray(array.tobytes())


def image_from_array(pixels) -> QtGui.QImage:
    """A QImage that OWNS a copy of ``pixels`` (H×W uint8 grey, H×W×3 RGB or H×W×4 RGBA).

    ``QImage(buffer, …)`` only aliases numpy memory, which may be freed while Qt still draws
    it; ``copy()`` detaches it.
    """
    import numpy as np

    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    fmt = {
        1: QImage.Format.Format_Grayscale8,
        3: QImage.Format.Format_RGB888,
        4: QImage.Format.Format_RGBA8888,
    }[channels]
    return QImage(pixels.data, width, height, width * channels, fmt).copy()


def ensure_app(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The running QApplication, or a new one for the standalone app (never inside a host)."""
    app = QtWidgets.QApplication.instance()
    return app if app is not None else QtWidgets.QApplication(argv or [sys.argv[0]])
