"""Brushed reference masks kept on disk (no Qt)."""

from __future__ import annotations

import os

import numpy as np

from ui.mask_memory import MaskMemory, picture_key


def picture(seed: int, shape=(40, 60)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape + (3,), dtype=np.float32)


def test_a_mask_comes_back_for_its_picture_only(tmp_path):
    memory = MaskMemory(tmp_path)
    mask = np.zeros((40, 60), np.float32)
    mask[10:30, 20:50] = 1.0
    mask[10, 20] = 0.5
    memory.keep_mask(picture_key(picture(0)), mask)
    memory.flush()  # written in the background: this session ends
    again = MaskMemory(tmp_path)  # another session
    np.testing.assert_allclose(again.recall(picture_key(picture(0)), (40, 60)), mask,
                               atol=0.5 / 255)
    assert again.recall(picture_key(picture(1)), (40, 60)) is None
    assert picture_key(picture(0)) != picture_key(picture(0, (40, 61))[:, :60])


def test_an_empty_mask_forgets_and_damaged_or_resized_files_are_ignored(tmp_path):
    memory = MaskMemory(tmp_path)
    key = picture_key(picture(0))
    memory.keep_mask(key, np.ones((40, 60), np.float32))
    memory.keep_mask(key, np.zeros((40, 60), np.float32))
    assert memory.recall(key, (40, 60)) is None and not list(tmp_path.iterdir())
    memory.keep_mask(key, np.ones((40, 60), np.float32))
    memory.flush()
    assert memory.recall(key, (41, 60)) is None  # not this picture's size
    (tmp_path / f"{key}.png").write_bytes(b"\x89PNG broken")
    assert memory.recall(key, (40, 60)) is None


def test_only_the_most_recently_used_masks_stay(tmp_path):
    memory = MaskMemory(tmp_path, keep=3)
    keys = [picture_key(picture(seed)) for seed in range(5)]
    for index, key in enumerate(keys):
        memory.keep_mask(key, np.ones((40, 60), np.float32))
        memory.flush()
        os.utime(tmp_path / f"{key}.png", ns=(index * 10**9, index * 10**9))
    memory.keep_mask(keys[4], np.ones((40, 60), np.float32))
    memory.flush()
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(keys[2:])


def test_a_folder_that_cannot_be_written_loses_no_work_and_raises_nothing(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    memory = MaskMemory(blocker / "masks")
    memory.keep_mask(picture_key(picture(0)), np.ones((40, 60), np.float32))
    memory.flush()
    assert "could not be kept" in caplog.text
    assert memory.recall(picture_key(picture(0)), (40, 60)) is None
