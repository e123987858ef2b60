"""The Krita ≥ 5.2 transparency-mask path, which Debian's Krita 5.1.5 cannot run: checked
against a minimal stand-in for the libkis calls it makes (names from Krita 5.2's libkis:
``Document.createTransparencyMask``, ``TransparencyMask.setSelection``).  Only the call
sequence and the bytes handed over are verified here, not Krita's behaviour."""

from __future__ import annotations

import sys
import types

import numpy as np

H, W = 6, 8


class Selection:
    def setPixelData(self, data, x, y, w, h):
        self.pixels = (bytes(data), x, y, w, h)


class Uuid:
    def __init__(self, text):
        self.text = text

    def toString(self):
        return self.text


class Node:
    def __init__(self, name, kind="paintlayer"):
        self._name, self.kind, self.children, self.selection = name, kind, [], None

    def name(self):
        return self._name

    def type(self):
        return self.kind

    def uniqueId(self):
        return Uuid(f"{{{self._name}}}")

    def visible(self):
        return True

    def childNodes(self):
        return list(self.children)

    def addChildNode(self, child, above):
        self.children.append(child)
        return True

    def setSelection(self, selection):
        self.selection = selection


class Document:
    def __init__(self):
        self.root = Node("root", "grouplayer")
        self.root.children.append(Node("Photo"))

    def rootNode(self):
        return self.root

    def width(self):
        return W

    def height(self):
        return H

    def createTransparencyMask(self, name):
        return Node(name, "transparencymask")


def test_transparency_mask_via_createTransparencyMask(monkeypatch):
    krita = types.ModuleType("krita")
    krita.Krita = types.SimpleNamespace(instance=lambda: types.SimpleNamespace(activeWindow=lambda: None))
    krita.Selection = Selection
    monkeypatch.setitem(sys.modules, "krita", krita)
    from icm_plugin.krita import host as krita_host

    monkeypatch.setattr(krita_host, "_qbytes", lambda array: array.tobytes())
    document = Document()
    host = krita_host.KritaHost(document)
    assert host.output_modes() == ["layer", "mask", "selection"]  # no window needed on 5.2
    photo = host.layers()[0]
    alpha = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    written = host.write_result(photo.id, alpha, None, "mask")
    mask = document.root.children[0].children[0]
    assert mask.type() == "transparencymask" and mask.name() == "Photo matte mask"
    data, x, y, w, h = mask.selection.pixels
    assert (x, y, w, h) == (0, 0, W, H)
    assert np.array_equal(np.frombuffer(data, np.uint8).reshape(H, W), np.rint(alpha * 255).astype(np.uint8))
    assert "transparency mask" in written.description
