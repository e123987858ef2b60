"""The Qt panel: mask canvas, worker thread, panel widget, standalone app.

Every Qt name comes from :mod:`ui.qt`, which follows the binding the host already loaded
(PyQt5 in Krita 5, PyQt6 in Krita 6, PySide6 standalone).  Importing ``ui`` itself loads no Qt.
"""
