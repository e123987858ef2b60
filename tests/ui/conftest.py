"""Fixtures for the Qt panel tests: offscreen Qt, a temp settings file, a fake engine, test images."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from icm_core.api import MatteResult, Reference, check_cancel, report  # noqa: E402


class FakeEngine:
    """Honours the engine protocol: sleeps in stages, reports progress, checks cancel.

    Its alpha is the target's luminance thresholded at the reference's mean masked luminance,
    so results depend on both reference and target.  ``fail_on`` names target shapes to
    refuse; ``stage_seconds`` sets the pace.
    """

    name = "fake"

    def __init__(self, stage_seconds: float = 0.02, stages: int = 4, fail_on=(), **options):
        self.stage_seconds = stage_seconds
        self.stages = stages
        self.fail_on = set(fail_on)
        self.options = options
        self.encoded = 0
        self.combined: list[int] = []  # how many references each combine() merged
        self.hinted: list = []  # (hints, preview) of every matte with hints
        self.thread_ids: set[int] = set()

    def encode_reference(self, image, mask):
        self.thread_ids.add(threading.get_ident())
        self.encoded += 1
        time.sleep(self.stage_seconds)
        level = float((image.mean(axis=2) * mask).sum() / max(mask.sum(), 1e-6))
        return Reference("fake", level, (image.shape[:2],))

    def combine(self, references):
        self.combined.append(len(references))
        level = float(np.mean([reference.data for reference in references]))
        return Reference("fake", level, tuple(s for r in references for s in r.image_sizes))

    def matte(
        self,
        target,
        reference,
        *,
        progress=None,
        cancel=None,
        seed=0,
        foreground=False,
        hints=None,
        preview=False,
    ):
        from icm_core.api import InvalidInput

        self.thread_ids.add(threading.get_ident())
        if target.shape[:2] in self.fail_on:
            raise InvalidInput(
                f"The target is {target.shape[1]}×{target.shape[0]} px; the fake refuses it."
            )
        for stage in range(self.stages):
            check_cancel(cancel)
            report(progress, stage / self.stages, f"stage {stage + 1}/{self.stages}")
            time.sleep(self.stage_seconds)
        check_cancel(cancel)
        alpha = (np.abs(target.mean(axis=2) - reference.data) < 0.2).astype(np.float32)
        if hints is not None:  # painted pixels are pinned; a preview is coarser (every 2nd px)
            for mask, value in ((hints.keep, 1.0), (hints.remove, 0.0)):
                if mask is not None:
                    alpha[mask > 0.5] = value
            self.hinted.append((hints, preview))
        if preview:
            coarse = np.repeat(np.repeat(alpha[::2, ::2], 2, 0), 2, 1)
            alpha = coarse[: alpha.shape[0], : alpha.shape[1]]
        report(progress, 1.0, "done")
        return MatteResult(alpha, target.copy() if foreground else None, {"total": 0.0})


@pytest.fixture
def fake_engine(monkeypatch):
    """Route ``get_engine('lite' | 'fake')`` to one shared :class:`FakeEngine`; yields it."""
    import icm_core.engines as engines

    engine = FakeEngine()
    real_get_engine = engines.get_engine

    def get_engine(name="lite", **options):
        if name in ("lite", "fake"):
            engine.options = options
            return engine
        return real_get_engine(name, **options)

    monkeypatch.setattr(engines, "get_engine", get_engine)
    monkeypatch.setattr(  # installed (or not) as it is, but never set up
        engines.engine_class("icm"), "setup_problem",
        classmethod(lambda cls: "ICM weights are not installed."),
    )
    return engine


@pytest.fixture(autouse=True)
def own_mask_memory(tmp_path, monkeypatch):
    """Each test's panels keep brushed masks in their own folder: a mask brushed by one test
    must not come back in another that shows the same picture."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def settings(tmp_path):
    from ui.qt import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_panel(qtbot, settings):
    """Make a shown :class:`ui.panel.Panel` on a host (shut down after the test)."""
    from ui.panel import Panel

    panels = []

    def make(host, **kwargs):
        panel = Panel(host, settings, **kwargs)
        qtbot.addWidget(panel)
        panel.resize(1100, 700)
        panel.show()
        qtbot.waitExposed(panel)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()
