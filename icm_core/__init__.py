"""icm-matting core: reference-guided alpha matting, free of Qt and of any host.

Public entry points: :func:`icm_core.engines.get_engine`, the types and errors in
:mod:`icm_core.api`, image I/O in :mod:`icm_core.imageio`.  Heavy libraries (ONNX Runtime,
SciPy, torch, diffusers) are imported lazily by the engines, so importing this package is cheap.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from pathlib import Path

# Official ONNX Runtime builds start Microsoft's telemetry (1DS) when the library loads: they
# create ~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db} and a session
# file in the temporary folder, and queue events (Python path, OS, CPU, memory) to upload.  This
# variable, set before the library loads, keeps all of that from being created (ONNX Runtime's
# Privacy.md).  Set here, on the import every use of icm_core passes through, so it precedes any
# import of onnxruntime by this project (the lite engine, the panel's warm-up); worker
# processes inherit it.  Nothing in this project may send anything anywhere.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"


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


def require_extra(extra: str, packages: tuple[str, ...], what: str) -> None:
    """Refuse (:class:`~icm_core.api.IcmError`), before any work, when a package of ``extra``
    is not installed, naming the line that installs it.  ``what`` needs them."""
    from importlib.util import find_spec

    from .api import IcmError

    def installed(package: str) -> bool:
        try:
            return find_spec(package) is not None
        except (ImportError, ValueError):  # a broken or blocked package is as good as none
            return False

    missing = [package for package in packages if not installed(package)]
    if missing:
        raise IcmError(f"{what} needs {', '.join(missing)} (not installed): run "
                       f"`{install_hint(extra)}` in the icm-matting folder.")
