"""Training settings are checked for type, finiteness and range before anything is written;
a start that fails leaves no run folder behind; write failures (a full or read-only feature
cache or weights cache) say which and what to do; --resume never writes through a link."""

from __future__ import annotations

import errno
import json
import os

import pytest

torch = pytest.importorskip("torch")

from safetensors import SafetensorError  # noqa: E402

from icm_core.api import InvalidInput, OutputError  # noqa: E402
from icm_cli.cli import main  # noqa: E402
from icm_core.train import cache as cache_module  # noqa: E402
from icm_core.train import config as settings  # noqa: E402
from icm_core.train.cache import FeatureCache  # noqa: E402
from icm_core.train.trainer import Trainer, train  # noqa: E402

from .conftest import tiny_config  # noqa: E402

NAN, INF = float("nan"), float("inf")
FULL = "Error while serializing: I/O error: No space left on device (os error 28)"
READ_ONLY = 'Error while serializing: I/O error: Read-only file system (os error 30) at path "x"'


@pytest.mark.parametrize("change, message", [
    ({"lr": NAN}, r"lr must be in \(0, 1\], not nan"),
    ({"lr": INF}, r"lr must be in \(0, 1\], not inf"),
    ({"weight_decay": -1.0}, r"weight_decay must be in \[0, 1\], not -1.0"),
    ({"cache_max_gb": INF}, "cache_max_gb must be in"),
    ({"device": "tpu"}, "device must be auto, cpu, mps, cuda or cuda:N, not 'tpu'"),
    ({"decoder_widths": {"feature_out": "wide"}}, "decoder_widths: feature_out must be a whole"),
    ({"decoder_widths": {"fusion_out": [8]}}, "decoder_widths: fusion_out needs one more entry"),
    ({"loss_weights": {"unknown_l1": 0}}, "at least one loss term needs a weight above 0"),
    ({"guidance": {"exact": INF}}, r"guidance values must be numbers in \[0, 1000000\]"),
    ({"guidance": {"exact": NAN}}, "guidance values must be numbers"),
    ({"guidance": {"exact": True}}, "guidance values must be numbers"),
    ({"steps": 10**12}, "steps must be in"),
    ({"seed": 2**63}, "seed must be in"),
    ({"threads": 10**6}, "threads must be in"),
    ({"size": 100}, "size must be a multiple of 64"),
])
def test_every_value_is_checked(change, message):
    with pytest.raises(InvalidInput, match=message):
        settings.resolve({}, {"out": "run", "train": ["m.json"], **change})


@pytest.mark.parametrize("content, message", [
    (b"lr = 0.1\nout = \"caf\xe9\"\n", "is not UTF-8 text"),
    (b"lr = nan\n", r"lr must be in \(0, 1\], not nan"),
    (b"lr = inf\n", r"lr must be in \(0, 1\], not inf"),
    (b"guidance = { exact = inf }\n", "guidance values must be numbers"),
    (b"loss_weights = { unknown_l1 = 0 }\n", "at least one loss term"),
])
def test_command_refuses_a_bad_file_in_one_line_and_writes_nothing(tmp_path, capsys, content,
                                                                  message):
    import re

    path = tmp_path / "train.toml"
    path.write_bytes(b'train = ["m.json"]\nout = "run"\n' + content if b"out" not in content
                     else b'train = ["m.json"]\n' + content)
    assert main(["train", "--config", str(path)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and re.search(message, lines[0]), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.toml"]


def test_deeply_nested_json_config_is_refused(tmp_path, capsys):
    path = tmp_path / "train.json"
    path.write_text('{"guidance": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["train", "--config", str(path)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def test_the_api_checks_a_config_built_by_hand(tiny_sd, scenes, tmp_path):
    with pytest.raises(InvalidInput, match="lr must be in"):
        Trainer(tiny_config(tiny_sd, scenes, tmp_path / "run", lr=INF))
    assert not (tmp_path / "run").exists()


def test_a_start_that_fails_leaves_no_run_folder(tiny_sd, scenes, tmp_path, monkeypatch):
    """config.json, log.csv and tensorboard/ were written, then the first step failed: the
    folder could then neither be reused (not empty) nor resumed (no state)."""
    out = tmp_path / "run"
    config = tiny_config(tiny_sd, scenes, out, steps=1, val=None)

    def fails(self):
        raise OutputError("the disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "train_step", fails)
        with pytest.raises(OutputError, match="the disk is full"):
            train(config)
    assert not out.exists()
    assert train(config).steps == 1  # the same folder, as if nothing had happened


def test_a_full_feature_cache_is_an_output_error_that_says_so(tiny_sd, scenes, tmp_path,
                                                               monkeypatch):
    def full(*args, **kwargs):
        raise SafetensorError(FULL)  # what safetensors raises on ENOSPC: not an OSError

    monkeypatch.setattr(cache_module, "save_file", full)
    out = tmp_path / "run"
    with pytest.raises(OutputError, match="No space left on device.*Free some space"):
        train(tiny_config(tiny_sd, scenes, out, steps=1, val=None,
                          cache_dir=str(tmp_path / "cache")))
    assert not out.exists()
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_a_read_only_feature_cache_does_not_say_free_space(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise SafetensorError(READ_ONLY)

    monkeypatch.setattr(cache_module, "save_file", read_only)
    cache = FeatureCache(tmp_path, 10**9, torch.float32)
    with pytest.raises(OutputError) as error:
        cache.put("ab" * 20, {"x": torch.zeros(3)})
    assert "read-only" in str(error.value) and "Free" not in str(error.value)


def test_a_read_only_feature_cache_still_serves_what_it_holds(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path, 10**9, torch.float32)
    cache.put("cd" * 20, {"x": torch.ones(3)})

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "utime", read_only)
    assert torch.equal(cache.get("cd" * 20)["x"], torch.ones(3)) and cache.hits == 1


@pytest.mark.parametrize("fault, advice", [(FULL, "Free some space"),
                                           (READ_ONLY, "read-only")])
def test_converting_a_checkpoint_into_a_broken_cache_is_one_line(tmp_path, capsys, monkeypatch,
                                                                 fault, advice):
    import safetensors.torch

    from tests.icm.tiny import tiny_decoder_state

    checkpoint = tmp_path / "icm.ckpt"
    torch.save({"state_dict": tiny_decoder_state()}, checkpoint)

    def broken(*args, **kwargs):
        raise SafetensorError(fault)

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    assert main(["weights", "locate", "--checkpoint", str(checkpoint)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Could not write into the weights cache" in lines[0], lines
    assert advice in lines[0]
    assert not list((tmp_path / "home").rglob("*.partial"))


def test_resume_refuses_to_write_log_csv_through_a_link(tiny_sd, scenes, tmp_path):
    out = tmp_path / "run"
    train(tiny_config(tiny_sd, scenes, out, steps=1, val=None))
    elsewhere = tmp_path / "precious.csv"
    elsewhere.write_text("the artist's spreadsheet\n")
    (out / "log.csv").unlink()
    (out / "log.csv").symlink_to(elsewhere)
    with pytest.raises(OutputError, match="log.csv is a symbolic link"):
        train(tiny_config(tiny_sd, scenes, out, steps=2, val=None, resume=True))
    assert elsewhere.read_text() == "the artist's spreadsheet\n"


def test_a_full_run_folder_is_one_output_error_and_no_run_folder(tiny_sd, scenes, tmp_path,
                                                                   monkeypatch):
    """The first write of a run (config.json) on a full disk was an OSError traceback."""
    import pathlib

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    out = tmp_path / "run"
    with pytest.raises(OutputError, match="the run folder .*No space left on device.*Free some"):
        train(tiny_config(tiny_sd, scenes, out, steps=1, val=None))
    assert not out.exists()


def test_a_state_that_cannot_be_saved_is_an_output_error(tiny_sd, scenes, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    out = tmp_path / "run"
    with pytest.raises(OutputError, match="file write failed"):
        train(tiny_config(tiny_sd, scenes, out, steps=1, val=None))
    assert not out.exists()  # last.safetensors of that first save went too: nothing to resume
