"""``icm-matting train`` on the tiny random SD and procedural grouped scenes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file, save_file  # noqa: E402

from icm_core import synthetic  # noqa: E402
from icm_core.api import InvalidInput, OutputError, WeightsCorrupt  # noqa: E402
from icm_cli.cli import main  # noqa: E402
from icm_core.train.trainer import Trainer, train  # noqa: E402
from tests.icm.tiny import TINY_SIZE, TINY_WIDTHS, tiny_decoder_state  # noqa: E402

from .conftest import SCENE_SIZE, tiny_config, write_scenes  # noqa: E402

EVERYTHING = dict(batch_size=2, accumulate=2, crops=2, draws=2, checkpoint_every=2,
                  loss_weights={"unknown_l1": 1, "known_l1": 1, "laplacian": 1,
                                "gradient_penalty": 1, "known_smooth_l1": 1, "composition": 1})


def rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_short_run_writes_weights_the_engine_loads(tiny_sd, scenes, tmp_path):
    from icm_core.engines import get_engine

    out = tmp_path / "run"
    config = tiny_config(tiny_sd, scenes, out, steps=2, val_every=2,
                         segmentation=[str(scenes["segmentation"])], **EVERYTHING)
    summary = train(config)
    assert summary.steps == 2 and summary.peak_memory_bytes > 0
    assert summary.best == out / "best.safetensors" and summary.best_val_mse is not None
    assert json.loads((out / "config.json").read_text())["steps"] == 2
    log = rows(out / "log.csv")
    assert [r["step"] for r in log] == ["0", "1", "2"] and log[0]["val_mse"] and log[-1]["val_mse"]
    assert all(float(r["composition"]) > 0 and float(r["loss"]) > 0 for r in log[1:])
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    weights = load_file(out / "last.safetensors")
    assert all(k.startswith("in_context_decoder.") for k in weights)
    engine = get_engine("icm", checkpoint=str(out / "best.safetensors"), sd=str(tiny_sd),
                        size=TINY_SIZE, decoder_widths=TINY_WIDTHS, device="cpu")
    scene = synthetic.scene(0, SCENE_SIZE, seed=5)
    reference = engine.encode_reference(scene.image, (scene.alpha >= 0.5).astype(np.float32))
    alpha = engine.matte(synthetic.scene(1, SCENE_SIZE, seed=5).image, reference).alpha
    assert alpha.shape == SCENE_SIZE and np.isfinite(alpha).all()


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tiny_sd, scenes, tmp_path):
    common = dict(steps=5, val_every=3, segmentation=[str(scenes["segmentation"])], **EVERYTHING)
    whole = tiny_config(tiny_sd, scenes, tmp_path / "whole", **common)
    train(whole)

    def stop_at_three(step, logged):
        if step == 3:  # the last saved state is step 2
            raise KeyboardInterrupt

    broken = tiny_config(tiny_sd, scenes, tmp_path / "broken", **common)
    with pytest.raises(KeyboardInterrupt):
        train(broken, on_step=stop_at_three)
    torch.manual_seed(12345)  # resuming restores the RNG, whatever happened meanwhile
    train(tiny_config(tiny_sd, scenes, tmp_path / "broken", resume=True, **common))
    for name in ("last.safetensors", "best.safetensors"):
        a, b = load_file(tmp_path / "whole" / name), load_file(tmp_path / "broken" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    whole_log = rows(tmp_path / "whole" / "log.csv")
    broken_log = rows(tmp_path / "broken" / "log.csv")
    drop = ("seconds", "features_computed")
    assert [{k: v for k, v in r.items() if k not in drop} for r in whole_log] == [
        {k: v for k, v in r.items() if k not in drop} for r in broken_log]


def test_resume_refuses_changed_settings(tiny_sd, scenes, tmp_path):
    train(tiny_config(tiny_sd, scenes, tmp_path / "run", steps=2, val=None))
    with pytest.raises(InvalidInput, match="lr"):
        Trainer(tiny_config(tiny_sd, scenes, tmp_path / "run", steps=4, val=None, lr=1.0,
                            resume=True))


def test_second_epoch_needs_no_feature_pass(tiny_sd, scenes, tmp_path):
    """12 pictures × 1 view: the first 6 steps (batch 2) compute each view once, later epochs
    only read the cache."""
    computed = []
    trainer = Trainer(tiny_config(tiny_sd, scenes, tmp_path / "run", steps=12, val=None,
                                  cache_dir=str(tmp_path / "own-cache")))
    trainer.run(on_step=lambda step, logged: computed.append(trainer.backbone.computed))
    assert computed[5] == 12 and computed[-1] == 12


@pytest.mark.slow
def test_two_hundred_steps_halve_held_out_error(tiny_sd, scenes, tmp_path):
    config = tiny_config(tiny_sd, scenes, tmp_path / "run", steps=200, val_every=100,
                         log_every=20, checkpoint_every=100)
    trainer = Trainer(config)
    untrained = trainer.validate()["mse"]
    summary = trainer.run()
    trained = trainer.validate()["mse"]
    assert summary.losses[-1] < 0.7 * summary.losses[0]
    assert trained <= 0.5 * untrained, (untrained, trained)
    assert summary.best_val_mse <= trained


# --- bad inputs: a clear error, nothing written ---------------------------------------------

def _manifest(folder, payload):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    path.write_text(json.dumps({"format": "icm-matting-dataset/1", **payload}))
    return path


def _bad_alpha(tmp_path):
    path = write_scenes(tmp_path / "bad", groups=1, per_group=2, seed=7)
    from PIL import Image

    Image.new("L", (10, 12)).save(path.parent / "g0_1_alpha.png")
    return path


def _other_architecture(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file(tiny_decoder_state(size=2 * TINY_SIZE), str(path))  # 8²/16² attention tokens
    return path


BAD = {
    "empty manifest": (lambda p, s: dict(train=[str(_manifest(p / "e", {"groups": []}))]),
                       InvalidInput, "no groups and no singles"),
    "singles only": (lambda p, s: dict(train=[str(_manifest(p / "s", {"singles": [
        {"id": "a", "image": "../../scenes0/train/g0_0.png", "alpha": "x.png"}]}))],
        allow_outside_paths=True), InvalidInput, "missing files|no groups"),
    "group of one": (lambda p, s: dict(train=[str(_manifest(p / "o", {"groups": [{
        "name": "lonely", "reference": "a",
        "members": [{"id": "a", "image": "a.png", "alpha": "a.png"}]}]}))]),
        InvalidInput, "at least one target"),
    "alpha of another size": (lambda p, s: dict(train=[str(_bad_alpha(p))]), InvalidInput,
                              "g0_1.*144×112 px image but a 10×12 px alpha"),
    "unwritable output": (lambda p, s: dict(out=str(p / "file.txt" / "run")), OutputError,
                          "cannot be written"),
    "checkpoint of another architecture": (
        lambda p, s: dict(checkpoint=str(_other_architecture(p))), WeightsCorrupt, "wrong shapes"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_before_anything_is_written(case, tiny_sd, scenes, tmp_path):
    (tmp_path / "file.txt").write_text("not a folder")
    make_changes, error, message = BAD[case]
    changes = make_changes(tmp_path, scenes)
    config = tiny_config(tiny_sd, scenes, tmp_path / "out",
                         **{k: v for k, v in changes.items() if k != "out"})
    config.out = changes.get("out", config.out)
    with pytest.raises(error, match=message):
        train(config)
    assert not (tmp_path / "out").exists()
    written = [p.name for p in tmp_path.rglob("*.safetensors") if "home" not in p.parts]
    assert written in ([], ["other.safetensors"])  # home: the prompt embedding's cache


def test_a_folder_with_a_run_needs_resume(tiny_sd, scenes, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="--resume"):
        train(tiny_config(tiny_sd, scenes, tmp_path / "out"))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


# --- command line ---------------------------------------------------------------------------

def test_command_prints_the_resolved_config(tiny_sd, scenes, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    settings = tmp_path / "data" / "train.toml"
    settings.write_text(
        f'train = ["{scenes["train"]}"]\nout = "run"\nsd = "{tiny_sd}"\nsize = {TINY_SIZE}\n'
        'ensemble_size = 1\nsteps = 50\ndevice = "cpu"\ncache_dtype = "float32"\n'
        'decoder_widths = { attention_out = 8, feature_out = 8, convstream_out = [4, 8, 8], '
        'fusion_out = [8, 8, 8, 8] }\n')
    code = main(["train", "--config", str(settings), "--steps", "2", "--no-progress",
                 "--threads", "1", "--log-every", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    resolved = json.loads(printed[: printed.index("\n}\n") + 3])["resolved training config"]
    assert resolved["steps"] == 2 and resolved["lr"] == 4e-4 and resolved["batch_size"] == 2
    assert resolved["out"] == str(tmp_path / "data" / "run")  # relative to the file
    assert (tmp_path / "data" / "run" / "last.safetensors").is_file()
    assert "weights:" in printed and "peak memory" in printed


def test_command_reports_bad_settings(tmp_path, capsys):
    settings = tmp_path / "train.json"
    settings.write_text(json.dumps({"out": "run", "train": ["m.json"], "learning_rate": 1}))
    assert main(["train", "--config", str(settings)]) == 2
    assert "Unknown training setting(s): learning_rate" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "o"), "--train", "m.json", "--steps", "0"]) == 2
    assert "steps must be in [1, 100000000], not 0" in capsys.readouterr().err


@pytest.mark.slow
def test_sigkilled_command_resumes_exactly(tiny_sd, scenes, tmp_path):
    """A real kill (SIGKILL) of ``icm-matting train`` mid-run, then --resume."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    def settings(out):
        config = tiny_config(tiny_sd, scenes, out, steps=8, checkpoint_every=2, val=None,
                             threads=1).as_json()
        path = tmp_path / f"{out.name}.json"
        path.write_text(json.dumps(config))
        return path

    train(tiny_config(tiny_sd, scenes, tmp_path / "whole", steps=8, checkpoint_every=2,
                      val=None))
    killed = tmp_path / "killed"
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "icm_cli", "train", "--config", str(settings(killed))],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            log = killed / "log.csv"
            if (killed / "training-state.pt").is_file() and log.is_file() and len(rows(log)) >= 3:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        process.kill()
    steps_done = len(rows(killed / "log.csv"))
    assert 3 <= steps_done < 8
    assert main(["train", "--config", str(settings(killed)), "--resume"]) == 0
    a = load_file(tmp_path / "whole" / "last.safetensors")
    b = load_file(killed / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in rows(tmp_path / "whole" / "log.csv")] == [
        r["loss"] for r in rows(killed / "log.csv")]
