"""The executor over a pool of worker processes on this machine, each with its own engine, an
equal share of the cores and the reference encoded as it starts."""

from __future__ import annotations

import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from ..api import IcmError, OutOfMemory
from ..engines.base import encode_references
from .job import MatteSettings, Outcome, matte_one
from .threads import set_threads, worker_environment

_worker: dict = {}  # per worker process: engine, reference (or the error encoding it), settings, lock


def _start_worker(engine_name: str, options: dict, pairs: list, settings: MatteSettings,
                  share: int, device_lock) -> None:
    from ..engines import get_engine

    # Ctrl-C reaches the whole process group: the dispatcher alone answers it (and stops us)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_threads(share)
    _worker.update(settings=settings, lock=device_lock, error=None)
    try:
        _worker["engine"] = engine = get_engine(engine_name, **options)
        _worker["reference"] = encode_references(engine, pairs)
    except IcmError as error:  # reported with every target rather than killing the pool
        _worker["error"] = str(error)


def _worker_matte(payload, label: str) -> Outcome:
    if _worker["error"]:
        return Outcome(error=_worker["error"])
    if _worker["lock"] is None:
        return matte_one(_worker["engine"], _worker["reference"], payload, label, _worker["settings"])
    with _worker["lock"]:  # one job at a time on a GPU: several would only fight for its memory
        return matte_one(_worker["engine"], _worker["reference"], payload, label, _worker["settings"])


class ProcessPool:
    """A pool of worker processes on this machine, each with its own engine and an equal share
    of the cores, each encoding the reference once as it starts (all start at the same time,
    so this costs no more than shipping one encoding).  A pool whose worker died is replaced;
    the targets it held come back as lost (and are retried)."""

    def __init__(self, workers: int, engine_name: str, options: dict, pairs: list,
                 settings: MatteSettings, gpu: bool = False):
        import multiprocessing

        # spawn, not fork: forking a process whose torch/OpenMP threads already run can deadlock
        self.context = multiprocessing.get_context("spawn")
        self.workers = workers
        self.share = max(1, (os.cpu_count() or 1) // workers)
        lock = self.context.Lock() if gpu else None
        self.initargs = (engine_name, options, pairs, settings, self.share, lock)
        self.capacity = 2 * workers  # one queued per worker hides the hand-over
        self.pool = None
        self.futures: dict = {}

    def start(self) -> None:
        if self.pool is None:
            with _environment(worker_environment()):
                self.pool = ProcessPoolExecutor(self.workers, mp_context=self.context,
                                                initializer=_start_worker, initargs=self.initargs)
                try:
                    for _ in range(self.workers):  # start every worker now, under these limits
                        self.pool.submit(os.getpid)
                except BrokenProcessPool:
                    self._broken()

    def submit(self, key: str, payload, label: str) -> None:
        self.start()
        try:
            future = self.pool.submit(_worker_matte, payload, label)
        except BrokenProcessPool:  # a worker died since the last answer: start afresh once
            self.close(abort=True)
            self.start()
            try:
                future = self.pool.submit(_worker_matte, payload, label)
            except BrokenProcessPool:
                self._broken()
        self.futures[future] = (key, self.pool)

    def _broken(self):
        self.close(abort=True)
        raise OutOfMemory(f"The {self.workers} worker process(es) died as they started (out of "
                          "memory?); use fewer --workers.")

    def next(self) -> tuple[str, Outcome]:
        finished, _ = wait(self.futures, return_when=FIRST_COMPLETED)
        future = next(iter(finished))
        key, pool = self.futures.pop(future)
        try:
            return key, future.result()
        except BrokenProcessPool:
            if pool is self.pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self.pool = None
            return key, Outcome(error="a worker process died (killed or out of memory)", lost=True)

    def close(self, abort: bool = False) -> None:
        """Wait for the workers to finish; ``abort``: stop them now (Ctrl-C, an error)."""
        if self.pool is None:
            return
        # private: before Python 3.14 (terminate_workers) no public way stops running workers
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=not abort, cancel_futures=True)
        if abort:  # shutdown(wait=False) lets running targets finish: seconds for nothing
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(timeout=10)
        self.pool = None


@contextmanager
def _environment(variables: dict[str, str]):
    """``variables`` set in this process while the block runs: processes started in it inherit
    them."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

