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
    given = _Given(args, env)
    mapping = _mapping(given)
    host_kubeconfig = given.pick("host_kubeconfig")
    host_namespace, vcluster = _tenant(given, host_kubeconfig, sa_dir)
    workers = _workers(given)
    leader_elect = _leader_elect(given)
    timing = _lease_timing(given)
    addresses, defaulted = _bind_addresses(given)
    log_format, log_level = _logging(given)
    return Settings(
        mapping=mapping,
        host_kubeconfig=host_kubeconfig,
        host_context=given.pick("host_context"),
        virtual_kubeconfig=given.required(
            "virtual_kubeconfig", " (in vcluster: the vc-<name> Secret's config, mounted as a file)"
        ),
        virtual_context=given.pick("virtual_context"),
        host_namespace=host_namespace,
        vcluster=vcluster,
        workers=workers,
        field_manager=given.pick("field_manager") or "crdsync",
        leader_elect=leader_elect,
        metrics_bind_address=addresses["metrics_bind_address"],
        health_probe_bind_address=addresses["health_probe_bind_address"],
        default_addresses=defaulted,
        log_format=log_format,
        log_level=log_level,
        lease_duration=timing["lease_duration"],
        renew_deadline=timing["renew_deadline"],
        retry_period=timing["retry_period"],
    )


class _Given:
    """What the flags and the environment say about one setting: the flag when given, else its CRDSYNC_* variable."""

    def __init__(self, args: argparse.Namespace, env: Mapping[str, str]) -> None:
        self.args = args
        self.env = env

    def pick(self, dest: str) -> str | None:
        value = getattr(self.args, dest, None)
        if value is not None:
            return str(value)
        from_env = self.env.get(env_name(dest))
        return from_env if from_env else None  # an empty variable counts as unset, as in Kubernetes manifests

    def required(self, dest: str, why: str = "") -> str:
        value = self.pick(dest)
        if value is None:
            raise SettingsError(f"{_flag(dest)} (or {env_name(dest)}) is required{why}")
        return value


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _mapping(given: _Given) -> tuple[str, ...]:
    mapping: list[str] = list(given.args.mapping or [])
    if not mapping:
        mapping = [p.strip() for p in re.split(r"[,:]", given.env.get(env_name("mapping"), "")) if p.strip()]
    if not mapping:
        raise SettingsError(f"--mapping (or {env_name('mapping')}) is required")
    return tuple(mapping)


def _tenant(given: _Given, host_kubeconfig: str | None, sa_dir: Path) -> tuple[str, str]:
    """(host namespace, vcluster name), both DNS-1123 labels."""
    host_namespace = given.pick("host_namespace")
    if host_namespace is None and host_kubeconfig is None:
        # In-cluster only: with a kubeconfig the host may be another cluster than the one the pod runs in.
        host_namespace = incluster.namespace(sa_dir)
    if host_namespace is None:
        raise SettingsError(
            f"--host-namespace (or {env_name('host_namespace')}) is required outside a pod "
            f"({sa_dir / 'namespace'} not found)"
        )
    vcluster = given.required("vcluster")
    for value, dest in ((vcluster, "vcluster"), (host_namespace, "host_namespace")):
        if not is_dns1123_label(value):
            raise SettingsError(f"{_flag(dest)} {value!r} must be a DNS-1123 label")
    return host_namespace, vcluster


def _workers(given: _Given) -> int:
    workers_text = given.pick("workers") or "32"
    try:
        workers = int(workers_text)
    except ValueError:
        raise SettingsError(f"--workers (or {env_name('workers')}) {workers_text!r} is not a number") from None
    if workers < 1:
        raise SettingsError(f"--workers must be at least 1, not {workers}")
    return workers


def _leader_elect(given: _Given) -> bool:
    if given.args.leader_elect is not None:
        return bool(given.args.leader_elect)
    text = given.env.get(env_name("leader_elect"), "").strip().lower()
    if text not in _TRUE | _FALSE:
        raise SettingsError(f"{env_name('leader_elect')}={text!r}: expected true or false")
    return text in _TRUE


def _lease_timing(given: _Given) -> dict[str, float]:
    timing: dict[str, float] = {}
    for period, fallback in (("lease_duration", 15.0), ("renew_deadline", 10.0), ("retry_period", 2.0)):
        seconds = given.pick(period)
        try:
            timing[period] = float(seconds) if seconds is not None else fallback
        except ValueError:
            raise SettingsError(f"{_flag(period)} (or {env_name(period)}) {seconds!r} is not a number") from None
    if not timing["lease_duration"] > timing["renew_deadline"] > timing["retry_period"] > 0:
        # The fence is only safe when the leader stops writing before a rival may take over.
        raise SettingsError(
            "need --lease-duration > --renew-deadline > --retry-period > 0, got "
            f"{timing['lease_duration']:g} / {timing['renew_deadline']:g} / {timing['retry_period']:g}"
        )
    return timing


def _bind_addresses(given: _Given) -> tuple[dict[str, str], frozenset[str]]:
    """The metrics and probe addresses, and which of them were left at their defaults."""
    addresses: dict[str, str] = {}
    defaulted: set[str] = set()
    for dest, default in (("metrics_bind_address", ":8080"), ("health_probe_bind_address", ":8081")):
        value = given.pick(dest)
        if value is None:
            defaulted.add(dest)
        addresses[dest] = value or default
        try:
            health.parse_bind_address(addresses[dest])
        except ValueError as exc:
            raise SettingsError(f"{_flag(dest)} (or {env_name(dest)}): {exc}") from None
    return addresses, frozenset(defaulted)


def _logging(given: _Given) -> tuple[str, str]:
    """(log format, log level)."""
    log_format = (given.pick("log_format") or "text").strip().lower()
    if log_format not in logs.FORMATS:
        raise SettingsError(f"{env_name('log_format')}={log_format!r}: expected {' or '.join(logs.FORMATS)}")
    # --log-level wins, then -v (a flag too), then CRDSYNC_LOG_LEVEL.
    level_flag = getattr(given.args, "log_level", None)
    verbose = "debug" if getattr(given.args, "verbose", 0) else None
    log_level = (level_flag or verbose or given.env.get(env_name("log_level")) or "info").strip().lower()
    if log_level not in logs.LEVELS:
        raise SettingsError(f"{env_name('log_level')}={log_level!r}: expected one of {', '.join(logs.LEVELS)}")
    return log_format, log_level
