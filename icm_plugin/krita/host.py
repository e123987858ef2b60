"""The panel's host inside Krita: one document's layers in, new nodes out.

Rules (facts in ../shared/notes/hosts.md §1): the Krita API runs on Krita's GUI thread only —
the panel's worker may call :meth:`KritaHost.read_pixels` and :meth:`KritaHost.write_result`,
which hand the work to the GUI thread and wait, so one target at a time is in memory and the
GUI never freezes reading a whole series up front; read pixels at
the document's size in image coordinates; never change a user's node — colour conversions
happen in a throw-away document, because even converting a detached duplicate adds a step to
the user's undo history (verified in Krita 5.1.5); every result is one NEW node whose pixels
are set before it is inserted, so inserting it is the one undo step.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Callable, Iterator

import numpy as np

from icm_core.api import Cancelled, InvalidInput, OutputError

from ..host import HostLayer, Written
from . import pixels

MASK_TYPES = ("transparencymask", "selectionmask", "filtermask", "colorizemask", "transformmask")
RESULT_SUFFIX = {"layer": "matte", "mask": "matte mask", "selection": "matte selection"}
#: the document annotation listing the ids of the nodes this tool made (saved in the .kra)
RESULTS_ANNOTATION = "icm-matting/results"
RESULT_NAMES = tuple(f" {suffix}" for suffix in RESULT_SUFFIX.values())


class KritaHost:
    """Implements :class:`ui.hostapi.Host` for one Krita ``Document`` (or none open)."""

    name = "krita"
    thread_safe = True  # callable from the worker: Krita calls are run on the GUI thread

    def __init__(self, document=None):
        from krita import Krita  # only importable inside Krita

        self.krita = Krita.instance()
        self.document = document
        self.gui = GuiThread()

    # -- layers ---------------------------------------------------------------------------------
    def layers(self) -> list[HostLayer]:
        if self.document is None:
            return []
        size = (self.document.height(), self.document.width())
        ours = self._results()
        return [
            HostLayer(_id(node), path, size, bool(node.visible()), kind=node.type(),
                      result=_id(node) in ours or node.name().endswith(RESULT_NAMES))
            for node, path in _walk(self.document.rootNode(), "")
        ]

    def node_ids(self) -> set[str]:
        """Every node in the document, masks included: results undone in Krita are gone."""
        if self.document is None:
            return set()
        return {_id(node) for node in _every_node(self.document.rootNode())}

    def _results(self) -> list[str]:
        raw = self.document.annotation(RESULTS_ANNOTATION) if self.document is not None else None
        try:
            return json.loads(bytes(raw).decode()) if raw else []
        except ValueError:  # not ours after all
            return []

    def _record_results(self, node_ids) -> None:
        from ui.qt import QtCore

        ours = self._results() + [i for i in node_ids if i not in self._results()]
        self.document.setAnnotation(RESULTS_ANNOTATION, "Layers made by ICM Matting",
                                    QtCore.QByteArray(json.dumps(ours).encode()))

    def selected_layer_ids(self) -> list[str]:
        if self.document is None:
            return []
        window = self.krita.activeWindow()
        view = window.activeView() if window is not None else None
        if view is not None and view.document() == self.document:
            nodes = view.selectedNodes()
        else:
            nodes = [self.document.activeNode()]
        return [_id(node) for node in nodes if node is not None and node.type() not in MASK_TYPES]

    # -- reading --------------------------------------------------------------------------------
    def read_pixels(self, layer_id: str) -> np.ndarray:
        return self.gui.call(self._read_pixels, layer_id)

    def _read_pixels(self, layer_id: str) -> np.ndarray:
        node = self._node(layer_id)
        raw, model, depth, profile = self._native(node)
        if not pixels.readable(model, depth, profile):
            raw = self._converted(raw, model, depth, profile)
            model, depth, profile = pixels.CONVERSION_TARGET
        return pixels.to_srgb(self._decode(raw, model, depth), model, depth, profile)

    def read_alpha(self, layer_id: str) -> np.ndarray | None:
        node = self._node(layer_id)
        raw, model, depth, _ = self._native(node)
        alpha = pixels.alpha(self._decode(raw, model, depth), depth)
        return None if alpha.min() >= 1.0 else alpha

    def read_selection(self) -> np.ndarray | None:
        selection = self.document.selection() if self.document is not None else None
        if selection is None:
            return None
        width, height = self.document.width(), self.document.height()
        mask = pixels.mask_from_bytes(selection.pixelData(0, 0, width, height), width, height)
        return mask if mask.max() > 0.0 else None

    def revision(self, layer_id: str):
        node = self._node(layer_id)
        raw, model, depth, profile = self._native(node)
        digest = hashlib.blake2b(memoryview(np.frombuffer(raw, np.uint8)), digest_size=16).hexdigest()
        return (layer_id, model, depth, profile, digest)

    # -- writing --------------------------------------------------------------------------------
    def output_modes(self) -> list[str]:
        modes = ["layer", "mask", "selection"]
        return modes if self._transparency_masks_possible() else [m for m in modes if m != "mask"]

    def existing_outputs(self, layer_ids, mode: str) -> list:
        return []  # results are new nodes: nothing is ever overwritten

    def write_result(self, layer_id: str, alpha: np.ndarray, foreground: np.ndarray | None,
                     mode: str, overwrite: bool = False) -> Written:
        return self.gui.call(self._write_result, layer_id, alpha, foreground, mode)

    def _write_result(self, layer_id: str, alpha: np.ndarray, foreground: np.ndarray | None, mode: str) -> Written:
        node = self._node(layer_id)
        self._check_shape(alpha)
        name = f"{node.name()} {RESULT_SUFFIX.get(mode, 'matte')}"
        if mode == "layer":
            written = self._write_layer(node, name, alpha, foreground)
        elif mode == "mask":
            written = self._write_transparency_mask(node, name, alpha)
        elif mode == "selection":
            written = self._write_selection_mask(node, name, alpha)
        else:
            raise OutputError(f"Krita results can be a layer, a mask or a selection, not {mode!r}.")
        self._record_results(written.nodes)
        return written

    def replace_result(self, written: Written, layer_id: str, alpha: np.ndarray,
                       foreground: np.ndarray | None, mode: str) -> Written:
        """A corrected matte in place of the node this tool created for ``layer_id`` (recorded
        in ``written``) — never a node we did not create.  If ours is gone (deleted by the
        artist), the correction is a new node.

        Krita 5.1's scripting cannot make this one undo step (``setPixelData`` is not undoable,
        and there is no way to group commands), so ours is removed first and the new node
        added after: the first Ctrl+Z takes the corrected node away (no result shows, never two
        mattes over each other), the second brings the uncorrected one back."""
        return self.gui.call(self._replace_result, written, layer_id, alpha, foreground, mode)

    def _replace_result(self, written: Written, layer_id: str, alpha: np.ndarray,
                        foreground: np.ndarray | None, mode: str) -> Written:
        ours = [node for node in _every_node(self.document.rootNode()) if _id(node) in written.nodes]
        self._node(layer_id)  # what would stop the write is checked before anything goes
        self._check_shape(alpha)
        names = ", ".join(f"“{node.name()}”" for node in ours)
        for node in ours:
            node.remove()
        made = self._write_result(layer_id, alpha, foreground, mode)
        if not ours:
            return made
        return Written(f"Replaced {names} with the corrected matte.", made.paths, made.nodes)

    def _write_layer(self, source, name: str, alpha: np.ndarray, foreground: np.ndarray | None) -> Written:
        raw, model, depth, profile = self._native(source)
        space = (self.document.colorModel(), self.document.colorDepth(), self.document.colorProfile())
        if (model, depth, profile) == space:
            layer = self.document.createNode(name, "paintlayer")
        elif source.type() == "paintlayer":
            layer = source.duplicate()  # keeps the layer's own colour space (and its masks)
            layer.setName(name)
            layer.setVisible(True)
        else:
            raise OutputError(
                f"“{source.name()}” is in {model}/{depth} but the image is in {space[0]}/{space[1]}; "
                "write a mask or a selection instead."
            )
        colours = foreground if foreground is not None and model == "RGBA" and pixels.transfer(profile) else None
        native = self._decode(raw, model, depth)
        if native.flags.writeable:  # PyQt5 and 6: ``raw`` is our own copy; reuse it, no 64 MB copies
            pixels.compose(native, depth, alpha, colours, profile, out=native)
            layer.setPixelData(raw, 0, 0, self.document.width(), self.document.height())
        else:
            self._set_pixels(layer, pixels.compose(native, depth, alpha, colours, profile))
        parent = source.parentNode() or self.document.rootNode()
        parent.addChildNode(layer, source)  # directly above the source: the one undo step
        what = "subject colours" if colours is not None else "its colours"
        return Written(f"Added layer “{name}” ({what} with the matte as alpha) above “{source.name()}”.",
                       nodes=(_id(layer),))

    def _write_selection_mask(self, node, name: str, alpha: np.ndarray) -> Written:
        mask = self.document.createSelectionMask(name)
        mask.setSelection(self._selection(alpha))
        node.addChildNode(mask, None)
        return Written(f"Added selection mask “{name}” to “{node.name()}”.", nodes=(_id(mask),))

    def _write_transparency_mask(self, node, name: str, alpha: np.ndarray) -> Written:
        if hasattr(self.document, "createTransparencyMask"):  # Krita ≥ 5.2
            mask = self.document.createTransparencyMask(name)
            mask.setSelection(self._selection(alpha))
            node.addChildNode(mask, None)
            return Written(f"Added transparency mask “{name}” to “{node.name()}”.", nodes=(_id(mask),))
        return self._transparency_mask_by_action(node, name, alpha)

    def _transparency_mask_by_action(self, node, name: str, alpha: np.ndarray) -> Written:
        """Krita 5.1 scripts cannot fill a transparency mask (``createNode`` gives one whose
        pixels ignore ``setPixelData``), but Krita's own “add transparency mask” action turns
        the global selection into one, as a single undo step.  The user's selection and
        active layer are put back afterwards."""
        if not self._transparency_masks_possible():
            raise OutputError(
                "This Krita (before 5.2) can add transparency masks only to the document in the "
                "active window; choose “Selection” or “New layer” instead."
            )
        previous_selection = self.document.selection()
        previous_active = self.document.activeNode()
        before = {_id(child) for child in node.childNodes()}
        self.document.setSelection(self._selection(alpha))
        self.document.setActiveNode(node)
        self.document.waitForDone()
        self.krita.action("add_new_transparency_mask").trigger()
        self.document.waitForDone()
        added = [c for c in node.childNodes() if _id(c) not in before and c.type() == "transparencymask"]
        if previous_selection is not None:
            self.document.setSelection(previous_selection)
        if previous_active is not None:
            self.document.setActiveNode(previous_active)
        if not added:
            raise OutputError(f"Krita did not add a transparency mask to “{node.name()}”; nothing was changed.")
        added[0].setName(name)
        return Written(f"Added transparency mask “{name}” to “{node.name()}”.", nodes=(_id(added[0]),))

    def _transparency_masks_possible(self) -> bool:
        if self.document is None:
            return False
        if hasattr(self.document, "createTransparencyMask"):
            return True
        window = self.krita.activeWindow()
        view = window.activeView() if window is not None else None
        return view is not None and view.document() == self.document

    # -- helpers --------------------------------------------------------------------------------
    def _check_shape(self, alpha: np.ndarray) -> None:
        shape = (self.document.height(), self.document.width())
        if alpha.shape != shape:
            raise OutputError(
                f"The alpha is {alpha.shape[1]}×{alpha.shape[0]} px but the document is "
                f"{shape[1]}×{shape[0]} px; nothing was written."
            )

    def _node(self, layer_id: str):
        if self.document is not None:
            for node, _ in _walk(self.document.rootNode(), ""):
                if _id(node) == layer_id:
                    return node
        raise InvalidInput("That layer no longer exists in the document; refresh the layer list.")

    def _native(self, node):
        """The node's pixels over the whole canvas in its own colour space: a paint layer's own
        pixels, any other layer's rendering (groups, vector, file and fill layers)."""
        width, height = self.document.width(), self.document.height()
        read = node.pixelData if node.type() == "paintlayer" else node.projectionPixelData
        return read(0, 0, width, height), node.colorModel(), node.colorDepth(), node.colorProfile()

    def _decode(self, raw, model: str, depth: str) -> np.ndarray:
        return pixels.decode(raw, self.document.width(), self.document.height(), model, depth)

    def _converted(self, raw, model: str, depth: str, profile: str):
        """Krita's own colour management in a throw-away document that nobody sees, so the
        user's nodes and undo history stay untouched."""
        width, height = self.document.width(), self.document.height()
        scratch = self.krita.createDocument(width, height, "icm-matting conversion", model, depth, profile,
                                            self.document.resolution())
        try:
            layer = scratch.createNode("pixels", "paintlayer")
            source = np.frombuffer(raw, np.uint8)
            self._set_pixels(layer, source)
            scratch.rootNode().addChildNode(layer, None)
            layer.setColorSpace(*pixels.CONVERSION_TARGET)
            if (layer.colorModel(), layer.colorDepth(), layer.colorProfile()) != pixels.CONVERSION_TARGET:
                raise InvalidInput(f"Krita could not convert {model}/{depth} ({profile}) to sRGB.")
            return layer.pixelData(0, 0, width, height)
        finally:
            scratch.setModified(False)
            scratch.close()

    def _selection(self, alpha: np.ndarray):
        from krita import Selection

        from ui.qt import qbytes

        selection = Selection()
        mask = pixels.mask_bytes(alpha)  # held until setPixelData has copied it
        selection.setPixelData(qbytes(mask), 0, 0, alpha.shape[1], alpha.shape[0])
        return selection

    def _set_pixels(self, node, array: np.ndarray) -> None:
        from ui.qt import qbytes

        # On PyQt5 the QByteArray aliases ``array``, which we hold until Krita has copied it.
        node.setPixelData(qbytes(array), 0, 0, self.document.width(), self.document.height())


class GuiThread:
    """Runs calls on the thread that created it (Krita's GUI thread) for any other thread,
    which waits.  The request travels as a queued Qt signal; the wait polls ``quitting`` so a
    worker never blocks a GUI thread that is itself waiting for the worker to stop."""

    quitting = threading.Event()  # Krita is quitting: every waiting worker gives up

    def __init__(self):
        from ui.qt import QObject, Signal

        class Relay(QObject):  # lives on the creating thread; its slot runs there
            request = Signal(object)

            def __init__(self):
                super().__init__()
                self.request.connect(self.run)  # queued when emitted from another thread

            def run(self, request):
                GuiThread._run(request)

        self.owner = threading.get_ident()
        self.relay = Relay()

    def call(self, function: Callable, *args):
        if threading.get_ident() == self.owner:
            return function(*args)
        done, box = threading.Event(), {}
        self.relay.request.emit((function, args, box, done))
        while not done.wait(0.05):
            if GuiThread.quitting.is_set():
                raise Cancelled("Krita is closing; the run was stopped.")
        if "error" in box:
            raise box["error"]
        return box["value"]

    @staticmethod
    def _run(request) -> None:
        function, args, box, done = request
        try:
            box["value"] = function(*args)
        except BaseException as error:  # re-raised in the calling thread
            box["error"] = error
        finally:
            done.set()


def _id(node) -> str:
    return node.uniqueId().toString()


def _every_node(parent) -> Iterator[object]:
    """Every node below ``parent``, masks included."""
    for node in parent.childNodes():
        yield node
        yield from _every_node(node)


def _walk(parent, prefix: str) -> Iterator[tuple[object, str]]:
    """Every layer (not masks) below ``parent``, top of the stack first, with a readable path."""
    for node in reversed(parent.childNodes()):
        if node.type() in MASK_TYPES:
            continue
        path = f"{prefix}{node.name()}"
        yield node, path
        if node.type() == "grouplayer":
            yield from _walk(node, f"{path} › ")
