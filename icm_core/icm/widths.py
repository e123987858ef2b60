"""The decoder widths a user may set (``decoder_widths``), checked without torch.

The official widths are :class:`~icm_core.icm.model.DecoderDims`' defaults; tests and small
experiments use tiny ones.  Checked here, before any model is built or any file written.
"""

from __future__ import annotations

import numbers
from typing import Any

WIDE = 4096  # no layer of the official decoder is wider than 1280
SINGLE = ("attention_out", "feature_out")
STAGES = {"convstream_out": 3, "fusion_out": 4}  # the official number of stages


def widths_problem(widths: dict[str, Any]) -> str:
    """What is wrong with ``widths`` (one sentence), or "" if a decoder can be built from it."""

    def width(value: Any) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and 1 <= value <= WIDE

    unknown = sorted(map(str, set(widths) - set(SINGLE) - set(STAGES)))
    if unknown:
        return f"decoder widths are {', '.join((*SINGLE, *STAGES))}, not {', '.join(unknown)}"
    for name in SINGLE:
        if name in widths and not width(widths[name]):
            return f"{name} must be a whole number 1…{WIDE}"
    for name in STAGES:
        value = widths.get(name, ())
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 8 or not all(map(width, value)):
            if name in widths:
                return f"{name} must be a list of 1…8 whole numbers 1…{WIDE}"
    stream = len(widths.get("convstream_out", ())) or STAGES["convstream_out"]
    fusion = len(widths.get("fusion_out", ())) or STAGES["fusion_out"]
    if fusion != stream + 1:
        return f"fusion_out needs one more entry than convstream_out ({stream} + 1), got {fusion}"
    return ""
