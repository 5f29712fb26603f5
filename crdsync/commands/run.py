"""`crdsync run`: load the mapping, connect to both clusters and sync until SIGINT/SIGTERM.

Settings come from flags, else from environment variables CRDSYNC_<FLAG> (CRDSYNC_HOST_NAMESPACE, CRDSYNC_MAPPING as a
comma- or colon-separated list, CRDSYNC_LEADER_ELECT=true...), else from defaults — so a Deployment can configure
crdsync from a ConfigMap with `envFrom`. Without a host kubeconfig crdsync runs in-cluster: the pod's service account
is its host identity (kube.incluster, token re-read as it rotates) and its namespace the default host namespace; the
virtual cluster always needs a kubeconfig (the vcluster's vc-<name> Secret, mounted as a file).

Observability (crdsync.engine.metrics, crdsync.engine.health, crdsync.logs): /metrics on --metrics-bind-address
(default :8080), /healthz and /readyz on --health-probe-bind-address (default :8081; "0" disables either; the same
address for both serves all three on one port), logs as text or JSON lines at --log-level (-v still means debug).
One metrics registry lives as long as the process, so counters survive an engine restarted on regaining leadership.

Leader election (--leader-elect; --lease-duration/--renew-deadline/--retry-period, client-go's 15s/10s/2s): each
leadership term runs its own engine behind its own write fence (crdsync.engine.fence), so a leader frozen past its
lease (SIGSTOP, a paused VM) sends no write when it wakes; the loop stops the term's engine as soon as the fence
closes (a write found the term lapsed, or the loop did before renewing) or a renewal fails, and campaigns again. The
Lease is renewed on a client of its own (its own connections, a request timeout inside the renew deadline), so
renewals never queue behind the workers' requests. Every request carries the replica's identity in its User-Agent,
so an apiserver audit log tells replicas apart.

Failure modes: a missing or invalid setting, an invalid mapping (located errors), an unreadable kubeconfig, or no
host kubeconfig outside a pod, or a probe/metrics address that cannot be bound: a message on stderr and exit 1
before touching any cluster, never a traceback. Anything
the clusters do at run time is handled per object by the engine. Shutdown drains the workers (each finishes its
current key) and exits 0.

Settings are resolved in crdsync.commands.run_settings, leadership terms run in crdsync.engine.leadership; this module
connects, serves the endpoints and handles signals.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from crdsync import __version__, logs
from crdsync.commands.run_settings import Settings, SettingsError, env_name, resolve_settings
from crdsync.engine import health
from crdsync.engine.engine import Engine
from crdsync.engine.fence import WriteFence
from crdsync.engine.leadership import RunState, run_as_leader
from crdsync.engine.metrics import Metrics
from crdsync.kube import incluster
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ConfigError
from crdsync.kube.lease import LeaderElector
from crdsync.spec.load import load_files
from crdsync.spec.model import SyncConfig
from crdsync.translate.names import Tenant

log = logging.getLogger("crdsync.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # No argparse defaults or `required`: a flag left out may come from the environment (resolve_settings).
    def add(flag: str, help_text: str, **kwargs: Any) -> None:
        dest = flag.lstrip("-").replace("-", "_")
        parser.add_argument(flag, help=f"{help_text} [env {env_name(dest)}]", **kwargs)

    add("--mapping", "mapping spec (repeatable; env: comma- or colon-separated)", action="append", metavar="FILE")
    add("--host-kubeconfig", "host kubeconfig (default: in-cluster, the pod's service account)", metavar="K")
    add("--host-context", "context in the host kubeconfig", metavar="C")
    add("--virtual-kubeconfig", "virtual cluster kubeconfig (required)", metavar="K")
    add("--virtual-context", "context in the virtual kubeconfig", metavar="C")
    add(
        "--host-namespace",
        "the tenant's namespace in the host (default in a pod: the service account's namespace)",
        metavar="NS",
    )
    add("--vcluster", "the tenant's name (part of host names; required)", metavar="NAME")
    add("--workers", "concurrent reconciles (default 32: writes wait on the apiserver)", metavar="N")
    add("--field-manager", "server-side apply field manager (default crdsync)", metavar="NAME")
    add(
        "--leader-elect",
        "hold a Lease in the host namespace; only the leader syncs (default off)",
        action=argparse.BooleanOptionalAction,
    )
    add("--lease-duration", "seconds a rival waits on a silent leader before taking over (default 15)", metavar="S")
    add("--renew-deadline", "seconds the leader may go unrenewed before it stops writing (default 10)", metavar="S")
    add("--retry-period", "seconds between renewals and between candidates' attempts (default 2)", metavar="S")
    add("--metrics-bind-address", "where /metrics is served ([host]:port; 0 disables; default :8080)", metavar="ADDR")
    add(
        "--health-probe-bind-address",
        "where /healthz and /readyz are served ([host]:port; 0 disables; default :8081)",
        metavar="ADDR",
    )
    add("--log-format", "text or json (one JSON object per line; default text)", choices=logs.FORMATS)
    add("--log-level", "debug, info, warning or error (default info; -v means debug)", choices=tuple(logs.LEVELS))


def load_config(paths: list[str]) -> SyncConfig | None:
    result = load_files(paths)
    for error in sorted(result.errors):
        print(str(error), file=sys.stderr)
    return result.config


def identity() -> str:
    """This replica's Lease identity (and User-Agent suffix): unique per process."""
    return f"{socket.gethostname()}-{os.getpid()}"


def user_agent() -> str:
    return f"crdsync/{__version__} ({identity()})"


def host_client(settings: Settings, sa_dir: Path, *, pool: int, request_timeout: float = 60.0) -> KubeClient:
    """A host client; raises ConfigError naming what is wrong."""
    common: dict[str, Any] = {
        "field_manager": settings.field_manager,
        "pool_maxsize": pool,
        "request_timeout": request_timeout,
        "user_agent": user_agent(),
    }
    if settings.host_kubeconfig is None:
        try:
            return incluster.client(sa_dir=sa_dir, **common)
        except ConfigError as exc:
            raise ConfigError(f"host: no --host-kubeconfig (or {env_name('host_kubeconfig')}) and {exc}") from None
    return KubeClient.from_kubeconfig(settings.host_kubeconfig, settings.host_context, **common)


def connect(settings: Settings, sa_dir: Path = incluster.SERVICE_ACCOUNT_DIR) -> tuple[KubeClient, KubeClient]:
    """Both clients; raises ConfigError naming the side and what is wrong."""
    # One connection per worker plus one per watch (two kinds per side is typical); a smaller pool makes urllib3
    # drop and reopen TLS connections under load.
    pool = settings.workers + 16
    host = host_client(settings, sa_dir, pool=pool)
    # The virtual side never falls back to in-cluster: the pod's own cluster is the host, never the tenant's.
    virtual = KubeClient.from_kubeconfig(
        settings.virtual_kubeconfig,
        settings.virtual_context,
        field_manager=settings.field_manager,
        pool_maxsize=pool,
        user_agent=user_agent(),
    )
    return host, virtual


def run(args: argparse.Namespace) -> int:
    try:
        settings = resolve_settings(args, os.environ, incluster.SERVICE_ACCOUNT_DIR)
    except SettingsError as exc:
        print(f"crdsync run: {exc}", file=sys.stderr)
        return 1
    logs.setup(settings.log_format, settings.log_level)
    config = load_config(list(settings.mapping))
    if config is None:
        return 1
    try:
        host, virtual = connect(settings, incluster.SERVICE_ACCOUNT_DIR)
        # Renewals get their own connections and give up within the retry period, so one stalled request cannot
        # eat the renew deadline; two GETs/PUTs at a time at most.
        lease = (
            host_client(settings, incluster.SERVICE_ACCOUNT_DIR, pool=2, request_timeout=settings.retry_period)
            if settings.leader_elect
            else None
        )
    except ConfigError as exc:
        print(f"crdsync run: {exc}", file=sys.stderr)
        return 1

    metrics = Metrics()
    for client in (host, virtual):
        client.observe_requests(metrics.request_observer(client.host))
    state = RunState(leader_elect=settings.leader_elect)
    try:
        endpoints = start_endpoints(settings, metrics, state)
    except (OSError, ValueError) as exc:
        print(f"crdsync run: cannot serve metrics or probes: {exc}", file=sys.stderr)
        return 1
    try:
        return _run(config, host, virtual, settings, metrics, state, lease)
    finally:
        for endpoint in endpoints:
            endpoint.stop()


def start_endpoints(settings: Settings, metrics: Metrics, state: RunState) -> list[health.Endpoint]:
    """The /metrics and probe servers the settings ask for (one server when both name the same address)."""
    servers: dict[tuple[str, int], dict[str, health.Route]] = {}
    metrics_at = health.parse_bind_address(settings.metrics_bind_address)
    probes_at = health.parse_bind_address(settings.health_probe_bind_address)
    if metrics_at is not None:
        servers.setdefault(metrics_at, {})["/metrics"] = health.metrics_route(metrics.exposition)
    if probes_at is not None:
        routes = servers.setdefault(probes_at, {})
        routes["/healthz"] = health.healthz(state.problems)
        routes["/readyz"] = health.readyz(state.ready)
    optional = {
        at
        for at, dest in ((metrics_at, "metrics_bind_address"), (probes_at, "health_probe_bind_address"))
        if dest in settings.default_addresses
    }
    endpoints: list[health.Endpoint] = []
    try:
        for address, routes in servers.items():
            name = "metrics" if "/metrics" in routes else "probes"
            try:
                endpoints.append(health.serve(address, routes, name))
            except OSError as exc:
                if address not in optional:
                    raise
                log.warning("not serving %s: default address %s:%d unavailable (%s)", name, *address, exc)
    except OSError:
        for endpoint in endpoints:
            endpoint.stop()
        raise
    return endpoints


def _run(
    config: SyncConfig,
    host: KubeClient,
    virtual: KubeClient,
    settings: Settings,
    metrics: Metrics,
    state: RunState,
    lease: KubeClient | None = None,
) -> int:
    stop = threading.Event()
    wake = threading.Event()  # the leader loop's alarm: a signal, or a term's fence closing
    _stop_on_signals(stop, wake)
    tenant = Tenant(vcluster=settings.vcluster, host_namespace=settings.host_namespace)
    log.info(
        "crdsync %s: %d rules from %s; tenant %s in host namespace %s",
        config.name,
        len(config.rules),
        ", ".join(config.sources),
        tenant.vcluster,
        tenant.host_namespace,
    )

    def new_engine(fence: WriteFence | None) -> Engine:
        return Engine(
            config,
            tenant,
            host,
            virtual,
            workers=settings.workers,
            field_manager=settings.field_manager,
            metrics=metrics,
            fence=fence,
        )

    if not settings.leader_elect:
        return _run_alone(new_engine(None), stop, metrics, state)
    metrics.leader.set(0)
    elector = LeaderElector(
        lease if lease is not None else host,
        tenant.host_namespace,
        f"crdsync-{tenant.vcluster}",
        identity(),
        lease_duration=settings.lease_duration,
        renew_deadline=settings.renew_deadline,
        retry_period=settings.retry_period,
    )
    return run_as_leader(new_engine, elector, stop, wake, metrics, state)


def _stop_on_signals(stop: threading.Event, wake: threading.Event) -> None:
    """SIGTERM and SIGINT drain and stop: the workers finish their current key."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: draining and stopping", signum)
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _run_alone(engine: Engine, stop: threading.Event, metrics: Metrics, state: RunState) -> int:
    """Without leader election: this process leads from the start until it is told to stop."""
    state.engine, state.leading = engine, True
    metrics.leader.set(1)
    engine.start()
    while not stop.wait(1.0):
        pass
    engine.stop()
    log.info("stopped; %d reconciles, %d with errors", engine.processed, engine.errors)
    return 0
