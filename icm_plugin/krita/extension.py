"""The Krita plugin: an Extension for the menu actions and a docker hosting the panel.

The docker follows the active view's document (``canvasChanged``) and, since Krita 5 gives
scripts no "layers changed" signal, re-reads the layer list every 1.5 s while it is visible
and idle (cheap: names and ids only).  The panel runs the engine in its worker thread; every
Krita call stays on the GUI thread.  torch is imported once in the background when the docker
is created, so a broken install is reported at once, with what to do.
"""

from __future__ import annotations

import threading
from importlib import import_module

from krita import DockWidget, DockWidgetFactory, Extension, Krita

from icm_core import manifest
from ui.panel import Panel
from ui.qt import QObject, QSettings, QTimer, QtWidgets, Signal

from .host import KritaHost
from .loader import DOCKER_ID, dock_right, instructions

POLL_MS = 1500


def register() -> None:
    app = Krita.instance()
    app.addExtension(MattingExtension(app))
    app.addDockWidgetFactory(DockWidgetFactory(DOCKER_ID, dock_right(), MattingDocker))


def panel_settings() -> QSettings:
    """The docker's own settings file (the standalone app keeps its own)."""
    from platformdirs import user_config_dir

    return QSettings(f"{user_config_dir('icm-matting')}/krita-panel.ini", QSettings.Format.IniFormat)


def find_docker(window) -> "MattingDocker | None":
    """The panel docker of a ``krita.Window``."""
    return next((d for d in window.dockers() if isinstance(d, MattingDocker)), None)


class MattingExtension(Extension):
    def setup(self) -> None:
        pass

    def createActions(self, window) -> None:
        handlers = {"icm_matting_show": _show, "icm_matting_run": _run}
        for entry in manifest()["hosts"]["krita"]["actions"]:
            action = window.createAction(entry["id"], entry["text"], "tools/scripts")
            action.setToolTip(entry["tooltip"])
            action.triggered.connect(lambda *_, handler=handlers[entry["id"]]: handler())


def _show() -> MattingDocker | None:
    window = Krita.instance().activeWindow()
    docker = find_docker(window) if window is not None else None
    if docker is not None:
        docker.show()
        docker.raise_()
    return docker


def _run() -> None:
    docker = _show()
    if docker is not None:
        docker.panel.run()


class _ImportCheck(QObject):
    """Imports the compute stack off the GUI thread; ``failed`` carries what went wrong."""

    failed = Signal(object)  # list of "package: error" strings

    def start(self) -> None:
        threading.Thread(target=self._check, name="icm-matting import check", daemon=True).start()

    def _check(self) -> None:
        problems = []
        for name in ("torch", "timm", "pymatting"):
            try:
                import_module(name)
            except Exception as error:  # any failure to import is the user's install problem
                problems.append(f"{name} ({type(error).__name__}: {error})")
        if problems:
            self.failed.emit(problems)


class MattingDocker(DockWidget):
    def __init__(self):
        super().__init__()
        self.setWindowTitle(manifest()["name"])
        self.panel = Panel(KritaHost(None), panel_settings(), self)
        self.setWidget(self.panel)
        self._signature = None
        self._pending_document = None
        self.panel.run_finished.connect(lambda *_: self._apply_pending())
        QtWidgets.QApplication.instance().aboutToQuit.connect(self.panel.shutdown)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.poll_layers)
        self.timer.start(POLL_MS)
        self.import_check = _ImportCheck(self)
        self.import_check.failed.connect(self._imports_failed)
        self.import_check.start()

    def canvasChanged(self, canvas) -> None:
        view = canvas.view() if canvas is not None else None
        self.use_document(view.document() if view is not None else None)

    def use_document(self, document) -> None:
        """Point the panel at ``document`` (after the running job, if one is running)."""
        if self.panel.runner.busy:
            self._pending_document = (document,)
            return
        current = self.panel.host.document
        if (current is None and document is None) or (current is not None and document is not None
                                                       and current == document):
            return
        self.panel.host = KritaHost(document)
        self.panel.results.clear()
        self._signature = None
        self.poll_layers()

    def poll_layers(self) -> None:
        if self.panel.runner.busy or not self.isVisible():
            return
        signature = [(layer.id, layer.name, layer.visible) for layer in self.panel.host.layers()]
        if signature != self._signature:
            self._signature = signature
            self.panel.refresh_layers()

    def _apply_pending(self) -> None:
        if self._pending_document is not None:
            (document,), self._pending_document = self._pending_document, None
            self.use_document(document)

    def _imports_failed(self, problems) -> None:
        self.panel.show_error(instructions(None, problems))
