"""The settings of `crdsync run`: flags, else CRDSYNC_<FLAG> environment variables, else defaults, checked up front.

`resolve_settings` turns the parsed flags and the environment into one frozen Settings, or raises SettingsError naming
the flag and its variable (a missing mapping, virtual kubeconfig or vcluster; a host namespace outside a pod; a
non-numeric or inconsistent count or period; an unknown log format or level; a bind address that does not parse).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from crdsync import logs
from crdsync.engine import health
from crdsync.kube import incluster
from crdsync.translate.names import is_dns1123_label

ENV_PREFIX = "CRDSYNC_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def env_name(dest: str) -> str:
    """The environment variable of a flag: --host-namespace -> CRDSYNC_HOST_NAMESPACE."""
    return ENV_PREFIX + dest.upper()


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
