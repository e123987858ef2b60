"""Loading the ICM checkpoint safely and strictly, SD 2.1 sources, the prompt-embedding cache,
and ``icm-matting weights``."""

from __future__ import annotations

import argparse
import sys
import types

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from icm_core import weights
from icm_core.api import IcmWarning, WeightsCorrupt, WeightsMissing
from icm_core.icm.checkpoint import decoder_state_dict, read_checkpoint
from icm_core.icm.model import CHECKPOINT_PREFIX, DecoderDims, IcmDecoder

from .tiny import TINY_SIZE, TINY_WIDTHS, tiny_decoder_state


def _engine(checkpoint, sd):
    from icm_core.icm.engine import IcmEngine

    return IcmEngine(checkpoint=str(checkpoint), sd=str(sd), size=TINY_SIZE,
                     decoder_widths=TINY_WIDTHS, device="cpu")


def _save_with_foreign_objects(path, payload_module: types.ModuleType, state):
    """torch.save a checkpoint whose pickle names a class from a module that will not exist
    at load time (as a Lightning checkpoint names its callbacks)."""
    sys.modules[payload_module.__name__] = payload_module
    try:
        torch.save({"state_dict": state, "callbacks": {payload_module.Callback: payload_module.Callback()},
                    "hook": payload_module.Payload()}, path)
    finally:
        del sys.modules[payload_module.__name__]


def _foreign_module(name, reduce_to):
    module = types.ModuleType(name)
    exec(  # noqa: S102 - builds the test's foreign classes
        "class Callback:\n    def __init__(self):\n        self.best = 1.5\n"
        "class Payload:\n    def __reduce__(self):\n        return REDUCE\n",
        module.__dict__)
    module.REDUCE = reduce_to
    module.Callback.__module__ = module.Payload.__module__ = name
    return module


def test_foreign_class_is_skipped_and_its_reduce_never_runs(tmp_path, tiny_sd):
    created = tmp_path / "created-by-pickle.txt"
    module = _foreign_module("lightning_era_callbacks", (open, (str(created), "w")))
    path = tmp_path / "icm.ckpt"
    _save_with_foreign_objects(path, module, tiny_decoder_state())
    with pytest.warns(IcmWarning, match="lightning_era_callbacks.Callback"):
        raw = read_checkpoint(path)
    assert not created.exists()
    assert "lightning_era_callbacks" not in sys.modules
    assert set(decoder_state_dict(raw)) == {k[len(CHECKPOINT_PREFIX):] for k in tiny_decoder_state()}
    engine = _engine(path, tiny_sd)  # and the engine loads it
    assert not created.exists()
    assert engine.decoder.dims.attention_out == TINY_WIDTHS["attention_out"]


def test_os_level_code_in_a_pickle_is_refused(tmp_path):
    import os

    created = tmp_path / "created-by-system.txt"
    module = _foreign_module("evil_checkpoint", (os.system, (f"touch {created}",)))
    path = tmp_path / "evil.ckpt"
    _save_with_foreign_objects(path, module, tiny_decoder_state())
    with pytest.raises(WeightsCorrupt, match="refusing"):
        read_checkpoint(path)
    assert not created.exists()


def test_missing_and_truncated_files(tmp_path, tiny_sd):
    with pytest.raises(WeightsMissing, match="does not exist"):
        _engine(tmp_path / "nowhere.ckpt", tiny_sd)
    whole = tmp_path / "whole.ckpt"
    torch.save({"state_dict": tiny_decoder_state()}, whole)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(WeightsCorrupt):
        _engine(cut, tiny_sd)
    safetensors_file = tmp_path / "whole.safetensors"
    save_file(tiny_decoder_state(), safetensors_file)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(safetensors_file.read_bytes()[:-100])
    with pytest.raises(WeightsCorrupt):
        _engine(cut, tiny_sd)
    _engine(safetensors_file, tiny_sd)  # the intact one loads


def test_wrong_shapes_and_keys_are_named(tmp_path, tiny_sd):
    other_size = tmp_path / "for-256.ckpt"  # attention convs for 8²/16² tokens, not 4²/8²
    torch.save({"state_dict": tiny_decoder_state(size=256)}, other_size)
    with pytest.raises(WeightsCorrupt, match=r"wrong shapes: in_context_fusion.attn_module_list.0"):
        _engine(other_size, tiny_sd)
    state = tiny_decoder_state()
    state.pop(CHECKPOINT_PREFIX + "detail_decoder.matting_head.matting_convs.3.bias")
    state[CHECKPOINT_PREFIX + "detail_decoder.extra.weight"] = torch.zeros(1)
    broken = tmp_path / "broken.ckpt"
    torch.save(state, broken)  # a bare state dict is accepted too
    with pytest.raises(WeightsCorrupt) as error:
        _engine(broken, tiny_sd)
    assert "missing keys: detail_decoder.matting_head.matting_convs.3.bias" in str(error.value)
    assert "unexpected keys: detail_decoder.extra.weight" in str(error.value)
    unrelated = tmp_path / "unrelated.ckpt"
    torch.save({"state_dict": {"model.weight": torch.zeros(2)}}, unrelated)
    with pytest.raises(WeightsCorrupt, match="in_context_decoder"):
        _engine(unrelated, tiny_sd)


def test_checkpoint_is_converted_once_to_safetensors(tiny_checkpoint, isolated_cache):
    converted = weights.checkpoint_path(tiny_checkpoint)
    assert converted.suffix == ".safetensors" and converted.is_relative_to(isolated_cache)
    stamp = converted.stat().st_mtime_ns
    assert weights.checkpoint_path(tiny_checkpoint) == converted
    assert converted.stat().st_mtime_ns == stamp
    stored = load_file(converted)
    assert not any(k.startswith(CHECKPOINT_PREFIX) for k in stored)
    for key, value in tiny_decoder_state().items():
        assert torch.equal(stored[key[len(CHECKPOINT_PREFIX):]], value)


def test_prompt_embedding_is_computed_once(tiny_sd, tiny_checkpoint, monkeypatch):
    from transformers import CLIPTextModel, CLIPTokenizer

    first = weights.empty_prompt_embedding(tiny_sd)
    encoder = CLIPTextModel.from_pretrained(tiny_sd, subfolder="text_encoder")
    ids = CLIPTokenizer.from_pretrained(tiny_sd, subfolder="tokenizer")(
        "", padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert ids[0, :3].tolist() == [258, 259, 0]
    with torch.no_grad():
        torch.testing.assert_close(first, encoder(ids)[0], rtol=0, atol=1e-6)

    def refuse(*args, **kwargs):
        raise AssertionError("the text encoder was loaded again")

    monkeypatch.setattr(CLIPTextModel, "from_pretrained", refuse)
    assert torch.equal(weights.empty_prompt_embedding(tiny_sd), first)
    _engine(tiny_checkpoint, tiny_sd)


def test_single_file_sources_use_the_bundled_configs():
    from diffusers import AutoencoderKL, UNet2DConditionModel

    unet = UNet2DConditionModel.load_config(weights.BUNDLED_SD_CONFIG, subfolder="unet")
    vae = AutoencoderKL.load_config(weights.BUNDLED_SD_CONFIG, subfolder="vae")
    assert unet["block_out_channels"] == [320, 640, 1280, 1280]
    assert unet["attention_head_dim"] == [5, 10, 20, 20] and unet["cross_attention_dim"] == 1024
    assert vae["scaling_factor"] == 0.18215


def test_hub_ids_are_never_fetched_implicitly(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda *a, **k: pytest.fail("downloaded without being asked"))
    with pytest.raises(WeightsMissing, match="weights download"):
        weights.sd_source()
    with pytest.raises(WeightsMissing, match="weights download --sd someone/some-model"):
        weights.sd_source("someone/some-model")


def test_a_missing_relative_sd_path_starts_no_download(tiny_checkpoint, tmp_path, monkeypatch,
                                                        capsys):
    """``--engine-option sd=models/sd21`` (no such folder) during a plain matte: one line that
    reads it both ways, nothing fetched; with ``models/`` present it is a path, plainly missing."""
    import huggingface_hub

    from icm_cli.cli import main

    for name in ("snapshot_download", "hf_hub_download"):
        monkeypatch.setattr(huggingface_hub, name,
                            lambda *a, **k: pytest.fail("downloaded without being asked"))
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info",
                        lambda *a, **k: pytest.fail("asked the hub without being asked"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["matte", "--example", "--out", str(out), "--engine", "icm", "--engine-option",
            f"checkpoint={tiny_checkpoint}", "--engine-option", "sd=models/sd21"]
    for models_folder, message in ((False, "Stable Diffusion models/sd21 is neither a folder or "
                                    "file here nor a hub repo downloaded and verified: give the "
                                    "path of the weights, or run `icm-matting weights download "
                                    "--sd models/sd21` to download it."),
                                   (True, "Stable Diffusion weights not found at models/sd21.")):
        if models_folder:
            (tmp_path / "models").mkdir()
        assert main(argv) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert lines[-1] == f"icm-matting: error: {message}"
        assert not out.exists()


def _cli(*argv):
    from icm_cli.commands import weights as command

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["weights", *argv])
    return args.run(args)


def test_weights_cli_locate_status_verify(tmp_path, tiny_sd, capsys):
    official = tmp_path / "official.safetensors"  # official widths, random values
    save_file({CHECKPOINT_PREFIX + k: v for k, v in IcmDecoder().state_dict().items()}, official)

    assert _cli("status") == 1  # not ready
    assert "missing" in capsys.readouterr().out

    assert _cli("locate", "--checkpoint", str(official), "--sd", str(tiny_sd)) == 0
    assert weights.remembered() == {"checkpoint": str(official.resolve()), "sd": str(tiny_sd)}
    assert _cli("status") == 0
    out = capsys.readouterr().out
    assert "ready" in out and "not ready" not in out and str(official.resolve()) in out
    assert "diffusion_pytorch_model.safetensors" in out and " KB" in out

    assert _cli("verify") == 0
    out = capsys.readouterr().out
    assert f"sha256 {weights.sha256(official)}" not in out  # the converted copy is reported
    assert "all weights verified" in out and out.count("sha256") >= 6

    tiny = tmp_path / "tiny.ckpt"  # loads into the tiny engine, but not the official decoder
    torch.save({"state_dict": tiny_decoder_state()}, tiny)
    with pytest.raises(WeightsCorrupt, match="problem"):
        _cli("verify", "--checkpoint", str(tiny))
    assert "wrong shapes" in capsys.readouterr().out


def test_verify_finds_a_damaged_unet(tmp_path, tiny_sd, capsys):
    import shutil

    damaged = tmp_path / "sd"
    shutil.copytree(tiny_sd, damaged)
    unet_file = damaged / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(unet_file)
    tensors.pop(next(iter(tensors)))
    save_file(tensors, unet_file)
    assert weights.check_sd(tiny_sd) == []
    problems = weights.check_sd(damaged)
    assert len(problems) == 1 and problems[0].startswith("unet: 1 missing")


def test_decoder_dims_defaults_are_the_official_config():
    dims = DecoderDims()
    assert dims.feature_channels == (1280, 1280) and dims.attention_tokens == (576, 2304)
    decoder = IcmDecoder(dims)
    assert sum(p.numel() for p in decoder.parameters()) == 21_101_585
    assert len(decoder.state_dict()) == 89


def test_single_file_sources_are_checked_from_their_headers(tmp_path):
    good = tmp_path / "v2-1_768.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2)}, good)
    assert weights.sd_source(str(good)) == good and weights.check_sd(good) == []
    other = tmp_path / "something-else.safetensors"
    save_file({"encoder.weight": torch.zeros(2)}, other)
    assert "no UNet weights" in weights.check_sd(other)[0]
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a zip")
    assert "not a readable checkpoint" in weights.check_sd(broken)[0]


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(tmp_path, tiny_sd, poison):
    """Such a checkpoint used to load and give an all-zero alpha with exit status 0."""
    state = tiny_decoder_state()
    key = CHECKPOINT_PREFIX + "detail_decoder.matting_head.matting_convs.3.bias"
    state[key] = torch.full_like(state[key], poison)
    path = tmp_path / "poisoned.ckpt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(WeightsCorrupt, match="NaN or infinite values: "
                       "detail_decoder.matting_head.matting_convs.3.bias"):
        _engine(path, tiny_sd)
