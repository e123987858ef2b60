"""A small synthetic series (exact alphas known) and a reference run of it, shared by the batch
tests: every other mode must reproduce the reference run's files byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from icm_core import synthetic
from icm_cli.cli import main
from icm_core.imageio import write_alpha, write_image
from tests.batch.helpers import COUNT, SIZE, batch_args


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


@pytest.fixture(scope="session")
def single_run(series, tmp_path_factory) -> Path:
    """The series matted in this process, the way every mode must reproduce it."""
    out = tmp_path_factory.mktemp("single")
    assert main(batch_args(series, out)) == 0
    return out
