"""KritaHost's hand-off of Krita calls to the GUI thread (no Krita needed: plain Qt)."""

from __future__ import annotations

import threading

from icm_core.api import Cancelled
from icm_plugin.krita.host import GuiThread


def call_from_worker(gui, function, *args):
    box = {}

    def work():
        try:
            box["value"] = gui.call(function, *args)
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=work)
    thread.start()
    return thread, box


def test_calls_from_a_worker_run_on_the_gui_thread_and_errors_come_back(qtbot):
    gui = GuiThread()
    thread, box = call_from_worker(gui, lambda x: (x * 2, threading.get_ident()), 21)
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=5000)  # the event loop runs the call
    assert box["value"] == (42, threading.get_ident())
    thread, box = call_from_worker(gui, lambda: 1 / 0)
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=5000)
    assert isinstance(box["error"], ZeroDivisionError)
    assert gui.call(lambda: threading.get_ident()) == threading.get_ident()  # on the GUI thread: direct


def test_a_waiting_worker_gives_up_when_krita_closes():
    """The GUI thread is busy (here: not running its event loop, as in QThread.wait())."""
    gui = GuiThread()
    thread, box = call_from_worker(gui, lambda: "ran")
    thread.join(0.3)
    assert thread.is_alive()
    GuiThread.quitting.set()
    try:
        thread.join(2)
    finally:
        GuiThread.quitting.clear()
    assert not thread.is_alive() and isinstance(box["error"], Cancelled) and "value" not in box
