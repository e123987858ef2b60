"""The GIMP bridge's panel process: ``python -m icm_plugin.gimp.session FOLDER [--headless]``.

``icm-matting.py`` (running inside GIMP) exports into FOLDER: ``job.json``, one canvas-sized
``R'G'B'A u16`` file per layer (the reference first) and the selection's coverage as float32.
This process shows the panel on those layers (or, headless, mattes them with the panel's last
settings) and writes each result as a canvas-sized float32 alpha listed in ``results.json``;
the plug-in then adds them to the image.  Exit code 0 on success; otherwise the last line on
stderr says what went wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

import numpy as np

from icm_core import imageio
from icm_core.api import IcmError, InvalidInput, OutputError

from ..host import HostLayer, Written

RESULT_SUFFIX = {"layer": "matte", "mask": "matte mask", "selection": "matte selection"}


class ExchangeHost:
    """Implements :class:`ui.hostapi.Host` over an exchange folder; safe from any thread."""

    name = "gimp"
    thread_safe = True

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.job = json.loads((self.folder / "job.json").read_text(encoding="utf-8"))
        self.shape = (self.job["height"], self.job["width"])
        self._entries = {entry["id"]: entry for entry in self.job["layers"]}
        self._lock = threading.Lock()

    def layers(self) -> list[HostLayer]:
        return [HostLayer(e["id"], e["name"], self.shape, True, kind="layer") for e in self.job["layers"]]

    def selected_layer_ids(self) -> list[str]:
        return [layer_id for layer_id in self.job["selected"] if layer_id in self._entries]

    def read_pixels(self, layer_id: str) -> np.ndarray:
        return imageio.to_rgb_float(self._rgba(layer_id)[..., :3], what=self._entries[layer_id]["name"])

    def read_alpha(self, layer_id: str) -> np.ndarray | None:
        alpha = self._rgba(layer_id)[..., 3].astype(np.float32) / 65535
        return None if alpha.min() >= 1.0 else alpha

    def read_selection(self) -> np.ndarray | None:
        if not self.job["selection"]:
            return None
        coverage = np.fromfile(self.folder / self.job["selection"], np.float32).reshape(self.shape)
        return np.clip(coverage, 0.0, 1.0)

    def revision(self, layer_id: str):
        stat = (self.folder / self._entry(layer_id)["file"]).stat()
        return (layer_id, stat.st_mtime_ns, stat.st_size)

    def output_modes(self) -> list[str]:
        return ["mask", "layer", "selection"]

    def existing_outputs(self, layer_ids, mode: str) -> list:
        return []  # GIMP gets new masks, layers or channels: nothing is overwritten

    def write_result(self, layer_id: str, alpha: np.ndarray, foreground: np.ndarray | None,
                     mode: str, overwrite: bool = False) -> Written:
        if mode not in RESULT_SUFFIX:
            raise OutputError(f"GIMP results can be a mask, a layer or a selection, not {mode!r}.")
        if alpha.shape != self.shape:
            raise OutputError(f"The alpha is {alpha.shape[1]}×{alpha.shape[0]} px but the image is "
                              f"{self.shape[1]}×{self.shape[0]} px.")
        name = f"{self._entry(layer_id)['name']} {RESULT_SUFFIX[mode]}"
        with self._lock:
            results = self.results()
            file = f"result-{len(results)}.raw"
            imageio.atomic_write_bytes(self.folder / file, np.clip(alpha, 0, 1).astype("<f4").tobytes())
            results.append({"layer": layer_id, "mode": mode, "file": file, "name": name, "format": "float32"})
            imageio.atomic_write_bytes(self.folder / self.job["results"], json.dumps(results, indent=2).encode())
        where = {"mask": "a layer mask on", "layer": "a new layer above", "selection": "a channel for"}[mode]
        return Written(f"GIMP will add {where} “{self._entry(layer_id)['name']}”.")

    def results(self) -> list[dict]:
        path = self.folder / self.job["results"]
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []

    def _entry(self, layer_id: str) -> dict:
        if layer_id not in self._entries:
            raise InvalidInput(f"Layer {layer_id} was not exported from GIMP.")
        return self._entries[layer_id]

    def _rgba(self, layer_id: str) -> np.ndarray:
        entry = self._entry(layer_id)
        data = np.fromfile(self.folder / entry["file"], "<u2")
        return data.reshape(self.shape + (4,))


def settings_file() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("icm-matting")) / "gimp-panel.ini"


def settings():
    """The GIMP panel's settings (the last ones a headless run uses)."""
    from ui.qt import QSettings

    return QSettings(str(settings_file()), QSettings.Format.IniFormat)


def saved_choices() -> dict[str, str]:
    """The panel's last plain choices (engine, quality, output), read without Qt: a headless
    run needs no GUI library.  The panel writes them with QSettings, whose ini format keeps a
    plain word as it is, under ``[General]``."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(settings_file().read_text(encoding="utf-8", errors="replace"))
    except (OSError, configparser.Error):  # none yet, or unreadable: the defaults, as QSettings
        return {}
    return dict(parser["General"]) if parser.has_section("General") else {}


def run_headless(host: ExchangeHost) -> int:
    """Reference = first layer, its mask = the selection (else its alpha), targets = the rest."""
    from icm_core.engines import engine_class, get_engine
    from icm_core.engines.base import encode_references

    layers = host.layers()
    if len(layers) < 2:
        raise InvalidInput("Select the reference layer and at least one layer to matte.")
    reference = layers[0]
    mask = host.read_selection()
    if mask is None:
        mask = host.read_alpha(reference.id)
    if mask is None:
        raise InvalidInput(f"Select the subject in “{reference.name}” first (a selection, or the layer's "
                           "transparency), or run ICM Matting interactively to brush it.")
    stored = saved_choices()
    engine_name = stored.get("engine", "lite")
    options = engine_class(engine_name).preset(stored.get("quality", "balanced"))
    mode = stored.get("output", "mask")
    engine = get_engine(engine_name, **options)
    encoded = encode_references(engine, [(host.read_pixels(reference.id), mask)])
    for layer in layers[1:]:
        result = engine.matte(host.read_pixels(layer.id), encoded)
        print(host.write_result(layer.id, result.alpha, None, mode if mode in RESULT_SUFFIX else "mask").description)
    return 0


def panel_window(host: ExchangeHost):
    """The panel in a plain window with a button that hands the results back to GIMP."""
    from ui.panel import Panel
    from ui.qt import QtWidgets

    window = QtWidgets.QWidget()
    window.setWindowTitle("ICM Matting — GIMP")
    window.panel = Panel(host, settings(), window)
    back = QtWidgets.QPushButton("Close and add the results to GIMP")
    back.clicked.connect(lambda *_: window.close())
    layout = QtWidgets.QVBoxLayout(window)
    layout.addWidget(window.panel)
    layout.addWidget(back)
    window.resize(1200, 760)
    return window


def run_panel(host: ExchangeHost) -> int:
    """Show the panel; results written so far reach GIMP when the window closes."""
    from ui.qt import ensure_app, exec_

    app = ensure_app()
    window = panel_window(host)
    window.show()
    code = exec_(app)
    window.panel.shutdown()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m icm_plugin.gimp.session")
    parser.add_argument("folder", type=Path, help="the exchange folder written by the GIMP plug-in")
    parser.add_argument("--headless", action="store_true", help="no window: use the panel's last settings")
    args = parser.parse_args(argv)
    try:
        host = ExchangeHost(args.folder)
        return run_headless(host) if args.headless else run_panel(host)
    except IcmError as error:
        print(f"icm-matting: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
