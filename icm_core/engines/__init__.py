"""Engine registry.  Engines are imported on demand so that ``import icm_core`` stays cheap."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..api import InvalidInput
from .base import Engine

_ENGINES = {
    "lite": "icm_core.engines.lite:LiteEngine",
    "icm": "icm_core.engines.icm:IcmEngine",
}


def engine_names() -> list[str]:
    return list(_ENGINES)


def get_engine(name: str = "lite", **options: Any) -> Engine:
    """Build the engine called ``name`` with engine-specific ``options`` (device, weights…)."""
    if name not in _ENGINES:
        raise InvalidInput(f"Unknown engine {name!r}; choose one of: {', '.join(_ENGINES)}.")
    module_name, class_name = _ENGINES[name].split(":")
    return getattr(import_module(module_name), class_name)(**options)
