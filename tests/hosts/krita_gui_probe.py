"""A test-only Krita plugin (installed beside ours by test_krita_gui.py) that drives the real GUI.

Under ``xvfb-run krita`` it opens a document, shows our docker through its action, runs the
panel (selection → reference mask, lite engine) so the result lands as a new layer, writes a
transparency mask through Krita 5.1's action path, checks one undo removes each result, checks
the docker at a 1070×800 window, corrects a result in place, saves screenshots and quits Krita.  Results go to ``$ICM_REPORT_FILE`` as JSON.
"""

import json
import os
import sys
import time
import traceback

from krita import Extension, Krita, Selection

STEP_MS = 700
REPORT = {"checks": [], "failures": [], "figures": {}}
STATE = {}


def check(name, ok, detail=""):
    REPORT["checks"].append(name)
    if not ok:
        REPORT["failures"].append(f"{name}: {detail}")
    save()  # as we go: if Krita crashes, the report shows how far it got


def save():
    with open(os.environ["ICM_REPORT_FILE"], "w") as handle:
        json.dump(REPORT, handle, indent=2)


def step(function, delay=STEP_MS):
    """Run ``function`` later on the GUI thread; any exception ends the probe with a report."""
    from PyQt5.QtCore import QTimer

    def guarded():
        try:
            function()
        except Exception:
            REPORT["failures"].append(traceback.format_exc())
            finish()

    QTimer.singleShot(delay, guarded)


def finish():
    REPORT["finished"] = True
    save()
    app = Krita.instance()
    for document in app.documents():
        document.setModified(False)
    app.action("file_quit").trigger()


def layer_names(doc):
    """Root layers bottom first (the global selection lives there as a selection mask)."""
    return [n.name() for n in doc.rootNode().childNodes() if not n.type().endswith("mask")]


def pixels_of(node, doc):
    return bytes(node.pixelData(0, 0, doc.width(), doc.height()))


# ---------------------------------------------------------------------------------------------
def unexpected(kind, value, trace):
    """Replaces Krita's modal error dialog, which would wait forever under Xvfb."""
    REPORT["failures"].append("".join(traceback.format_exception(kind, value, trace)))
    finish()


def open_document():
    sys.excepthook = unexpected
    sys.path[0:0] = [p for p in json.loads(os.environ["ICM_PATHS"]) if p not in sys.path]
    import numpy as np
    from ui.qt import QtCore

    app = Krita.instance()
    width, height = 256, 192
    doc = app.createDocument(width, height, "gui probe", "RGBA", "U8", "", 72.0)
    app.activeWindow().addView(doc)
    yy, xx = np.mgrid[0:height, 0:width]
    layers = {}
    for name, (cx, cy) in (("Reference", (110, 90)), ("Target", (140, 100))):
        disc = np.hypot(xx - cx, yy - cy) < 55
        bgra = np.zeros((height, width, 4), np.uint8)
        bgra[...] = (200, 150, 60, 255)  # blue-ish background (B, G, R, A)
        bgra[disc] = (30, 140, 240, 255)  # orange disc
        node = doc.createNode(name, "paintlayer")
        node.setPixelData(QtCore.QByteArray(bgra.tobytes()), 0, 0, width, height)
        doc.rootNode().addChildNode(node, None)
        layers[name] = node
    selection = Selection()
    mask = (np.hypot(xx - 110, yy - 90) < 45).astype(np.uint8) * 255
    selection.setPixelData(QtCore.QByteArray(mask.tobytes()), 0, 0, width, height)
    doc.setSelection(selection)
    STATE.update(doc=doc, layers=layers, selection=bytes(mask.tobytes()),
                 before={n: pixels_of(node, doc) for n, node in layers.items()})
    step(show_docker, 1500)


def show_docker():
    from icm_plugin.krita.extension import MattingDocker, find_docker
    from icm_plugin.krita.host import KritaHost

    app = Krita.instance()
    check("plugin actions registered", app.action("icm_matting_show") is not None
          and app.action("icm_matting_run") is not None)
    check("run action has the manifest's shortcut",
          app.action("icm_matting_run").shortcut().toString() == "Ctrl+Alt+Shift+M",
          app.action("icm_matting_run").shortcut().toString())
    app.action("icm_matting_show").trigger()
    docker = find_docker()
    check("docker exists and is shown", isinstance(docker, MattingDocker) and docker.isVisible())
    panel = docker.panel
    check("panel follows the active document", isinstance(panel.host, KritaHost)
          and panel.host.document == STATE["doc"])
    docker.poll_layers()
    names = [panel.layer_list.item(i).text() for i in range(panel.layer_list.count())]
    check("panel lists the document's layers", names[:2] == ["Target", "Reference"], f"{names}")
    modes = [panel.output_combo.itemData(i) for i in range(panel.output_combo.count())]
    check("a window lets Krita 5.1 add transparency masks", modes == ["layer", "mask", "selection"], f"{modes}")
    STATE.update(docker=docker, panel=panel)
    host = panel.host
    reference = STATE["layers"]["Reference"].uniqueId().toString()
    panel.reference_combo.setCurrentIndex(panel.reference_combo.findData(reference))
    panel.set_reference(reference, host.read_pixels(reference), host.revision(reference))
    panel.mask_from_selection()
    panel.output_combo.setCurrentIndex(panel.output_combo.findData("layer"))
    panel.selected_radio.setChecked(True)
    target_id = STATE["layers"]["Target"].uniqueId().toString()
    for row in range(panel.layer_list.count()):
        item = panel.layer_list.item(row)
        item.setSelected(item.data(0x0100) == target_id)  # Qt.UserRole: the layer id
    panel.quality_combo.setCurrentIndex(panel.quality_combo.findData("fast"))
    panel.run_finished.connect(lambda summary: STATE.get("second_run") or step(lambda: after_run(summary), 100))
    STATE["started"] = time.perf_counter()
    check("panel run starts", panel.run(), panel.error_label.text())


def after_run(summary):
    import numpy as np

    REPORT["figures"]["panel_run_s"] = round(time.perf_counter() - STATE["started"], 2)
    doc, panel = STATE["doc"], STATE["panel"]
    check("run finished", summary.status == "done" and not panel.error_label.isVisible(),
          f"{summary} {panel.error_label.text()}")
    target = STATE["layers"]["Target"]
    names = layer_names(doc)
    check("one result layer, above its target", names == ["Background", "Reference", "Target", "Target matte"],
          f"{names}")
    result = doc.nodeByName("Target matte")
    alpha = np.frombuffer(pixels_of(result, doc), np.uint8).reshape(doc.height(), doc.width(), 4)[..., 3]
    inside, outside = alpha[100, 140], alpha[10, 10]
    check("result alpha: disc kept, background gone", inside > 200 and outside < 30, f"{inside} {outside}")
    out = os.environ["ICM_SCREENSHOT_DIR"]
    check("window screenshot saved",
          Krita.instance().activeWindow().qwindow().grab().save(os.path.join(out, "krita-window.png")))
    docker = STATE["docker"]
    docker.setFloating(True)  # a reviewable size; docked it shares the column with others
    docker.resize(1100, 720)
    check("docker screenshot saved", docker.grab().save(os.path.join(out, "krita-docker.png")))
    done = panel.results[target.uniqueId().toString()]
    STATE["alpha"] = done.alpha
    written = panel.host.write_result(target.uniqueId().toString(), done.alpha, None, "mask")
    masks = [c for c in target.childNodes() if c.type() == "transparencymask"]
    check("transparency mask added (5.1 action path)", len(masks) == 1 and "mask" in written.description,
          written.description)
    mask_pixels = np.frombuffer(bytes(masks[0].pixelData(0, 0, doc.width(), doc.height())), np.uint8)
    expected = np.rint(np.clip(done.alpha, 0, 1) * 255).reshape(-1)
    check("transparency mask holds the matte", np.abs(mask_pixels.astype(int) - expected).max() <= 1)
    selection = doc.selection()
    check("user's selection restored after the mask",
          selection is not None and bytes(selection.pixelData(0, 0, doc.width(), doc.height())) == STATE["selection"])
    step(undo_mask)


def undo_mask():
    doc, target = STATE["doc"], STATE["layers"]["Target"]
    Krita.instance().action("edit_undo").trigger()
    doc.waitForDone()
    check("one undo removes the transparency mask", not [c for c in target.childNodes()
                                                        if c.type() == "transparencymask"])
    check("the layer result is still there", doc.nodeByName("Target matte") is not None)
    step(undo_layer)


def undo_layer():
    doc = STATE["doc"]
    Krita.instance().action("edit_undo").trigger()
    doc.waitForDone()
    names = layer_names(doc)
    check("a second undo removes the result layer", names == ["Background", "Reference", "Target"], f"{names}")
    target = STATE["layers"]["Target"]
    STATE["panel"].host.write_result(target.uniqueId().toString(), STATE["alpha"], None, "selection")
    check("selection mask added", [c.type() for c in target.childNodes()] == ["selectionmask"])
    step(undo_selection_mask)


def undo_selection_mask():
    doc, target = STATE["doc"], STATE["layers"]["Target"]
    Krita.instance().action("edit_undo").trigger()
    doc.waitForDone()
    check("one undo removes the selection mask", target.childNodes() == [])
    after = {n: pixels_of(node, doc) for n, node in STATE["layers"].items()}
    check("the user's layers are untouched", after == STATE["before"])
    step(docker_at_default_size)


def docker_at_default_size():
    """Krita's window at 1070×800 with the docker docked: Run in view, Size not squashed."""
    docker, panel = STATE["docker"], STATE["panel"]
    docker.setFloating(False)
    window = Krita.instance().activeWindow().qwindow()
    window.showNormal()
    window.resize(1070, 800)
    step(check_docker_size, 1500)


def check_docker_size():
    docker, panel = STATE["docker"], STATE["panel"]
    window = Krita.instance().activeWindow().qwindow()
    out = os.environ["ICM_SCREENSHOT_DIR"]
    window.grab().save(os.path.join(out, "krita-window-1070x800.png"))
    run = panel.run_button
    REPORT["figures"]["window_1070x800"] = [window.width(), window.height()]
    REPORT["figures"]["docker_size"] = [docker.width(), docker.height()]
    REPORT["figures"]["size_slider_width"] = panel.reference.size_slider.width()
    top_left = run.mapTo(docker, run.rect().topLeft())
    bottom_right = run.mapTo(docker, run.rect().bottomRight())
    check("Run is in view in the docker at 1070×800", run.isVisible() and not run.visibleRegion().isEmpty()
          and docker.rect().contains(top_left) and docker.rect().contains(bottom_right),
          f"{REPORT['figures']}")
    check("the Size slider is not squashed at 1070×800", panel.reference.size_slider.width() >= 80,
          f"{REPORT['figures']}")
    STATE["second_run"] = True
    panel.run_finished.connect(lambda summary: step(correct_result, 100))
    target_id = STATE["layers"]["Target"].uniqueId().toString()
    for row in range(panel.layer_list.count()):  # the list was read again after the undos
        item = panel.layer_list.item(row)
        item.setSelected(item.data(0x0100) == target_id)
    started = panel.run()
    check("second panel run starts", started, panel.error_label.text())
    if not started:
        finish()


def correct_result():
    """A remove stroke on the new result, Accept: our layer is replaced, nothing else."""
    import numpy as np

    doc, panel = STATE["doc"], STATE["panel"]
    target = STATE["layers"]["Target"].uniqueId().toString()
    STATE["first_result"] = doc.nodeByName("Target matte").uniqueId()
    rows = [panel.layer_list.item(i).data(0x0100) for i in range(panel.layer_list.count())]
    panel.layer_list.setCurrentRow(rows.index(target))
    opened = panel.start_correction()
    check("correction view opens", opened, panel.error_label.text())
    if not opened:
        finish()
        return
    canvas = panel.correction.canvas
    canvas.set_erase_mode(True)
    canvas.set_brush_radius(30)
    canvas.begin_stroke(canvas.to_widget(135, 100))
    canvas.continue_stroke(canvas.to_widget(145, 100))
    canvas.end_stroke()
    STATE["asked"] = time.perf_counter()
    step(accept_correction, 300)


def accept_correction():
    import numpy as np

    doc, panel = STATE["doc"], STATE["panel"]
    if not panel.correction.accept_button.isEnabled() and time.perf_counter() - STATE["asked"] < 60:
        step(accept_correction, 300)
        return
    out = os.environ["ICM_SCREENSHOT_DIR"]
    Krita.instance().activeWindow().qwindow().grab().save(os.path.join(out, "krita-correction.png"))
    check("Accept takes the corrected matte", panel.accept_correction(), panel.error_label.text())
    doc.waitForDone()
    names = layer_names(doc)
    result = doc.nodeByName("Target matte")
    check("the result layer was replaced, not added to",
          names == ["Background", "Reference", "Target", "Target matte"]
          and result.uniqueId() != STATE["first_result"], f"{names}")
    alpha = np.frombuffer(pixels_of(result, doc), np.uint8).reshape(doc.height(), doc.width(), 4)[..., 3]
    check("the corrected alpha removed the stroked disc", alpha[100, 140] < 30, f"{alpha[100, 140]}")
    after = {n: pixels_of(node, doc) for n, node in STATE["layers"].items()}
    check("the user's layers are untouched by the correction", after == STATE["before"])
    step(undo_correction)


def undo_correction():
    doc = STATE["doc"]
    Krita.instance().action("edit_undo").trigger()
    doc.waitForDone()
    names = layer_names(doc)
    check("one undo of an Accept leaves no matte (never two over each other)",
          names == ["Background", "Reference", "Target"], f"{names}")
    Krita.instance().action("edit_undo").trigger()
    doc.waitForDone()
    names = layer_names(doc)
    check("two undos give back the uncorrected result", names == ["Background", "Reference", "Target",
                                                                 "Target matte"]
          and doc.nodeByName("Target matte").uniqueId() == STATE["first_result"], f"{names}")
    finish()


class Probe(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        step(open_document, 2000)


Krita.instance().addExtension(Probe(Krita.instance()))
