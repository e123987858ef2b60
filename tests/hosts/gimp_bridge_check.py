"""Run by Debian's /usr/bin/python3 (it has GObject introspection and GEGL 0.4; our Python
has neither): ``python3 gimp_bridge_check.py PLUGIN_DIR WORK_DIR``.

GIMP 3 is not packaged for this OS, so ``gi.repository.Gimp`` is a small fake whose drawables
hold REAL GEGL buffers in the formats GIMP uses (``R'G'B'A u8``/``RGBA float`` layers,
``Y' u8``/``Y float`` channels).  The installed plug-in file is loaded as a module; its export,
the panel process (headless, the real lite engine, run through ``bridge.json``) and its import
back into the fake image are checked pixel by pixel.  Prints ``ICM_REPORT {json}``.
"""

import importlib.util
import itertools
import json
import sys
import traceback
import types
from pathlib import Path

import gi

gi.require_version("Gegl", "0.4")
import numpy as np  # noqa: E402
from gi.repository import Gegl  # noqa: E402

REPORT = {"checks": [], "failures": []}
IDS = itertools.count(7)
ITEMS = {}


def check(name, ok, detail=""):
    REPORT["checks"].append(name)
    if not ok:
        REPORT["failures"].append(f"{name}: {detail}")


# -- the fake Gimp module --------------------------------------------------------------------------
class Enum:
    def __init__(self, *names):
        for name in names:
            setattr(self, name, name)


class Drawable:
    def __init__(self, image, name, width, height, fmt, offsets=(0, 0)):
        self.image, self.name, self.width, self.height, self.fmt, self.offsets = image, name, width, height, fmt, offsets
        self.buffer = Gegl.Buffer.new(fmt, 0, 0, width, height)
        self.id = next(IDS)
        self.updates = 0
        ITEMS[self.id] = self

    def get_id(self):
        return self.id

    def get_name(self):
        return self.name

    def set_name(self, name):
        self.name = name

    def get_width(self):
        return self.width

    def get_height(self):
        return self.height

    def get_offsets(self):
        return True, self.offsets[0], self.offsets[1]

    def get_buffer(self):
        return self.buffer

    def update(self, x, y, width, height):
        self.updates += 1

    def read(self, fmt, channels):
        rect = Gegl.Rectangle.new(0, 0, self.width, self.height)
        return np.frombuffer(self.buffer.get(rect, 1.0, fmt, Gegl.AbyssPolicy.NONE), np.float32).reshape(
            self.height, self.width, channels)

    def write(self, fmt, array):
        self.buffer.set(Gegl.Rectangle.new(0, 0, self.width, self.height), fmt, np.ascontiguousarray(array, np.float32).tobytes())


class Channel(Drawable):
    @staticmethod
    def new(image, name, width, height, opacity, color):
        return Channel(image, name, width, height, image.channel_format)


class Layer(Drawable):
    mask = None

    @staticmethod
    def get_by_id(item_id):
        return ITEMS[item_id]

    def get_mask(self):
        return self.mask

    def create_mask(self, kind):
        assert kind == Gimp.AddMaskType.WHITE
        mask = Channel(self.image, f"{self.name} mask", self.width, self.height, self.image.channel_format, self.offsets)
        mask.write("Y float", np.ones((self.height, self.width), np.float32))
        return mask

    def add_mask(self, mask):
        assert self.mask is None, "GIMP layers have one mask"
        self.mask = mask

    def remove_mask(self, mode):
        if mode == Gimp.MaskApplyMode.APPLY:  # what GIMP does: alpha × mask coverage
            rgba = self.read("R'G'B'A float", 4).copy()
            rgba[..., 3] *= self.mask.read(coverage_name(self.image), 1)[..., 0]
            self.write("R'G'B'A float", rgba)
        self.mask = None

    def has_alpha(self):
        return "A" in self.fmt.split()[0]

    def add_alpha(self):
        raise AssertionError("test layers have alpha")

    def copy(self):
        twin = Layer(self.image, self.name, self.width, self.height, self.fmt, self.offsets)
        rect = Gegl.Rectangle.new(0, 0, self.width, self.height)
        twin.buffer.set(rect, self.fmt, self.buffer.get(rect, 1.0, self.fmt, Gegl.AbyssPolicy.NONE))
        return twin

    def get_parent(self):
        return None


class Image:
    def __init__(self, width, height, precision):
        self.width, self.height, self.precision = width, height, precision
        linear = precision != Gimp.Precision.U8_NON_LINEAR
        self.layer_format = "RGBA float" if linear else "R'G'B'A u8"
        self.channel_format = "Y float" if linear else "Y' u8"  # as app/core/gimpimage.c
        self.layers, self.channels, self.undo = [], [], []
        self.selection = Channel(self, "selection", width, height, self.channel_format)

    def get_width(self):
        return self.width

    def get_height(self):
        return self.height

    def get_precision(self):
        return self.precision

    def get_layers(self):
        return list(self.layers)

    def get_selection(self):
        return self.selection

    def undo_group_start(self):
        self.undo.append("start")

    def undo_group_end(self):
        self.undo.append("end")

    def get_item_position(self, item):
        return self.layers.index(item)

    def insert_layer(self, layer, parent, position):
        self.layers.insert(position, layer)

    def insert_channel(self, channel, parent, position):
        self.channels.insert(position, channel)


def coverage_name(image):
    return "Y' float" if image.precision == Gimp.Precision.U8_NON_LINEAR else "Y float"


Gimp = types.ModuleType("gi.repository.Gimp")
Gimp.Precision = Enum("U8_NON_LINEAR", "FLOAT_LINEAR")
Gimp.AddMaskType = Enum("WHITE")
Gimp.MaskApplyMode = Enum("APPLY", "DISCARD")
Gimp.RunMode = Enum("INTERACTIVE", "NONINTERACTIVE", "WITH_LAST_VALS")
Gimp.Layer, Gimp.Channel = Layer, Channel
Gimp.Selection = types.SimpleNamespace(is_empty=lambda image: not image.selection.read("Y float", 1).any())
Gimp.PlugIn = object
Gimp.displays_flush = lambda: None


def load_plugin(plugin_dir):
    sys.modules["gi.repository.Gimp"] = Gimp
    require = gi.require_version
    gi.require_version = lambda name, version: None if name == "Gimp" else require(name, version)
    path = plugin_dir / "icm-matting.py"
    spec = importlib.util.spec_from_file_location("icm_matting_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the checks ------------------------------------------------------------------------------------
def scene(height, width, cx, cy, radius):
    yy, xx = np.mgrid[0:height, 0:width]
    alpha = (np.hypot(xx - cx, yy - cy) < radius).astype(np.float32)
    rgb = np.where(alpha[..., None] > 0, [0.95, 0.55, 0.1], [0.2, 0.45, 0.8]).astype(np.float32)
    return rgb, alpha


def build(precision):
    width, height = 96, 72
    image = Image(width, height, precision)
    reference_rgb, reference_alpha = scene(height, width, 44, 36, 20)
    target_rgb, target_alpha = scene(60, 80, 42, 30, 18)  # a smaller layer, offset on the canvas
    reference = Layer(image, "Reference", width, height, image.layer_format)
    reference.write("R'G'B'A float", np.dstack([reference_rgb, np.ones((height, width), np.float32)]))
    target = Layer(image, "Target", 80, 60, image.layer_format, offsets=(10, 6))
    target.write("R'G'B'A float", np.dstack([target_rgb, np.ones((60, 80), np.float32)]))
    image.layers = [target, reference]  # GIMP lists the top layer first
    image.selection.write("Y float" if precision != Gimp.Precision.U8_NON_LINEAR else "Y' float",
                          np.round(reference_alpha * 0.8 * 255) / 255)
    return image, reference, target, target_alpha


def check_export(plugin, precision, work):
    image, reference, target, target_alpha = build(precision)
    folder = work / f"export-{precision}"
    folder.mkdir()
    job = plugin.export_job(image, [reference, target], folder, True)
    label = f"[{precision}] "
    check(label + "reference exported first", [e["name"] for e in job["layers"]] == ["Reference", "Target"])
    pixels = np.fromfile(folder / job["layers"][1]["file"], "<u2").reshape(72, 96, 4)
    inside = pixels[6:66, 10:90]
    expected = np.round(target.read("R'G'B'A float", 4) * 65535)
    check(label + "layer exported canvas-sized at its offsets as R'G'B'A u16",
          np.abs(inside.astype(np.int64) - expected).max() <= 1 and not pixels[:6].any() and not pixels[:, :10].any(),
          f"max error {np.abs(inside.astype(np.int64) - expected).max()}")
    coverage = np.fromfile(folder / job["selection"], np.float32).reshape(72, 96)
    stored = image.selection.read(coverage_name(image), 1)[..., 0]
    check(label + "selection exported as its stored coverage", np.array_equal(coverage, stored) and coverage.max() > 0.79)
    return image, reference, target, target_alpha, folder


def check_import(plugin, precision, work):
    image, reference, target, _, folder = check_export(plugin, precision, work)
    label = f"[{precision}] "
    rng = np.random.default_rng(1)
    alphas = {}
    results = []
    for index, mode in enumerate(("mask", "layer", "selection", "mask")):
        alpha = rng.random((72, 96), dtype=np.float32)
        alphas[mode, index] = alpha
        (folder / f"r{index}.raw").write_bytes(alpha.astype("<f4").tobytes())
        results.append({"layer": str(target.get_id()), "mode": mode, "file": f"r{index}.raw", "name": f"Target {mode}"})
    (folder / "results.json").write_text(json.dumps(results))
    before = target.read("R'G'B'A float", 4).copy()
    count = plugin.import_results(image, folder)
    tolerance = 0.5 / 255 + 1e-6 if precision == Gimp.Precision.U8_NON_LINEAR else 1e-6
    check(label + "all results imported in one undo group", count == 4 and image.undo == ["start", "end"], f"{image.undo}")
    mask = target.get_mask()
    got = mask.read(coverage_name(image), 1)[..., 0]
    check(label + "layer mask holds the alpha at the layer's offsets",
          np.abs(got - alphas["mask", 0][6:66, 10:90]).max() <= tolerance and mask.updates == 1,
          f"max error {np.abs(got - alphas['mask', 0][6:66, 10:90]).max()}")
    names = [layer.get_name() for layer in image.layers]
    check(label + "new layers above the target", names == ["Target layer", "Target mask", "Target", "Reference"],
          f"{names}")
    check(label + "target pixels unchanged", np.array_equal(target.read("R'G'B'A float", 4), before))
    cutout = next(layer for layer in image.layers if layer.get_name() == "Target layer")
    check(label + "'layer' result: the alpha applied, no mask left",
          cutout.get_mask() is None
          and np.abs(cutout.read("R'G'B'A float", 4)[..., 3] - alphas["layer", 1][6:66, 10:90]).max() <= tolerance)
    second = next(layer for layer in image.layers if layer.get_name() == "Target mask")
    check(label + "a second mask for a masked layer goes on a copy", second.get_mask() is not None
          and np.abs(second.get_mask().read(coverage_name(image), 1)[..., 0] - alphas["mask", 3][6:66, 10:90]).max() <= tolerance)
    channel = image.channels[0] if image.channels else None
    check(label + "'selection' result: a canvas-sized channel",
          channel is not None and channel.get_name() == "Target selection"
          and np.abs(channel.read(coverage_name(image), 1)[..., 0] - alphas["selection", 2]).max() <= tolerance)


def check_headless_round_trip(plugin, work):
    """GIMP side → the panel process (headless, real lite engine) → back into the image."""
    image, reference, target, target_alpha = build(Gimp.Precision.U8_NON_LINEAR)
    folder = work / "round-trip"
    folder.mkdir()
    plugin.export_job(image, [reference, target], folder, True)
    plugin.run_panel(folder, True)
    count = plugin.import_results(image, folder)
    mask = target.get_mask()
    check("headless panel run: one result, as a layer mask", count == 1 and mask is not None, f"{count}")
    alpha = mask.read("Y' float", 1)[..., 0]
    iou = float(((alpha > 0.5) & (target_alpha > 0.5)).sum() / max(((alpha > 0.5) | (target_alpha > 0.5)).sum(), 1))
    REPORT["iou_round_trip"] = round(iou, 3)
    check("the lite engine found the disc in the target", iou > 0.8, f"IoU {iou:.3f}")


def main():
    plugin_dir, work = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        Gegl.init(None)
        plugin = load_plugin(plugin_dir)
        check("generated constants present", plugin.PROCEDURE == "plug-in-icm-matting" and plugin.MIN_GIMP == "3.0")
        for precision in (Gimp.Precision.U8_NON_LINEAR, Gimp.Precision.FLOAT_LINEAR):
            check_import(plugin, precision, work)
        check_headless_round_trip(plugin, work)
    except Exception:
        REPORT["failures"].append(traceback.format_exc())
    print("ICM_REPORT " + json.dumps(REPORT), flush=True)
    return 1 if REPORT["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
