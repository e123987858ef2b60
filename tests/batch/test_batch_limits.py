"""`batch`'s own numbers and faults: --workers (at most the CPU cores, never more than the
targets), --retries, workers that die as they start, Ctrl-C, hand-edited manifests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icm_core.batch import MANIFEST_NAME
from icm_cli.cli import main
from icm_core.engines.base import cpu_cores
from tests.batch.helpers import batch_args

REPO_ROOT = Path(__file__).resolve().parents[2]


def _one_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if "icm-matting" in line]
    assert len(lines) == 1 and lines[0].startswith("icm-matting: error: "), lines
    return lines[0]


@pytest.mark.parametrize("flag, value, message", [
    ("--workers", "100000", f"--workers takes a whole number 1…{cpu_cores()} (the {cpu_cores()} CPU cores here)"),
    ("--workers", "0", "--workers takes a whole number 1…"),
    ("--retries", "1000000", "--retries takes a whole number 0…10"),
    ("--retries", "-1", "--retries takes a whole number 0…10"),
])
def test_worker_and_retry_counts_are_bounded(series, tmp_path, capsys, flag, value, message):
    out = tmp_path / "out"
    assert main(batch_args(series, out, flag, value)) == 2
    assert message in _one_error(capsys)
    assert not out.exists()


def test_never_more_workers_than_targets(series, tmp_path):
    out = tmp_path / "out"
    one = series / "targets" / "t0.png"
    assert main(["batch", "--reference", str(series / "reference.png"), "--mask",
                 str(series / "mask.png"), str(one), "--out", str(out),
                 "--workers", str(cpu_cores())]) == 0
    assert json.loads((out / MANIFEST_NAME).read_text())["execution"]["workers"] == 1


def _batch_process(series: Path, out: Path, *extra: str, prelude: str = "") -> subprocess.Popen:
    script = (f"import sys\n{prelude}\nfrom icm_cli.cli import main\n"
              f"sys.exit(main({batch_args(series, out, *extra)!r}))\n")
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                            preexec_fn=_as_in_a_terminal)


def _as_in_a_terminal() -> None:
    """Ctrl-C as in a terminal: a test run started in the background (``nohup … &``) ignores
    SIGINT, and the batch would inherit that and never see the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(cpu_cores() < 2, reason="needs two CPU cores for two workers")
def test_workers_dying_at_start_end_in_messages_not_a_traceback_or_a_hang(series, tmp_path):
    """As when the out-of-memory killer takes every worker: each start breaks the pool."""
    process = _batch_process(series, tmp_path / "out", "--workers", "2", prelude=(
        "import icm_core.batch.process_pool, tests.reliability.dying_worker as dying\n"
        "icm_core.batch.process_pool._start_worker = dying.die"))
    try:
        _, err = process.communicate(timeout=240)
    finally:
        process.kill()
    assert "Traceback" not in err and process.returncode in (1, 2), err
    errors = [line for line in err.splitlines() if line.startswith("icm-matting: ")]
    assert errors and all("died" in line for line in errors), err


@pytest.mark.skipif(cpu_cores() < 2, reason="needs two CPU cores for two workers")
def test_ctrl_c_during_a_pooled_batch_ends_in_one_line_that_mentions_resume(series, tmp_path):
    out = tmp_path / "out"
    process = _batch_process(series, out, "--workers", "2")
    deadline = time.monotonic() + 180
    while not (out / MANIFEST_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (out / MANIFEST_NAME).exists()
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    interrupted = time.monotonic()
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    stopped = time.monotonic() - interrupted
    lines = [line for line in err.splitlines() if line.startswith("icm-matting")
             or "Traceback" in line or "Error" in line]
    assert process.returncode == 130, err
    assert lines == ["icm-matting: interrupted; the targets done are kept: run the same command "
                     "with --resume to finish the job"], err
    assert stopped < 20, stopped  # workers are stopped, not waited for


@pytest.mark.parametrize("edit, field", [
    (lambda m: m["targets"][0].update(status=5), "targets[0].status must be one of done"),
    (lambda m: m["targets"][1].update(outputs=["a.png"]), "targets[1].outputs must be an object"),
    (lambda m: m["targets"][0].update(attempts="2"), "targets[0].attempts must be a whole number"),
    (lambda m: m["targets"][0].update(key=[1]), "targets[0].key must be text"),
    (lambda m: m["targets"].__setitem__(0, "t0"), "targets[0] must be an object"),
    (lambda m: m.update(reference="ref.png"), "reference must be an object with a sha256 text"),
    (lambda m: m.update(also=[1]), "also must be a list of objects"),
    (lambda m: m.update(settings=[]), "settings must be an object"),
    (lambda m: m.update(targets={}), "targets must be a list"),
])
def test_hand_edited_manifest_with_wrong_types_names_the_field(series, single_run, tmp_path,
                                                               capsys, edit, field):
    out = tmp_path / "out"
    out.mkdir()
    manifest = json.loads((single_run / MANIFEST_NAME).read_text())
    edit(manifest)
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    before = sorted(out.iterdir())
    assert main(batch_args(series, out, "--resume")) == 2
    assert field in _one_error(capsys)
    assert sorted(out.iterdir()) == before


def test_deeply_nested_manifest_is_refused_in_one_line(series, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("[" * 100_000 + "]" * 100_000)
    assert main(batch_args(series, out, "--resume")) == 2
    assert "is not a readable batch manifest" in _one_error(capsys)
