"""`python -m devkit COMMAND`: the developer commands (local planes, demo, benchmark), never shipped in the wheel.

The same dispatcher and convention as the product CLI (crdsync.cli), over devkit.commands.COMMANDS.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from crdsync import cli
from devkit.commands import COMMANDS

PROG = "python -m devkit"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    return cli.build_parser(argv, prog=PROG, commands=COMMANDS, description=__doc__.splitlines()[0])


def main(argv: Sequence[str] | None = None) -> int:
    return cli.dispatch(build_parser(argv), argv)
