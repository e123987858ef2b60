"""Render the README screenshots from the real standalone app and the real ``lite`` engine.

    python -m ui.screenshots [--out docs/screenshots]

Uses the procedurally drawn example series shipped in ``icm_core/examples`` (licence-clean),
copied to a temporary folder so that the results written by the run land there, not in the
package.  Runs offscreen; settings go to a temporary file, never the user's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "icm_core" / "examples"
SIZE = (1280, 800)


def render(out: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .app import MainWindow
    from .qt import QColor, QSettings, QtWidgets, ensure_app

    app = ensure_app(sys.argv[:1])
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)

    def grab(widget, name: str) -> None:
        for _ in range(20):  # thumbnails load one per event-loop turn
            app.processEvents()
        path = out / f"{name}.jpg"  # the example pictures are grainy: PNG would weigh 0.5 MB each
        if not widget.grab().save(str(path), "JPG", 88):
            raise SystemExit(f"could not write {path}")
        written.append(path)

    with tempfile.TemporaryDirectory(prefix="icm-screens-") as temp:
        series = Path(temp) / "series"
        series.mkdir()
        for image in sorted(EXAMPLES.glob("*.jpg")):
            shutil.copy(image, series / image.name)
        settings = QSettings(str(Path(temp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow([series], settings=settings)
        window.resize(*SIZE)
        window.show()
        panel = window.panel
        panel.reference_combo.setCurrentIndex(panel.reference_combo.findText("reference.jpg"))
        panel._reference_chosen()
        panel.mask_from_file(EXAMPLES / "reference-mask.png")
        panel.canvas.set_overlay(QColor(0, 190, 255), 0.45)  # visible on the example's red subject
        grab(window, "gui-reference")

        running = []
        panel.target_finished.connect(
            lambda done: running or (running.append(1), grab(window, "gui-running"))
        )
        finished = []
        panel.run_finished.connect(finished.append)
        if not panel.run():
            raise SystemExit(panel.error_label.text())
        while not finished:
            app.processEvents()
            time.sleep(0.01)
        if finished[0].status != "done":
            raise SystemExit(finished[0].message)
        panel.layer_list.setCurrentRow(1)
        grab(window, "gui-results")
        panel.preview_combo.setCurrentIndex(panel.preview_combo.findData("side"))
        grab(window, "gui-side-by-side")

        # Correcting the first target in place: a keep stroke across the subject and a remove
        # stroke on the background, after the engine answered them.
        panel.start_correction()
        view = panel.correction
        alpha = panel.results[view.layer_id].alpha
        rows, cols = np.nonzero(alpha > 0.5)
        cy, cx, half = rows.mean(), cols.mean(), (cols.max() - cols.min()) / 3
        height, width = alpha.shape
        for remove, (x0, y0, x1, y1) in (
            (False, (cx - half, cy, cx + half, cy)),
            (True, (width * 0.06, height * 0.1, width * 0.2, height * 0.1)),
        ):
            view.canvas.set_erase_mode(remove)
            view.canvas.begin_stroke(view.canvas.to_widget(x0, y0))
            view.canvas.continue_stroke(view.canvas.to_widget(x1, y1))
            view.canvas.end_stroke()
        deadline = time.monotonic() + 120
        while not view.accept_button.isEnabled() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        grab(window, "gui-correction")
        panel.close_correction()
        window.close()
        QtWidgets.QApplication.processEvents()
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    for path in render(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
