"""`crdsync dev up|down|build`: start or stop local host and virtual control planes in a directory, or just build.

`up` builds the binaries if needed, starts the planes, prints each kubeconfig path on stdout (one `name=path` line per
plane, so scripts can read them) and then runs until Ctrl-C or SIGTERM, stopping everything before it exits 0; if a
plane dies on its own it exits 1 with that plane's log tail. `up --detach` returns as soon as the planes are ready and
leaves them running; `down` stops them. `build` builds (or finds) etcd, kube-apiserver and the cert-manager controller
and prints their paths, so a test run can pay for a cold build up front with visible progress. Bad input and start-up
failures print one located message and exit 1 or 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from crdsync.devplane.build import BuildError, find_binary
from crdsync.devplane.certmanager import CertManagerError, ensure_cert_manager_binary
from crdsync.devplane.launcher import (
    DEFAULT_NAMES,
    DEFAULT_READY_TIMEOUT,
    Planes,
    PlanesError,
    local_planes,
    read_state,
    start_detached,
    stop_detached,
)
from crdsync.devplane.render import StateError, check_plane_name


def _plane_name(value: str) -> str:
    try:
        return check_plane_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="dev_action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start etcd and the host and virtual kube-apiservers")
    up.add_argument("--dir", type=Path, required=True, help="directory for kubeconfigs, logs, data and state")
    up.add_argument("--detach", action="store_true", help="return once ready and leave the planes running")
    up.add_argument(
        "--plane",
        dest="planes",
        action="append",
        type=_plane_name,
        metavar="NAME",
        help=f"name of an apiserver plane to start (repeatable; default: {' and '.join(DEFAULT_NAMES)})",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_READY_TIMEOUT,
        help="seconds to wait for readiness (default %(default)s)",
    )
    down = actions.add_parser("down", help="stop planes started with `up` in a directory")
    down.add_argument("--dir", type=Path, required=True, help="the directory given to `up`")
    actions.add_parser("build", help="build (or find) etcd, kube-apiserver and the cert-manager controller")


def _print_kubeconfigs(planes: Planes) -> None:
    for name in planes.names:
        print(f"{name}={planes.kubeconfig(name)}")
    sys.stdout.flush()


def _up(args: argparse.Namespace) -> int:
    names = tuple(args.planes or DEFAULT_NAMES)
    if len(set(names)) != len(names):
        print(f"crdsync dev up: --plane names must be distinct, got {', '.join(names)}", file=sys.stderr)
        return 2
    if args.detach:
        planes = start_detached(args.dir, names=names, ready_timeout=args.timeout)
        _print_kubeconfigs(planes)
        print(
            f"crdsync: planes running in the background; stop them with: crdsync dev down --dir {args.dir}",
            file=sys.stderr,
        )
        return 0
    try:
        with local_planes(args.dir, names=names, ready_timeout=args.timeout) as planes:
            _print_kubeconfigs(planes)
            print("crdsync: planes running; press Ctrl-C to stop them", file=sys.stderr, flush=True)
            while True:
                dead = planes.dead()
                if dead:
                    tails = "\n".join(f"--- {planes.log_path(n)} ---\n{planes.log_tail(n)}" for n in dead)
                    print(
                        f"crdsync dev up: {', '.join(dead)} exited unexpectedly; stopping the rest\n{tails}",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(1.0)
    except KeyboardInterrupt:
        print("crdsync: planes stopped", file=sys.stderr)
        return 0


def _down(args: argparse.Namespace) -> int:
    recorded = read_state(args.dir)
    stopped = stop_detached(args.dir)
    if stopped:
        print(f"crdsync: stopped {', '.join(stopped)}", file=sys.stderr)
    elif recorded:
        print(f"crdsync: the planes recorded in {args.dir} had already stopped; record cleared", file=sys.stderr)
    else:
        print(f"crdsync: no running planes recorded in {args.dir}", file=sys.stderr)
    return 0


def _build() -> int:
    # What `make test` needs before pytest (cold builds take minutes; outside test timeouts; toxiproxy for the chaos
    # tests). Benchmark-only tools
    # (cr-copier) are built when a benchmark asks for them.
    for name in ("etcd", "kube-apiserver", "helm", "toxiproxy"):
        print(f"{name}={find_binary(name)}")
    print(f"cert-manager-controller={ensure_cert_manager_binary()}")
    print(f"external-secrets-controller={find_binary('external-secrets-controller')}")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if args.dev_action == "build":
            return _build()
        return _up(args) if args.dev_action == "up" else _down(args)
    except (BuildError, CertManagerError, PlanesError, StateError, ValueError) as exc:
        print(f"crdsync dev {args.dev_action}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"crdsync dev {args.dev_action}: {exc.filename or args.dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
