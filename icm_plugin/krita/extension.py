"""The Krita plugin: an Extension for the menu actions and a docker hosting the panel.

The docker follows the active view's document (``canvasChanged``) and, since Krita 5 gives
scripts no "layers changed" signal, re-reads the layer list every 1.5 s while it is visible
and idle (cheap: names and ids only); a result undone in Krita is then no longer listed.
The panel runs the engine in its worker thread; every Krita call stays on the GUI thread.  Krita builds every docker when its window opens, so the
panel (numpy, OpenCV, the panel's widgets) is built only when the docker is first shown or
asked for: the plugin adds almost nothing to Krita's start.  The engine's packages load in the
panel's worker when it first shows; whatever failed to import is then reported with what to do.
"""

from __future__ import annotations

import sys
from typing import Callable

from krita import DockWidget, DockWidgetFactory, DockWidgetFactoryBase, Extension, Krita

from icm_core import manifest
from ui.qt import QEvent, QSettings, QTimer, QtWidgets

POLL_MS = 1500

# Krita's OpenGL canvas loads Mesa's LLVM; triton (which CUDA builds of torch import) bundles
# another LLVM, and loading it into Krita's process segfaults (seen with Krita 5.1.5 under
# Xvfb).  The panel never compiles kernels, so torch is told triton is absent.
sys.modules.setdefault("triton", None)


def register(docker_id: str = "icm_matting_docker", position=None,
             instructions: Callable[[str | None, list[str]], str] | None = None) -> None:
    """Add the menu actions and the panel's docker.  The loader, which imports this module,
    hands over what it owns: the docker's id and place (its help docker takes them when the
    plugin cannot load) and the text that says how to install what is missing.  A loader
    installed by an older version calls this without arguments: the panel then still starts,
    and asks for the plugin to be installed again if something is missing."""
    if position is None:
        base = DockWidgetFactoryBase
        position = getattr(base, "DockRight", None) or base.DockPosition.DockRight
    app = Krita.instance()
    instructions = instructions or _reinstall
    app.addExtension(MattingExtension(app))
    MattingDocker.instructions = staticmethod(instructions)
    app.addDockWidgetFactory(DockWidgetFactory(docker_id, position, MattingDocker))
    QtWidgets.QApplication.instance().aboutToQuit.connect(quitting)


def _reinstall(problem: str | None, missing: list[str]) -> str:
    what = problem or f"Krita's Python cannot import: {', '.join(missing)}."
    return (f"ICM Matting cannot start inside Krita. {what}\nThe plugin in Krita's pykrita folder "
            "is older than the installed icm-matting: run `icm-matting install krita` again, "
            "then restart Krita.")


def quitting() -> None:
    """Krita is quitting: its main windows, with our dockers, are already destroyed, but the
    panels' worker threads still run; a QThread destroyed while running aborts Krita (exit
    status 134).  Workers waiting for a Krita call give up, then every thread is joined."""
    from ui.worker import stop_all_runners

    from .host import GuiThread

    GuiThread.quitting.set()
    stop_all_runners()


def panel_settings() -> QSettings:
    """The docker's own settings file (the standalone app keeps its own)."""
    from platformdirs import user_config_dir

    return QSettings(f"{user_config_dir('icm-matting')}/krita-panel.ini", QSettings.Format.IniFormat)


def find_docker() -> "MattingDocker | None":
    """The panel docker of the active window."""
    return next((d for d in Krita.instance().dockers() if isinstance(d, MattingDocker)), None)


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
    docker = find_docker()
    if docker is not None:
        docker.show()
        docker.raise_()
    return docker


def _run() -> None:
    docker = _show()
    if docker is not None:
        docker.panel.run()


class MattingDocker(DockWidget):
    instructions: Callable[[str | None, list[str]], str]  # set by register()

    def __init__(self):
        super().__init__()
        self.setWindowTitle(manifest()["name"])
        self._panel = None
        self._document = None  # the active view's document, followed before the panel exists

    @property
    def panel(self):
        """The panel, built on first use."""
        if self._panel is None:
            self._build_panel()
        return self._panel

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._panel is None:
            self._build_panel()

    def _build_panel(self) -> None:
        from ui.panel import Panel

        from .host import KritaHost

        self._panel = Panel(KritaHost(self._document), panel_settings(), self, review=False)
        self.setWidget(self.panel)
        self._signature = None
        self._pending_document = None
        self.panel.run_finished.connect(lambda *_: self._apply_pending())
        # Settings are saved as they change; once more when the window closes (the panel is
        # destroyed with it, before Krita's quit signals).  The worker is joined by quitting().
        if self.parentWidget() is not None:
            self.parentWidget().installEventFilter(self)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.poll_layers)
        self.timer.start(POLL_MS)
        # The panel imports the engine's packages in its worker when it first shows; one
        # importer only (two threads importing torch at once crash).  Afterwards, anything
        # missing means the install is broken: say what to do.
        self.panel.runner.signals.warmed.connect(self._check_imports)
        self.poll_layers()

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Close and self._panel is not None:
            self.panel.save_settings()
        return False

    def canvasChanged(self, canvas) -> None:
        view = canvas.view() if canvas is not None else None
        self.use_document(view.document() if view is not None else None)

    def use_document(self, document) -> None:
        """Point the panel at ``document`` (after the running job, if one is running)."""
        from .host import KritaHost

        if self._panel is None:
            self._document = document
            return
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
        if self._panel is None or self.panel.runner.busy or not self.isVisible():
            return
        host = self.panel.host
        # masks count too: undoing a result mask in Krita must show in the list
        signature = ([(layer.id, layer.name, layer.visible) for layer in host.layers()], host.node_ids())
        if signature != self._signature:
            self._signature = signature
            self.panel.refresh_layers()

    def _apply_pending(self) -> None:
        if self._pending_document is not None:
            (document,), self._pending_document = self._pending_document, None
            self.use_document(document)

    def _check_imports(self, engine: str) -> None:
        from icm_core.engines import engine_class

        missing = [name for name in engine_class(engine).REQUIREMENTS if name not in sys.modules]
        if missing:
            self.panel.show_error(self.instructions(None, missing))
