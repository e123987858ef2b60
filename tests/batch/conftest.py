"""A small synthetic series (exact alphas known) and a reference run of it, shared by the batch
tests: every other mode must reproduce the reference run's files byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from icm_core import synthetic
from icm_core.cli import main
from icm_core.imageio import write_alpha, write_image

SIZE = (120, 160)  # small: the tests are about the job, not the matting
COUNT = 4


@pytest.fixture(scope="session")
def series(tmp_path_factory) -> Path:
    """``reference.png``, ``mask.png`` and ``targets/t0.png`` … (their exact alphas in ``truth/``)."""
    root = tmp_path_factory.mktemp("series")
    reference = synthetic.scene(100, SIZE)
    write_image(root / "reference.png", reference.image)
    write_alpha(root / "mask.png", (reference.alpha > 0.5).astype(np.float32))
    for index in range(COUNT):
        scene = synthetic.scene(index, SIZE)
        write_image(root / "targets" / f"t{index}.png", scene.image)
        write_alpha(root / "truth" / f"t{index}.png", scene.alpha)
    return root


def batch_args(series: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", "--reference", str(series / "reference.png"), "--mask", str(series / "mask.png"),
            str(series / "targets"), "--out", str(out), *extra]


@pytest.fixture(scope="session")
def single_run(series, tmp_path_factory) -> Path:
    """The series matted in this process, the way every mode must reproduce it."""
    out = tmp_path_factory.mktemp("single")
    assert main(batch_args(series, out)) == 0
    return out


def output_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}
