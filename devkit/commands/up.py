"""`python -m devkit up --dir D`: start local host and virtual control planes in a directory.

Builds the binaries if needed, starts the planes, prints each kubeconfig path on stdout (one `name=path` line per
plane, so scripts can read them) and then runs until Ctrl-C or SIGTERM, stopping everything before it exits 0; if a
plane dies on its own it exits 1 with that plane's log tail. `--detach` returns as soon as the planes are ready and
leaves them running (`python -m devkit down` stops them). Failures: see devkit.commands.planes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from devkit.cli import PROG
from devkit.commands.planes import guarded
from devkit.devplane.launcher import DEFAULT_NAMES, DEFAULT_READY_TIMEOUT, Planes, local_planes, start_detached
from devkit.devplane.render import check_plane_name


def _plane_name(value: str) -> str:
    try:
        return check_plane_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, required=True, help="directory for kubeconfigs, logs, data and state")
    parser.add_argument("--detach", action="store_true", help="return once ready and leave the planes running")
    parser.add_argument(
        "--plane",
        dest="planes",
        action="append",
        type=_plane_name,
        metavar="NAME",
        help=f"name of an apiserver plane to start (repeatable; default: {' and '.join(DEFAULT_NAMES)})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_READY_TIMEOUT,
        help="seconds to wait for readiness (default %(default)s)",
    )


def _print_kubeconfigs(planes: Planes) -> None:
    for name in planes.names:
        print(f"{name}={planes.kubeconfig(name)}")
    sys.stdout.flush()


def _up(args: argparse.Namespace) -> int:
    names = tuple(args.planes or DEFAULT_NAMES)
    if len(set(names)) != len(names):
        print(f"{PROG} up: --plane names must be distinct, got {', '.join(names)}", file=sys.stderr)
        return 2
    if args.detach:
        planes = start_detached(args.dir, names=names, ready_timeout=args.timeout)
        _print_kubeconfigs(planes)
        print(
            f"devkit: planes running in the background; stop them with: {PROG} down --dir {args.dir}",
            file=sys.stderr,
        )
        return 0
    try:
        with local_planes(args.dir, names=names, ready_timeout=args.timeout) as planes:
            _print_kubeconfigs(planes)
            print("devkit: planes running; press Ctrl-C to stop them", file=sys.stderr, flush=True)
            while True:
                dead = planes.dead()
                if dead:
                    tails = "\n".join(f"--- {planes.log_path(n)} ---\n{planes.log_tail(n)}" for n in dead)
                    print(
                        f"{PROG} up: {', '.join(dead)} exited unexpectedly; stopping the rest\n{tails}",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(1.0)
    except KeyboardInterrupt:
        print("devkit: planes stopped", file=sys.stderr)
        return 0


def run(args: argparse.Namespace) -> int:
    return guarded("up", args.dir, lambda: _up(args))
