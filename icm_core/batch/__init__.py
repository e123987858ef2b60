"""Series at scale: one encoded reference, thousands of targets (image files or video frames),
matted in this process, in a pool of worker processes, or on a Ray cluster — resumable.

The dispatching process reads every input (file bytes or decoded video frames), hashes it, and
writes every output; workers only compute (decode → matte → encode PNG bytes), so they need no
shared file system.  A JSON manifest beside the outputs records the job's settings, the engine's
weights and the reference's hashes, and each target's status and timings; ``resume`` skips the
targets it records as done with the same input hash and existing outputs.  Every mode runs the
same code (:func:`matte_one`) on the same reference under the same thread limits, so outputs
are equal bit for bit.

``targets`` plans what to matte and where results go; ``job`` holds the settings and the
matting of one target; ``inputs`` reads and hashes; ``manifest`` keeps the record, its journal
and the resume checks; ``threads`` the thread limits; ``in_process``, ``process_pool`` and
``ray_actors`` are the executors, which ``dispatch`` feeds; ``run`` is the driver;
``alpha_video`` writes a video's alphas as one file.
"""

from __future__ import annotations

from .job import Job, MatteSettings, matte_one
from .manifest import JOURNAL_NAME, MANIFEST_NAME, Manifest
from .run import Summary, run_batch
from .targets import Target, collect_sources, output_paths, plan_targets
from .threads import TARGET_THREADS, set_threads

__all__ = [
    "JOURNAL_NAME", "MANIFEST_NAME", "TARGET_THREADS", "Job", "Manifest", "MatteSettings",
    "Summary", "Target", "collect_sources", "matte_one", "output_paths", "plan_targets",
    "run_batch", "set_threads",
]
