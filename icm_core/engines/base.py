"""What every engine shares: the :class:`Engine` protocol, the :class:`EngineBase` an engine
declares itself on (options, presets, requirements, availability), and the checks both run."""

from __future__ import annotations

import json
import numbers
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any, Callable, ClassVar, Iterator, Protocol, Sequence

import numpy as np

from .. import install_hint
from ..api import (CancelToken, Hints, InvalidInput, MatteResult, OutOfMemory, ProgressCallback,
                   Reference)

_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}


#: a JSON option deeper than this is refused (decoder widths are two levels deep)
JSON_DEPTH = 8


def cpu_cores() -> int:
    """The machine's CPU cores: more threads or workers than that only wait for each other."""
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Option:
    """One engine option: what ``get_engine(name, NAME=VALUE)`` and ``--engine-option`` accept.

    ``kind`` is int, float, bool, str (free text such as a path, or one of ``choices``) or dict
    (a JSON object).  ``choices`` of a non-str option are words accepted besides its values
    (``attention_slicing=auto``).  ``low``/``high`` bound numbers, both ends included; every
    number has both (``high_is_cores``: the machine's CPU cores); ``multiple`` is a step whole
    numbers must be a multiple of.  ``entries`` checks a dict's content: it returns what is wrong, or "".
    """

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    high_is_cores: bool = False
    multiple: int = 1
    entries: Callable[[dict], str] | None = None

    def upper(self) -> float | None:
        return cpu_cores() if self.high_is_cores else self.high

    def allowed(self) -> str:
        """What the option accepts, in words: "a whole number 128…2048", "one of cpu, cuda"."""
        if self.kind is str:
            return f"one of {', '.join(self.choices)}" if self.choices else "text"
        words = {int: "a whole number", float: "a number", bool: "true or false",
                 dict: "a JSON object"}[self.kind]
        high = "CPU cores" if self.high_is_cores else None if self.high is None else f"{self.high:g}"
        if self.low is not None and high is not None:
            words += f" {self.low:g}…{high}"
        elif self.low is not None:
            words += f" ≥ {self.low:g}"
        elif high is not None:
            words += f" ≤ {high}"
        if self.multiple > 1:
            words += f", a multiple of {self.multiple}"
        return words + "".join(f" or {choice}" for choice in self.choices)

    def parse(self, engine: str, text: str) -> Any:
        """The command line's text for this option → its value, checked."""
        if text in self.choices or self.kind is str:
            return self.check(engine, text)
        try:
            if self.kind is bool:
                value = _BOOLEANS[text.lower()]
            elif self.kind is dict:
                value = json.loads(text)
            else:
                value = self.kind(text)
        except (KeyError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
            value = text  # refused by check() with the full sentence
        return self.check(engine, value)

    def check(self, engine: str, value: Any) -> Any:
        """``value`` if this option accepts it, else :class:`InvalidInput` saying what it takes."""
        if value is None and self.default is None:
            return value  # None where None means "the default"
        if isinstance(value, str) and value in self.choices:
            return value
        problem = ""
        if self.kind is str:
            fits = not self.choices and isinstance(value, (str, os.PathLike))
        elif self.kind is bool:
            fits = isinstance(value, (bool, np.bool_))
        elif self.kind is dict:
            fits = isinstance(value, dict) and _depth(value) <= JSON_DEPTH
            problem = self.entries(value) if fits and self.entries else ""
        else:
            number = numbers.Integral if self.kind is int else numbers.Real
            high = self.upper()
            fits = (isinstance(value, number) and not isinstance(value, (bool, np.bool_))
                    and (self.low is None or value >= self.low)
                    and (high is None or value <= high)
                    and (self.multiple == 1 or value % self.multiple == 0))
        if not fits or problem:
            here = f", {cpu_cores()} here" if self.high_is_cores else ""
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "…"
            raise InvalidInput(f"The {engine} engine's option {self.name} takes {self.allowed()}"
                               f"{here}, not {shown} ({problem or self.help}).")
        return value


def check_declared(engine: str, options: Sequence[Option], values: dict[str, Any]) -> None:
    """Check a constructor's arguments against its declared ``options`` (the one place the
    rules live, for callers that build an engine class directly)."""
    for option in options:
        option.check(engine, values[option.name])


def _depth(value: Any, limit: int = JSON_DEPTH + 1) -> int:
    """How deeply ``value`` nests lists and dicts, counted no further than ``limit``."""
    if limit <= 0 or not isinstance(value, (dict, list, tuple)):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(item, limit - 1) for item in items), default=0)


#: the quality presets every engine maps to its own options (:attr:`EngineBase.PRESETS`)
QUALITIES = ("fast", "balanced", "best")


class Engine(Protocol):
    """A matting engine.  Holds no Qt object; safe to drive from one worker thread.

    ``encode_reference`` is done once per reference and its result may be reused for any
    number of targets; ``combine`` merges several encoded references into one (a corrected
    target, with its corrected alpha as the mask, teaches the rest of a series).  ``memory``
    marks a frame a shot's memory learnt from its own matte (:mod:`icm_core.sequence`): an
    engine may teach it more literally and give it less say than the user's references.
    ``matte`` takes correction ``hints`` (keep / remove strokes on that target) and keeps the
    target's expensive state, so matting it again after a stroke is fast; ``preview=True``
    returns a quick alpha for live feedback.  ``follow`` is, in a shot, where the subject was
    in the frames just before (target-sized, 1 there), not a constraint (lite keeps the
    look-alikes it overlaps, which are parts of the subject an occluder cut off).  ``forget``
    drops the kept state.
    Same inputs and ``seed`` give the same reference and the same alpha.
    """

    name: str
    #: every keyword the constructor accepts, checked by :func:`icm_core.engines.get_engine`
    OPTIONS: ClassVar[tuple[Option, ...]]

    @classmethod
    def weights_fingerprint(cls, options: dict) -> dict[str, str]:
        """What identifies the weights the engine built with ``options`` computes with."""

    @classmethod
    def uses_gpu(cls, options: dict) -> bool:
        """Whether the engine built with ``options`` computes on a GPU."""

    def encode_reference(self, image: np.ndarray, mask: np.ndarray, *,
                         seed: int = 0, memory: bool = False) -> Reference: ...

    def combine(self, references: Sequence[Reference]) -> Reference: ...

    def matte(
        self,
        target: np.ndarray,
        reference: Reference,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        seed: int = 0,
        foreground: bool = False,
        hints: Hints | None = None,
        preview: bool = False,
        follow: np.ndarray | None = None,
    ) -> MatteResult: ...

    def forget(self) -> None: ...


class EngineBase:
    """What an engine declares about itself, and the questions a caller (batch, the panel, a
    host bridge, the CLI) asks it instead of branching on its name.  Answered without building
    the engine, loading a model or importing its heavy packages."""

    name: ClassVar[str]
    label: ClassVar[str]  # the engine as an artist sees it in a list
    OPTIONS: ClassVar[tuple[Option, ...]]
    #: engine options for each of :data:`QUALITIES`
    PRESETS: ClassVar[dict[str, dict[str, Any]]]
    #: Python packages it needs at run time (import names), installed by ``pip install -e .[EXTRA]``
    REQUIREMENTS: ClassVar[tuple[str, ...]]
    EXTRA: ClassVar[str] = ""  # "": the base install brings them

    @classmethod
    def preset(cls, quality: str) -> dict[str, Any]:
        """The engine options of quality preset ``quality``."""
        if quality not in cls.PRESETS:
            raise InvalidInput(f"Quality {quality!r} is not one of {', '.join(cls.PRESETS)}.")
        return dict(cls.PRESETS[quality])

    @classmethod
    def option(cls, name: str) -> Option | None:
        return next((option for option in cls.OPTIONS if option.name == name), None)

    @classmethod
    def missing_packages(cls) -> list[str]:
        return [package for package in cls.REQUIREMENTS if find_spec(package) is None]

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Whether it can run here, and if not, why and what to do (cheap: a panel asks when
        it opens)."""
        missing = cls.missing_packages()
        if missing:
            return False, (f"Not installed: run `{install_hint(cls.EXTRA)}` in the icm-matting "
                           f"folder (missing {', '.join(missing)}).")
        problem = cls.setup_problem()
        return not problem, problem

    @classmethod
    def setup_problem(cls) -> str:
        """What is missing besides packages (weights), as sentences that say what to do; ""."""
        return ""


def check_reference(reference: Any, engine: str, data: type = object) -> None:
    """:class:`InvalidInput` unless ``reference`` was encoded by ``engine`` (into ``data``)."""
    if (not isinstance(reference, Reference) or reference.engine != engine
            or not isinstance(reference.data, data)):
        encoder = getattr(reference, "engine", type(reference).__name__)
        raise InvalidInput(f"This reference was encoded by the {encoder!r} engine; encode it "
                           f"again with the {engine} engine.")


def check_references(references: Sequence[Any], engine: str, data: type = object) -> None:
    """What :meth:`Engine.combine` is given: at least one reference, each ``engine``'s."""
    if not references:
        raise InvalidInput("Combine needs at least one reference.")
    for reference in references:
        check_reference(reference, engine, data)


# how torch ("can't allocate memory", "CUDA out of memory"), OpenCV ("Insufficient memory")
# and others say it
_MEMORY_WORDS = re.compile(r"not enough memory|can.t allocate memory|cannot allocate memory|"
                           r"insufficient memory|out of memory", re.IGNORECASE)


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or bool(_MEMORY_WORDS.search(str(error)))


@contextmanager
def memory_guard(advice: str) -> Iterator[None]:
    """Turn an allocation failure in the block into :class:`OutOfMemory` saying ``advice``."""
    try:
        yield
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        raise OutOfMemory(advice) from error


def encode_references(engine: Engine, pairs: Sequence[tuple[np.ndarray, np.ndarray]], *,
                      extra: str = "Extra reference {} (--also)") -> Reference:
    """One reference from (image, mask) pairs: the first alone, or all of them combined.  A
    pair after the first that is refused is named by ``extra`` (formatted with its number)."""
    references = []
    for number, (image, mask) in enumerate(pairs):
        try:
            references.append(engine.encode_reference(image, mask))
        except InvalidInput as error:
            if number == 0:
                raise
            raise type(error)(f"{extra.format(number)}: {error}") from None
    return references[0] if len(references) == 1 else engine.combine(references)
