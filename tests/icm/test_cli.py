"""``icm-matting matte --engine icm`` and ``icm-matting weights`` through the real CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from icm_cli import cli

from .conftest import scene
from .tiny import TINY_SIZE, TINY_WIDTHS


def _write(path, image):
    cv2.imwrite(str(path), np.round(image * 255).astype(np.uint8)[..., ::-1].copy()
                if image.ndim == 3 else np.round(image * 255).astype(np.uint8))
    return path


def test_matte_with_the_icm_engine(tmp_path, tiny_sd, tiny_checkpoint, monkeypatch, capsys):
    image, mask = scene(96, 128)
    reference = _write(tmp_path / "reference.png", image)
    mask_file = _write(tmp_path / "mask.png", mask)
    targets = [_write(tmp_path / f"target-{i}.png", scene(80 + 20 * i, 100, 0.03 * i, i)[0])
               for i in range(2)]
    monkeypatch.setenv("ICM_MATTING_CHECKPOINT", str(tiny_checkpoint))
    monkeypatch.setenv("ICM_MATTING_SD", str(tiny_sd))
    out = tmp_path / "out"
    code = cli.main(["matte", "--engine", "icm", "--engine-option", f"size={TINY_SIZE}",
                     "--engine-option", f"decoder_widths={json.dumps(TINY_WIDTHS)}",
                     "--reference", str(reference), "--mask", str(mask_file),
                     "--out", str(out), *map(str, targets)])
    assert code == 0, capsys.readouterr()
    written = sorted(out.glob("*.png"))
    assert len(written) == 2
    for target, alpha_file in zip(targets, written):
        alpha = cv2.imread(str(alpha_file), cv2.IMREAD_UNCHANGED)
        assert alpha.shape == cv2.imread(str(target)).shape[:2]


def test_weights_commands_through_the_cli(tiny_sd, capsys):
    assert cli.main(["weights", "status"]) == 1  # a script can tell "not ready" from "ready"
    assert "not ready" in capsys.readouterr().out
    assert cli.main(["weights", "locate", "--sd", str(tiny_sd)]) == 0
    assert cli.main(["weights", "verify"]) == 2  # no ICM checkpoint yet: an error, exit 2
    captured = capsys.readouterr()
    assert "icm checkpoint" in captured.out and "weights locate --checkpoint" in captured.out


def test_weights_status_exit_code_says_ready(tiny_sd, tiny_checkpoint, capsys):
    assert cli.main(["weights", "status", "--sd", str(tiny_sd)]) == 1  # no checkpoint
    assert capsys.readouterr().out.rstrip().endswith("not ready: see the messages above")
    assert cli.main(["weights", "status", "--sd", str(tiny_sd),
                     "--checkpoint", str(tiny_checkpoint)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ready")


def test_weights_help_is_plain_text(capsys):
    for argv in (["weights", "--help"], ["weights", "status", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        text = capsys.readouterr().out
        assert "``" not in text and "xit status" in text  # no raw RST; says what 0/1/2 mean
    with pytest.raises(SystemExit):
        cli.main(["weights", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 ready (status) or verified (verify); 1 not ready (status)" in text


def test_a_nan_checkpoint_ends_in_one_line_and_writes_nothing(tmp_path, tiny_sd, monkeypatch,
                                                              capsys):
    import torch

    from .tiny import tiny_decoder_state

    state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
             for k, v in tiny_decoder_state().items()}
    checkpoint = tmp_path / "nan.ckpt"
    torch.save({"state_dict": state}, checkpoint)
    image, mask = scene(96, 128)
    monkeypatch.setenv("ICM_MATTING_SD", str(tiny_sd))
    out = tmp_path / "out"
    code = cli.main(["matte", "--engine", "icm", "--engine-option", f"checkpoint={checkpoint}",
                     "--engine-option", f"size={TINY_SIZE}",
                     "--engine-option", f"decoder_widths={json.dumps(TINY_WIDTHS)}",
                     "--reference", str(_write(tmp_path / "reference.png", image)),
                     "--mask", str(_write(tmp_path / "mask.png", mask)),
                     "--out", str(out), str(_write(tmp_path / "target.png", image))])
    lines = [line for line in capsys.readouterr().err.splitlines() if "icm-matting:" in line]
    assert code == 2 and len(lines) == 1 and "NaN or infinite values" in lines[0], lines
    assert not out.exists()
