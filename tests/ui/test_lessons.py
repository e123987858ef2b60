"""Lessons ("Learn from this") kept on disk per reference picture (no Qt)."""

from __future__ import annotations

import numpy as np

from ui import lessons
from ui.lessons import Lessons


def test_lessons_come_back_per_reference_and_old_ones_go(tmp_path, monkeypatch):
    store = Lessons(tmp_path)
    image = np.linspace(0, 1, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    mask = np.zeros((4, 5), np.float32)
    mask[1:3, 1:4] = 0.9
    store.add("ref-a", image, mask)
    [(back, back_mask)] = Lessons(tmp_path).recall("ref-a")
    np.testing.assert_allclose(back, image, atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(back_mask, (mask > 0.5).astype(np.float32))
    assert Lessons(tmp_path).recall("ref-b") == [] and store.recall(None) == []

    monkeypatch.setattr(lessons, "KEEP_PER_REFERENCE", 2)
    monkeypatch.setattr(lessons, "KEEP_REFERENCES", 2)
    for level in (0.2, 0.4):
        store.add("ref-a", np.full((4, 5, 3), level, np.float32), mask)
    assert [round(float(i.mean()), 1) for i, _ in store.recall("ref-a")] == [0.2, 0.4]
    store.add("ref-b", image, mask)
    store.add("ref-c", image, mask)
    assert store.recall("ref-a") == [] and len(store.recall("ref-c")) == 1
    (tmp_path / "ref-c" / "000001.npz").write_bytes(b"damaged")
    assert len(store.recall("ref-c")) == 1
