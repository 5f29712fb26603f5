"""The `crdsync` subcommands: one module per command, one convention, all listed in `COMMANDS`.

Convention: a command module exposes `add_arguments(parser)` (fills the subparser crdsync.cli made for it) and
`run(args) -> int` (the exit status). A command module is the thin IO and argparse shell: it reads files, talks to
clusters and prints; the decisions it applies live in their layers (crdsync.spec, crdsync.translate, crdsync.engine).
Modules here that are not in `COMMANDS` are a command's helpers (e.g. run_settings).

The help texts live in `COMMANDS`, not in the modules, so `crdsync --help` and a restarted `crdsync run` need not
import every command (cryptography, jsonschema and the kubernetes client cost a noticeable fraction of a second).
"""

from __future__ import annotations

# name -> (module, one-line help); the order is the order of `crdsync --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("crdsync.commands.validate", "check mapping files against the schema and semantic rules"),
    "plan": ("crdsync.commands.plan", "render offline what the other side would receive for some objects"),
    "run": ("crdsync.commands.run", "sync a virtual cluster with its host cluster"),
    "gc": ("crdsync.commands.gc", "list (and with --delete remove) host copies a tenant's Orphan rules left behind"),
    "convert": (
        "crdsync.commands.convert",
        "turn a vcluster generic-sync config into a crdsync mapping, with a report",
    ),
    "rbac": (
        "crdsync.commands.rbac",
        "print the least-privilege RBAC a mapping needs on the host and virtual clusters",
    ),
}
