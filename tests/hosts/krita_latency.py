"""A test-only Krita plugin that times the docker in the real Krita GUI (benchmarks/krita_latency.py
installs it): Run → the first result layer in the document, and a correction stroke released →
its preview, then its final alpha, drawn in the docker; 1 MP photos, the panel's default
quality.  Wall seconds and the Krita process's CPU seconds (all threads) go to
``$ICM_REPORT_FILE``."""

import json
import os
import resource
import statistics
import sys
import time
import traceback

from krita import Extension, Krita

SIZE = (1155, 866)  # 1.0 MP
STROKES = 6
REPORT = {"failures": [], "figures": {}}
STATE = {}


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def save():
    with open(os.environ["ICM_REPORT_FILE"], "w") as handle:
        json.dump(REPORT, handle, indent=2)


def later(function, delay=300):
    from PyQt5.QtCore import QTimer

    def guarded():
        try:
            function()
        except Exception:
            REPORT["failures"].append(traceback.format_exc())
            finish()

    QTimer.singleShot(delay, guarded)


def finish():
    save()
    for document in Krita.instance().documents():
        document.setModified(False)
    Krita.instance().action("file_quit").trigger()


def start():
    sys.path[0:0] = [p for p in json.loads(os.environ["ICM_PATHS"]) if p not in sys.path]
    import numpy as np
    from PyQt5.QtCore import QByteArray

    from icm_plugin.krita.extension import find_docker
    from tests.hosts.scenes import bottle_photo

    app = Krita.instance()
    width, height = SIZE
    doc = app.createDocument(width, height, "latency", "RGBA", "U8", "", 72.0)
    for node in doc.rootNode().childNodes():
        node.remove()
    truths = []
    for index, cx in enumerate((500, 640)):
        bgra, truth = bottle_photo(np, SIZE, cx, 480, index)
        node = doc.createNode(f"photo {index + 1}", "paintlayer")
        node.setPixelData(QByteArray(bgra.tobytes()), 0, 0, width, height)
        doc.rootNode().addChildNode(node, None)
        truths.append(truth)
    app.activeWindow().addView(doc)
    app.action("icm_matting_show").trigger()
    docker = find_docker()
    panel = docker.panel
    docker.poll_layers()
    panel.reference_combo.setCurrentIndex(panel.reference_combo.findText("photo 1"))
    panel.reference.reference_chosen()
    panel.canvas.set_mask(truths[0].astype(np.float32))
    STATE.update(doc=doc, panel=panel, np=np)
    REPORT["figures"]["megapixels"] = round(width * height / 1e6, 2)
    REPORT["figures"]["quality"] = panel.quality_combo.currentData()
    later(run, 3000)  # the engine's libraries load in the worker meanwhile, as after a start


def run():
    panel = STATE["panel"]
    panel.target_finished.connect(first_result)
    STATE["t0"], STATE["cpu0"] = time.perf_counter(), cpu()
    if not panel.run():
        REPORT["failures"].append(panel.error_label.text())
        finish()


def first_result(done):
    panel = STATE["panel"]
    if "run_first_result_s" in REPORT["figures"]:
        return
    REPORT["figures"]["run_first_result_s"] = round(time.perf_counter() - STATE["t0"], 3)
    REPORT["figures"]["run_first_result_cpu_s"] = round(cpu() - STATE["cpu0"], 3)
    names = [node.name() for node in STATE["doc"].rootNode().childNodes()]
    if "photo 2 matte" not in names:
        REPORT["failures"].append(f"no result layer: {names}")
    later(lambda: correct(panel), 1000)


def correct(panel):
    if panel.runner.busy:
        later(lambda: correct(panel), 200)
        return
    rows = [panel.layer_list.item(i).text().split(" — ")[0] for i in range(panel.layer_list.count())]
    panel.layer_list.setCurrentRow(rows.index("photo 2"))
    if not panel.start_correction():
        REPORT["failures"].append(f"Correct… refused: {panel.error_label.text()}")
        finish()
        return
    view = panel.correction
    shown = view.show_session
    STATE.update(previews=[], finals=[], stroke=0)

    def spy(session):
        shown(session)
        if STATE.get("released") is None or session.alpha is STATE.get("last_alpha"):
            return
        STATE["last_alpha"] = session.alpha
        kind = "finals" if session.corrected is not None else "previews"
        later(lambda: drawn(kind), 0)  # after the canvas has painted it

    view.show_session = spy
    STATE["engine"] = {"previews": [], "finals": []}
    panel.runner.signals.corrected.connect(
        lambda answer: STATE["engine"]["finals" if answer.final else "previews"].append(answer.seconds))
    later(stroke, 500)


def drawn(kind):
    wall, used = time.perf_counter() - STATE["released"], cpu() - STATE["released_cpu"]
    STATE[kind].append((wall, used))
    if kind == "finals":
        STATE["released"] = None
        STATE["stroke"] += 1
        later(stroke if STATE["stroke"] < STROKES else report, 300)


def stroke():
    view = STATE["panel"].correction
    canvas = view.canvas
    index = STATE["stroke"]
    remove = index % 2 == 1
    canvas.set_brush_radius(14)
    x = 640 + (160 if remove else 0)
    y = 300 + 40 * index
    canvas.begin_stroke(canvas.to_widget(x, y), erase=remove)
    canvas.continue_stroke(canvas.to_widget(x + 40, y))
    STATE["released"], STATE["released_cpu"] = time.perf_counter(), cpu()
    canvas.end_stroke()


def report():
    figures = REPORT["figures"]
    for kind in ("previews", "finals"):
        walls = [wall for wall, _ in STATE[kind]]
        cpus = [used for _, used in STATE[kind]]
        figures[f"stroke_to_{kind[:-1]}_median_s"] = round(statistics.median(walls), 3)
        figures[f"stroke_to_{kind[:-1]}_max_s"] = round(max(walls), 3)
        figures[f"stroke_to_{kind[:-1]}_cpu_median_s"] = round(statistics.median(cpus), 3)
        figures[f"{kind}_counted"] = len(walls)
        figures[f"engine_{kind[:-1]}_median_s"] = round(statistics.median(STATE["engine"][kind]), 3)
    finish()


class Latency(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        later(start, 2000)


Krita.instance().addExtension(Latency(Krita.instance()))
