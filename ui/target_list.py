"""The target list: the host's layers, which of them to matte, and how each one's run went."""

from __future__ import annotations

from icm_core.api import IcmError

from .qt import QColor, QIcon, QPixmap, Qt, QtCore, QTimer, QtWidgets, Signal, image_from_array
from .widgets import row

LAYER_ID_ROLE = Qt.ItemDataRole.UserRole


class TargetList(QtWidgets.QWidget):
    """Rows read ``name — state``; the reference is bold and never a target."""

    current_changed = Signal()
    settings_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._thumbnails: dict = {}  # (layer id, size) → QIcon of the source
        self._pending: list = []  # layers whose thumbnail is still to read
        self._thumbnail = None  # the host's ``thumbnail(layer_id, side)``, if it has one
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._read_next_thumbnail)
        self.list = QtWidgets.QListWidget()
        self.list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setIconSize(QtCore.QSize(40, 40))
        self.list.setMinimumHeight(90)
        self.all_radio = QtWidgets.QRadioButton("All")
        self.selected_radio = QtWidgets.QRadioButton("Selected")
        self.all_radio.setChecked(True)
        self.all_radio.setToolTip("Matte every layer but the reference")
        self.selected_radio.setToolTip("Matte the layers selected in this list")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QtWidgets.QLabel("Layers"))
        layout.addWidget(self.list, 1)
        targets = row(QtWidgets.QLabel("Targets:"), self.all_radio, self.selected_radio)
        targets.addStretch(1)
        layout.addLayout(targets)
        self.list.currentItemChanged.connect(lambda *_: self.current_changed.emit())
        self.all_radio.toggled.connect(lambda *_: self.settings_changed.emit())

    def load_settings(self, s) -> None:
        all_layers = s.value("targets", "all") == "all"
        (self.all_radio if all_layers else self.selected_radio).setChecked(True)

    def save_settings(self, s) -> None:
        s.setValue("targets", "all" if self.all_radio.isChecked() else "selected")

    def refresh(self, layers, selected_ids, results: dict, thumbnail=None) -> None:
        """Show ``layers``; ``thumbnail(layer_id, side)`` gives uint8 pixels of a source (or
        ``None``), read one per event-loop turn so that a long series never blocks the GUI."""
        self.list.clear()
        blank = QPixmap(self.list.iconSize())
        blank.fill(QColor(0, 0, 0, 0))  # every row as tall as a row with a result thumbnail
        selected = set(selected_ids)
        for layer in layers:
            item = QtWidgets.QListWidgetItem(layer.name)
            item.setData(LAYER_ID_ROLE, layer.id)
            item.setIcon(QIcon(blank))
            item.setToolTip(f"{layer.name}: {layer.size[1]}×{layer.size[0]} px"
                            + (" — made by ICM Matting; a target only when selected here" if layer.result else ""))
            if layer.result:
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
            self.list.addItem(item)
            item.setSelected(layer.id in selected)
            if layer.id in results:
                self._show_done(item, results[layer.id])
            elif (layer.id, layer.size) in self._thumbnails:
                item.setIcon(self._thumbnails[(layer.id, layer.size)])
        self._thumbnail = thumbnail
        self._pending = [
            layer
            for layer in layers
            if (layer.id, layer.size) not in self._thumbnails and layer.id not in results
        ]
        if thumbnail is not None and self._pending:
            self._timer.start(0)

    def _read_next_thumbnail(self) -> None:
        if not self._pending:
            return
        layer = self._pending.pop(0)
        try:
            pixels = self._thumbnail(layer.id, self.list.iconSize().width())
        except IcmError:
            pixels = None  # the row keeps its blank icon; a run would report the problem
        if pixels is not None:
            icon = QIcon(QPixmap.fromImage(image_from_array(pixels)))
            self._thumbnails[(layer.id, layer.size)] = icon
            item = self._item(layer.id)
            if item is not None and not item.text().endswith("done"):
                item.setIcon(icon)
        if self._pending:
            self._timer.start(0)

    def target_ids(self, layers, reference_id) -> list[str]:
        if self.all_radio.isChecked():  # our own results only when picked in the list
            ids = [layer.id for layer in layers if not layer.result]
        else:
            ids = [item.data(LAYER_ID_ROLE) for item in self.list.selectedItems()]
        return [layer_id for layer_id in ids if layer_id != reference_id]

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(LAYER_ID_ROLE) if item is not None else None

    def name(self, layer_id) -> str:
        item = self._item(layer_id)
        return _name(item) if item is not None else layer_id

    # -- states ------------------------------------------------------------------------------------
    def mark_reference(self, reference_id) -> None:
        for item in self._items():
            font = item.font()
            font.setBold(item.data(LAYER_ID_ROLE) == reference_id)
            item.setFont(font)

    def mark_queued(self, ids) -> None:
        for item in self._items():
            if item.data(LAYER_ID_ROLE) in ids:
                item.setText(f"{_name(item)} — queued")

    def mark_progress(self, layer_id, fraction: float) -> None:
        item = self._item(layer_id)
        if item is not None:
            item.setText(f"{_name(item)} — {fraction:.0%}")

    def mark_done(self, done, tooltip: str) -> None:
        """Show ``done`` (a TargetDone) on its row, and make it current if nothing else is."""
        item = self._item(done.layer_id)
        if item is None:
            return
        item.setToolTip(tooltip)
        self._show_done(item, done)
        if self.list.currentItem() is None or self.list.currentItem() is item:
            # show it without touching the selection (which may define the targets)
            self.list.setCurrentItem(item, QtCore.QItemSelectionModel.SelectionFlag.NoUpdate)

    def mark_failed(self, layer_id, message: str) -> None:
        item = self._item(layer_id)
        if item is not None:
            item.setText(f"{_name(item)} — failed")
            item.setToolTip(message)

    def mark_finished(self, completed: bool, results: dict) -> None:
        """Rows still queued or running read "not run" after a cancelled or failed run, or
        "done" when an earlier result of theirs is still there."""
        for item in self._items():
            if item.text().endswith(("queued", "%")):
                if item.data(LAYER_ID_ROLE) in results:
                    self._show_done(item, results[item.data(LAYER_ID_ROLE)])
                else:
                    item.setText(_name(item) if completed else f"{_name(item)} — not run")

    def _show_done(self, item, done) -> None:
        item.setText(f"{_name(item)} — {'⚠ ' if done.warnings else ''}done")
        if done.warnings:
            tooltip = item.toolTip().split("\nWarning: ")[0]  # the row may show one already
            item.setToolTip(f"{tooltip}\nWarning: {'; '.join(done.warnings)}")
        item.setIcon(QIcon(QPixmap.fromImage(image_from_array(done.preview["alpha"]))))

    def _items(self):
        return [self.list.item(index) for index in range(self.list.count())]

    def _item(self, layer_id):
        return next((item for item in self._items() if item.data(LAYER_ID_ROLE) == layer_id), None)


def _name(item) -> str:
    return item.text().split(" — ")[0]
