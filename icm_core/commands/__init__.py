"""CLI subcommands; each module registers itself through ``register(subparsers)``."""

from __future__ import annotations

import json

from ..api import InvalidInput


def add_engine_arguments(parser) -> None:
    """--engine, --engine-option (read by :func:`parse_options`) and --seed, for every command
    that mattes."""
    parser.add_argument("--engine", default="lite", help="matting engine: lite (default) or icm")
    parser.add_argument("--engine-option", action="append", default=[], metavar="KEY=VALUE",
                        help="engine option, e.g. matting_side=1536 (repeatable); VALUE is read "
                        "as JSON when it parses, else as text")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")


def parse_options(pairs: list[str]) -> dict:
    """``--engine-option`` values: ``["a=1", "b=x", "c=[1,2]"]`` → ``{"a": 1, "b": "x", "c": [1, 2]}``.

    Values are read as JSON (numbers, true/false, lists, objects); anything else is a string,
    except True/False in any case, which become booleans.
    """
    options = {}
    for pair in pairs:
        key, separator, text = pair.partition("=")
        if not separator or not key:
            raise InvalidInput(f"Engine options look like KEY=VALUE, got {pair!r}.")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = {"true": True, "false": False}.get(text.lower(), text)
    return options
