"""Series at scale: one encoded reference, thousands of targets (image files or video frames),
run in this process, in a pool of worker processes, or on a Ray cluster — resumable.

The dispatching process reads every input (file bytes or decoded video frames), hashes it, and
writes every output; workers only compute (decode → matte → encode PNG bytes), so they need no
shared file system.  A JSON manifest beside the outputs records the job's settings, the engine's
weights and the reference's hashes, and each target's status and timings; ``resume`` skips the
targets it records as done with the same input hash and existing outputs.

Determinism: every mode runs the same code (:func:`matte_one`) on the same reference, so outputs
are equal bit for bit.  Workers run single-threaded (and pool workers encode the reference
themselves) while the single process uses all cores: this relies on the engine's results not
depending on the thread count, which holds for lite (tests check it).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from . import video
from .engines import engine_class
from .engines.base import encode_references
from .api import Cancelled, IcmError, InvalidInput, OutOfMemory, OutputError, UnreadableFile
from .imageio import IMAGE_SUFFIXES
from .validate import check_seed

MANIFEST_NAME = "icm-batch.json"
JOURNAL_NAME = "icm-batch.journal"  # finished targets since the manifest's last rewrite
MANIFEST_FORMAT = "icm-matting batch manifest"
RETRIES = 2  # extra attempts for a target whose worker died (killed, out of memory, node lost)
RETRIES_MAX = 10
MAX_ACTORS = 4096  # Ray actors of one job: more is a typo, not a cluster
MANIFEST_INTERVAL = 0.5  # seconds between manifest rewrites when targets finish faster than that
OUTPUT_ENDINGS = ("_alpha.png", "_cutout.png", "_alpha.mov")
# torch (icm) and BLAS threads while matting a target, in every mode.  Their sums (convolutions, dot
# products in the matting solver) are added in an order that depends on the thread count, so the
# last bits would differ between a multi-threaded single process and single-threaded workers.
# OpenCV's parallel loops split independent rows: those use a worker's share of cores.
TARGET_THREADS = 1


# --- shared with `icm-matting matte` ------------------------------------------------------------

def _stems(sources: list[Path]) -> list[str]:
    """Output name stems; stems that collide get the parent folder's name."""
    counts = Counter(source.stem for source in sources)
    stems = [f"{s.parent.name}_{s.stem}" if counts[s.stem] > 1 else s.stem for s in sources]
    # "..png" has the stem ".": as a path part it would vanish and put results beside --out
    return [stem if stem.strip(".") else f"_{stem}" for stem in stems]


def _plan(base: Path, cutout: bool) -> dict[str, Path]:
    plan = {"alpha": base.with_name(f"{base.name}_alpha.png")}
    if cutout:
        plan["cutout"] = base.with_name(f"{base.name}_cutout.png")
    return plan


def _check_unique(plans: list[dict[str, Path]]) -> None:
    names = [p for plan in plans for p in plan.values()]
    if len(set(names)) != len(names):
        raise InvalidInput("Two targets would write the same output file; rename one of them.")


def output_paths(targets: list[Path], out: Path, cutout: bool) -> list[dict[str, Path]]:
    """One dict of output paths per target image: ``out/STEM_alpha.png`` (+ ``_cutout.png``)."""
    plans = [_plan(out / stem, cutout) for stem in _stems(targets)]
    _check_unique(plans)
    return plans


# --- what to matte ------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Target:
    """One image file, or one frame of a video file, and where its results go."""

    source: Path
    frame: int | None
    outputs: dict[str, Path]

    @property
    def key(self) -> str:
        return str(self.source) if self.frame is None else f"{self.source}#{self.frame}"

    @property
    def label(self) -> str:
        return self.source.name if self.frame is None else f"{self.source.name} frame {self.frame}"


def collect_sources(inputs: list[str], out: Path | None = None) -> list[Path]:
    """Files, folders (their images and videos, sorted) and globs → distinct paths in order.

    Results of a job in ``out`` are left out of folders and globs, so a job can read and write
    one folder.
    """
    known = IMAGE_SUFFIXES | video.SUFFIXES
    out = out.resolve() if out else None

    def usable(path: Path) -> bool:
        ours = out is not None and path.is_relative_to(out) and path.name.endswith(OUTPUT_ENDINGS)
        return path.is_file() and path.suffix.lower() in known and not ours

    sources: list[Path] = []
    for item in inputs:
        path = Path(item)
        if glob.has_magic(item):
            matches = [Path(m) for m in sorted(glob.glob(item, recursive=True))]
            found = [m for m in matches if usable(m.resolve())]
            found += [f for m in matches if m.is_dir() for f in sorted(m.iterdir()) if usable(f.resolve())]
            if not found:
                raise InvalidInput(f"{item} matches no image or video file.")
        elif path.is_dir():
            found = [f for f in sorted(path.iterdir()) if usable(f.resolve())]
            if not found:
                raise InvalidInput(f"The folder {path} holds no image or video file.")
        elif path.is_file():
            found = [path]
        else:
            raise UnreadableFile(f"{path} does not exist.")
        sources += [f.resolve() for f in found]
    return list(dict.fromkeys(sources))


def plan_shots(targets: list[Target], shot: bool) -> dict[str, str]:
    """Target key → name of the shot it is a frame of, with ``shot`` True (the memory is opt-in:
    over the sequence benchmark it helps drifting subjects but keeps early confident mistakes):
    each video's frames, runs of numbered images (:func:`icm_core.sequence.numbered_shots`), and
    the other images, in the order given, as one more shot."""
    from .sequence import numbered_shots

    if not shot:
        return {}
    shots = {t.key: str(t.source) for t in targets if t.frame is not None}
    images = [t for t in targets if t.frame is None]
    for run in numbered_shots([t.source for t in images]):
        first, last = images[run[0]].source, images[run[-1]].source
        shots.update((images[i].key, f"{first.parent / first.name}…{last.name}") for i in run)
    shots.update((t.key, "the images") for t in images if t.key not in shots)
    return shots


def plan_targets(sources: list[Path], out: Path, cutout: bool) -> list[Target]:
    """Images give ``out/STEM_alpha.png``; a video's frames give ``out/STEM/NNNNNN_alpha.png``."""
    targets = []
    for source, stem in zip(sources, _stems(sources)):
        if video.is_video(source):
            targets += [Target(source, index, _plan(out / stem / f"{index:06d}", cutout))
                        for index in range(video.frame_count(source))]
        else:
            targets.append(Target(source, None, _plan(out / stem, cutout)))
    _check_unique([t.outputs for t in targets])
    return targets


# --- the job ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MatteSettings:
    """What a worker needs besides the engine and the reference."""

    seed: int = 0
    cutout: bool = False
    bits: int = 8


@dataclass
class Job:
    reference: Path
    mask: Path
    out: Path
    engine: str = "lite"
    engine_options: dict = field(default_factory=dict)
    settings: MatteSettings = field(default_factory=MatteSettings)
    alpha_video: bool = False
    inputs: list[str] = field(default_factory=list)  # as the user gave them, for the manifest
    # more (image, mask) references, combined with the first: e.g. targets corrected earlier
    also: list[tuple[Path, Path]] = field(default_factory=list)
    # frames of shots matted in order with a memory (icm_core.sequence, plan_shots)
    shot: bool = False


@dataclass
class Outcome:
    """A worker's answer for one target: encoded output files, or an error for the artist.
    ``lost`` means the worker died (killed, out of memory, node gone) — the target may be retried."""

    files: dict[str, bytes] | None = None
    error: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    lost: bool = False
    warnings: tuple[str, ...] = ()  # the matte's (MatteResult.warnings)


@dataclass
class Summary:
    done: int
    failed: int
    skipped: int
    seconds: float
    manifest: Path | None
    videos: list[Path] = field(default_factory=list)
    warned: int = 0  # targets matted with a warning (counted in done)


def matte_one(engine, reference, payload: bytes | np.ndarray, label: str,
              settings: MatteSettings, progress=None, memory=None) -> Outcome:
    """Decode, matte and encode one target.  Errors meant for the artist become the outcome's
    ``error``; anything else is a bug and propagates.  With a shot's ``memory``
    (:class:`icm_core.sequence.ShotMemory`) its reference is used, and the alpha as written
    (so a resumed job learns the same) joins the memory where it is confident."""
    from .imageio import decode_image, encode_alpha, encode_cutout, quantize, to_rgb_float

    start = time.perf_counter()
    try:
        if isinstance(payload, np.ndarray):
            image = to_rgb_float(payload, label)
        else:
            image = decode_image(payload, label)
        if memory is not None:
            reference = memory.reference
        result = engine.matte(image, reference, seed=settings.seed, foreground=settings.cutout,
                              progress=progress)
        files = {"alpha": encode_alpha(result.alpha, settings.bits)}
        if memory is not None:
            written = quantize(result.alpha, settings.bits) / np.float32(2**settings.bits - 1)
            memory.learn(image, written)
        if settings.cutout:
            files["cutout"] = encode_cutout(result.foreground, result.alpha, settings.bits)
        return Outcome(files=files, seconds=time.perf_counter() - start, timings=result.timings,
                       warnings=tuple(result.warnings))
    except Cancelled:
        raise
    except IcmError as error:
        return Outcome(error=str(error), seconds=time.perf_counter() - start)


def sha256_bytes(data: bytes | np.ndarray) -> str:
    digest = hashlib.sha256()
    if isinstance(data, np.ndarray):  # a decoded frame: its shape is part of its identity
        digest.update(repr((data.shape, str(data.dtype))).encode())
        data = np.ascontiguousarray(data).data
    digest.update(data)
    return digest.hexdigest()


def worker_environment(share: int) -> dict[str, str]:
    """Thread-pool sizes for a worker process, read by OpenMP and BLAS when they load:
    with several workers on one machine each must stay within its ``share`` of the cores."""
    fixed = str(TARGET_THREADS)
    return {"OMP_NUM_THREADS": fixed, "MKL_NUM_THREADS": fixed, "OPENBLAS_NUM_THREADS": fixed}


def set_threads(share: int) -> Callable[[], None]:
    """Size this process's thread pools for matting (see ``TARGET_THREADS``); returns a function
    that restores the previous sizes."""
    import cv2
    from threadpoolctl import threadpool_limits

    # only the icm engine uses torch (lite never imports it); a worker process gets it from
    # OMP_NUM_THREADS (worker_environment) when its engine loads
    torch = sys.modules.get("torch")
    saved = torch and torch.get_num_threads(), cv2.getNumThreads()
    if torch:
        torch.set_num_threads(TARGET_THREADS)
    cv2.setNumThreads(share)
    blas = threadpool_limits(TARGET_THREADS, user_api="blas")

    def restore() -> None:
        blas.restore_original_limits()
        if torch:
            torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])

    return restore


# --- manifest -----------------------------------------------------------------------------------

class Manifest:
    """The job's record, rewritten atomically as targets finish (at most every
    ``MANIFEST_INTERVAL`` seconds, and always at the end).  Between rewrites each finished
    target is appended to a journal beside it, so a job killed in between does not redo it."""

    def __init__(self, path: Path, header: dict, entries: dict[str, dict]):
        self.path = path
        self.journal = path.with_name(JOURNAL_NAME)
        self.header = header
        self.entries = entries
        self._saved = 0.0

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
                raise ValueError("not a batch manifest")
            problem = _header_problem(data) or next(
                (f"targets[{number}]{wrong}" for number, entry in enumerate(data["targets"])
                 if (wrong := _entry_problem(entry))), "")
            if problem:
                raise ValueError(problem)
            entries = {entry["key"]: entry for entry in data.pop("targets")}
        except (OSError, ValueError, RecursionError) as error:  # RecursionError: nested too deep
            raise InvalidInput(f"{path} is not a readable batch manifest ({error}); "
                               "start again with --overwrite or another --out folder.") from None
        manifest = cls(path, data, entries)
        manifest._replay_journal()
        return manifest

    def _replay_journal(self) -> None:
        try:
            lines = self.journal.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                continue  # the line a kill cut short (or a hand-edited one)
            if not _entry_problem(entry) and entry["key"] in self.entries:
                self.entries[entry["key"]] = entry

    def finished(self, key: str) -> None:
        """Record a target whose outputs are written: a journal line now, the manifest soon."""
        with open(self.journal, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(self.entries[key]) + "\n")
        self.save(force=False)

    def save(self, force: bool = True) -> None:
        from .imageio import atomic_write_bytes

        now = time.monotonic()
        if not force and now - self._saved < MANIFEST_INTERVAL:
            return
        counts = Counter(entry["status"] for entry in self.entries.values())
        self.header["updated"] = _now()
        self.header["counts"] = {s: counts.get(s, 0) for s in ("done", "failed", "pending")}
        data = dict(self.header, targets=list(self.entries.values()))
        atomic_write_bytes(self.path, json.dumps(data, indent=1).encode("utf-8"))
        self.journal.unlink(missing_ok=True)
        self._saved = now


_STATUSES = ("done", "failed", "pending")


def _header_problem(data: dict) -> str:
    """What is wrong with a manifest's fields other than its targets, or "" (hand edits;
    a field may be absent: it then differs from any job's)."""
    for name in ("reference", "mask"):
        value = data.get(name, {})
        if not isinstance(value, dict) or not isinstance(value.get("sha256", ""), str):
            return f"{name} must be an object with a sha256 text"
    also = data.get("also", [])
    if not isinstance(also, list) or not all(isinstance(a, dict) and isinstance(a.get("sha256"), str)
                                             for a in also):
        return "also must be a list of objects with a sha256 text"
    for name in ("settings", "weights"):
        if not isinstance(data.get(name, {}), dict):
            return f"{name} must be an object"
    if not isinstance(data.get("targets"), list):
        return "targets must be a list"
    return ""


def _entry_problem(entry: Any) -> str:
    """What is wrong with one target entry (the field, as ".name must be …"), or "".  Only
    its key and status are needed; any other field may be absent or null."""
    if not isinstance(entry, dict):
        return " must be an object"
    rules = (("key", (str,), False), ("input", (str,), True), ("frame", (int,), True),
             ("input_sha256", (str,), True), ("outputs", (dict,), True),
             ("seconds", (int, float), True), ("attempts", (int,), True),
             ("error", (str,), True), ("timings", (dict,), True))
    for name, kinds, optional in rules:
        value = entry.get(name)
        if (value is None and not optional) or (value is not None and (
                not isinstance(value, kinds) or isinstance(value, bool))):
            kind = " or ".join({str: "text", int: "a whole number", float: "a number",
                                dict: "an object"}[k] for k in kinds)
            return f".{name} must be {kind}{' or null' if optional else ''}, not {value!r:.40}"
    if entry.get("status") not in _STATUSES:
        return f".status must be one of {', '.join(_STATUSES)}, not {entry.get('status')!r:.40}"
    if not all(isinstance(k, str) and isinstance(v, str)
               for k, v in (entry.get("outputs") or {}).items()):
        return ".outputs must map output kinds to file names"
    return ""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _identity(job: Job) -> dict:
    """Everything that, if changed, makes earlier results not this job's results."""
    from .imageio import read_bytes

    return {
        "settings": json.loads(json.dumps({
            "engine": job.engine, "engine_options": job.engine_options, **asdict(job.settings),
        })),
        "weights": engine_class(job.engine).weights_fingerprint(job.engine_options),
        "reference": {"path": str(job.reference.resolve()), "sha256": sha256_bytes(read_bytes(job.reference))},
        "mask": {"path": str(job.mask.resolve()), "sha256": sha256_bytes(read_bytes(job.mask))},
        "also": [{"path": str(path.resolve()), "sha256": sha256_bytes(read_bytes(path))}
                 for pair in job.also for path in pair],
    }


def _differences(old: dict, new: dict) -> list[str]:
    found = []
    for name in ("reference", "mask"):
        if old.get(name, {}).get("sha256") != new[name]["sha256"]:
            found.append(f"the {name} file differs ({new[name]['path']})")
    if [f["sha256"] for f in old.get("also", [])] != [f["sha256"] for f in new["also"]]:
        found.append("the extra references (--also) differ")
    if old.get("weights") != new["weights"]:
        found.append("the engine's weights differ")
    previous = old.get("settings", {})
    for key, value in new["settings"].items():
        if previous.get(key) != value:
            found.append(f"{key} was {previous.get(key)!r}, now {value!r}")
    return found


def _open_manifest(job: Job, targets: list[Target], identity: dict, resume: bool,
                   overwrite: bool, execution: dict) -> tuple[Manifest, set[str]]:
    """The manifest to write, and the keys of targets the resumed job already planned (their
    output files, if any, are this job's own)."""
    path = job.out / MANIFEST_NAME
    old = None
    if path.exists() and resume:
        old = Manifest.load(path)
        differences = _differences(old.header, identity)
        if differences:
            raise InvalidInput(
                f"Cannot resume the job in {job.out}: " + "; ".join(differences) + ". "
                "Resume with the same reference, mask and settings, or start again with "
                "--overwrite (or another --out folder)."
            )
    elif path.exists() and not overwrite:
        raise OutputError(
            f"{job.out} already holds a batch job ({MANIFEST_NAME}); pass --resume to continue "
            "it, --overwrite to start again, or choose another --out folder."
        )
    header = {
        "format": MANIFEST_FORMAT, "version": 1,
        "created": old.header.get("created") if old else _now(),
        "inputs": job.inputs, **identity, "execution": execution,
    }
    entries = {}
    for target in targets:
        entry = old.entries.get(target.key) if old else None
        outputs = {kind: str(p.relative_to(job.out)) for kind, p in target.outputs.items()}
        if entry is None or entry.get("outputs") != outputs:
            entry = {"key": target.key, "input": str(target.source), "frame": target.frame,
                     "input_sha256": None, "outputs": outputs, "status": "pending",
                     "seconds": None, "attempts": 0, "error": None}
        entries[target.key] = entry
    return Manifest(path, header, entries), set(old.entries) & set(entries) if old else set()


def _is_done(entry: dict, sha: str | None, target: Target) -> bool:
    return (entry.get("status") == "done" and sha is not None and entry.get("input_sha256") == sha
            and all(p.exists() for p in target.outputs.values()))


# --- reading inputs -----------------------------------------------------------------------------

def _read_inputs(targets: list[Target]) -> Iterator[tuple[Target, Any, str | None, str | None]]:
    """``(target, payload, input sha256, read error)`` in order; each video is decoded once."""
    from .imageio import read_bytes

    index = 0
    while index < len(targets):
        target = targets[index]
        if target.frame is None:
            try:
                data = read_bytes(target.source)
                yield target, data, sha256_bytes(data), None
            except UnreadableFile as error:
                yield target, None, None, str(error)
            index += 1
            continue
        run = {}
        while index < len(targets) and targets[index].source == target.source:
            run[targets[index].frame] = targets[index]
            index += 1
        try:
            for number, frame in enumerate(video.read_frames(target.source)):
                if number in run:
                    yield run.pop(number), frame, sha256_bytes(frame), None
                if not run:
                    break
            problem = "the video has fewer frames than counted"
        except UnreadableFile as error:
            problem = str(error)
        for missing in run.values():
            yield missing, None, None, f"{target.source}: frame {missing.frame} unreadable: {problem}"


# --- executors: submit(key, payload, label) / next() -> (key, Outcome) / close() --------------

class InProcess:
    """Targets one after another in this process (thread pools sized as in workers, so results
    are the same bits; OpenCV still uses every core).  Frames of a shot (``shots``: key → shot)
    are matted with that shot's memory; ``recall`` feeds it a frame done by an earlier run."""

    capacity = 1

    def __init__(self, engine, pairs: list, settings: MatteSettings, status=None,
                 shots: dict[str, str] | None = None):
        self.restore_threads = set_threads(os.cpu_count() or 1)
        try:
            self.reference = encode_references(engine, pairs)
        except BaseException:
            self.restore_threads()
            raise
        self.engine, self.settings, self.status = engine, settings, status
        self.finished: list[tuple[str, Outcome]] = []
        self.shots = shots or {}
        self.shot: str | None = None  # the shot being matted (its frames come in a row)
        self.memory = None
        self.recalled: deque = deque()  # its last confident frames done by an earlier run

    def _memory(self, key: str):
        from .sequence import MEMORY_FRAMES, ShotMemory

        shot = self.shots.get(key)
        if shot is None:
            return None
        if shot != self.shot:  # the last shot is done
            self.shot, self.memory = shot, ShotMemory(self.engine, self.reference)
            self.recalled = deque(maxlen=MEMORY_FRAMES)
        return self.memory

    def recall(self, key: str, payload, alpha_path: Path) -> None:
        """A frame of a shot done by an earlier run: it joins the memory as it did then (only
        the last confident ones matter, encoded when the shot's next frame comes)."""
        from .imageio import read_mask
        from .sequence import confident_mask

        if self._memory(key) is not None and confident_mask(read_mask(alpha_path)) is not None:
            self.recalled.append((payload, alpha_path))

    def submit(self, key: str, payload, label: str) -> None:
        from .imageio import decode_image, read_mask, to_rgb_float

        def progress(fraction, stage):
            if self.status:
                self.status(f"{label}: {stage}")

        memory = self._memory(key)
        while memory is not None and self.recalled:
            frame, alpha_path = self.recalled.popleft()
            image = (to_rgb_float(frame, label) if isinstance(frame, np.ndarray)
                     else decode_image(frame, label))
            memory.learn(image, read_mask(alpha_path))
        self.finished.append((key, matte_one(self.engine, self.reference, payload, label,
                                             self.settings, progress, memory)))

    def next(self) -> tuple[str, Outcome]:
        return self.finished.pop(0)

    def close(self, abort: bool = False) -> None:
        self.restore_threads()


_worker: dict = {}  # per worker process: engine, reference (or the error encoding it), settings, lock


def _start_worker(engine_name: str, options: dict, pairs: list, settings: MatteSettings,
                  share: int, device_lock) -> None:
    from .engines import get_engine

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
            with _environment(worker_environment(self.share)):
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
        # the executor cannot stop running workers before Python 3.14 (terminate_workers)
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


# --- the driver ---------------------------------------------------------------------------------

def _refuse_inputs_as_outputs(job: Job, targets: list[Target], write_manifest: bool) -> None:
    """No output may be one of the job's inputs (a target named like another's result, a mask
    inside --out), with or without --overwrite."""
    from .imageio import refuse_inputs_as_outputs

    inputs = {job.reference: "reference", job.mask: "mask"}
    for image, mask in job.also:
        inputs.update({image: "extra reference (--also)", mask: "extra reference's mask (--also)"})
    inputs.update((target.source, "target") for target in targets if target.source not in inputs)
    outputs = {path: f"{kind} of {target.label}" for target in targets
               for kind, path in target.outputs.items()}
    if job.alpha_video:
        outputs.update((_alpha_video_path(t), "alpha video") for t in targets if t.frame == 0)
    if write_manifest:
        outputs.update({job.out / MANIFEST_NAME: "batch manifest",
                        job.out / JOURNAL_NAME: "batch journal"})
    refuse_inputs_as_outputs(outputs, inputs)


def _check_workers(workers: int, ray: str | None, targets: int) -> int:
    """``workers`` if this machine (or Ray) can run that many, capped at one per target."""
    from .engines.base import cpu_cores

    most = cpu_cores() if ray is None else MAX_ACTORS
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= most:
        where = f"the {most} CPU cores here" if ray is None else "Ray actors"
        raise InvalidInput(f"--workers takes a whole number 1…{most} ({where}), not {workers}.")
    return min(workers, targets)


def run_batch(job: Job, targets: list[Target], *, workers: int = 1, ray: str | None = None,
              resume: bool = False, overwrite: bool = False, write_manifest: bool = True,
              retries: int = RETRIES, show_progress: bool = True) -> Summary:
    """Matte every target; see the module's docstring.  ``ray`` is None (no Ray), "" (a local
    Ray instance, or the one this process already joined) or a cluster address."""
    from tqdm import tqdm

    from .imageio import atomic_write_files, check_writable_folder, read_image, read_mask

    if not targets:
        raise InvalidInput("There is nothing to matte: give at least one image or video.")
    workers = _check_workers(workers, ray, len(targets))
    if not 0 <= retries <= RETRIES_MAX:
        raise InvalidInput(f"--retries takes a whole number 0…{RETRIES_MAX}, not {retries}.")
    check_seed(job.settings.seed)
    check_writable_folder(job.out, "--out")  # a file, inside one, or not writable: before any work
    _refuse_inputs_as_outputs(job, targets, write_manifest)
    started = time.perf_counter()
    gpu = engine_class(job.engine).uses_gpu(job.engine_options)
    mode = "ray" if ray is not None else ("workers" if workers > 1 else "single")
    execution = {"mode": mode, "workers": workers, "ray_address": ray, "retries": retries,
                 "started": _now()}
    shots = _shots_for_mode(job, targets, mode)
    manifest = None
    ours: set[str] = set()
    if write_manifest:
        identity = _identity(job)
        identity["settings"]["shot_memory"] = bool(shots)
        manifest, ours = _open_manifest(job, targets, identity, resume, overwrite, execution)
    if not overwrite:
        existing = [str(p) for t in targets if t.key not in ours
                    for p in t.outputs.values() if p.exists()]
        if existing:
            raise OutputError(
                f"{len(existing)} output file(s) already exist, e.g. {existing[0]}; "
                "choose another --out folder or pass --overwrite."
            )
    pairs = [(read_image(image), read_mask(mask))
             for image, mask in [(job.reference, job.mask), *job.also]]
    bar = tqdm(total=len(targets), unit="target", file=sys.stderr, dynamic_ncols=True,
               disable=not show_progress)
    try:  # the reference is encoded here: a bad one fails before anything is written
        executor = _start_executor(mode, job, workers, ray, pairs, gpu, status=bar.set_postfix_str,
                                   shots=shots)
    except BaseException:
        bar.close()
        raise
    if manifest:  # (without one, --out is created with the first result: none, no folder)
        manifest.save()

    by_key = {t.key: t for t in targets}
    in_flight: dict[str, list] = {}  # key → [payload, attempts]
    counts = Counter()

    def settle(key: str, outcome: Outcome) -> None:
        target = by_key[key]
        payload, attempts = in_flight[key]
        if outcome.lost and attempts <= retries:
            in_flight[key][1] += 1
            executor.submit(key, payload, target.label)
            return
        del in_flight[key]
        if outcome.files is not None:
            try:  # alpha and cutout together or neither: no half-finished target
                atomic_write_files({target.outputs[kind]: data for kind, data in outcome.files.items()})
            except OutputError as error:
                outcome = Outcome(error=str(error), seconds=outcome.seconds)
        status = "failed" if outcome.error else "done"
        counts[status] += 1
        # a terminal's bar is cleared by tqdm.write; in a log the bar's line has no end
        own_line = "" if bar.disable or sys.stderr.isatty() else "\n"
        if outcome.error:
            tqdm.write(own_line + _failure_line(target, outcome.error), file=sys.stderr)
        counts["warned"] += bool(outcome.warnings)
        for warning in outcome.warnings:
            tqdm.write(f"{own_line}icm-matting: {target.label}: warning: {warning}", file=sys.stderr)
        if manifest:
            manifest.entries[key].update(status=status, seconds=round(outcome.seconds, 4),
                                         attempts=attempts, error=outcome.error,
                                         warnings=list(outcome.warnings),
                                         timings={k: round(v, 4) for k, v in outcome.timings.items()})
            manifest.finished(key)
        bar.set_postfix_str(target.label)
        bar.update()

    try:
        for target, payload, sha, read_error in _read_inputs(targets):
            entry = manifest.entries[target.key] if manifest else None
            if resume and entry is not None and _is_done(entry, sha, target):
                if target.key in shots:
                    executor.recall(target.key, payload, target.outputs["alpha"])
                counts["skipped"] += 1
                bar.total -= 1
                bar.refresh()
                continue
            if entry is not None:
                entry.update(status="pending", input_sha256=sha)
            in_flight[target.key] = [payload, 1]
            if read_error:
                settle(target.key, Outcome(error=read_error))
                continue
            while len(in_flight) > executor.capacity:
                settle(*executor.next())
            executor.submit(target.key, payload, target.label)
        while in_flight:
            settle(*executor.next())
    except BaseException:
        executor.close(abort=True)
        raise
    else:
        executor.close()
    finally:
        bar.close()
        if manifest:
            manifest.header["execution"]["finished"] = _now()
            manifest.save()

    videos = []
    if job.alpha_video and manifest:
        videos = _write_alpha_videos(job, targets, manifest)
        manifest.save()
    return Summary(counts["done"], counts["failed"], counts["skipped"],
                   time.perf_counter() - started, manifest.path if manifest else None, videos,
                   counts["warned"])


def _failure_line(target: Target, error: str) -> str:
    """``icm-matting: LABEL: ERROR``, without the label when the error names the file first."""
    named = error.startswith((target.label, str(target.source), target.source.name))
    return f"icm-matting: {error if named else f'{target.label}: {error}'}"


def _shots_for_mode(job: Job, targets: list[Target], mode: str) -> dict[str, str]:
    """The targets matted as frames of a shot (see :func:`plan_shots`), said on stderr.  A
    shot's frames are matted in order, each teaching the next, so only in one process: with
    workers or Ray ``--shot`` is refused."""
    shots = plan_shots(targets, job.shot)
    if shots and mode != "single":
        raise InvalidInput("--shot mattes a shot's frames in order in one process: leave out "
                           "--workers and --ray, or leave out --shot to matte frames alone.")
    for name in dict.fromkeys(shots.values()):
        frames = sum(1 for shot in shots.values() if shot == name)
        print(f"icm-matting: {name}: {frames} frames of one shot, matted in order with a memory "
              "of earlier confident frames", file=sys.stderr)
    return shots


def _start_executor(mode: str, job: Job, workers: int, ray: str | None, pairs: list,
                    gpu: bool, status, shots: dict[str, str] | None = None):
    if mode == "ray":
        from .raybatch import RayActors

        return RayActors(ray, workers if workers > 1 else None, job.engine, job.engine_options,
                         pairs, job.settings, gpu)
    from .engines import get_engine
    from .validate import check_image, check_mask

    if mode == "workers":
        for number, (image, mask) in enumerate(pairs):
            what = f"extra reference {number} (--also)" if number else "reference"
            check_image(image, f"{what} image")
            check_mask(mask, image.shape, f"{what} mask")
        pool = ProcessPool(workers, job.engine, job.engine_options, pairs, job.settings, gpu)
        pool.start()
        return pool
    return InProcess(get_engine(job.engine, **job.engine_options), pairs, job.settings, status,
                     shots)


def _alphas_8bit(frames: list[Target]) -> Iterator[np.ndarray]:
    import cv2

    for target in frames:
        alpha = cv2.imread(str(target.outputs["alpha"]), cv2.IMREAD_UNCHANGED)
        yield alpha if alpha.dtype == np.uint8 else ((alpha.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _alpha_video_path(frame: Target) -> Path:
    """``out/STEM_alpha.mov`` beside the folder of the video's frame results."""
    folder = frame.outputs["alpha"].parent
    return folder.with_name(f"{folder.name}_alpha.mov")


def _write_alpha_videos(job: Job, targets: list[Target], manifest: Manifest) -> list[Path]:
    """For each video whose frames are all done: ``out/STEM_alpha.mov`` (frame colours + alpha)."""
    written = []
    frames_of: dict[Path, list[Target]] = {}
    for target in targets:
        if target.frame is not None:
            frames_of.setdefault(target.source, []).append(target)
    records = manifest.header.setdefault("alpha_videos", {})
    for source, frames in frames_of.items():
        if any(manifest.entries[t.key]["status"] != "done" for t in frames):
            records[str(source)] = None
            continue
        path = _alpha_video_path(frames[0])

        colours = islice(video.read_frames(source), len(frames))
        video.write_alpha_video(path, colours, _alphas_8bit(frames), video.frame_rate(source))
        records[str(source)] = str(path.relative_to(job.out))
        written.append(path)
    return written
