"""`python -m devkit down --dir D`: stop the planes `python -m devkit up --detach` left running in a directory.

Exits 0 whether they were running, had already died (the record is cleared) or none were recorded; a corrupt record
is one located message and exit 1 (devkit.commands.planes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devkit.commands.planes import guarded
from devkit.devplane.launcher import read_state, stop_detached


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, required=True, help="the directory given to `up`")


def _down(directory: Path) -> int:
    recorded = read_state(directory)
    stopped = stop_detached(directory)
    if stopped:
        print(f"devkit: stopped {', '.join(stopped)}", file=sys.stderr)
    elif recorded:
        print(f"devkit: the planes recorded in {directory} had already stopped; record cleared", file=sys.stderr)
    else:
        print(f"devkit: no running planes recorded in {directory}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded("down", args.dir, lambda: _down(args.dir))
