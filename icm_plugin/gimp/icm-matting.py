#!/usr/bin/env python3
"""ICM Matting for GIMP 3: matte the selected layers like a reference.

Installed by ``icm-matting install gimp`` as ``plug-ins/icm-matting/icm-matting.py``.  GIMP runs
it with its own Python, which usually cannot load torch, so this file uses only the standard
library and GObject introspection: it exports the layers (canvas-sized ``R'G'B'A u16`` GEGL
reads) and the selection (coverage as float) into a folder, runs the panel in the Python that
installed it (``bridge.json``), and imports the alphas back — as layer masks, new layers or
channels — in one undo group.

The first selected layer is the reference; the selection (or, without one, that layer's
alpha) is the starting mask.  Interactive runs open the panel; non-interactive runs and
"repeat last" run headless with the panel's last settings.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib  # noqa: E402

# --- generated from plugin.json by `python -m icm_plugin.manifest`: do not edit ---
PLUGIN_NAME = 'ICM Matting'
PLUGIN_VERSION = '0.1.0'
PROCEDURE = 'plug-in-icm-matting'
MENU_LABEL = 'ICM Matting…'
MENU_PATH = '<Image>/Filters/Matting'
IMAGE_TYPES = 'RGB*, GRAY*'
DOCUMENTATION = 'Matte the selected layers like a reference: the first selected layer is the reference, the selection (or its alpha) its mask'
MIN_GIMP = '3.0'
# --- end of generated block ---

HERE = Path(__file__).resolve().parent
PIXEL_FORMAT = "R'G'B'A u16"  # perceptual RGB + alpha, 16 bits: what the panel reads


def coverage_format(image):
    """How to read/write mask coverage without babl changing it.  GIMP stores channels as
    ``Y' u8`` in 8-bit perceptual images and linear otherwise (app/core/gimpimage.c):
    reading as float in the same curve gives the stored coverage exactly."""
    return "Y' float" if image.get_precision() == Gimp.Precision.U8_NON_LINEAR else "Y float"


def canvas_rect(image, drawable):
    """The canvas in ``drawable``'s own coordinates (layers may be offset and smaller)."""
    _, x, y = drawable.get_offsets()
    return Gegl.Rectangle.new(-x, -y, image.get_width(), image.get_height())


def export_job(image, drawables, folder, headless):
    """Write every layer to matte (canvas-sized), the selection and ``job.json`` into ``folder``."""
    layers = list(drawables) if len(drawables) > 1 else list(image.get_layers())
    if drawables and drawables[0] in layers:  # the first selected layer is the reference
        layers.remove(drawables[0])
        layers.insert(0, drawables[0])
    entries = []
    for index, layer in enumerate(layers):
        data = layer.get_buffer().get(canvas_rect(image, layer), 1.0, PIXEL_FORMAT, Gegl.AbyssPolicy.NONE)
        name = f"layer-{index}.raw"
        (folder / name).write_bytes(data)
        entries.append({"id": str(layer.get_id()), "name": layer.get_name(), "file": name, "format": PIXEL_FORMAT})
    selection = None
    if not Gimp.Selection.is_empty(image):
        channel = image.get_selection()
        data = channel.get_buffer().get(canvas_rect(image, channel), 1.0, coverage_format(image),
                                        Gegl.AbyssPolicy.NONE)
        selection = "selection.raw"
        (folder / selection).write_bytes(data)
    job = {"width": image.get_width(), "height": image.get_height(), "layers": entries,
           "selected": [str(d.get_id()) for d in drawables], "selection": selection,
           "headless": headless, "results": "results.json"}
    (folder / "job.json").write_text(json.dumps(job, indent=2), encoding="utf-8")
    return job


def run_panel(folder, headless):
    """Run the panel (or the headless matting) in the Python that installed the plug-in."""
    bridge = json.loads((HERE / "bridge.json").read_text(encoding="utf-8"))
    command = [bridge["python"], "-m", "icm_plugin.gimp.session", str(folder)] + (["--headless"] if headless else [])
    # the installation that wrote bridge.json comes first (a checkout, for editable installs)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(bridge["paths"] + [os.environ.get("PYTHONPATH", "")]))
    finished = subprocess.run(command, capture_output=True, text=True, env=env)
    if finished.returncode != 0:
        raise RuntimeError(finished.stderr.strip().splitlines()[-1] if finished.stderr.strip()
                           else f"the panel process ended with code {finished.returncode}")


def import_results(image, folder):
    """Add every result listed in ``results.json`` as new items, in one undo group."""
    results_file = folder / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else []
    if not results:
        return 0
    image.undo_group_start()
    try:
        for result in results:
            layer = Gimp.Layer.get_by_id(int(result["layer"]))
            alpha = (folder / result["file"]).read_bytes()
            if result["mode"] == "selection":
                add_channel(image, layer, alpha, result["name"])
            elif result["mode"] == "mask" and layer.get_mask() is None:
                add_mask(image, layer, alpha)
            else:  # "layer", or a layer that already has a mask: a new layer, the mask applied
                add_layer(image, layer, alpha, result["name"], apply=result["mode"] == "layer")
    finally:
        image.undo_group_end()
    Gimp.displays_flush()
    return len(results)


def add_mask(image, layer, alpha):
    mask = layer.create_mask(Gimp.AddMaskType.WHITE)
    layer.add_mask(mask)
    write_coverage(image, mask, alpha)
    return mask


def add_layer(image, source, alpha, name, apply):
    """A copy of ``source`` directly above it, masked by ``alpha`` (applied for "layer")."""
    layer = source.copy()
    layer.set_name(name)
    image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
    if not layer.has_alpha():
        layer.add_alpha()
    if layer.get_mask() is not None:
        layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    add_mask(image, layer, alpha)
    if apply:
        layer.remove_mask(Gimp.MaskApplyMode.APPLY)
    return layer


def add_channel(image, layer, alpha, name):
    """A channel (a saved selection: Channels › Channel to Selection) holding ``alpha``."""
    channel = Gimp.Channel.new(image, name, image.get_width(), image.get_height(), 50.0,
                               Gegl.Color.new("black"))
    image.insert_channel(channel, None, 0)
    write_coverage(image, channel, alpha)
    return channel


def write_coverage(image, drawable, alpha):
    """Write the canvas-sized float alpha into ``drawable`` (GEGL clips to its extent)."""
    buffer = drawable.get_buffer()
    buffer.set(canvas_rect(image, drawable), coverage_format(image), alpha)
    buffer.flush()
    drawable.update(0, 0, drawable.get_width(), drawable.get_height())


class IcmMatting(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROCEDURE]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run, None)
        procedure.set_image_types(IMAGE_TYPES)
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE
                                       | Gimp.ProcedureSensitivityMask.DRAWABLES)
        procedure.set_menu_label(MENU_LABEL)
        procedure.add_menu_path(MENU_PATH)
        procedure.set_documentation(DOCUMENTATION, DOCUMENTATION, name)
        procedure.set_attribution(PLUGIN_NAME, PLUGIN_NAME, "2026")
        return procedure

    def run(self, procedure, run_mode, image, drawables, config, run_data):
        headless = run_mode != Gimp.RunMode.INTERACTIVE
        try:
            with tempfile.TemporaryDirectory(prefix="icm-matting-") as folder:
                export_job(image, drawables, Path(folder), headless)
                run_panel(Path(folder), headless)
                import_results(image, Path(folder))
        except Exception as error:  # reported to GIMP's error console; the image is unchanged
            return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR,
                                               GLib.Error(f"{PLUGIN_NAME}: {error}"))
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


if __name__ == "__main__":
    Gimp.main(IcmMatting.__gtype__, sys.argv)
