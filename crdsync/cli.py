"""The `crdsync` command line: a thin dispatcher over the command modules.

The commands are listed in crdsync.commands.COMMANDS. Each lives in its own module, which exposes
`add_arguments(parser)` and `run(args) -> int` (the convention of crdsync.commands; the developer CLI, devkit.cli,
reuses `build_parser` and `dispatch` with its own list). This module only builds the argument parser and maps exit
codes; it never holds command logic, so a failing import of one command cannot break the others (the error names the
command instead of a traceback at startup).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Mapping, Sequence

from crdsync import __version__, logs
from crdsync.commands import COMMANDS


def build_parser(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "crdsync",
    commands: Mapping[str, tuple[str, str]] = COMMANDS,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """The parser; only the chosen command's module is imported (all of them when none is chosen, e.g. for help).

    Importing every command costs a restart a noticeable fraction of a second (cryptography, jsonschema, the
    kubernetes client), which is time a restarted `crdsync run` is not syncing.
    """
    chosen = _chosen_command(argv, commands)
    if description is None and __doc__:
        description = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"crdsync {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-v for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if chosen is not None and name != chosen:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # The command's own module (or its package) is missing from this build; anything else it fails to import
            # is a real error and must show.
            if exc.name is None or not (module_name == exc.name or module_name.startswith(exc.name + ".")):
                raise
            command_parser.set_defaults(_unavailable=module_name)
            continue
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def _chosen_command(argv: Sequence[str] | None, commands: Mapping[str, tuple[str, str]]) -> str | None:
    for token in sys.argv[1:] if argv is None else argv:
        if not token.startswith("-"):
            return token if token in commands else None
    return None


def verbosity_level(verbose: int) -> int:
    return logging.WARNING - 10 * min(verbose + 1, 2)


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, set up text logging and run the chosen command; its exit status (2: none or unavailable)."""
    args = parser.parse_args(argv)
    # Text at INFO (-v: DEBUG) for every command; `crdsync run` may switch to JSON and another level from its settings.
    logs.setup("text", verbosity_level(args.verbose))
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_unavailable", None):
        print(f"{parser.prog}: command {args.command!r} is not available in this build", file=sys.stderr)
        return 2
    try:
        result: int = args._module.run(args)
    except KeyboardInterrupt:
        return 130
    return result


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(argv), argv)
