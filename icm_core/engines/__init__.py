"""Engine registry.  Engines are imported on demand so that ``import icm_core`` stays cheap."""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from .. import install_hint
from ..api import InvalidInput
from .base import Engine, Option

_ENGINES = {
    "lite": "icm_core.engines.lite:LiteEngine",
    "icm": "icm_core.engines.icm:IcmEngine",
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


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` if engine ``name`` declares every one and accepts its value, else
    :class:`InvalidInput` saying which option is wrong and what it takes."""
    for key, value in options.items():
        option(name, key).check(name, value)
    return options


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
    """Build the engine called ``name`` with engine-specific ``options`` (device, weights…),
    each checked against the engine's declared ``OPTIONS`` first."""
    check_options(name, options)
    return engine_class(name)(**options)


#: Python packages each engine needs at run time (import names).
REQUIREMENTS = {
    "lite": ("onnxruntime", "scipy", "cv2", "maxflow"),
    "icm": ("torch", "diffusers", "transformers", "safetensors"),
}


def availability(name: str) -> tuple[bool, str]:
    """Whether engine ``name`` can run here, and if not, why and what to do — cheaply: no
    model is loaded and nothing heavy is imported, so a panel can call it when it opens."""
    from importlib.util import find_spec

    if name not in _ENGINES:
        return False, f"Unknown engine {name!r}."
    missing = [package for package in REQUIREMENTS.get(name, ()) if find_spec(package) is None]
    if missing:
        extra = "" if name == "lite" else "icm"
        return False, (f"Not installed: run `{install_hint(extra)}` in the icm-matting folder "
                       f"(missing {', '.join(missing)}).")
    if name == "icm":
        from .. import weights

        sd = str(os.environ.get(weights.ENV_SD) or weights.remembered().get("sd") or "")
        downloaded = weights.download_record(weights._download_folder(sd)) is not None
        if weights._looks_like_repo_id(sd) and not downloaded:
            # weights.status() would start the download; a probe must never do that.
            return False, (
                f"Stable Diffusion {sd} is not downloaded yet: run `icm-matting weights download`."
            )
        problems = [
            entry
            for entry in weights.status()
            if entry.path is None and entry.role != "prompt embedding"
        ]
        if problems:
            return False, " ".join(f"{_sentence(entry.role)}: {entry.problem}" for entry in problems)
    return True, ""


def _sentence(role: str) -> str:
    role = role.replace("icm", "ICM")
    return role[:1].upper() + role[1:]
