"""`crdsync run`: load the mapping, connect to both clusters and sync until SIGINT/SIGTERM.

Failure modes: an invalid mapping prints located errors and exits 1 before touching any cluster; an unreadable
kubeconfig exits 1 with the reason; anything the clusters do at run time is handled per object by the engine.
Shutdown drains the workers (each finishes its current key) and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

from crdsync.engine.engine import Engine
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ConfigError
from crdsync.kube.lease import LeaderElector
from crdsync.spec.load import load_files
from crdsync.spec.model import SyncConfig
from crdsync.translate.names import Tenant, is_dns1123_label

log = logging.getLogger("crdsync.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mapping", action="append", required=True, metavar="FILE", help="mapping spec (repeatable)")
    parser.add_argument("--host-kubeconfig", required=True, metavar="K")
    parser.add_argument("--host-context", metavar="C")
    parser.add_argument("--virtual-kubeconfig", required=True, metavar="K")
    parser.add_argument("--virtual-context", metavar="C")
    parser.add_argument("--host-namespace", required=True, metavar="NS", help="the tenant's namespace in the host")
    parser.add_argument("--vcluster", required=True, metavar="NAME", help="the tenant's name (part of host names)")
    parser.add_argument(
        "--workers", type=int, default=32, help="concurrent reconciles (default 32: writes wait on the apiserver)"
    )
    parser.add_argument("--field-manager", default="crdsync", help="server-side apply field manager")
    parser.add_argument(
        "--leader-elect", action="store_true", help="hold a Lease in the host namespace; only the leader syncs"
    )


def load_config(paths: list[str]) -> SyncConfig | None:
    result = load_files(paths)
    for error in sorted(result.errors):
        print(str(error), file=sys.stderr)
    return result.config


def run(args: argparse.Namespace) -> int:
    config = load_config(args.mapping)
    if config is None:
        return 1
    for value, flag in ((args.vcluster, "--vcluster"), (args.host_namespace, "--host-namespace")):
        if not is_dns1123_label(value):
            print(f"crdsync run: {flag} {value!r} must be a DNS-1123 label", file=sys.stderr)
            return 1
    try:
        # One connection per worker plus one per watch (two kinds per side is typical); a smaller pool makes urllib3
        # drop and reopen TLS connections under load.
        pool = args.workers + 16
        host = KubeClient.from_kubeconfig(
            args.host_kubeconfig, args.host_context, field_manager=args.field_manager, pool_maxsize=pool
        )
        virtual = KubeClient.from_kubeconfig(
            args.virtual_kubeconfig, args.virtual_context, field_manager=args.field_manager, pool_maxsize=pool
        )
    except ConfigError as exc:
        print(f"crdsync run: cannot load kubeconfig: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: draining and stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    tenant = Tenant(vcluster=args.vcluster, host_namespace=args.host_namespace)
    log.info(
        "crdsync %s: %d rules from %s; tenant %s in host namespace %s",
        config.name,
        len(config.rules),
        ", ".join(config.sources),
        tenant.vcluster,
        tenant.host_namespace,
    )
    if args.leader_elect:
        return _run_as_leader(config, tenant, host, virtual, args, stop)
    engine = Engine(config, tenant, host, virtual, workers=args.workers, field_manager=args.field_manager)
    engine.start()
    while not stop.wait(1.0):
        pass
    engine.stop()
    log.info("stopped; %d reconciles, %d with errors", engine.processed, engine.errors)
    return 0


def _run_as_leader(
    config: SyncConfig,
    tenant: Tenant,
    host: KubeClient,
    virtual: KubeClient,
    args: argparse.Namespace,
    stop: threading.Event,
) -> int:
    identity = f"{socket.gethostname()}-{os.getpid()}"
    elector = LeaderElector(host, tenant.host_namespace, f"crdsync-{tenant.vcluster}", identity)
    engine: Engine | None = None
    while not stop.is_set():
        if elector.try_acquire_or_renew():
            if engine is None:
                log.info("leading as %s; starting", identity)
                engine = Engine(config, tenant, host, virtual, workers=args.workers, field_manager=args.field_manager)
                engine.start()
        elif engine is not None:
            log.warning("lost the lease; stopping")
            engine.stop()
            engine = None
        stop.wait(elector.retry_period)
    if engine is not None:
        engine.stop()
    elector.release()
    return 0
