"""The worker thread that drives :mod:`icm_core`: one engine, one cached reference, a series of targets.

The GUI builds a :class:`Job` (numpy arrays, or loaders for thread-safe hosts) and calls
:meth:`MatteRunner.start`; the worker answers with one-argument signals carrying small
dataclasses (a two-argument emit on a one-argument PyQt signal fails silently in the worker,
so every signal has exactly one ``object``).  Engines and the encoded reference are cached in
the worker: the reference is encoded again only when its key (layer, pixels revision, mask
revision, engine and options) changes.  Cancel is a ``threading.Event`` the engine checks
between stages.  Every exception comes back as a message; the thread never dies.

Corrections (:meth:`MatteRunner.correct`) reuse the cached engine and reference: the worker
answers the latest request only (a newer one replaces a waiting one), first with a preview,
then, if no newer strokes came meanwhile, with the final alpha.  Learned examples (corrected
targets) are encoded and combined with the reference.
"""

from __future__ import annotations

import gc
import threading
import time
import traceback
from collections.abc import Callable, Hashable
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import numpy as np

from icm_core.api import Cancelled, IcmError
from icm_core.geometry import resize, scale_to_fit

from .qt import QCoreApplication, QObject, QThread, Signal

PREVIEW_SIDE = 1024


@dataclass(frozen=True)
class Target:
    layer_id: str
    name: str
    pixels: np.ndarray | None = None  # read on the GUI thread, or …
    load: Callable[[], np.ndarray] | None = None  # … read by the worker (thread-safe hosts)


@dataclass(frozen=True)
class Job:
    engine: str
    options: tuple[tuple[str, Any], ...]
    reference_key: Hashable
    reference_image: np.ndarray
    reference_mask: np.ndarray
    targets: tuple[Target, ...]
    foreground: bool = True
    seed: int = 0
    #: called by the worker as ``write(layer_id, alpha, foreground)`` for thread-safe hosts
    write: Callable | None = None
    #: corrected targets learned from: (image, mask) pairs combined with the reference
    examples: tuple[tuple[np.ndarray, np.ndarray], ...] = ()


@dataclass(frozen=True)
class Correction:
    """Matte one target again with the artist's strokes: a preview, then the final alpha."""

    job: Job  # engine, options and reference (its ``targets`` are unused)
    layer_id: str
    pixels: np.ndarray
    hints: Any  # icm_core.api.Hints, or None for the result without strokes
    serial: int  # the panel shows only the answer to its latest request


@dataclass(frozen=True)
class Corrected:
    layer_id: str
    serial: int
    alpha: np.ndarray | None
    foreground: np.ndarray | None = None
    final: bool = False
    seconds: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class Reading:
    """Ask what the engine takes the subject of the brushed reference to be."""

    engine: str
    options: tuple[tuple[str, Any], ...]
    image: np.ndarray
    mask: Callable[[], np.ndarray]  # read by the worker: the GUI never waits for a big mask
    serial: int  # the panel shows only the answer to its latest request


@dataclass(frozen=True)
class Read:
    serial: int
    alpha: np.ndarray | None  # None: the engine gives no reading (or could not read this one)


@dataclass(frozen=True)
class Progress:
    index: int
    count: int
    layer_id: str
    fraction: float  # of this target
    message: str

    @property
    def overall(self) -> float:
        return (self.index + self.fraction) / max(self.count, 1)


@dataclass(frozen=True)
class TargetDone:
    index: int
    layer_id: str
    name: str
    alpha: np.ndarray
    foreground: np.ndarray | None
    preview: dict  # "source", "alpha", "cutout": uint8 arrays at most PREVIEW_SIDE px
    written: Any  # hostapi.Written when the worker wrote it, else None
    seconds: float
    warnings: tuple[str, ...] = ()  # MatteResult.warnings: why it is probably not what was meant


@dataclass(frozen=True)
class TargetFailed:
    index: int
    layer_id: str
    name: str
    message: str


@dataclass(frozen=True)
class Finished:
    status: str  # "done", "cancelled" or "failed"
    message: str = ""
    done: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


@dataclass
class _Cache:
    engine_key: Hashable = None
    engine: Any = None
    reference_key: Hashable = None
    reference: Any = None
    encodes: int = 0


class Worker(QObject):
    """Lives in a QThread; :meth:`run` processes one job."""

    status = Signal(object)  # str: what is happening ("Loading the lite engine…")
    progress = Signal(object)  # Progress
    target_done = Signal(object)  # TargetDone
    target_failed = Signal(object)  # TargetFailed
    finished = Signal(object)  # Finished
    warmed = Signal(object)  # str: the engine whose modules are loaded
    corrected = Signal(object)  # Corrected
    read = Signal(object)  # Read

    def __init__(self, cancel: threading.Event):
        super().__init__()
        self.cancel = cancel
        self.cache = _Cache()
        self._lock = threading.Lock()
        self._correction: Correction | None = None  # the latest request not started yet
        self._reading: Reading | None = None  # likewise

    def post(self, correction: Correction) -> None:
        """Called from the GUI thread: replaces any request the worker has not started."""
        with self._lock:
            self._correction = correction

    def _take(self) -> Correction | None:
        with self._lock:
            correction, self._correction = self._correction, None
            return correction

    def correct(self, _=None) -> None:
        """Answer the latest correction: a quick preview, then (unless newer strokes came
        meanwhile) the full-quality alpha."""
        request = self._take()
        if request is None:  # an earlier signal already answered it
            return
        job = request.job
        try:
            engine = self._engine(job)
            reference = self._reference(job, engine)
            for final in (False, True):
                started = time.perf_counter()
                result = engine.matte(
                    request.pixels,
                    reference,
                    seed=job.seed,
                    foreground=final and job.foreground,
                    hints=request.hints,
                    preview=not final,
                )
                self.corrected.emit(
                    Corrected(
                        request.layer_id,
                        request.serial,
                        result.alpha,
                        result.foreground,
                        final,
                        time.perf_counter() - started,
                    )
                )
                with self._lock:
                    if self._correction is not None:
                        return  # newer strokes: their preview first
        except IcmError as error:
            self.corrected.emit(Corrected(request.layer_id, request.serial, None, error=str(error)))
        except Exception as error:  # a bug: report it, keep the thread alive
            traceback.print_exc()
            message = f"Unexpected error ({type(error).__name__}: {error})."
            self.corrected.emit(Corrected(request.layer_id, request.serial, None, error=message))

    def post_reading(self, reading: Reading) -> None:
        """Called from the GUI thread: replaces any reading the worker has not started."""
        with self._lock:
            self._reading = reading

    def read_reference(self, _=None) -> None:
        """Answer the latest reading with the engine's quick completion of the brushed mask."""
        with self._lock:
            request, self._reading = self._reading, None
        if request is None:  # an earlier signal already answered it
            return
        try:
            mask = request.mask()
        except RuntimeError:  # another picture replaced it meanwhile (its strokes are closed)
            return
        alpha = None
        try:
            complete = getattr(self._engine(request), "complete_reference_mask", None)
            if complete is not None:
                alpha = complete(request.image, mask, preview=True)
        except IcmError:
            pass  # a reading is a hint while brushing: Run reports what is wrong
        except Exception:
            traceback.print_exc()
        self.read.emit(Read(request.serial, alpha))

    def warm_up(self, engine: str) -> None:
        """Import the engine's heavy modules now, so that a run does not pay for it."""
        from icm_core.engines import engine_class

        try:
            with quiet_gc():
                for module in engine_class(engine).REQUIREMENTS:
                    import_module(module)
        except Exception:  # a missing package is reported when a run asks for the engine
            traceback.print_exc()
        self.warmed.emit(engine)

    def run(self, job: Job) -> None:
        try:
            self.finished.emit(self._run(job))
        except Cancelled:
            self.finished.emit(Finished("cancelled", "Cancelled."))
        except IcmError as error:
            self.finished.emit(Finished("failed", str(error)))
        except Exception as error:  # a bug: report it, keep the thread alive
            traceback.print_exc()
            self.finished.emit(
                Finished("failed", f"Unexpected error ({type(error).__name__}: {error}).")
            )

    def _run(self, job: Job) -> Finished:
        engine = self._engine(job)
        reference = self._reference(job, engine)
        done, failed = [], []
        count = len(job.targets)
        for index, target in enumerate(job.targets):
            if self.cancel.is_set():
                return _cancelled(done, failed)
            started = time.perf_counter()

            def progress(fraction, message, index=index, target=target):
                self.progress.emit(Progress(index, count, target.layer_id, fraction, message))

            progress(0.0, "reading")
            try:
                pixels = target.pixels if target.pixels is not None else target.load()
                result = engine.matte(
                    pixels,
                    reference,
                    progress=progress,
                    cancel=self.cancel,
                    seed=job.seed,
                    foreground=job.foreground,
                )
                written = (
                    job.write(target.layer_id, result.alpha, result.foreground)
                    if job.write
                    else None
                )
            except Cancelled:
                return _cancelled(done, failed)
            except IcmError as error:
                failed.append(target.layer_id)
                self.target_failed.emit(
                    TargetFailed(index, target.layer_id, target.name, str(error))
                )
                continue
            except Exception as error:
                traceback.print_exc()
                failed.append(target.layer_id)
                message = f"Unexpected error ({type(error).__name__}: {error})."
                self.target_failed.emit(TargetFailed(index, target.layer_id, target.name, message))
                continue
            done.append(target.layer_id)
            preview = previews(pixels, result.alpha, result.foreground)
            self.target_done.emit(
                TargetDone(
                    index,
                    target.layer_id,
                    target.name,
                    result.alpha,
                    result.foreground,
                    preview,
                    written,
                    time.perf_counter() - started,
                    tuple(result.warnings or ()),
                )
            )
        if failed:
            return Finished(
                "done", f"{len(done)} done, {len(failed)} failed.", tuple(done), tuple(failed)
            )
        return Finished("done", f"{len(done)} done.", tuple(done), ())

    def _engine(self, job: Job | Reading):
        key = (job.engine, job.options)
        if self.cache.engine_key != key:
            from icm_core import engines  # torch and friends load here, in the worker

            self.status.emit(f"Loading the {job.engine} engine…")
            self.cache = _Cache(encodes=self.cache.encodes)
            with quiet_gc():
                self.cache.engine = engines.get_engine(job.engine, **dict(job.options))
            self.cache.engine_key = key
        return self.cache.engine

    def _reference(self, job: Job, engine):
        if self.cache.reference_key != job.reference_key or self.cache.reference is None:
            self.status.emit("Encoding the reference…")
            from icm_core.engines.base import encode_references

            self.cache.reference = None
            pairs = [(job.reference_image, job.reference_mask), *job.examples]
            self.cache.reference = encode_references(engine, pairs, extra="Corrected target {}")
            self.cache.reference_key = job.reference_key
            self.cache.encodes += 1
        return self.cache.reference


@contextmanager
def quiet_gc():
    """No garbage collection while heavy modules and models load, then freeze what they made.

    A full collection walks every object; with torch loaded that holds the GIL — and so the
    GUI thread — for 0.3–0.6 s.  Frozen objects are skipped by later collections.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _cancelled(done, failed) -> Finished:
    return Finished(
        "cancelled", f"Cancelled; {len(done)} finished results kept.", tuple(done), tuple(failed)
    )


def previews(source: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None) -> dict:
    """Small uint8 copies for the panel's preview, made here so the GUI never resizes 24 MP."""
    size = scale_to_fit(alpha.shape, PREVIEW_SIDE)
    small_alpha = resize(alpha, size)
    colours = resize(foreground if foreground is not None else source, size)
    return {
        "source": _u8(resize(source, size)),
        "alpha": _u8(small_alpha),
        "cutout": _u8(np.concatenate([colours, small_alpha[..., None]], axis=2)),
    }


def _u8(array: np.ndarray) -> np.ndarray:
    return (np.clip(array, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


_RUNNING: set = set()  # runners whose thread has not been joined yet: kept alive until then


def stop_all_runners(timeout_ms: int = 30000) -> None:
    """Stop and join every worker thread still running (the application is quitting).

    A host may destroy the widget that owns a runner before ``aboutToQuit`` (Krita deletes its
    dockers with the main window); Qt aborts the process when a running QThread is destroyed,
    so every runner stays referenced here until its thread is joined."""
    for runner in list(_RUNNING):
        runner.shutdown(timeout_ms)


class MatteRunner(QObject):
    """GUI-side owner of the worker thread.  Forwards the worker's signals.  The thread is
    joined by :meth:`shutdown`, or by :func:`stop_all_runners` (on ``aboutToQuit``)."""

    _start = Signal(object)
    _warm_up = Signal(object)
    _correct = Signal(object)
    _read = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.warm: set[str] = set()  # engines whose libraries are loaded
        self.thread = QThread()
        self.thread.setObjectName("icm-matting worker")
        self.worker = Worker(self.cancel_event)
        self.worker.moveToThread(self.thread)
        self._start.connect(self.worker.run)  # queued: runs in the worker thread
        self._warm_up.connect(self.worker.warm_up)
        self._correct.connect(self.worker.correct)
        self._read.connect(self.worker.read_reference)
        self.worker.finished.connect(self._on_finished)
        self.worker.warmed.connect(self._on_warmed)
        self.busy = False
        self.thread.start()
        _watch_quit()
        _RUNNING.add(self)

    # the worker's signals, for connecting
    @property
    def signals(self) -> Worker:
        return self.worker

    def start(self, job: Job) -> None:
        if self.busy:
            raise RuntimeError("a run is already going")
        self.busy = True
        self.cancel_event.clear()
        self._start.emit(job)

    def cancel(self) -> None:
        self.cancel_event.set()

    def correct(self, correction: Correction) -> None:
        """Ask for a corrected alpha; a request still waiting is replaced, not queued."""
        self.worker.post(correction)
        self._correct.emit(None)

    def read_reference(self, reading: Reading) -> None:
        """Ask for the engine's reading of the reference; a request still waiting is replaced."""
        self.worker.post_reading(reading)
        self._read.emit(None)

    def warm_up(self, engine: str) -> None:
        """Load the engine's libraries in the worker ahead of the first run."""
        self._warm_up.emit(engine)

    def _on_finished(self, _summary) -> None:
        self.busy = False

    def _on_warmed(self, engine: str) -> None:
        self.warm.add(engine)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel any run and stop the thread (call before the owner goes away)."""
        self.cancel_event.set()
        self.thread.quit()
        if self.thread.wait(timeout_ms):
            _RUNNING.discard(self)


_quit_watched = False


def _watch_quit() -> None:
    """Join every runner when the application quits (a plain function: a slot bound to a
    widget would be disconnected when the widget is destroyed, before the quit)."""
    global _quit_watched
    application = QCoreApplication.instance()
    if application is not None and not _quit_watched:
        application.aboutToQuit.connect(stop_all_runners)
        _quit_watched = True
