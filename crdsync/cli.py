"""The `crdsync` command line: a thin dispatcher over the command modules.

Each subcommand lives in its own module, which exposes `add_arguments(parser)` and `run(args) -> int`. This module only
builds the argument parser and maps exit codes; it never holds command logic, so a failing import of one command
cannot break the others (the error names the command instead of a traceback at startup).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from crdsync import __version__, logs

# name -> (module, one-line help). Modules are imported only when their command is chosen or help is built.
_COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("crdsync.spec.validate_cmd", "check mapping files against the schema and semantic rules"),
    "plan": ("crdsync.plan", "render offline what the other side would receive for some objects"),
    "run": ("crdsync.engine.run_cmd", "sync a virtual cluster with its host cluster"),
    "dev": ("crdsync.devplane.cli", "start or stop local host and virtual control planes"),
    "demo": ("crdsync.demo", "use the host's cert-manager from a virtual cluster, on local control planes"),
    "bench": ("crdsync.bench", "measure sync speed against the apiserver's own write limit"),
    "gc": ("crdsync.gc_cmd", "list (and with --delete remove) host copies a tenant's Orphan rules left behind"),
    "convert": ("crdsync.convert.cmd", "turn a vcluster generic-sync config into a crdsync mapping, with a report"),
    "rbac": ("crdsync.rbac_cmd", "print the least-privilege RBAC a mapping needs on the host and virtual clusters"),
}


def _load(module_name: str) -> ModuleType:
    return importlib.import_module(module_name)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen command's module is imported (all of them when none is chosen, e.g. for help).

    Importing every command costs a restart a noticeable fraction of a second (cryptography, jsonschema, the
    kubernetes client), which is time a restarted `crdsync run` is not syncing.
    """
    chosen = _chosen_command(argv)
    parser = argparse.ArgumentParser(prog="crdsync", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"crdsync {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-v for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in _COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if chosen is not None and name != chosen:
            continue
        try:
            module = _load(module_name)
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


def _chosen_command(argv: Sequence[str] | None) -> str | None:
    for token in sys.argv[1:] if argv is None else argv:
        if not token.startswith("-"):
            return token if token in _COMMANDS else None
    return None


def verbosity_level(verbose: int) -> int:
    return logging.WARNING - 10 * min(verbose + 1, 2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    # Text at INFO (-v: DEBUG) for every command; `crdsync run` may switch to JSON and another level from its settings.
    logs.setup("text", verbosity_level(args.verbose))
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_unavailable", None):
        print(f"crdsync: command {args.command!r} is not available in this build", file=sys.stderr)
        return 2
    try:
        result: int = args._module.run(args)
    except KeyboardInterrupt:
        return 130
    return result
