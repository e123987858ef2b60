"""icm-matting core: reference-guided alpha matting, free of Qt and of any host.

Public entry points: :func:`icm_core.engines.get_engine`, the types and errors in
:mod:`icm_core.api`, image I/O in :mod:`icm_core.imageio`.  Heavy libraries (ONNX Runtime,
SciPy, torch, diffusers) are imported lazily by the engines, so importing this package is cheap.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path


@cache
def manifest() -> dict:
    """The parsed ``plugin.json``: shipped inside the wheel, or at the repository root."""
    packaged = resources.files(__name__).joinpath("plugin.json")
    if packaged.is_file():
        return json.loads(packaged.read_text(encoding="utf-8"))
    return json.loads((Path(__file__).parent.parent / "plugin.json").read_text(encoding="utf-8"))


__version__: str = manifest()["version"]


def install_hint(extra: str = "") -> str:
    """How to install icm-matting (with an optional ``extra``): from its folder, as the README
    says; it is not on PyPI."""
    return f'pip install -e ".[{extra}]"' if extra else "pip install -e ."
