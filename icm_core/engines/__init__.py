"""The engine registry: each engine by name, its options and whether it can run here.  The
engines live in their own folders (``lite/``, ``icm/``) and are imported on demand."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..api import InvalidInput
from .base import Engine, Option

_ENGINES = {
    "lite": "icm_core.lite.engine:LiteEngine",
    "icm": "icm_core.icm.engine:IcmEngine",
}


def engine_names() -> list[str]:
    return list(_ENGINES)


def engine_class(name: str) -> type:
    """The class of engine ``name``; importing it is cheap (no torch, no weights)."""
    if name not in _ENGINES:
        raise InvalidInput(f"Unknown engine {name!r}; choose one of: {', '.join(_ENGINES)}.")
    module_name, class_name = _ENGINES[name].split(":")
    return getattr(import_module(module_name), class_name)


def option(name: str, key: str) -> Option:
    """Option ``key`` of engine ``name``, or :class:`InvalidInput` listing the ones it has."""
    declared = {option.name: option for option in engine_class(name).OPTIONS}
    if key not in declared:
        raise InvalidInput(f"The {name} engine has no option {key!r}; its options are "
                           f"{', '.join(declared)} (listed by icm-matting matte --help).")
    return declared[key]


def options_help() -> str:
    """Every engine's options with their defaults, what they take and what they do: the table
    ``--help`` shows and the README copies (a test keeps the two equal)."""
    lines = ["engine options (--engine-option NAME=VALUE, repeatable):"]
    for name in _ENGINES:
        lines.append(f"  {name}:")
        for option in engine_class(name).OPTIONS:
            value = option.default
            value = str(value).lower() if isinstance(value, bool) else value  # as it is typed
            default = "" if value is None else f", default {value}"
            lines.append(f"    {option.name}: {option.allowed()}{default}")
            lines.append(f"        {option.help}")
    return "\n".join(lines)


def get_engine(name: str = "lite", **options: Any) -> Engine:
    """Build the engine called ``name`` with engine-specific ``options`` (device, weights…);
    an option it does not declare is refused here, a value its constructor refuses (each
    engine checks its ``OPTIONS``)."""
    for key in options:
        option(name, key)
    return engine_class(name)(**options)


def availability(name: str) -> tuple[bool, str]:
    """Whether engine ``name`` can run here, and if not, why and what to do — cheaply: no
    model is loaded and nothing heavy is imported, so a panel can call it when it opens."""
    if name not in _ENGINES:
        return False, f"Unknown engine {name!r}."
    return engine_class(name).availability()
