"""Helpers shared by the batch tests."""

from __future__ import annotations

from pathlib import Path

SIZE = (120, 160)  # small: the tests are about the job, not the matting
COUNT = 4


def batch_args(series: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", "--reference", str(series / "reference.png"), "--mask", str(series / "mask.png"),
            str(series / "targets"), "--out", str(out), *extra]


def output_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}
