"""The driver, :func:`run_batch`: the checks made before any work, then the manifest, the
executor, every target dispatched, and the record and alpha videos finished."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..api import InvalidInput, OutputError
from ..engines import engine_class
from ..validate import check_seed
from .alpha_video import alpha_video_path, write_alpha_videos
from .dispatch import Dispatch, Executor
from .in_process import InProcess
from .job import Job
from .manifest import JOURNAL_NAME, MANIFEST_NAME, job_identity, open_manifest, timestamp
from .process_pool import ProcessPool
from .targets import Target, plan_shots

RETRIES = 2  # extra attempts for a target whose worker died (killed, out of memory, node lost)
RETRIES_MAX = 10
MAX_ACTORS = 4096  # Ray actors of one job: more is a typo, not a cluster


@dataclass
class Summary:
    done: int
    failed: int
    skipped: int
    seconds: float
    manifest: Path | None
    videos: list[Path] = field(default_factory=list)
    warned: int = 0  # targets matted with a warning (counted in done)


def run_batch(job: Job, targets: list[Target], *, workers: int = 1, ray: str | None = None,
              resume: bool = False, overwrite: bool = False, write_manifest: bool = True,
              retries: int = RETRIES, show_progress: bool = True) -> Summary:
    """Matte every target; see the package's docstring.  ``ray`` is None (no Ray), "" (a local
    Ray instance, or the one this process already joined) or a cluster address."""
    workers = _check_job(job, targets, workers, ray, retries, write_manifest)
    started = time.perf_counter()
    gpu = engine_class(job.engine).uses_gpu(job.engine_options)
    mode = "ray" if ray is not None else ("workers" if workers > 1 else "single")
    execution = {"mode": mode, "workers": workers, "ray_address": ray, "retries": retries,
                 "started": timestamp()}
    shots = _shots_for_mode(job, targets, mode)
    manifest, ours = None, set()
    if write_manifest:
        identity = job_identity(job, shot_memory=bool(shots))
        manifest, ours = open_manifest(job, targets, identity, resume, overwrite, execution)
    if not overwrite:
        _refuse_existing_outputs(targets, ours)
    pairs = _read_references(job)
    bar = _progress_bar(len(targets), show_progress)
    try:  # the reference is encoded here: a bad one fails before anything is written
        executor = _start_executor(mode, job, workers, ray, pairs, gpu, status=bar.set_postfix_str,
                                   shots=shots)
    except BaseException:
        bar.close()
        raise
    if manifest:  # (without one, --out is created with the first result: none, no folder)
        manifest.save()
    dispatch = Dispatch(executor, targets, manifest, bar, retries)
    _matte_all(dispatch, targets, resume, shots)
    videos = []
    if job.alpha_video and manifest:
        videos = write_alpha_videos(job, targets, manifest)
        manifest.save()
    counts = dispatch.counts
    return Summary(counts["done"], counts["failed"], counts["skipped"],
                   time.perf_counter() - started, manifest.path if manifest else None, videos,
                   counts["warned"])


def _check_job(job: Job, targets: list[Target], workers: int, ray: str | None, retries: int,
               write_manifest: bool) -> int:
    """Everything that can be refused before any work; returns the number of workers to run."""
    from ..imageio import check_writable_folder

    if not targets:
        raise InvalidInput("There is nothing to matte: give at least one image or video.")
    workers = _check_workers(workers, ray, len(targets))
    if not 0 <= retries <= RETRIES_MAX:
        raise InvalidInput(f"--retries takes a whole number 0…{RETRIES_MAX}, not {retries}.")
    check_seed(job.settings.seed)
    check_writable_folder(job.out, "--out")  # a file, inside one, or not writable: before any work
    _refuse_inputs_as_outputs(job, targets, write_manifest)
    return workers


def _check_workers(workers: int, ray: str | None, targets: int) -> int:
    """``workers`` if this machine (or Ray) can run that many, capped at one per target."""
    from ..engines.base import cpu_cores

    most = cpu_cores() if ray is None else MAX_ACTORS
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= most:
        where = f"the {most} CPU cores here" if ray is None else "Ray actors"
        raise InvalidInput(f"--workers takes a whole number 1…{most} ({where}), not {workers}.")
    return min(workers, targets)


def _refuse_inputs_as_outputs(job: Job, targets: list[Target], write_manifest: bool) -> None:
    """No output may be one of the job's inputs (a target named like another's result, a mask
    inside --out), with or without --overwrite."""
    from ..imageio import refuse_inputs_as_outputs

    inputs = {job.reference: "reference", job.mask: "mask"}
    for image, mask in job.also:
        inputs.update({image: "extra reference (--also)", mask: "extra reference's mask (--also)"})
    inputs.update((target.source, "target") for target in targets if target.source not in inputs)
    outputs = {path: f"{kind} of {target.label}" for target in targets
               for kind, path in target.outputs.items()}
    if job.alpha_video:
        outputs.update((alpha_video_path(t), "alpha video") for t in targets if t.frame == 0)
    if write_manifest:
        outputs.update({job.out / MANIFEST_NAME: "batch manifest",
                        job.out / JOURNAL_NAME: "batch journal"})
    refuse_inputs_as_outputs(outputs, inputs)


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
        print(f"icm-matting: {name}: {frames} frames of one shot, matted in order, each "
              "frame's sure matte carried to the next", file=sys.stderr)
    return shots


def _refuse_existing_outputs(targets: list[Target], ours: set[str]) -> None:
    """Without --overwrite, no file is replaced but those of the resumed job's own targets."""
    existing = [str(p) for t in targets if t.key not in ours
                for p in t.outputs.values() if p.exists()]
    if existing:
        raise OutputError(
            f"{len(existing)} output file(s) already exist, e.g. {existing[0]}; "
            "choose another --out folder or pass --overwrite."
        )


def _read_references(job: Job) -> list:
    """(image, mask) of the reference and of each ``--also`` pair."""
    from ..imageio import read_image, read_mask

    return [(read_image(image), read_mask(mask))
            for image, mask in [(job.reference, job.mask), *job.also]]


def _progress_bar(total: int, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="target", file=sys.stderr, dynamic_ncols=True, disable=not show)


def _start_executor(mode: str, job: Job, workers: int, ray: str | None, pairs: list,
                    gpu: bool, status, shots: dict[str, str] | None = None) -> Executor:
    if mode == "ray":
        from .ray_actors import RayActors

        return RayActors(ray, workers if workers > 1 else None, job.engine, job.engine_options,
                         pairs, job.settings, gpu)
    from ..engines import get_engine
    from ..validate import check_image, check_mask

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


def _matte_all(dispatch: Dispatch, targets: list[Target], resume: bool,
               shots: dict[str, str]) -> None:
    """Every target dispatched; on an error or Ctrl-C the executor stops at once.  The manifest
    records when the run finished either way."""
    try:
        dispatch.run(targets, resume, shots)
    except BaseException:
        dispatch.executor.close(abort=True)
        raise
    else:
        dispatch.executor.close()
    finally:
        dispatch.bar.close()
        if dispatch.manifest:
            dispatch.manifest.header["execution"]["finished"] = timestamp()
            dispatch.manifest.save()
