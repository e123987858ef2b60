"""Run INSIDE Krita by ``kritarunner -s krita_offscreen -f main`` (see test_krita_offscreen.py).

Builds documents with several layers, depths and a selection, goes through
:class:`icm_plugin.krita.host.KritaHost` and the panel's worker (:class:`ui.worker.MatteRunner`)
with the real lite engine, writes results as new nodes and checks their pixels; then times a
4096² read and write.  Reports one JSON line (``ICM_REPORT {...}``) and ends with
``os._exit(code)``, because kritarunner exits 0 whatever the script does.

The interpreter is Krita's (Debian's /usr/bin/python3); ``ICM_PATHS`` (JSON list) puts the
repository and the site-packages holding torch & co in front of ``sys.path``, exactly as the
installed plugin's path file does.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from functools import partial

REPORT: dict = {"checks": [], "failures": [], "figures": {}}


def check(name: str, ok: bool, detail: str = "") -> None:
    REPORT["checks"].append(name)
    if not ok:
        REPORT["failures"].append(f"{name}: {detail}")


def main(args=None) -> None:
    code = 1
    try:
        sys.path[0:0] = [p for p in json.loads(os.environ["ICM_PATHS"]) if p not in sys.path]
        run()
        code = 0 if not REPORT["failures"] else 3
    except BaseException:  # anything: the report must reach pytest
        REPORT["failures"].append(traceback.format_exc())
        code = 4
    print("ICM_REPORT " + json.dumps(REPORT), flush=True)
    sys.stderr.flush()
    os._exit(code)


# ---------------------------------------------------------------------------------------------
def run() -> None:
    import numpy as np
    from krita import Krita

    import ui.qt

    REPORT["binding"] = ui.qt.API
    REPORT["python"] = sys.version.split()[0]
    REPORT["krita"] = Krita.instance().version()
    check("ui.qt follows Krita's binding", ui.qt.API == "PyQt5" and "PySide6" not in sys.modules, ui.qt.API)
    series_through_worker(np)
    depths_and_profiles(np)
    colour_managed_read(np)
    timings(np)
    check("no scratch documents left open", [d.name() for d in Krita.instance().documents()
                                                   if "conversion" in d.name()] == [], "")


def scene(np, height, width, seed):
    """A warm disc (the subject) on a cool gradient, and its alpha."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height * (0.4 + 0.2 * rng.random()), width * (0.4 + 0.2 * rng.random())
    radius = (0.22 + 0.08 * rng.random()) * min(height, width)
    alpha = np.clip(radius - np.hypot(yy - cy, xx - cx), 0.0, 1.0).astype(np.float32)
    background = np.stack([0.2 + 0.3 * xx / width, 0.35 + 0.3 * yy / height, np.full_like(xx, 0.7)], axis=2)
    subject = np.array([0.95, 0.6, 0.15], np.float32) * (0.85 + 0.15 * np.sin(xx / 7)[..., None])
    image = alpha[..., None] * subject + (1 - alpha[..., None]) * background
    return image.astype(np.float32), alpha


def bgra8(np, image, alpha=None):
    """float sRGB → Krita's U8 byte order (B, G, R, A)."""
    height, width = image.shape[:2]
    out = np.empty((height, width, 4), np.uint8)
    out[..., :3] = np.rint(image[..., ::-1] * 255)
    out[..., 3] = 255 if alpha is None else np.rint(alpha * 255)
    return out


def add_layer(doc, parent, name, array):
    from ui.qt import QtCore

    node = doc.createNode(name, "paintlayer")
    node.setPixelData(QtCore.QByteArray(array.tobytes()), 0, 0, doc.width(), doc.height())
    parent.addChildNode(node, None)
    return node


def snapshot(np, doc):
    """Every node's own pixels, and its projection, keyed by unique id; plus the selection."""
    shots = {}

    def visit(node):
        for child in node.childNodes():
            key = child.uniqueId().toString()
            own = bytes(child.pixelData(0, 0, doc.width(), doc.height()))
            proj = bytes(child.projectionPixelData(0, 0, doc.width(), doc.height()))
            shots[key] = (child.name(), child.type(), child.colorDepth(), hash(own), hash(proj))
            visit(child)

    visit(doc.rootNode())
    selection = doc.selection()
    shots["selection"] = None if selection is None else hash(bytes(selection.pixelData(0, 0, doc.width(), doc.height())))
    return shots


def untouched(np, doc, before, label):
    doc.refreshProjection()
    after = snapshot(np, doc)
    changed = [before[k][0] if k != "selection" else k for k in before if after.get(k) != before[k]]
    check(f"{label}: every pre-existing node unchanged", not changed, f"changed: {changed}")
    return [k for k in after if k not in before]


def run_worker(targets, reference_image, reference_mask, engine_options, write):
    """The panel's worker path for a thread-safe host: MatteRunner in its QThread loads each
    target and writes each result itself (KritaHost runs those Krita calls on this thread)."""
    from ui.qt import QtCore
    from ui.worker import Job, MatteRunner

    runner = MatteRunner()
    done, failed, finished = [], [], []
    loop = QtCore.QEventLoop()
    runner.signals.target_done.connect(done.append)
    runner.signals.target_failed.connect(failed.append)
    runner.signals.finished.connect(lambda summary: (finished.append(summary), loop.quit()))
    job = Job(engine="lite", options=tuple(sorted(engine_options.items())), reference_key="krita-test",
              reference_image=reference_image, reference_mask=reference_mask, targets=tuple(targets),
              foreground=True, write=write)
    QtCore.QTimer.singleShot(240_000, loop.quit)
    runner.start(job)
    loop.exec_() if hasattr(loop, "exec_") else loop.exec()
    runner.shutdown()
    return done, failed, finished


# ---------------------------------------------------------------------------------------------
def series_through_worker(np) -> None:
    from krita import Krita, Selection

    from icm_plugin.krita.host import KritaHost
    from icm_plugin.krita import pixels
    from ui.qt import QtCore
    from ui.worker import Target

    height, width = 144, 192
    krita = Krita.instance()
    doc = krita.createDocument(width, height, "series", "RGBA", "U8", "", 72.0)
    root = doc.rootNode()
    truth = {}
    images = {}
    for seed, name in enumerate(["Reference", "Target A", "Target B"]):
        images[name], truth[name] = scene(np, height, width, seed)
    add_layer(doc, root, "Reference", bgra8(np, images["Reference"]))
    add_layer(doc, root, "Target A", bgra8(np, images["Target A"]))
    group = doc.createNode("Group", "grouplayer")
    root.addChildNode(group, None)
    add_layer(doc, group, "Target B", bgra8(np, images["Target B"]))
    hole = np.zeros((height, width, 4), np.uint8)
    hole[20:60, 30:90] = (0, 0, 255, 128)  # a half-transparent red patch: its alpha is a mask source
    add_layer(doc, root, "Patch", hole)
    selection = Selection()
    selected = np.rint(truth["Reference"] * 255).astype(np.uint8)
    selection.setPixelData(QtCore.QByteArray(selected.tobytes()), 0, 0, width, height)
    doc.setSelection(selection)
    doc.refreshProjection()
    before = snapshot(np, doc)

    host = KritaHost(doc)
    layers = {layer.name: layer for layer in host.layers()}
    check("layers listed top first with paths and kinds",
          list(layers) == ["Patch", "Group", "Group › Target B", "Target A", "Reference", "Background"]
          and layers["Group"].kind == "grouplayer" and layers["Target A"].kind == "paintlayer",
          f"{[(l.name, l.kind) for l in layers.values()]}")
    check("layer size is the document's", all(l.size == (height, width) for l in layers.values()), "")
    # Krita >= 5.2 makes transparency masks itself; 5.1 only through a window's action.
    modes = ["layer", "mask", "selection"] if hasattr(doc, "createTransparencyMask") else ["layer", "selection"]
    check("output modes offscreen (no window: no 5.1 transparency mask)",
          host.output_modes() == modes, f"{host.output_modes()}")
    reference = host.read_pixels(layers["Reference"].id)
    check("read_pixels: U8 BGRA → float32 sRGB RGB",
          reference.dtype == np.float32 and reference.shape == (height, width, 3)
          and np.abs(reference - images["Reference"]).max() <= 0.5 / 255 + 1e-6,
          f"max error {np.abs(reference - images['Reference']).max()}")
    group_pixels = host.read_pixels(layers["Group"].id)
    check("read_pixels of a group is its rendering", np.abs(group_pixels - images["Target B"]).max() <= 1 / 255, "")
    mask = host.read_selection()
    check("read_selection", mask is not None and np.abs(mask - truth["Reference"]).max() <= 0.5 / 255 + 1e-6, "")
    patch_alpha = host.read_alpha(layers["Patch"].id)
    check("read_alpha of a layer with transparency",
          patch_alpha is not None and abs(patch_alpha[30, 40] - 128 / 255) < 1e-6 and patch_alpha[0, 0] == 0, "")
    check("read_alpha of an opaque layer is None", host.read_alpha(layers["Reference"].id) is None, "")
    revision = host.revision(layers["Target A"].id)
    check("revision is stable", revision == host.revision(layers["Target A"].id), "")

    gui_thread = threading.get_ident()
    calls = []  # (Krita-side function, calling thread, executing thread)
    relay = host.gui.call

    def spy(function, *args):
        caller = threading.get_ident()

        def run(*inner):
            calls.append((function.__name__, caller, threading.get_ident()))
            return function(*inner)

        return relay(run, *args)

    host.gui.call = spy
    modes = {layers["Target A"].id: "layer", layers["Group › Target B"].id: "selection"}
    targets = [Target(layers[n].id, n, load=partial(host.read_pixels, layers[n].id)) for n in ("Target A", "Group › Target B")]
    started = time.perf_counter()
    done, failed, finished = run_worker(targets, reference, mask, {"feature_side": 256, "matting_side": 256},
                                        lambda layer_id, alpha, fg: host.write_result(layer_id, alpha, fg, modes[layer_id]))
    REPORT["figures"]["lite_series_2_targets_192x144_s"] = round(time.perf_counter() - started, 2)
    host.gui.call = relay
    check("worker finished both targets", len(done) == 2 and not failed and finished and finished[0].status == "done",
          f"done={len(done)} failed={[f.message for f in failed]} finished={finished}")
    check("the worker read and wrote through the host",
          sorted(name for name, _, _ in calls) == ["_read_pixels", "_read_pixels", "_write_result", "_write_result"],
          f"{calls}")
    check("every Krita call ran on the GUI thread, asked from the worker",
          all(ran == gui_thread and caller != gui_thread for _, caller, ran in calls), f"{calls}")
    for result in done:
        gt = truth[result.name.split(" › ")[-1]]
        iou = float(((result.alpha > 0.5) & (gt > 0.5)).sum() / max(((result.alpha > 0.5) | (gt > 0.5)).sum(), 1))
        REPORT["figures"][f"iou_{result.name}"] = round(iou, 3)
        check(f"lite matte of {result.name} finds the disc", iou > 0.8, f"IoU {iou:.3f}")
        check(f"write_result describes {result.name}", "Added" in result.written.description, result.written.description)

    new_ids = untouched(np, doc, before, "series")
    new_nodes = {n.uniqueId().toString(): n for n, _ in _all_nodes(doc.rootNode())}
    added = [new_nodes[i] for i in new_ids]
    check("exactly one new node per result", sorted(n.type() for n in added) == ["paintlayer", "selectionmask"],
          f"{[(n.name(), n.type()) for n in added]}")
    a = next(r for r in done if r.name == "Target A")
    layer = next(n for n in added if n.type() == "paintlayer")
    siblings = [n.name() for n in root.childNodes()]
    check("result layer sits directly above its source",
          siblings.index(layer.name()) == siblings.index("Target A") + 1, f"{siblings}")
    got = pixels.decode(layer.pixelData(0, 0, width, height), width, height, "RGBA", "U8")
    check("result layer alpha = matte (source opaque)",
          np.abs(got[..., 3].astype(int) - np.rint(a.alpha * 255)).max() <= 1, "")
    fg = np.rint(np.clip(a.foreground, 0, 1)[..., ::-1] * 255)
    check("result layer colours = estimated subject colours", np.abs(got[..., :3] - fg).max() <= 1, "")
    b = next(r for r in done if r.name.endswith("Target B"))
    selection_mask = next(n for n in added if n.type() == "selectionmask")
    check("selection mask sits under the layer and holds the matte",
          selection_mask.parentNode().name() == "Target B"
          and np.abs(np.frombuffer(bytes(selection_mask.pixelData(0, 0, width, height)), np.uint8).reshape(height, width)
                     - np.rint(b.alpha * 255)).max() <= 1, "")
    doc.close()


def _all_nodes(parent):
    for node in parent.childNodes():
        yield node, None
        yield from _all_nodes(node)


# ---------------------------------------------------------------------------------------------
def depths_and_profiles(np) -> None:
    """U16 and F32 (Krita's linear default profiles), F16, grey; writes keep the source's own
    depth."""
    from krita import Krita

    from icm_plugin.krita import pixels
    from icm_plugin.krita.host import KritaHost
    from ui.qt import QtCore

    krita = Krita.instance()
    height, width = 40, 56
    image, truth = scene(np, height, width, 7)
    linear = pixels.srgb_to_linear(image)
    cases = {
        ("U16", "sRGB-elle-V2-g10.icc"): lambda: _bgra16(np, linear),
        ("U16", "sRGB-elle-V2-srgbtrc.icc"): lambda: _bgra16(np, image),
        ("F16", "sRGB-elle-V2-g10.icc"): lambda: _rgbaf(np, linear, np.float16),
        ("F32", "sRGB-elle-V2-g10.icc"): lambda: _rgbaf(np, linear, np.float32),
        ("F32", "sRGB-elle-V2-srgbtrc.icc"): lambda: _rgbaf(np, image, np.float32),
    }
    for (depth, profile), build in cases.items():
        doc = krita.createDocument(width, height, f"{depth} {profile}", "RGBA", depth, profile, 72.0)
        node = doc.createNode("pixels", "paintlayer")
        data = build()
        node.setPixelData(QtCore.QByteArray(data.tobytes()), 0, 0, width, height)
        doc.rootNode().addChildNode(node, None)
        before = snapshot(np, doc)
        host = KritaHost(doc)
        layer_id = node.uniqueId().toString()
        read = host.read_pixels(layer_id)
        error = float(np.abs(read - image).max())
        REPORT["figures"][f"read_error_{depth}_{profile}"] = round(error, 5)
        check(f"read {depth} {profile} as sRGB", error < (2e-3 if depth != "U8" else 3e-3), f"max error {error}")
        host.write_result(layer_id, truth, None, "layer")
        new = untouched(np, doc, before, f"{depth} {profile}")
        result = next(n for n in doc.rootNode().childNodes() if n.uniqueId().toString() in new)
        check(f"{depth} result keeps the depth", result.colorDepth() == depth and result.colorProfile() == profile,
              f"{result.colorDepth()} {result.colorProfile()}")
        got = pixels.decode(result.pixelData(0, 0, width, height), width, height, "RGBA", depth)
        scale = 65535.0 if depth == "U16" else 1.0
        check(f"{depth} result alpha = matte and colours kept",
              np.abs(got[..., 3].astype(np.float64) / scale - truth).max() < 2e-3
              and np.array_equal(got[..., :3], data[..., :3]), "")
        doc.close()

    # A layer in another colour space than its image: the result keeps the layer's own space.
    doc = krita.createDocument(width, height, "mixed", "RGBA", "U8", "", 72.0)
    node = doc.createNode("sixteen", "paintlayer")
    doc.rootNode().addChildNode(node, None)
    node.setColorSpace("RGBA", "U16", "sRGB-elle-V2-g10.icc")
    data = _bgra16(np, linear)
    node.setPixelData(QtCore.QByteArray(data.tobytes()), 0, 0, width, height)
    before = snapshot(np, doc)
    host = KritaHost(doc)
    read = host.read_pixels(node.uniqueId().toString())
    check("U16 layer in a U8 image reads as sRGB", np.abs(read - image).max() < 2e-3, f"{np.abs(read - image).max()}")
    host.write_result(node.uniqueId().toString(), truth, None, "layer")
    new = untouched(np, doc, before, "mixed spaces")
    result = next(n for n in doc.rootNode().childNodes() if n.uniqueId().toString() in new)
    got = pixels.decode(result.pixelData(0, 0, width, height), width, height, "RGBA", "U16")
    check("result of a U16 layer in a U8 image stays U16 with the matte as alpha",
          result.colorDepth() == "U16" and result.name() == "sixteen matte"
          and np.abs(got[..., 3] / 65535 - truth).max() < 1e-4 and np.array_equal(got[..., :3], data[..., :3]), "")
    doc.close()

    # Grey with alpha, Krita's default grey profile.
    doc = krita.createDocument(width, height, "grey", "GRAYA", "U8", "", 72.0)
    node = doc.createNode("grey", "paintlayer")
    grey = np.dstack([np.rint(image.mean(axis=2) * 255), np.full((height, width), 255)]).astype(np.uint8)
    node.setPixelData(QtCore.QByteArray(grey.tobytes()), 0, 0, width, height)
    doc.rootNode().addChildNode(node, None)
    read = KritaHost(doc).read_pixels(node.uniqueId().toString())
    REPORT["figures"]["grey_profile"] = doc.colorProfile()
    check("GRAYA U8 reads as equal R, G, B", np.abs(read - grey[..., :1] / 255).max() <= 1e-6, doc.colorProfile())
    doc.close()


def colour_managed_read(np) -> None:
    """CMYK: only Krita can convert it; done in a scratch document, the user's node untouched."""
    from krita import Krita

    from icm_plugin.krita.host import KritaHost
    from ui.qt import QtCore

    height, width = 40, 56
    doc = Krita.instance().createDocument(width, height, "cmyk", "CMYKA", "U8", "", 72.0)
    node = doc.createNode("pixels", "paintlayer")
    cmyka = np.zeros((height, width, 5), np.uint8)
    cmyka[..., 2] = 255  # yellow ink
    cmyka[..., 4] = 255
    node.setPixelData(QtCore.QByteArray(cmyka.tobytes()), 0, 0, width, height)
    doc.rootNode().addChildNode(node, None)
    before = snapshot(np, doc)
    read = KritaHost(doc).read_pixels(node.uniqueId().toString())
    mean = read.reshape(-1, 3).mean(axis=0)
    REPORT["figures"]["cmyk_yellow_as_srgb"] = [round(float(v), 3) for v in mean]
    check("CMYK yellow reads as sRGB yellow", mean[0] > 0.85 and mean[1] > 0.75 and mean[2] < 0.35, f"{mean}")
    untouched(np, doc, before, "CMYK read")
    doc.close()


def _bgra16(np, image):
    out = np.empty(image.shape[:2] + (4,), np.uint16)
    out[..., :3] = np.rint(image[..., ::-1] * 65535)
    out[..., 3] = 65535
    return out


def _rgbaf(np, image, dtype):
    out = np.ones(image.shape[:2] + (4,), dtype)
    out[..., :3] = image
    return out


# ---------------------------------------------------------------------------------------------
def timings(np, side: int = 4096) -> None:
    """A ``side``² U8 layer: read as float32 sRGB, and write each kind of result node.  Each
    figure is the best of 3 (and the median); every write adds a node, so the stack grows."""
    from krita import Krita

    from icm_plugin.krita import pixels
    from icm_plugin.krita.host import KritaHost
    from ui.qt import QtCore

    doc = Krita.instance().createDocument(side, side, "timing", "RGBA", "U8", "", 72.0)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (side, side, 4), dtype=np.uint8)
    data[..., 3] = 255
    node = doc.createNode("big", "paintlayer")
    node.setPixelData(QtCore.QByteArray(data.tobytes()), 0, 0, side, side)
    doc.rootNode().addChildNode(node, None)
    doc.refreshProjection()
    host = KritaHost(doc)
    layer_id = node.uniqueId().toString()
    alpha = rng.random((side, side), dtype=np.float32)

    def measure(name, action):
        seconds = []
        for _ in range(3):
            doc.waitForDone()
            started = time.perf_counter()
            action()
            seconds.append(time.perf_counter() - started)
        REPORT["figures"][f"{name}_{side}_s"] = round(min(seconds), 3)
        REPORT["figures"][f"{name}_{side}_median_s"] = round(float(np.median(seconds)), 3)

    measure("read", lambda: host.read_pixels(layer_id))
    measure("write_layer", lambda: host.write_result(layer_id, alpha, None, "layer"))
    measure("write_selection_mask", lambda: host.write_result(layer_id, alpha, None, "selection"))
    # Where a layer write's time goes: our numpy part (with a copy of the pixels), and Krita
    # inserting a node (libkis waits until the whole image is recomposited).
    measure("layer_numpy_part", lambda: pixels.compose(data, "U8", alpha, out=data.copy()))
    measure("krita_insert_empty_layer", lambda: doc.rootNode().addChildNode(doc.createNode("e", "paintlayer"), None))
    doc.setModified(False)
    doc.close()


def benchmark(args=None) -> None:
    """``kritarunner -s krita_offscreen -f benchmark``: only :func:`timings`, for each side in
    ``$ICM_SIDES`` (JSON list); used by benchmarks/krita_io.py."""
    code = 1
    try:
        sys.path[0:0] = [p for p in json.loads(os.environ["ICM_PATHS"]) if p not in sys.path]
        import numpy as np
        from krita import Krita

        REPORT["krita"] = Krita.instance().version()
        for side in json.loads(os.environ.get("ICM_SIDES", "[4096]")):
            timings(np, side)
        code = 0
    except BaseException:
        REPORT["failures"].append(traceback.format_exc())
    print("ICM_REPORT " + json.dumps(REPORT), flush=True)
    os._exit(code)
