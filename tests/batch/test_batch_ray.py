"""`icm-matting batch --ray` on a real local Ray instance (2 CPUs): same bytes as the single
process, and a killed actor's targets retried on a replacement."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from icm_core.batch import MANIFEST_NAME, Job, collect_sources, plan_targets, run_batch
from tests.batch.helpers import COUNT, output_files

ray = pytest.importorskip("ray", reason="Ray is in the [batch] extra: pip install -e \".[batch]\"")
psutil = pytest.importorskip("psutil")


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _run(series, out, **options):
    job = Job(series / "reference.png", series / "mask.png", out)
    targets = plan_targets(collect_sources([str(series / "targets")]), out, False)
    return run_batch(job, targets, ray="", show_progress=False, **options)


def test_ray_keeps_its_token_in_the_temporary_home(local_ray):
    """Ray writes ~/.ray/auth_token when it starts: under the suite's HOME, not the user's."""
    from tests.conftest import TEMPORARY_HOME

    assert (TEMPORARY_HOME / "home" / ".ray" / "auth_token").is_file()


def test_ray_equals_single_process_bit_for_bit(local_ray, series, single_run, tmp_path):
    summary = _run(series, tmp_path)
    assert (summary.done, summary.failed) == (COUNT, 0)
    assert output_files(tmp_path) == output_files(single_run)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest["execution"]["mode"] == "ray"
    assert [t["status"] for t in manifest["targets"]] == ["done"] * COUNT


def _actor_processes():
    return [p for p in psutil.process_iter(["cmdline"])
            if any("_Matter" in part for part in (p.info["cmdline"] or []))]


def test_killed_actor_is_replaced_and_its_targets_retried(local_ray, series, single_run, tmp_path):
    with ThreadPoolExecutor(1) as thread:
        job = thread.submit(_run, series, tmp_path)
        deadline = time.monotonic() + 180
        while not list(tmp_path.glob("*_alpha.png")):
            assert not job.done() and time.monotonic() < deadline
            time.sleep(0.02)
        victims = _actor_processes()
        assert victims, "no Ray actor process found"
        os.kill(victims[0].pid, signal.SIGKILL)
        summary = job.result(timeout=240)
    assert (summary.done, summary.failed) == (COUNT, 0)
    assert output_files(tmp_path) == output_files(single_run)
    attempts = [t["attempts"] for t in json.loads((tmp_path / MANIFEST_NAME).read_text())["targets"]]
    assert max(attempts) >= 2


def test_refused_reference_fails_the_job_before_anything_is_written(local_ray, series, tmp_path):
    import numpy as np

    from icm_core.api import InvalidInput
    from icm_core.imageio import write_alpha

    empty = tmp_path / "empty-mask.png"
    write_alpha(empty, np.zeros((120, 160), np.float32))
    out = tmp_path / "out"
    job = Job(series / "reference.png", empty, out)
    targets = plan_targets(collect_sources([str(series / "targets")]), out, False)
    with pytest.raises(InvalidInput, match="empty"):
        run_batch(job, targets, ray="", show_progress=False)
    assert not out.exists()
    assert ray.is_initialized()  # the caller's Ray instance is left running
