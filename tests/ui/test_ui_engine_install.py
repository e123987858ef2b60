"""Where torch is absent (the base install plus ``[gui]``), the panel offers lite and says how
to get the ICM engine, through the real ``icm_core.engines.availability`` probe."""

from __future__ import annotations

import sys

import numpy as np

from tests.ui.helpers import MemoryHost, scene
from ui.panel import Panel


def test_icm_without_torch_is_disabled_with_the_install_command(qtbot, settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec("torch") is None: not installed
    settings.setValue("engine", "icm")
    image, _ = scene(64, 80, 0)
    host = MemoryHost({"ref": image, "a": image}, selection=np.ones((64, 80), np.float32))
    panel = Panel(host, settings)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    try:
        index = panel.engine_combo.findData("icm")
        assert panel.engine_combo.currentData() == "lite"
        assert not panel.engine_combo.model().item(index).isEnabled()
        assert panel.engine_combo.model().item(panel.engine_combo.findData("lite")).isEnabled()
        assert panel.engine_reason.isVisible()
        assert "pip install 'icm-matting[icm]'" in panel.engine_reason.text()
    finally:
        panel.shutdown()
