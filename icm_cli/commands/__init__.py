"""CLI subcommands; each module registers itself through ``register(subparsers)``."""

from __future__ import annotations

import argparse

from icm_core.api import InvalidInput

DEVICES = ("auto", "cpu", "cuda", "mps")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's wrapping for prose; lines that start with a space (tables) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        fill = super()._fill_text
        return "\n".join(line if line.startswith(" ") else fill(line, width, indent)
                         for line in text.splitlines())


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--engine, --engine-option, --device (read by :func:`parse_options`) and --seed, for every
    command that mattes; ``--help`` lists every engine's options."""
    parser.add_argument("--engine", default="lite", help="matting engine: lite (default, CPU) or icm (Stable Diffusion 2.1)")
    parser.add_argument("--engine-option", action="append", default=[], metavar="NAME=VALUE",
                        help="an engine option from the table below, e.g. matting_side=1536 "
                        "(repeatable)")
    parser.add_argument("--device", choices=DEVICES,
                        help="where icm runs (default auto: CUDA, then MPS, else the CPU; fp16 on "
                        "CUDA); lite runs on the CPU only")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")
    parser.formatter_class = HelpFormatter
    # the options table imports the engine modules (numpy, OpenCV): only when this help shows,
    # so that `icm-matting --help` and every run stay free of it
    parser.format_help = lambda: _help_with_engine_options(parser)


def _help_with_engine_options(parser: argparse.ArgumentParser) -> str:
    from icm_core.engines import options_help

    parser.epilog = options_help()
    return argparse.ArgumentParser.format_help(parser)


def parse_options(args: argparse.Namespace) -> dict:
    """The engine's options from ``--engine-option NAME=VALUE`` and ``--device``, each read as
    the type the engine declares for it and checked, and ``--seed`` checked
    (:class:`InvalidInput` otherwise)."""
    from icm_core import require_extra
    from icm_core.engines import engine_class, option
    from icm_core.validate import check_seed

    engine = engine_class(args.engine)  # an unknown engine is refused before anything else
    require_extra(engine.EXTRA, engine.REQUIREMENTS, f"The {args.engine} engine")
    check_seed(args.seed)
    options = {}
    for pair in args.engine_option:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise InvalidInput(f"Engine options look like NAME=VALUE, got {pair!r}.")
        options[name] = option(args.engine, name).parse(args.engine, text)
    if args.device is not None:
        options["device"] = option(args.engine, "device").parse(args.engine, args.device)
    return options
