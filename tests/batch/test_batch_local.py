"""`icm-matting batch` on one machine: outputs, manifest, resume, failures, worker pool."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from icm_core.batch import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    TARGET_THREADS,
    Job,
    collect_sources,
    output_paths,
    plan_targets,
    run_batch,
    set_threads,
)
from icm_cli.cli import main
from icm_core.imageio import read_mask
from tests.batch.helpers import COUNT, batch_args, output_files

REPO_ROOT = Path(__file__).resolve().parents[2]


def manifest_of(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text())


def recorded_done(out: Path) -> set[str]:
    """Keys a running job has recorded done, in its manifest (replaced atomically) or its
    journal; a kill between writing a target's files and recording it redoes that target."""
    entries = []
    if (out / MANIFEST_NAME).exists():
        entries += manifest_of(out)["targets"]
    if (out / JOURNAL_NAME).exists():
        for line in (out / JOURNAL_NAME).read_text().splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass  # the line being written
    return {entry["key"] for entry in entries if entry["status"] == "done"}


def test_thread_pools_sized_for_identical_results_and_restored():
    """Every mode mattes with BLAS (and torch, for icm) on TARGET_THREADS; OpenCV's share may
    differ (2 in the single process, 1 in each of 2 workers) without changing a bit."""
    import cv2
    import torch  # the icm engine's pools are sized too when it is loaded
    from threadpoolctl import threadpool_info

    from icm_core import synthetic
    from icm_core.engines import get_engine

    before = torch.get_num_threads(), cv2.getNumThreads()
    engine = get_engine("lite")
    reference_scene, target = synthetic.scene(100, (480, 640)), synthetic.scene(1, (480, 640)).image
    results = []
    for share in (2, 1):
        restore = set_threads(share)
        try:
            assert torch.get_num_threads() == TARGET_THREADS
            assert cv2.getNumThreads() == share
            assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} <= {TARGET_THREADS}
            reference = engine.encode_reference(reference_scene.image, (reference_scene.alpha > 0.5).astype(np.float32))
            results.append(engine.matte(target, reference, seed=0, foreground=True))
        finally:
            restore()
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before
    assert np.array_equal(results[0].alpha, results[1].alpha)
    assert np.array_equal(results[0].foreground, results[1].foreground)


def test_single_run_writes_alphas_and_manifest(series, single_run):
    files = output_files(single_run)
    assert sorted(files) == [f"t{i}_alpha.png" for i in range(COUNT)]
    for index in range(COUNT):
        alpha = read_mask(single_run / f"t{index}_alpha.png")
        truth = read_mask(series / "truth" / f"t{index}.png")
        assert alpha.shape == truth.shape
        assert np.abs(alpha - truth).mean() < 0.05
    manifest = manifest_of(single_run)
    assert manifest["settings"] == {"engine": "lite", "engine_options": {}, "seed": 0,
                                    "cutout": False, "bits": 8, "shot_memory": False}
    from icm_core.lite.backbone import MODEL_SHA256
    assert manifest["weights"] == {"efficientnet-lite2": MODEL_SHA256}
    assert len(manifest["reference"]["sha256"]) == 64 and len(manifest["mask"]["sha256"]) == 64
    assert manifest["counts"] == {"done": COUNT, "failed": 0, "pending": 0}
    for index, entry in enumerate(manifest["targets"]):
        assert entry["input"] == str((series / "targets" / f"t{index}.png").resolve())
        assert entry["outputs"] == {"alpha": f"t{index}_alpha.png"}
        assert entry["status"] == "done" and entry["error"] is None and entry["seconds"] > 0
        assert len(entry["input_sha256"]) == 64


def test_existing_job_needs_resume_or_overwrite(series, single_run, capsys):
    assert main(batch_args(series, single_run)) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_refuses_other_settings_or_reference(series, single_run, tmp_path, capsys):
    assert main(batch_args(series, single_run, "--resume", "--seed", "3")) == 2
    assert "seed was 0, now 3" in capsys.readouterr().err
    other_mask = tmp_path / "mask.png"
    other_mask.write_bytes((series / "truth" / "t0.png").read_bytes())
    args = batch_args(series, single_run, "--resume")
    args[args.index("--mask") + 1] = str(other_mask)
    assert main(args) == 2
    assert "the mask file differs" in capsys.readouterr().err


def test_resume_redoes_only_changed_or_missing_targets(series, single_run, tmp_path):
    out = tmp_path / "out"
    targets = tmp_path / "targets"
    targets.mkdir()
    for path in (series / "targets").iterdir():
        (targets / path.name).write_bytes(path.read_bytes())
    args = batch_args(series, out)
    args[args.index(str(series / "targets"))] = str(targets)
    for path in output_files(single_run):  # a finished job, copied
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_bytes((single_run / path).read_bytes())
    manifest = manifest_of(single_run)
    for entry in manifest["targets"]:
        entry["key"] = entry["input"] = str((targets / Path(entry["input"]).name).resolve())
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))

    (out / "t1_alpha.png").unlink()  # lost output
    (targets / "t2.png").write_bytes((series / "targets" / "t3.png").read_bytes())  # changed input
    assert main(args + ["--resume"]) == 0
    after = manifest_of(out)
    assert [t["status"] for t in after["targets"]] == ["done"] * COUNT
    assert after["targets"][2]["input_sha256"] == manifest["targets"][3]["input_sha256"]
    files = output_files(out)
    assert files["t1_alpha.png"] == (single_run / "t1_alpha.png").read_bytes()
    assert files["t2_alpha.png"] == (single_run / "t3_alpha.png").read_bytes()  # redone from new input
    # done targets were skipped, not recomputed: their manifest entries are untouched
    assert after["targets"][0] == manifest["targets"][0]
    assert after["targets"][3] == manifest["targets"][3]


def test_unreadable_target_is_reported_and_others_done(series, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes((series / "targets" / "t0.png").read_bytes())
    (folder / "broken.png").write_bytes(b"not a picture")
    out = tmp_path / "out"
    args = batch_args(series, out)
    args[args.index(str(series / "targets"))] = str(folder)
    assert main(args) == 1
    assert "broken.png" in capsys.readouterr().err
    entries = {Path(t["input"]).name: t for t in manifest_of(out)["targets"]}
    assert entries["a.png"]["status"] == "done"
    assert entries["broken.png"]["status"] == "failed"
    assert "not an image format" in entries["broken.png"]["error"]
    assert not (out / "broken_alpha.png").exists()


def test_inputs_from_files_folders_and_globs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name in ("a/x.png", "a/y.jpg", "a/notes.txt", "b/x.png", "b/z.mov"):
        (tmp_path / name).write_bytes(b"")
    out = tmp_path / "a"  # results are never read back as inputs
    (out / "x_alpha.png").write_bytes(b"")
    (out / "sub").mkdir()
    (out / "sub" / "000001_alpha.png").write_bytes(b"")
    sources = collect_sources([str(tmp_path / "a"), str(tmp_path / "b" / "*.png"),
                               str(tmp_path / "a" / "x.png")], out=out)
    assert sources == [(tmp_path / p).resolve() for p in ("a/x.png", "a/y.jpg", "b/x.png")]
    plans = output_paths(sources, tmp_path / "out", cutout=True)
    assert [p["alpha"].name for p in plans] == ["a_x_alpha.png", "y_alpha.png", "b_x_alpha.png"]
    assert plans[1]["cutout"].name == "y_cutout.png"
    with pytest.raises(Exception, match="no image or video"):
        collect_sources([str(tmp_path / "b" / "*.tif")])


def test_matte_command_shares_the_core_and_writes_no_manifest(series, single_run, tmp_path, capsys):
    out = tmp_path / "out"
    targets = [str(series / "targets" / f"t{i}.png") for i in range(2)]
    args = ["matte", "--reference", str(series / "reference.png"), "--mask", str(series / "mask.png"),
            *targets, "--out", str(out)]
    assert main(args) == 0
    assert "2 of 2 target(s) matted" in capsys.readouterr().out
    assert output_files(out) == {k: v for k, v in output_files(single_run).items() if k < "t2"}
    assert not (out / MANIFEST_NAME).exists()
    assert main(args) == 2  # nothing of the user's is overwritten
    assert "already exist" in capsys.readouterr().err


def test_worker_pool_equals_single_process_bit_for_bit(series, single_run, tmp_path):
    out = tmp_path / "out"
    sources = collect_sources([str(series / "targets")])
    job = Job(series / "reference.png", series / "mask.png", out)
    summary = run_batch(job, plan_targets(sources, out, False), workers=2, show_progress=False)
    assert (summary.done, summary.failed) == (COUNT, 0)
    assert output_files(out) == output_files(single_run)
    assert manifest_of(out)["execution"]["mode"] == "workers"


def test_killed_job_resumed_gives_the_uninterrupted_outputs(series, single_run, tmp_path):
    """SIGKILL a real run mid-series, resume it, compare with the uninterrupted run."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "icm_cli", *batch_args(series, out)]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240  # only a guard against a hung child
    # Kill once the first of the four targets is recorded done (its outputs written first):
    # three targets' work (≥ 0.1 s each even on a fast CPU) is left for the kill to land in.
    while not recorded_done(out):
        assert process.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(output_files(out)) < COUNT
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("*_alpha.png")}
    resumed = subprocess.run(command + ["--resume"], check=False, cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stdout
    assert output_files(out) == output_files(single_run)
    assert manifest_of(out)["counts"]["done"] == COUNT
    # targets finished before the kill are not redone, even those the manifest had not saved yet
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished
    assert not (out / "icm-batch.journal").exists()
