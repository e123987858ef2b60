"""Engine registry.  Engines are imported on demand so that ``import icm_core`` stays cheap."""

from __future__ import annotations

import os
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


#: Python packages each engine needs at run time (import names).
REQUIREMENTS = {
    "lite": ("onnxruntime", "scipy", "cv2"),
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
        extra = "" if name == "lite" else "[icm]"
        return False, f"Not installed: pip install 'icm-matting{extra}' (missing {', '.join(missing)})."
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
