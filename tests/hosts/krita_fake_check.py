"""Run by test_krita_fake.py in a child process: ``python -m tests.hosts.krita_fake_check PyQt6``.

The Krita plugin on a Krita this OS lacks — Krita 6 (PyQt6) or Krita 5.2/5.3 (PyQt5 with
``createTransparencyMask``) — through the fake libkis in fake_krita.py:

1. the checks of krita_offscreen.py that need no colour management (the series through the
   panel's worker with the lite engine, every depth and profile) — the same code that runs
   inside the real Krita 5.1.5;
2. transparency masks made the ≥ 5.2 way at every depth; colour conversion handed to Krita
   (which the fake cannot do: only the hand-over and the clean-up are checked);
3. the plugin as Krita loads it: loader → extension and docker → actions → a document opened
   in the window → the docker's panel runs the lite engine and writes a transparency mask →
   Krita closes.

Prints one ``ICM_REPORT {json}`` line; the exit code is 0 only when every check passed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

from tests.hosts import fake_krita
from tests.hosts.helpers import ROOT
from tests.hosts.krita_offscreen import (
    REPORT,
    _bgra16,
    _rgbaf,
    bgra8,
    check,
    depths_and_profiles,
    scene,
    series_through_worker,
    snapshot,
    untouched,
)

VERSIONS = {"PyQt6": "6.0.1", "PyQt5": "5.3.1"}


def main(binding: str) -> int:
    code = 1
    try:
        fake_krita.install(binding, VERSIONS[binding])
        run(binding)
        code = 0 if not REPORT["failures"] else 3
    except BaseException:
        REPORT["failures"].append(traceback.format_exc())
        code = 4
    print("ICM_REPORT " + json.dumps(REPORT), flush=True)
    sys.stderr.flush()
    os._exit(code)  # no Qt teardown at exit: the report is out


def run(binding: str) -> None:
    import numpy as np

    import ui.qt

    REPORT["binding"] = ui.qt.API
    check("ui.qt follows the host's binding", ui.qt.API == binding, ui.qt.API)
    other = "PyQt5" if binding == "PyQt6" else "PyQt6"
    try:
        __import__(other)
        guarded = False
    except ModuleNotFoundError:
        guarded = True
    check(f"Krita's guard refuses {other}", guarded)
    series_through_worker(np)
    depths_and_profiles(np)
    transparency_masks(np)
    conversion_is_left_to_krita(np)
    plugin_in_a_window(np)
    check("never PySide6 inside Krita", "PySide6" not in sys.modules)
    check(f"never {other} inside Krita", other not in sys.modules)


def transparency_masks(np) -> None:
    """Krita ≥ 5.2: ``createTransparencyMask`` + ``setSelection``, on layers of every depth;
    the mask holds the matte and the layer now shows through it."""
    from krita import Krita

    from icm_plugin.krita import pixels
    from icm_plugin.krita.host import KritaHost
    from ui.qt import QtCore

    height, width = 24, 32
    image, truth = scene(np, height, width, 3)
    builds = {"U8": lambda: bgra8(np, image), "U16": lambda: _bgra16(np, image),
              "F16": lambda: _rgbaf(np, image, np.float16), "F32": lambda: _rgbaf(np, image, np.float32)}
    for depth, build in builds.items():
        doc = Krita.instance().createDocument(width, height, f"mask {depth}", "RGBA", depth,
                                              "sRGB-elle-V2-srgbtrc.icc", 72.0)
        node = doc.createNode("photo", "paintlayer")
        node.setPixelData(QtCore.QByteArray(build().tobytes()), 0, 0, width, height)
        doc.rootNode().addChildNode(node, None)
        before = snapshot(np, doc)
        host = KritaHost(doc)
        check(f"{depth}: transparency masks offered without a window", "mask" in host.output_modes(),
              f"{host.output_modes()}")
        written = host.write_result(node.uniqueId().toString(), truth, None, "mask")
        untouched(np, doc, {k: v for k, v in before.items() if k != node.uniqueId().toString()},
                  f"mask {depth}")
        masks = [c for c in node.childNodes() if c.type() == "transparencymask"]
        check(f"{depth}: one transparency mask named after the layer",
              [m.name() for m in masks] == ["photo matte mask"] and "transparency mask" in written.description,
              f"{[m.name() for m in masks]} {written.description}")
        if not masks:
            continue
        stored = np.frombuffer(bytes(masks[0].pixelData(0, 0, width, height)), np.uint8).reshape(height, width)
        check(f"{depth}: mask bytes = matte", np.array_equal(stored, np.rint(truth * 255).astype(np.uint8)), "")
        check(f"{depth}: the layer's own pixels are unchanged",
              bytes(node.pixelData(0, 0, width, height)) == build().tobytes())
        shown = pixels.decode(node.projectionPixelData(0, 0, width, height), width, height, "RGBA", depth)
        scale = pixels.FULL_SCALE[depth]
        check(f"{depth}: the layer shows through the mask",
              np.abs(shown[..., 3].astype(np.float64) / scale - stored / 255).max() < 2e-3, "")
        doc.close()


def conversion_is_left_to_krita(np) -> None:
    """A profile only Krita can convert: the pixels go to a scratch document, which is closed
    again whatever happens; the fake has no colour management, so the conversion itself fails."""
    from krita import Krita

    from icm_plugin.krita.host import KritaHost
    from ui.qt import QtCore

    height, width = 8, 12
    doc = Krita.instance().createDocument(width, height, "gamma 2.2", "RGBA", "U8", "sRGB-elle-V2-g22.icc", 72.0)
    node = doc.createNode("photo", "paintlayer")
    node.setPixelData(QtCore.QByteArray(bgra8(np, scene(np, height, width, 5)[0]).tobytes()), 0, 0, width, height)
    doc.rootNode().addChildNode(node, None)
    before = snapshot(np, doc)
    try:
        KritaHost(doc).read_pixels(node.uniqueId().toString())
        reached = "no conversion asked for"
    except NotImplementedError as error:
        reached = str(error)
    check("an unreadable profile is handed to Krita's conversion", "convert" in reached, reached)
    check("the scratch document is closed", [d.name() for d in Krita.instance().documents()] == ["gamma 2.2"],
          f"{[d.name() for d in Krita.instance().documents()]}")
    untouched(np, doc, before, "conversion")
    doc.close()


def plugin_in_a_window(np) -> None:
    """Load the plugin as Krita does, open a document in a window, run the docker's panel."""
    from krita import Krita, Selection

    from icm_plugin.krita import loader
    from ui.qt import QAction, QtCore, exec_

    # The docker shown instead when our packages cannot load uses the binding directly.
    loader.register_help("help text")
    loader.load()
    from icm_plugin.krita.extension import MattingDocker, find_docker
    from icm_plugin.krita.host import KritaHost

    app = Krita.instance()
    window = fake_krita.open_window()
    helpers = [d for d in app.dockers() if not isinstance(d, MattingDocker)]
    check("help docker shows its text", [d.widget().toPlainText() for d in helpers] == ["help text"],
          f"{helpers}")
    docker = find_docker()
    check("loader registered the docker", isinstance(docker, MattingDocker), f"{app.dockers()}")
    check("actions from the manifest", all(isinstance(app.action(name), QAction)
                                           for name in ("icm_matting_show", "icm_matting_run")))
    app.action("icm_matting_show").trigger()
    check("show action shows the docker", docker.isVisible())

    height, width = 96, 128
    doc = app.createDocument(width, height, "plugin", "RGBA", "U8", "", 72.0)
    images, truths, nodes = {}, {}, {}
    for seed, name in enumerate(["Reference", "Target"]):
        images[name], truths[name] = scene(np, height, width, seed)
        node = doc.createNode(name, "paintlayer")
        node.setPixelData(QtCore.QByteArray(bgra8(np, images[name]).tobytes()), 0, 0, width, height)
        doc.rootNode().addChildNode(node, None)
        nodes[name] = node
    selection = Selection()
    selection.setPixelData(QtCore.QByteArray(np.rint(truths["Reference"] * 255).astype(np.uint8).tobytes()),
                           0, 0, width, height)
    doc.setSelection(selection)
    before = snapshot(np, doc)
    window.addView(doc)
    panel = docker.panel
    check("canvasChanged points the panel at the document",
          isinstance(panel.host, KritaHost) and panel.host.document == doc)
    docker.poll_layers()
    names = [panel.layer_list.item(i).text() for i in range(panel.layer_list.count())]
    check("panel lists the document's layers", names == ["Target", "Reference", "Background"], f"{names}")

    reference = nodes["Reference"].uniqueId().toString()
    target = nodes["Target"].uniqueId().toString()
    panel.reference_combo.setCurrentIndex(panel.reference_combo.findData(reference))
    panel.set_reference(reference, panel.host.read_pixels(reference), panel.host.revision(reference))
    panel.mask_from_selection()
    check("mask from Krita's selection", np.abs(panel.canvas.mask() - truths["Reference"]).max() <= 1 / 255,
          panel.error_label.text())
    panel.output_combo.setCurrentIndex(panel.output_combo.findData("mask"))
    panel.selected_radio.setChecked(True)
    for row in range(panel.layer_list.count()):
        item = panel.layer_list.item(row)
        item.setSelected(item.data(QtCore.Qt.ItemDataRole.UserRole) == target)
    panel.quality_combo.setCurrentIndex(panel.quality_combo.findData("fast"))
    finished = []
    loop = QtCore.QEventLoop()
    panel.run_finished.connect(lambda summary: (finished.append(summary), loop.quit()))
    started = time.perf_counter()
    check("panel run starts", panel.run(), panel.error_label.text())
    QtCore.QTimer.singleShot(240_000, loop.quit)
    if not finished:
        exec_(loop)
    REPORT["figures"]["panel_run_s"] = round(time.perf_counter() - started, 2)
    check("panel run finished", bool(finished) and finished[0].status == "done",
          f"{finished} {panel.error_label.text()}")
    # The target's own pixels stay; only its projection changes, through the new mask.
    untouched(np, doc, {k: v for k, v in before.items() if k != target}, "panel run")
    check("the target's own pixels are unchanged",
          bytes(nodes["Target"].pixelData(0, 0, width, height)) == bgra8(np, images["Target"]).tobytes())
    masks = [c for c in nodes["Target"].childNodes() if c.type() == "transparencymask"]
    check("one transparency mask on the target", [m.name() for m in masks] == ["Target matte mask"],
          f"{[m.name() for m in masks]}")
    if masks and target in panel.results:
        stored = np.frombuffer(bytes(masks[0].pixelData(0, 0, width, height)), np.uint8).reshape(height, width)
        expected = np.rint(np.clip(panel.results[target].alpha, 0, 1) * 255)
        check("the mask holds the panel's matte", np.abs(stored - expected).max() <= 1, "")
        iou = float(((stored > 127) & (truths["Target"] > 0.5)).sum()
                    / max(((stored > 127) | (truths["Target"] > 0.5)).sum(), 1))
        REPORT["figures"]["panel_iou"] = round(iou, 3)
        check("the lite matte finds the target's disc", iou > 0.8, f"IoU {iou:.3f}")

    correct_in_place(np, panel, doc, nodes, target, truths)

    out = ROOT / "test-output" / "krita"
    out.mkdir(parents=True, exist_ok=True)
    docker.setFloating(True)  # a reviewable size
    docker.resize(1100, 720)
    check("docker screenshot saved", docker.grab().save(str(out / f"fake-docker-{REPORT['binding'].lower()}.png")))

    fake_krita.close_application()
    thread = panel.runner.thread
    check("Krita closing stops the panel's worker", not thread.isRunning(), "")


def correct_in_place(np, panel, doc, nodes, target, truths) -> None:
    """A remove stroke on the target's result, Accept: our mask is replaced, nothing else."""
    from ui.qt import QtCore

    width, height = doc.width(), doc.height()
    ours = [c for c in nodes["Target"].childNodes() if c.type() == "transparencymask"]
    before = snapshot(np, doc)
    rows = [panel.layer_list.item(i).data(QtCore.Qt.ItemDataRole.UserRole)
            for i in range(panel.layer_list.count())]
    panel.layer_list.setCurrentRow(rows.index(target))
    check("correction view opens on the target", panel.start_correction(), panel.error_label.text())
    ys, xs = np.nonzero(truths["Target"] > 0.99)
    cy, cx = float(ys.mean()), float(xs.mean())
    canvas = panel.correction.canvas
    canvas.set_erase_mode(True)  # remove
    canvas.set_brush_radius(width * 0.1)
    canvas.begin_stroke(canvas.to_widget(cx - 4, cy))
    canvas.continue_stroke(canvas.to_widget(cx + 4, cy))
    canvas.end_stroke()
    deadline = time.perf_counter() + 120
    while not panel.correction.accept_button.isEnabled() and time.perf_counter() < deadline:
        QtCore.QCoreApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
    check("the corrected matte comes back", panel.correction.accept_button.isEnabled(),
          panel.error_label.text())
    check("Accept is taken", panel.accept_correction(), panel.error_label.text())
    masks = [c for c in nodes["Target"].childNodes() if c.type() == "transparencymask"]
    check("our mask was replaced by one new mask",
          len(masks) == 1 and len(ours) == 1 and masks[0].uniqueId() != ours[0].uniqueId()
          and masks[0].name() == "Target matte mask", f"{[m.name() for m in masks]}")
    if masks:
        stored = np.frombuffer(bytes(masks[0].pixelData(0, 0, width, height)), np.uint8)
        stored = stored.reshape(height, width)
        check("the new mask holds the corrected matte", stored[int(cy), int(cx)] < 30,
              f"{stored[int(cy), int(cx)]}")
    replaced = {target, *(mask.uniqueId().toString() for mask in ours)}
    untouched(np, doc, {k: v for k, v in before.items() if k not in replaced}, "correction")


if __name__ == "__main__":
    main(sys.argv[1])
