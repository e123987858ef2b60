"""The standalone app: image files as layers, the panel, results saved as new files.

``icm-matting gui [FILES or FOLDER] [--out FOLDER]``.  Drop files or folders on the window to
add them.  Results go next to each input (``<name>_alpha.png``, ``<name>_cutout.png``) or into
the chosen folder; existing files are never overwritten without asking.  Works out of the box
with the built-in ``lite`` engine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from icm_core.api import IcmError

from .hostapi import FileHost
from .panel import APPLICATION, ORGANISATION, Panel
from .qt import QAction, QKeySequence, QSettings, Qt, QtWidgets, ensure_app, exec_


KEYS_HELP = """Over a picture (moving the pointer over it gives it the keys):
  left button paints, right button erases (corrections: paints the other kind)
  [ and ]  brush size        X  paint / erase        F  fit the picture
  wheel  zoom        space + drag or middle button  pan
  Ctrl+Z / Ctrl+Shift+Z (Ctrl+Y)  undo / redo strokes
  K / R  keep / remove strokes while correcting

Anywhere: Ctrl+Return  Run,  Esc  Cancel,  E  Correct… the selected result."""


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, paths=(), out_dir=None, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("ICM Matting")
        self.setAcceptDrops(True)
        self.host = FileHost(out_dir=out_dir)
        self.panel = Panel(self.host, settings)
        self.setCentralWidget(self.panel)
        self.panel.layer_list.itemSelectionChanged.connect(self._selection_to_host)
        self._build_menus()
        self.statusBar().showMessage("Drop images or a folder here, or use File ▸ Open.")
        self.resize(1280, 800)
        if paths:
            self.add_paths(paths)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self._add(menu, "&Open images…", QKeySequence.StandardKey.Open, self.open_images)
        self._add(menu, "Open &folder…", QKeySequence("Ctrl+Shift+O"), self.open_folder)
        self._add(menu, "&Save results to…", None, self.panel.choose_out_dir)
        self._add(
            menu, "&Remove selected images", QKeySequence.StandardKey.Delete, self.remove_selected
        )
        menu.addSeparator()
        self._add(menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        run = self.menuBar().addMenu("&Matte")
        for action in (
            self.panel.run_action,
            self.panel.cancel_action,
            self.panel.correct_action,
            self.panel.undo_action,
            self.panel.redo_action,
        ):
            run.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        self._add(help_menu, "&Keys and mouse", QKeySequence.StandardKey.HelpContents, self.show_keys)
        self._add(help_menu, "&About ICM Matting", None, self.show_about)

    def show_keys(self) -> None:
        QtWidgets.QMessageBox.information(self, "Keys and mouse", KEYS_HELP)

    def show_about(self) -> None:
        from icm_core import manifest

        about = manifest()
        QtWidgets.QMessageBox.about(
            self, "About ICM Matting", f"{about['name']} {about['version']}\n{about['summary']}"
        )

    def _add(self, menu, text, shortcut, slot) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda *_: slot())
        menu.addAction(action)
        return action

    # -- files ---------------------------------------------------------------------------------
    def add_paths(self, paths) -> list[str]:
        try:
            added = self.host.add(paths)
        except IcmError as error:  # every problem, each on its line; the good images are in
            self.panel.show_error(str(error))
            added = getattr(error, "added", [])
        self.panel.refresh_layers()
        self.statusBar().showMessage(f"{len(self.host.layers())} image(s) open.")
        return added

    def open_images(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open images", "", "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp)"
        )
        if paths:
            self.add_paths(paths)

    def open_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if folder:
            self.add_paths([folder])

    def remove_selected(self) -> None:
        if self.panel.runner.busy:
            return
        self.host.remove(self.host.selected_layer_ids())
        self.panel.refresh_layers()

    def _selection_to_host(self) -> None:
        self.host.select(
            item.data(Qt.ItemDataRole.UserRole) for item in self.panel.layer_list.selectedItems()
        )

    # -- drag and drop ---------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.add_paths(paths)
            event.acceptProposedAction()

    def closeEvent(self, event) -> None:
        if not self.panel.may_close():
            event.ignore()
            return
        self.panel.shutdown()
        super().closeEvent(event)


def main(paths=(), out_dir=None) -> int:
    app = ensure_app(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow(paths, out_dir, QSettings(ORGANISATION, APPLICATION))
    window.show()
    return exec_(app)
