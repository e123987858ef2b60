"""A stand-in for Krita's ``krita`` module (libkis), for the Krita versions this OS lacks:
Krita 6 (PyQt6) and Krita 5.2/5.3 (PyQt5 with ``Document.createTransparencyMask``).  Krita 6's
libkis has the same API as 5.2, so one fake serves both; :func:`install` picks the binding.

Only the calls our plugin and the test scripts make, with the behaviour seen in Krita 5.1.5 here
(checked with a kritarunner probe; tests/hosts/krita_offscreen.py runs the same checks against
the real one; more facts in ../shared/notes/hosts.md §1):

- a node holds its pixels as bytes in its own colour space (B, G, R, A for integer depths,
  R, G, B, A for float); ``setPixelData`` copies them in, ``pixelData`` returns a new
  QByteArray, reading outside the canvas gives zeros; a group's ``pixelData`` is empty, its
  ``projectionPixelData`` the children composited ("normal" blending);
- every call returns a NEW wrapper (as sip does): wrappers compare equal with ``==`` and are
  unhashable, so code relying on ``is`` or on hashing nodes fails here as it does in Krita;
- ``createDocument`` gives a white, opaque "Background" layer and Krita's default profiles;
- ``addChildNode(child, above)`` inserts directly above ``above``, on top for ``None``;
- Krita's import guard: the other PyQt major version cannot be imported.

What it does NOT do, because only Krita can: colour conversion (``setColorSpace`` of a node
holding pixels raises), undo, rendering, the 5.1 "add_new_transparency_mask" action (no
window state behind it).  The global selection lives on the document here; real Krita also
shows it as a root "Selection Mask" node.
"""

from __future__ import annotations

import builtins
import enum
import importlib
import sys

import numpy as np

DEFAULT_PROFILES = {  # Krita 5.1.5, createDocument(..., profile="")
    ("RGBA", "U8"): "sRGB-elle-V2-srgbtrc.icc",
    ("RGBA", "U16"): "sRGB-elle-V2-g10.icc",
    ("RGBA", "F16"): "sRGB-elle-V2-g10.icc",
    ("RGBA", "F32"): "sRGB-elle-V2-g10.icc",
    ("GRAYA", "U8"): "Gray-D50-elle-V2-srgbtrc.icc",
    ("GRAYA", "U16"): "Gray-D50-elle-V2-g10.icc",
    ("GRAYA", "F32"): "Gray-D50-elle-V2-g10.icc",
}
DTYPES = {"U8": np.uint8, "U16": np.uint16, "F16": np.float16, "F32": np.float32}
CHANNELS = {"RGBA": 4, "GRAYA": 2}
FULL = {"U8": 255.0, "U16": 65535.0, "F16": 1.0, "F32": 1.0}
MASK_SPACE = ("A", "U8", "")  # masks and selections: one byte per pixel

QtCore = QtGui = QtWidgets = None  # the host's binding, set by install()
VERSION = ""
# libkis classes with Qt bases (Extension, DockWidget, DockWidgetFactory…), also set by install()
Extension = DockWidget = DockWidgetFactoryBase = DockWidgetFactory = Notifier = None


def install(binding: str, version: str) -> None:
    """Become ``import krita`` for a Krita on ``binding`` ("PyQt6" or "PyQt5"), as Krita does
    before loading any plugin: its binding imported, a QApplication, the import guard."""
    global QtCore, QtGui, QtWidgets, VERSION
    QtCore = importlib.import_module(f"{binding}.QtCore")
    QtGui = importlib.import_module(f"{binding}.QtGui")
    QtWidgets = importlib.import_module(f"{binding}.QtWidgets")
    VERSION = version
    if QtWidgets.QApplication.instance() is None:
        _KEEP.append(QtWidgets.QApplication([sys.argv[0]]))
    _define_qt_classes(binding)
    other = "PyQt5" if binding == "PyQt6" else "PyQt6"
    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):  # what Krita's krita/__init__.py does
        if name == other or name.startswith(other + "."):
            raise ModuleNotFoundError(f"This version of Krita is not compatible with {other}!")
        return real_import(name, *args, **kwargs)

    builtins.__import__ = guarded
    sys.modules["krita"] = sys.modules[__name__]


_KEEP: list = []


# -- pixel storage ------------------------------------------------------------------------------
class _Device:
    """The pixels of one node over the canvas, in its colour space."""

    def __init__(self, width, height, model, depth, profile):
        self.width, self.height = width, height
        self.space = (model, depth, profile)
        if (model, depth) == ("A", "U8"):
            self.array = np.zeros((height, width, 1), np.uint8)
        else:
            if model not in CHANNELS or depth not in DTYPES:
                raise NotImplementedError(f"the fake Krita has no {model}/{depth} colour space")
            self.array = np.zeros((height, width, CHANNELS[model]), DTYPES[depth])

    def read(self, x, y, w, h) -> bytes:
        out = np.zeros((h, w, self.array.shape[2]), self.array.dtype)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, self.width), min(y + h, self.height)
        if x1 > x0 and y1 > y0:
            out[y0 - y:y1 - y, x0 - x:x1 - x] = self.array[y0:y1, x0:x1]
        return out.tobytes()

    def write(self, data, x, y, w, h) -> None:
        raw = np.frombuffer(bytes(data), self.array.dtype)
        if raw.size != w * h * self.array.shape[2]:
            raise ValueError(f"{raw.nbytes} bytes for a {w}×{h} area of {self.space}")
        block = raw.reshape(h, w, self.array.shape[2])
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, self.width), min(y + h, self.height)
        if x1 > x0 and y1 > y0:
            self.array[y0:y1, x0:x1] = block[y0 - y:y1 - y, x0 - x:x1 - x]

    def copy(self):
        twin = _Device(self.width, self.height, *self.space)
        twin.array[...] = self.array
        return twin


def _over(bottom: np.ndarray, top: np.ndarray, depth: str) -> np.ndarray:
    """Krita's "normal" blending of straight-alpha pixels (alpha last), in float."""
    scale = FULL[depth]
    b, t = bottom.astype(np.float64) / scale, top.astype(np.float64) / scale
    ta, ba = t[..., -1:], b[..., -1:]
    alpha = ta + ba * (1 - ta)
    colour = np.divide(t[..., :-1] * ta + b[..., :-1] * ba * (1 - ta), alpha,
                       out=np.zeros_like(t[..., :-1]), where=alpha > 0)
    out = np.concatenate([colour, alpha], axis=2) * scale
    return (np.rint(out) if depth in ("U8", "U16") else out).astype(bottom.dtype)


class _NodeState:
    def __init__(self, image, name, kind, space):
        self.image, self.name, self.kind = image, name, kind
        self.uuid = QtCore.QUuid.createUuid()
        self.visible = True
        self.parent = None
        self.children: list[_NodeState] = []  # bottom first, as childNodes()
        self.device = _Device(image.width, image.height, *space)

    def projection(self) -> _Device:
        """What this node shows: a paint layer through its transparency masks; a group, its
        visible children composited."""
        if self.kind == "grouplayer":
            shown = _Device(self.image.width, self.image.height, *self.device.space)
            for child in self.children:
                if child.visible and not child.kind.endswith("mask"):
                    part = child.projection()
                    if part.space != shown.space:
                        raise NotImplementedError("the fake Krita does not convert colour spaces")
                    shown.array = _over(shown.array, part.array, shown.space[1])
            return shown
        shown = self.device.copy()
        for child in self.children:
            if child.kind == "transparencymask" and child.visible:
                alpha = shown.array[..., -1].astype(np.float64) * (child.device.array[..., 0] / 255.0)
                if shown.space[1] in ("U8", "U16"):
                    alpha = np.rint(alpha)
                shown.array[..., -1] = alpha.astype(shown.array.dtype)
        return shown


class _ImageState:
    def __init__(self, name, width, height, model, depth, profile, resolution):
        self.name, self.width, self.height, self.resolution = name, width, height, resolution
        profile = profile or DEFAULT_PROFILES.get((model, depth), "")
        self.space = (model, depth, profile)
        self.root = _NodeState(self, "root", "grouplayer", self.space)
        self.selection: _Device | None = None
        self.active = None
        self.annotations: dict[str, tuple[str, bytes]] = {}


def _wrap(state):
    if state is None:
        return None
    return {"selectionmask": SelectionMask, "transparencymask": TransparencyMask,
            "grouplayer": GroupLayer}.get(state.kind, Node)(state)


# -- libkis classes without Qt base ---------------------------------------------------------------
class Node:
    def __init__(self, state: _NodeState):
        self._state = state

    def __eq__(self, other):
        return isinstance(other, Node) and other._state is self._state

    __hash__ = None  # as sip's wrappers with operator==

    def name(self):
        return self._state.name

    def setName(self, name):
        self._state.name = name

    def type(self):
        return self._state.kind

    def visible(self):
        return self._state.visible

    def setVisible(self, visible):
        self._state.visible = bool(visible)

    def uniqueId(self):
        return QtCore.QUuid(self._state.uuid)

    def parentNode(self):
        return _wrap(self._state.parent)

    def childNodes(self):
        return [_wrap(child) for child in self._state.children]

    def addChildNode(self, child, above):
        state, child_state = self._state, child._state
        if child_state.parent is not None or child_state.image is not state.image:
            return False
        index = len(state.children) if above is None else state.children.index(above._state) + 1
        state.children.insert(index, child_state)
        child_state.parent = state
        return True

    def colorModel(self):
        return self._state.device.space[0]

    def colorDepth(self):
        return self._state.device.space[1]

    def colorProfile(self):
        return self._state.device.space[2]

    def setColorSpace(self, model, depth, profile):
        device = self._state.device
        if device.array.any():
            raise NotImplementedError("the fake Krita cannot convert pixels between colour spaces")
        self._state.device = _Device(device.width, device.height, model, depth, profile)
        return True

    def pixelData(self, x, y, w, h):
        if self._state.kind == "grouplayer":  # Krita 5.1.5: a group has no pixels of its own
            return QtCore.QByteArray()
        return QtCore.QByteArray(self._state.device.read(x, y, w, h))

    def projectionPixelData(self, x, y, w, h):
        return QtCore.QByteArray(self._state.projection().read(x, y, w, h))

    def setPixelData(self, data, x, y, w, h):
        self._state.device.write(data, x, y, w, h)
        return True

    def duplicate(self):
        return _wrap(_duplicate(self._state))

    def remove(self):
        parent = self._state.parent
        if parent is None:
            return False
        parent.children.remove(self._state)
        self._state.parent = None
        return True


def _duplicate(state: _NodeState) -> _NodeState:
    twin = _NodeState(state.image, state.name, state.kind, state.device.space)
    twin.visible, twin.device = state.visible, state.device.copy()
    for child in state.children:
        copied = _duplicate(child)
        copied.parent = twin
        twin.children.append(copied)
    return twin


class GroupLayer(Node):
    pass


class SelectionMask(Node):
    def setSelection(self, selection):
        self._state.device.array[..., 0] = np.frombuffer(
            selection._read(0, 0, self._state.image.width, self._state.image.height), np.uint8
        ).reshape(self._state.image.height, self._state.image.width)


class TransparencyMask(SelectionMask):
    pass


class Selection:
    """Unbounded in Krita; here the writes are replayed over the area asked for."""

    def __init__(self):
        self._writes: list[tuple[bytes, int, int, int, int]] = []

    def setPixelData(self, data, x, y, w, h):
        data = bytes(data)
        if len(data) != w * h:
            raise ValueError(f"{len(data)} selection bytes for {w}×{h} px")
        self._writes.append((data, x, y, w, h))

    def _read(self, x, y, w, h) -> bytes:
        area = _Device(w, h, *MASK_SPACE)
        for data, wx, wy, ww, wh in self._writes:
            area.write(data, wx - x, wy - y, ww, wh)
        return area.read(0, 0, w, h)

    def pixelData(self, x, y, w, h):
        return QtCore.QByteArray(self._read(x, y, w, h))


class Document:
    def __init__(self, state: _ImageState):
        self._state = state

    def __eq__(self, other):
        return isinstance(other, Document) and other._state is self._state

    __hash__ = None

    def name(self):
        return self._state.name

    def width(self):
        return self._state.width

    def height(self):
        return self._state.height

    def resolution(self):
        return int(self._state.resolution)

    def colorModel(self):
        return self._state.space[0]

    def colorDepth(self):
        return self._state.space[1]

    def colorProfile(self):
        return self._state.space[2]

    def rootNode(self):
        return _wrap(self._state.root)

    def annotation(self, kind):
        """Krita 5.1: a QByteArray, empty for an unknown type."""
        return QtCore.QByteArray(self._state.annotations.get(kind, ("", b""))[1])

    def setAnnotation(self, kind, description, data):
        self._state.annotations[kind] = (description, bytes(data))

    def annotationTypes(self):
        return list(self._state.annotations)

    def createNode(self, name, kind):
        if kind not in ("paintlayer", "grouplayer"):
            raise NotImplementedError(f"the fake Krita creates paint and group layers, not {kind}")
        return _wrap(_NodeState(self._state, name, kind, self._state.space))

    def createSelectionMask(self, name):
        return _wrap(_NodeState(self._state, name, "selectionmask", MASK_SPACE))

    def createTransparencyMask(self, name):  # Krita >= 5.2
        return _wrap(_NodeState(self._state, name, "transparencymask", MASK_SPACE))

    def selection(self):
        if self._state.selection is None:
            return None
        selection = Selection()
        selection.setPixelData(self._state.selection.read(0, 0, self.width(), self.height()),
                               0, 0, self.width(), self.height())
        return selection

    def setSelection(self, selection):
        device = _Device(self.width(), self.height(), *MASK_SPACE)
        device.write(selection._read(0, 0, self.width(), self.height()), 0, 0, self.width(), self.height())
        self._state.selection = device

    def activeNode(self):
        return _wrap(self._state.active)

    def setActiveNode(self, node):
        self._state.active = node._state

    def refreshProjection(self):
        pass  # projections are computed when read

    def waitForDone(self):
        pass

    def setModified(self, modified):
        pass  # nothing asks "save changes?" here

    def close(self):
        _APP.documents = [d for d in _APP.documents if d is not self._state]
        return True


# -- the application ------------------------------------------------------------------------------
class _App:
    def __init__(self):
        self.documents: list[_ImageState] = []
        self.extensions, self.factories, self.windows, self.actions = [], [], [], {}
        self.notifier = None


_APP = _App()


class Krita:
    @staticmethod
    def instance():
        return Krita()

    def version(self):
        return VERSION

    def createDocument(self, width, height, name, model, depth, profile, resolution):
        state = _ImageState(name, width, height, model, depth, profile, resolution)
        background = _NodeState(state, "Background", "paintlayer", state.space)
        white = np.array([FULL[state.space[1]]] * CHANNELS[model], DTYPES[depth])
        background.device.array[...] = white
        background.parent = state.root
        state.root.children.append(background)
        state.active = background
        _APP.documents.append(state)
        return Document(state)

    def documents(self):
        return [Document(state) for state in _APP.documents]

    def activeWindow(self):
        return _APP.windows[-1] if _APP.windows else None

    def addExtension(self, extension):
        _APP.extensions.append(extension)

    def addDockWidgetFactory(self, factory):
        _APP.factories.append(factory)

    def dockers(self):
        return [d for window in _APP.windows for d in window._dockers]

    def action(self, name):
        return _APP.actions.get(name)

    def notifier(self):
        if _APP.notifier is None:
            _APP.notifier = Notifier()
        return _APP.notifier


class View:
    def __init__(self, window, document):
        self._window, self._document = window, document

    def __eq__(self, other):
        return isinstance(other, View) and other._document == self._document

    __hash__ = None

    def document(self):
        return Document(self._document._state)

    def selectedNodes(self):
        active = self._document.activeNode()
        return [] if active is None else [active]

    def canvas(self):
        return Canvas(self)


class Canvas:
    def __init__(self, view):
        self._view = view

    def view(self):
        return self._view


def open_window():
    """What Krita does when its main window opens: extensions' ``setup()``, one docker from each
    factory, then ``createActions(window)`` (the order seen in Krita 5.1.5).  Test control, not
    libkis."""
    window = Window()
    _APP.windows.append(window)
    for extension in _APP.extensions:
        extension.setup()
    for factory in _APP.factories:
        docker = factory._create()
        window._qwindow.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, docker)
        window._dockers.append(docker)
    for extension in _APP.extensions:
        extension.createActions(window)
    window._qwindow.show()
    return window


def close_application():
    """Krita quitting, in the order seen in Krita 5.1.5: the main windows close and are deleted
    with their dockers, then ``aboutToQuit`` (and ``Notifier.applicationClosing``, which
    Krita connects to it).  Test control."""
    for window in _APP.windows:
        window._qwindow.close()
        window._qwindow.deleteLater()
        window._dockers.clear()
    _APP.windows.clear()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    QtWidgets.QApplication.instance().aboutToQuit.emit()
    if _APP.notifier is not None:
        _APP.notifier.applicationClosing.emit()


class Window:
    def __init__(self):
        self._qwindow = QtWidgets.QMainWindow()
        self._qwindow.resize(1280, 800)
        self._views: list[View] = []
        self._dockers: list = []

    def qwindow(self):
        return self._qwindow

    def activeView(self):
        return self._views[-1] if self._views else None

    def addView(self, document):
        """Opens ``document`` in this window; each docker is told through ``canvasChanged``."""
        view = View(self, document)
        self._views.append(view)
        for docker in self._dockers:
            docker.canvasChanged(view.canvas())
        return view

    def createAction(self, name, text, menu_location="tools/scripts"):
        action_class = getattr(QtGui, "QAction", None) or QtWidgets.QAction  # Qt 6 / Qt 5
        action = action_class(text, self._qwindow)
        action.setObjectName(name)
        _APP.actions[name] = action
        return action


# -- libkis classes on Qt bases: defined once the binding is known ----------------------------------
def _define_qt_classes(binding: str) -> None:
    signal = QtCore.pyqtSignal
    module = sys.modules[__name__]

    class Extension(QtCore.QObject):
        def __init__(self, parent):
            super().__init__(parent if isinstance(parent, QtCore.QObject) else None)

        def setup(self):
            raise NotImplementedError

        def createActions(self, window):
            raise NotImplementedError

    class DockWidget(QtWidgets.QDockWidget):
        def canvasChanged(self, canvas):
            raise NotImplementedError

    class DockWidgetFactoryBase:
        class DockPosition(enum.Enum):
            DockTornOff, DockTop, DockBottom, DockRight, DockLeft, DockMinimized = range(6)

    if binding == "PyQt5":  # PyQt5 also puts an unscoped enum's members on the class
        for member in DockWidgetFactoryBase.DockPosition:
            setattr(DockWidgetFactoryBase, member.name, member)

    class DockWidgetFactory(DockWidgetFactoryBase):
        def __init__(self, identifier, position, widget_class):
            if not isinstance(position, DockWidgetFactoryBase.DockPosition):
                raise TypeError(f"DockWidgetFactory: position {position!r} is not a DockPosition")
            self._id, self._position, self._class = identifier, position, widget_class

        def _create(self):
            docker = self._class()
            docker.setObjectName(self._id)
            return docker

    class Notifier(QtCore.QObject):
        applicationClosing = signal()

        def __init__(self):
            super().__init__()
            self._active = False

        def setActive(self, active):
            self._active = bool(active)

    for cls in (Extension, DockWidget, DockWidgetFactoryBase, DockWidgetFactory, Notifier):
        setattr(module, cls.__name__, cls)
