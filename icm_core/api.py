"""Public types and the one error hierarchy shared by engines, CLI, panel and hosts.

Conventions at every boundary: an image is ``float32`` ``H×W×3`` sRGB in [0, 1]; a mask or
alpha is ``float32`` ``H×W`` in [0, 1].  Conversion from files and host pixel formats happens
once, at the edge (:mod:`icm_core.imageio`, host adapters).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:  # only annotations: `icm-matting --help` stays free of numpy
    import numpy as np

#: ``progress(fraction in [0, 1], message)`` — called between stages.
ProgressCallback = Callable[[float, str], None]


class CancelToken(Protocol):
    """Anything with ``is_set()``; ``threading.Event`` is the usual one."""

    def is_set(self) -> bool: ...


class IcmWarning(UserWarning):
    """Something was computed, but not the way the user probably intended; the message says why."""


#: seeds 0…SEED_MAX: what every engine and library takes (OpenCV's random generator a C int)
SEED_MAX = 2**31 - 1


class IcmError(Exception):
    """Base of every error this project raises on purpose; the message is for the artist."""


class InvalidInput(IcmError, ValueError):
    """An image, mask or parameter the engine cannot use; nothing was computed or written."""


class UnreadableFile(InvalidInput):
    """A file that is missing, corrupt or not an image we can decode."""


class WeightsMissing(IcmError):
    """Model weights are not where they should be; the message says how to get them."""


class WeightsCorrupt(IcmError):
    """Model weights exist but are truncated, tampered with or for another model."""


class Cancelled(IcmError):
    """The user cancelled; partial results were discarded."""


class OutOfMemory(IcmError):
    """The job does not fit in memory; the message suggests what to lower."""


class OutputError(IcmError):
    """A result could not be written (disk full, read-only, would overwrite)."""


def write_failure(folder: object, error: BaseException) -> OutputError:
    """An :class:`OutputError` for a failed write into ``folder``, its advice fitted to the
    cause (a full disk, a read-only or forbidden folder).  Reads the error number of an
    ``OSError`` or of a library that only reports it in its text (safetensors: "(os error 28)")."""
    import errno
    import re

    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    code = getattr(error, "errno", None)
    if code is None and (found := re.search(r"os error (\d+)", text)):
        code = int(found.group(1))
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = "Free some space there, or choose another folder."
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM):
        advice = "It cannot be written (read-only): choose a writable folder."
    else:
        advice = "Check that folder."
    return OutputError(f"Could not write into {folder}: {text}. {advice}")


@dataclass(frozen=True, eq=False)
class Reference:
    """An encoded reference (image + brushed mask), owned by the caller and reusable.

    ``data`` is engine-specific and must be treated as read-only.  ``sources`` holds one
    entry per combined reference.
    """

    engine: str
    data: Any
    image_sizes: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        return len(self.image_sizes)


@dataclass(frozen=True)
class Hints:
    """Corrections painted on one target: ``keep`` and ``remove`` are target-sized ``H×W``
    float32 masks (or None); painted pixels (> 0.5) are hard constraints, the rest is free.
    They also re-classify what looks like them elsewhere in the same target."""

    keep: np.ndarray | None = None
    remove: np.ndarray | None = None
    #: painted by hand: a stroke samples a region (it also speaks for the region of its look
    #: joined to it) and says one thing (a keep stroke only adds, a remove stroke only takes
    #: away).  False for hints that are a whole reading already, such as a shot's carried
    #: matte: spread, its sure subject would reach into background that looks like it, and
    #: its keep and remove hints together decide all they reach.
    brushed: bool = True


#: a matte whose subject (alpha ≥ 0.5) covers less than this share of the picture is "empty",
#: more than 1 − this share "almost the whole picture": both are usually a wrong reading
COVERAGE_WARNING = 0.002


@dataclass
class MatteResult:
    """``alpha`` has exactly the target's height and width; ``foreground`` (H×W×3, optional)
    is the estimated un-premultiplied subject colour for cutouts; ``timings`` in seconds;
    ``warnings`` say, in words for the artist, why the result is probably not what was meant
    (filled in from the alpha unless given)."""

    alpha: np.ndarray
    foreground: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.warnings is None:
            self.warnings = coverage_warnings(self.alpha)


def coverage_warnings(alpha: np.ndarray) -> tuple[str, ...]:
    """A warning when the matte kept (almost) nothing or (almost) the whole picture."""
    share = float((alpha >= 0.5).mean()) if alpha.size else 0.0
    if share < COVERAGE_WARNING:
        return ("the matte is empty: nothing like the reference's subject was found; brush "
                "a keep stroke on the subject, or use a reference that shows it",)
    if share > 1.0 - COVERAGE_WARNING:
        return ("the matte covers the whole picture: the subject could not be told from the "
                "background; brush a remove stroke on the background",)
    return ()


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if the token is set; engines call it between stages (icm also
    between the blocks of its networks)."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("Cancelled by the user.")


def report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


def new_cancel_token() -> threading.Event:
    return threading.Event()
