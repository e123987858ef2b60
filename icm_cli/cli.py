"""``icm-matting`` command line, above the layers it drives (``icm_core``, ``ui``, ``icm_plugin``).
Each subcommand lives in its own module and registers itself through a ``register(subparsers)``
function listed in ``_COMMANDS``."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from icm_core import __version__
from icm_core.api import IcmError

# modules that register subcommands: each imports what its command needs inside its run
# function, so building the parser (and --help) stays light
_COMMANDS = {
    "matte": "icm_cli.commands.matte",
    "batch": "icm_cli.commands.batch",
    "eval": "icm_cli.commands.eval",
    "gui": "icm_cli.commands.gui",
    "install": "icm_cli.commands.install",
    "weights": "icm_cli.commands.weights",
    "train": "icm_cli.commands.train",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icm-matting",
        description="Reference-guided alpha matting: brush one reference, matte a series.",
    )
    parser.add_argument("--version", action="version", version=f"icm-matting {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS.values():
        import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except IcmError as error:
        print(f"icm-matting: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # on a line of its own: Ctrl-C can land while a progress bar's line is unfinished
        print(f"\nicm-matting: interrupted{getattr(args, 'after_interrupt', '')}", file=sys.stderr)
        return 130

