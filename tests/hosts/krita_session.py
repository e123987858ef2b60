"""A test-only Krita plugin: an artist's whole session in the real Krita GUI, driven through X
with xdotool as a person would (mouse strokes, button clicks, Ctrl+Z, Ctrl+Q).

Installed beside ours by test_krita_session.py.  A document with three photos of one subject
as layers; brush the reference in the docker's canvas; Run; Correct one target with a Keep
and a Remove stroke; Accept; Ctrl+Z twice and Ctrl+Shift+Z twice (Krita's own undo, focus
still in the docker); Run again; save the .kra, close it, open it again; Ctrl+Q.  After each
step: the layer tree, Krita's undo text, the docker's list.  Screenshots of each step go to
``$ICM_SCREENSHOT_DIR``; the report (checks, failures, figures) to ``$ICM_REPORT_FILE``.
"""

import json
import os
import subprocess
import sys
import time
import traceback

from krita import Extension, Krita

REPORT = {"checks": [], "failures": [], "figures": {}, "steps": []}
STATE = {}
SIZE = (800, 600)  # width, height of the photos
SUBJECTS = ((330, 300), (400, 290), (470, 310))  # where the subject stands in each photo


# -- reporting ---------------------------------------------------------------------------------
def check(name, ok, detail=""):
    REPORT["checks"].append(name)
    if not ok:
        REPORT["failures"].append(f"{name}: {detail}")
    save()


def save():
    with open(os.environ["ICM_REPORT_FILE"], "w") as handle:
        json.dump(REPORT, handle, indent=2)


def shot(name):
    window = Krita.instance().activeWindow()
    if window is not None:
        path = os.path.join(os.environ["ICM_SCREENSHOT_DIR"], f"{len(REPORT['steps']):02d}-{name}.png")
        window.qwindow().grab().save(path)
    REPORT["steps"].append(name)
    save()


def unexpected(kind, value, trace):
    """Replaces Krita's modal error dialog, which would wait forever under Xvfb."""
    REPORT["failures"].append("".join(traceback.format_exception(kind, value, trace)))
    quit_krita()


# -- driving -----------------------------------------------------------------------------------
def later(function, delay=400):
    from PyQt5.QtCore import QTimer

    def guarded():
        try:
            function()
        except Exception:
            REPORT["failures"].append(traceback.format_exc())
            quit_krita()

    QTimer.singleShot(delay, guarded)


def wait_for(name, predicate, then, timeout=120.0):
    """Poll ``predicate`` every 100 ms; then ``then()``, or a failure after ``timeout`` s."""
    started = time.perf_counter()

    def poll():
        if predicate():
            REPORT["figures"][f"wait_{name}_s"] = round(time.perf_counter() - started, 2)
            then()
        elif time.perf_counter() - started > timeout:
            check(f"{name} within {timeout:.0f} s", False, "timed out")
            quit_krita()
        else:
            later(poll, 100)

    poll()


def xdo(*args):
    subprocess.run(["xdotool", *[str(a) for a in args]], check=True, timeout=20)


def focus_krita():
    xdo("windowfocus", int(Krita.instance().activeWindow().qwindow().winId()))


def key(keys):
    focus_krita()
    xdo("key", "--clearmodifiers", keys)


def at(widget, point=None):
    """Global screen position of ``point`` in ``widget`` (its centre by default)."""
    from PyQt5.QtCore import QPoint

    local = point.toPoint() if hasattr(point, "toPoint") else (point or widget.rect().center())
    spot = widget.mapToGlobal(QPoint(local))
    return spot.x(), spot.y()


def click(widget):
    x, y = at(widget)
    xdo("mousemove", "--sync", x, y, "click", 1)


def drag(canvas, image_points):
    """A real mouse stroke over ``canvas`` through image points ``(x, y)``."""
    path = [at(canvas, canvas.to_widget(x, y)) for x, y in image_points]
    args = ["mousemove", "--sync", *path[0], "sleep", "0.2", "mousedown", "1"]
    for x, y in path[1:]:
        args += ["sleep", "0.05", "mousemove", x, y]
    args += ["sleep", "0.1", "mouseup", "1"]
    xdo(*args)


# -- what Krita and the docker show ------------------------------------------------------------
def tree(doc):
    """Root layers, bottom first, with their masks: ``name`` or ``name[mask names]``."""
    out = []
    for node in doc.rootNode().childNodes():
        if node.type() == "selectionmask":
            continue
        masks = [c.name() for c in node.childNodes() if c.type().endswith("mask")]
        out.append(node.name() + (f"[{', '.join(masks)}]" if masks else ""))
    return out


def undo_text():
    return Krita.instance().action("edit_undo").text()


def listed(panel):
    """The docker's rows as the artist reads them."""
    return [panel.layer_list.item(i).text() for i in range(panel.layer_list.count())]


def row_of(panel, name):
    return next(i for i in range(panel.layer_list.count())
                if panel.layer_list.item(i).text().split(" — ")[0] == name)


def record(step):
    doc, panel = STATE["doc"], STATE["panel"]
    STATE["docker"].poll_layers()
    REPORT["figures"][step] = {"layers": tree(doc), "undo": undo_text(), "docker": listed(panel)}
    shot(step)


# -- the session -------------------------------------------------------------------------------
def open_document():
    sys.excepthook = unexpected
    sys.path[0:0] = [p for p in json.loads(os.environ["ICM_PATHS"]) if p not in sys.path]
    import numpy as np
    from PyQt5.QtCore import QByteArray

    from tests.hosts.scenes import bottle_photo

    app = Krita.instance()
    width, height = SIZE
    doc = app.createDocument(width, height, "bottles", "RGBA", "U8", "", 72.0)
    for node in doc.rootNode().childNodes():
        node.remove()  # no white background: three photos, as opened from files
    truths = {}
    for index, (cx, cy) in enumerate(SUBJECTS):
        name = f"bottle_0{index + 1}.jpg"
        bgra, truths[name] = bottle_photo(np, SIZE, cx, cy, index)
        node = doc.createNode(name, "paintlayer")
        node.setPixelData(QByteArray(bgra.tobytes()), 0, 0, width, height)
        doc.rootNode().addChildNode(node, None)
    app.activeWindow().addView(doc)
    doc.setModified(False)
    window = app.activeWindow().qwindow()
    REPORT["figures"]["window"] = [window.width(), window.height()]
    STATE.update(doc=doc, truths=truths, np=np)
    later(show_docker, 1500)


def show_docker():
    from icm_plugin.krita.extension import find_docker

    Krita.instance().action("icm_matting_show").trigger()
    docker = find_docker()
    check("the docker shows", docker is not None and docker.isVisible())
    STATE.update(docker=docker, panel=docker.panel)
    wait_for("docker lists the photos", lambda: len(listed(STATE["panel"])) == 3, brush_reference)


def brush_reference():
    panel = STATE["panel"]
    record("docker-shown")
    check("the reference defaults to a photo", panel.reference_combo.currentText().startswith("bottle_0"),
          panel.reference_combo.currentText())
    reference = panel.reference_combo.currentText()
    STATE["reference"] = reference
    cx, cy = SUBJECTS[int(reference[8]) - 1]
    canvas = panel.canvas
    canvas.set_brush_radius(40)
    before = canvas.geometry()
    drag(canvas, [(cx, cy - 90), (cx, cy), (cx, cy + 90)])
    later(lambda: after_reference(before), 800)


def after_reference(before):
    panel = STATE["panel"]
    mask = panel.canvas.mask()
    cx, cy = SUBJECTS[int(STATE["reference"][8]) - 1]
    check("the mouse stroke brushed the reference", mask[cy, cx] > 0.5 and mask[10, 10] == 0,
          f"{mask[cy, cx]} {mask[10, 10]}")
    check("brushing did not move the canvas", panel.canvas.geometry() == before,
          f"{before} → {panel.canvas.geometry()}")
    shot("reference-brushed")
    if not panel.all_radio.isChecked():  # the profile's earlier tests may have left "Selected"
        click(panel.all_radio)
    later(lambda: start_first_run(panel), 300)


def start_first_run(panel):
    check("Targets: All", panel.all_radio.isChecked())
    STATE["started"] = time.perf_counter()
    click(panel.run_button)
    later(lambda: check("the run started", panel.runner.busy or len(panel.results) == 2,
                        panel.error_label.text()), 300)
    wait_for("first run", lambda: first_run_done(panel), after_first_run, timeout=180)


def first_run_done(panel):
    return not panel.runner.busy and len(panel.results) == 2


def after_first_run():
    doc, panel = STATE["doc"], STATE["panel"]
    REPORT["figures"]["run_s"] = round(time.perf_counter() - STATE["started"], 2)
    record("first-run")
    layers = tree(doc)
    targets = [name for name in (f"bottle_0{i}.jpg" for i in (1, 2, 3)) if name != STATE["reference"]]
    expected = [n for i in (1, 2, 3) for n in ([f"bottle_0{i}.jpg"] + ([f"bottle_0{i}.jpg matte"]
                                                                       if f"bottle_0{i}.jpg" in targets else []))]
    check("one result layer above each target", layers == expected, f"{layers}")
    check("the docker lists both targets done",
          all(text.endswith("done") for text in listed(panel) if text.split(" — ")[0] in targets),
          f"{listed(panel)}")
    STATE["targets"] = targets
    target = targets[0]
    STATE["target"] = target
    STATE["first_result"] = doc.nodeByName(f"{target} matte").uniqueId()
    panel.layer_list.setCurrentRow(row_of(panel, target))
    click(panel.review.correct_button)
    wait_for("correction view", lambda: panel.left.currentWidget() is panel.correction, keep_stroke)


def keep_stroke():
    panel = STATE["panel"]
    view = panel.correction
    STATE["correction_geometry"] = (view.canvas.geometry(), STATE["docker"].geometry())
    cx, cy = SUBJECTS[int(STATE["target"][8]) - 1]
    view.canvas.set_brush_radius(12)
    x, y = at(view.canvas)
    xdo("mousemove", "--sync", x, y)  # hovering gives the canvas the keyboard
    later(lambda: key_then(view, "k", lambda: drag(view.canvas, [(cx, cy - 220), (cx, cy - 140)])), 300)
    STATE["stroke_at"] = time.perf_counter()
    wait_for("keep stroke corrected", lambda: view.accept_button.isEnabled(), remove_stroke)


def key_then(view, keys, action):
    key(keys)
    later(action, 200)


def remove_stroke():
    panel = STATE["panel"]
    view = panel.correction
    REPORT["figures"]["keep_stroke_to_final_s"] = round(time.perf_counter() - STATE["stroke_at"], 2)
    shot("keep-stroke")
    now = (view.canvas.geometry(), STATE["docker"].geometry())
    check("the keep stroke did not move the view", now == STATE["correction_geometry"],
          f"{STATE['correction_geometry']} → {now}")
    cx, cy = SUBJECTS[int(STATE["target"][8]) - 1]
    key_then(view, "r", lambda: drag(view.canvas, [(cx + 150, cy), (cx + 250, cy)]))
    STATE["stroke_at"] = time.perf_counter()
    later(lambda: wait_for("remove stroke corrected", lambda: view.accept_button.isEnabled()
                           and view.canvas.hints() is not None and view.canvas.hints().remove.max() > 0,
                           accept), 500)


def accept():
    panel = STATE["panel"]
    view = panel.correction
    REPORT["figures"]["remove_stroke_to_final_s"] = round(time.perf_counter() - STATE["stroke_at"], 2)
    hints = view.canvas.hints()
    check("keep and remove strokes both reached the engine", hints.keep.max() == 1 and hints.remove.max() == 1)
    check_docker_fits("correction")
    shot("remove-stroke")
    click(view.accept_button)
    wait_for("accepted", lambda: panel.session is None, after_accept)


def after_accept():
    doc, panel = STATE["doc"], STATE["panel"]
    record("accepted")
    target = STATE["target"]
    result = doc.nodeByName(f"{target} matte")
    check("Accept replaced our result layer", result is not None and result.uniqueId() != STATE["first_result"]
          and tree(doc).count(f"{target} matte") == 1, f"{tree(doc)}")
    STATE["corrected_result"] = result.uniqueId()
    # Ctrl+Z right after Accept: the focus is still in the docker; Krita's undo must run
    key("ctrl+z")
    later(after_first_undo, 1500)


def after_first_undo():
    doc, panel = STATE["doc"], STATE["panel"]
    record("ctrl-z-once")
    target = STATE["target"]
    check("one Ctrl+Z after Accept: no matte for the target, never two",
          f"{target} matte" not in tree(doc), f"{tree(doc)}")
    check("the docker no longer lists the target done",
          not listed(panel)[row_of(panel, target)].endswith("done"), f"{listed(panel)}")
    key("ctrl+z")
    later(after_second_undo, 1500)


def after_second_undo():
    doc, panel = STATE["doc"], STATE["panel"]
    record("ctrl-z-twice")
    target = STATE["target"]
    result = doc.nodeByName(f"{target} matte")
    check("a second Ctrl+Z brings the uncorrected result back",
          result is not None and result.uniqueId() == STATE["first_result"], f"{tree(doc)}")
    check("the docker lists it done again", listed(panel)[row_of(panel, target)].endswith("done"),
          f"{listed(panel)}")
    key("ctrl+shift+z")
    later(lambda: key("ctrl+shift+z"), 800)
    later(after_redo, 2300)


def after_redo():
    doc, panel = STATE["doc"], STATE["panel"]
    record("ctrl-shift-z-twice")
    result = doc.nodeByName(f"{STATE['target']} matte")
    check("two Ctrl+Shift+Z bring the corrected result back",
          result is not None and result.uniqueId() == STATE["corrected_result"], f"{tree(doc)}")
    STATE["started"] = time.perf_counter()
    click(panel.run_button)
    later(lambda: wait_for("second run", lambda: not panel.runner.busy, after_second_run, 180), 300)


def after_second_run():
    doc = STATE["doc"]
    record("second-run")
    layers = tree(doc)
    check("the second run matted no result layer", not any("matte matte" in name for name in layers), f"{layers}")
    path = os.path.join(os.environ["ICM_WORK_DIR"], "bottles.kra")
    STATE["path"] = path
    doc.setBatchmode(True)  # no export dialog
    check("saved as .kra", doc.saveAs(path), path)
    STATE["saved_layers"] = layers
    doc.close()
    later(reopen, 1000)


def reopen():
    app = Krita.instance()
    doc = app.openDocument(STATE["path"])
    app.activeWindow().addView(doc)
    STATE["doc"] = doc
    panel = STATE["panel"]
    wait_for("reopened document listed", lambda: len(listed(panel)) == len(STATE["saved_layers"]), after_reopen)


def after_reopen():
    doc, panel = STATE["doc"], STATE["panel"]
    record("reopened")
    check("the reopened layers are the saved ones", tree(doc) == STATE["saved_layers"], f"{tree(doc)}")
    check("the reference is a photo, not a result", not panel.reference_combo.currentText().endswith("matte"),
          panel.reference_combo.currentText())
    results = [layer.name for layer in panel.host.layers() if layer.result]
    check("our result layers are known after reopening", len(results) == 4, f"{results}")
    recorded = json.loads(bytes(doc.annotation("icm-matting/results")).decode() or "[]")
    mattes = [n.uniqueId().toString() for n in doc.rootNode().childNodes() if n.name().endswith(" matte")]
    check("the .kra keeps our record of them (annotation, layer ids)", set(mattes) <= set(recorded),
          f"{mattes} vs {recorded}")
    ours = {layer.id for layer in panel.host.layers() if layer.result}
    check("results are no default targets", not ours & set(panel.target_ids()), f"{panel.target_ids()}")
    check_docker_fits("default window")
    window = Krita.instance().activeWindow().qwindow()
    window.move(0, 0)  # the whole of it on Xvfb's 1600×1000 screen
    window.resize(1600, 1000)
    later(bigger_window, 1500)


def bigger_window():
    window = Krita.instance().activeWindow().qwindow()
    REPORT["figures"]["big_window"] = [window.width(), window.height()]
    shot("1600x1000")
    check_docker_fits("1600x1000 window")
    options = STATE["panel"].controls.options_button
    if not options.isChecked():  # a setting changed just before quitting must be kept
        click(options)

    def clicked():
        check("the options unfold with a click", options.isChecked(), f"{at(options)}")
        quit_krita()

    later(clicked, 500)


def check_docker_fits(where):
    """Every visible label and button of the docker shows its whole text."""
    from PyQt5.QtWidgets import QAbstractButton, QLabel

    docker = STATE["docker"]
    clipped = []
    for widget in docker.findChildren(QLabel) + docker.findChildren(QAbstractButton):
        text = widget.text() if hasattr(widget, "text") else ""
        if widget.isVisible() and text and not getattr(widget, "wordWrap", lambda: False)():
            if widget.width() < widget.minimumSizeHint().width() - 1:
                clipped.append(f"{text!r} {widget.width()}<{widget.minimumSizeHint().width()}")
    REPORT["figures"][f"docker_size_{where}"] = [docker.width(), docker.height()]
    check(f"no clipped label or button ({where})", not clipped, f"{clipped}")
    if where != "default window":
        return
    panel = STATE["panel"]
    for name, widget in (("Run", panel.run_button), ("reference canvas", panel.canvas),
                         ("result list", panel.layer_list)):
        region = widget.visibleRegion().boundingRect()
        REPORT["figures"][f"{name} visible"] = [region.width(), region.height(), widget.width(), widget.height()]
        check(f"{name} in view without scrolling at Krita's default window",
              region.size() == widget.size() and widget.height() >= 22, REPORT["figures"][f"{name} visible"])


def quit_krita():
    if STATE.get("quitting"):
        return
    STATE["quitting"] = True
    REPORT["finished"] = True
    save()
    for document in Krita.instance().documents():
        document.setModified(False)
    key("ctrl+q")


class Session(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        later(open_document, 2000)


Krita.instance().addExtension(Session(Krita.instance()))
