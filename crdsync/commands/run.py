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
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from crdsync import __version__, logs
from crdsync.engine import health
from crdsync.engine.engine import Engine
from crdsync.engine.fence import WriteFence
from crdsync.engine.metrics import Metrics
from crdsync.kube import incluster
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ConfigError
from crdsync.kube.lease import LeaderElector
from crdsync.spec.load import load_files
from crdsync.spec.model import SyncConfig
from crdsync.translate.names import Tenant, is_dns1123_label

log = logging.getLogger("crdsync.run")

ENV_PREFIX = "CRDSYNC_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def env_name(dest: str) -> str:
    """The environment variable of a flag: --host-namespace -> CRDSYNC_HOST_NAMESPACE."""
    return ENV_PREFIX + dest.upper()


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


@dataclass(frozen=True)
class Settings:
    mapping: tuple[str, ...]
    host_kubeconfig: str | None  # None: in-cluster
    host_context: str | None
    virtual_kubeconfig: str
    virtual_context: str | None
    host_namespace: str
    vcluster: str
    workers: int
    field_manager: str
    leader_elect: bool
    metrics_bind_address: str = ":8080"
    health_probe_bind_address: str = ":8081"
    # Addresses left at their defaults: one that is taken is logged and skipped instead of failing the run, so
    # several crdsync processes on one machine (tests, benchmarks, a workstation) still start. A named one must bind.
    default_addresses: frozenset[str] = field(default=frozenset(), compare=False)
    log_format: str = "text"
    log_level: str = "info"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the flag and its environment variable."""


def resolve_settings(
    args: argparse.Namespace, env: Mapping[str, str], sa_dir: Path = incluster.SERVICE_ACCOUNT_DIR
) -> Settings:
    """Flags win over CRDSYNC_* variables, which win over defaults. Raises SettingsError on the first problem."""

    def pick(dest: str) -> str | None:
        value = getattr(args, dest, None)
        if value is not None:
            return str(value)
        from_env = env.get(env_name(dest))
        return from_env if from_env else None  # an empty variable counts as unset, as in Kubernetes manifests

    def required(dest: str, why: str = "") -> str:
        value = pick(dest)
        if value is None:
            flag = "--" + dest.replace("_", "-")
            raise SettingsError(f"{flag} (or {env_name(dest)}) is required{why}")
        return value

    mapping: list[str] = list(args.mapping or [])
    if not mapping:
        mapping = [p.strip() for p in re.split(r"[,:]", env.get(env_name("mapping"), "")) if p.strip()]
    if not mapping:
        raise SettingsError(f"--mapping (or {env_name('mapping')}) is required")

    host_kubeconfig = pick("host_kubeconfig")
    host_namespace = pick("host_namespace")
    if host_namespace is None and host_kubeconfig is None:
        # In-cluster only: with a kubeconfig the host may be another cluster than the one the pod runs in.
        host_namespace = incluster.namespace(sa_dir)
    if host_namespace is None:
        raise SettingsError(
            f"--host-namespace (or {env_name('host_namespace')}) is required outside a pod "
            f"({sa_dir / 'namespace'} not found)"
        )
    vcluster = required("vcluster")
    for value, dest in ((vcluster, "vcluster"), (host_namespace, "host_namespace")):
        if not is_dns1123_label(value):
            raise SettingsError(f"--{dest.replace('_', '-')} {value!r} must be a DNS-1123 label")

    workers_text = pick("workers") or "32"
    try:
        workers = int(workers_text)
    except ValueError:
        raise SettingsError(f"--workers (or {env_name('workers')}) {workers_text!r} is not a number") from None
    if workers < 1:
        raise SettingsError(f"--workers must be at least 1, not {workers}")

    if args.leader_elect is not None:
        leader_elect = bool(args.leader_elect)
    else:
        text = env.get(env_name("leader_elect"), "").strip().lower()
        if text not in _TRUE | _FALSE:
            raise SettingsError(f"{env_name('leader_elect')}={text!r}: expected true or false")
        leader_elect = text in _TRUE

    timing: dict[str, float] = {}
    for period, fallback in (("lease_duration", 15.0), ("renew_deadline", 10.0), ("retry_period", 2.0)):
        seconds = pick(period)
        try:
            timing[period] = float(seconds) if seconds is not None else fallback
        except ValueError:
            flag = "--" + period.replace("_", "-")
            raise SettingsError(f"{flag} (or {env_name(period)}) {seconds!r} is not a number") from None
    if not timing["lease_duration"] > timing["renew_deadline"] > timing["retry_period"] > 0:
        # The fence is only safe when the leader stops writing before a rival may take over.
        raise SettingsError(
            "need --lease-duration > --renew-deadline > --retry-period > 0, got "
            f"{timing['lease_duration']:g} / {timing['renew_deadline']:g} / {timing['retry_period']:g}"
        )

    addresses: dict[str, str] = {}
    defaulted: set[str] = set()
    for dest, default in (("metrics_bind_address", ":8080"), ("health_probe_bind_address", ":8081")):
        given = pick(dest)
        if given is None:
            defaulted.add(dest)
        addresses[dest] = given or default
        try:
            health.parse_bind_address(addresses[dest])
        except ValueError as exc:
            raise SettingsError(f"--{dest.replace('_', '-')} (or {env_name(dest)}): {exc}") from None
    log_format = (pick("log_format") or "text").strip().lower()
    if log_format not in logs.FORMATS:
        raise SettingsError(f"{env_name('log_format')}={log_format!r}: expected {' or '.join(logs.FORMATS)}")
    # --log-level wins, then -v (a flag too), then CRDSYNC_LOG_LEVEL.
    level_flag = getattr(args, "log_level", None)
    verbose = "debug" if getattr(args, "verbose", 0) else None
    log_level = (level_flag or verbose or env.get(env_name("log_level")) or "info").strip().lower()
    if log_level not in logs.LEVELS:
        raise SettingsError(f"{env_name('log_level')}={log_level!r}: expected one of {', '.join(logs.LEVELS)}")

    return Settings(
        mapping=tuple(mapping),
        host_kubeconfig=host_kubeconfig,
        host_context=pick("host_context"),
        virtual_kubeconfig=required(
            "virtual_kubeconfig", " (in vcluster: the vc-<name> Secret's config, mounted as a file)"
        ),
        virtual_context=pick("virtual_context"),
        host_namespace=host_namespace,
        vcluster=vcluster,
        workers=workers,
        field_manager=pick("field_manager") or "crdsync",
        leader_elect=leader_elect,
        metrics_bind_address=addresses["metrics_bind_address"],
        health_probe_bind_address=addresses["health_probe_bind_address"],
        default_addresses=frozenset(defaulted),
        log_format=log_format,
        log_level=log_level,
        lease_duration=timing["lease_duration"],
        renew_deadline=timing["renew_deadline"],
        retry_period=timing["retry_period"],
    )


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


class RunState:
    """What the probes read: the engine syncing now (None while standing by) and whether we lead."""

    def __init__(self, *, leader_elect: bool) -> None:
        self.leader_elect = leader_elect
        self.engine: Engine | None = None
        self.leading = False

    def problems(self) -> list[str]:
        engine = self.engine
        return engine.problems() if engine is not None else []

    def ready(self) -> tuple[bool, str]:
        engine = self.engine
        if self.leader_elect and not self.leading:
            return True, "standby: not leading"
        if engine is None or not engine.synced():
            return False, "initial sync in progress"
        return True, "ok"


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

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: draining and stopping", signum)
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    tenant = Tenant(vcluster=settings.vcluster, host_namespace=settings.host_namespace)
    log.info(
        "crdsync %s: %d rules from %s; tenant %s in host namespace %s",
        config.name,
        len(config.rules),
        ", ".join(config.sources),
        tenant.vcluster,
        tenant.host_namespace,
    )
    if settings.leader_elect:
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
        return run_as_leader(
            lambda fence: Engine(
                config,
                tenant,
                host,
                virtual,
                workers=settings.workers,
                field_manager=settings.field_manager,
                metrics=metrics,
                fence=fence,
            ),
            elector,
            stop,
            wake,
            metrics,
            state,
        )
    engine = Engine(
        config, tenant, host, virtual, workers=settings.workers, field_manager=settings.field_manager, metrics=metrics
    )
    state.engine, state.leading = engine, True
    metrics.leader.set(1)
    engine.start()
    while not stop.wait(1.0):
        pass
    engine.stop()
    log.info("stopped; %d reconciles, %d with errors", engine.processed, engine.errors)
    return 0


def run_as_leader(
    new_engine: Callable[[WriteFence], Any],
    elector: LeaderElector,
    stop: threading.Event,
    wake: threading.Event,
    metrics: Metrics,
    state: RunState,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Campaign until `stop`; while leading, run one engine per term behind that term's write fence.

    A term ends when its fence closes (a write found the lease lapsed, or the check below did: a loop thread waking
    from a freeze must not renew over a gap its workers were fenced through), or when a renewal fails or finds
    another holder. The engine is stopped first, then the loop campaigns again; a new term gets a new engine, so
    nothing carries over from before the gap but the metrics.
    """
    engine: Any = None
    fence: WriteFence | None = None

    def end_term(why: str) -> None:
        nonlocal engine, fence
        log.warning("leadership term over (%s); stopping the engine", why)
        if fence is not None:
            fence.close(why)
        state.engine, state.leading = None, False
        metrics.leader.set(0)
        metrics.initial_complete.set(0)
        if engine is not None:
            engine.stop()
            log.info("engine stopped; %d writes were fenced in this term", fence.fenced if fence else 0)
        engine, fence = None, None

    while not stop.is_set():
        if fence is not None and not fence.is_open():
            end_term(fence.reason)
        if elector.try_acquire_or_renew():
            if engine is None:
                log.info("leading as %s; starting", elector.identity)
                fence = WriteFence(elector.valid_until, clock=clock, on_close=lambda reason: wake.set())
                engine = new_engine(fence)
                state.engine, state.leading = engine, True
                metrics.leader.set(1)
                engine.start()
        elif engine is not None:
            end_term("lost the lease")
        wake.wait(elector.retry_period)
        wake.clear()
    if engine is not None:
        state.engine, state.leading = None, False
        metrics.leader.set(0)
        engine.stop()
    elector.release()
    return 0
