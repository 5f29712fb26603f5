"""A KubeClient for the cluster crdsync runs in, authenticated as the pod's service account.

Reads what the kubelet mounts (token, ca.crt, namespace under /var/run/secrets/kubernetes.io/serviceaccount) and the
KUBERNETES_SERVICE_HOST/PORT variables every pod gets. The token is a bound, projected token: the kubelet rotates the
file (hourly by default, the token itself expires), so the client re-reads it every `refresh_seconds` before a
request instead of keeping the one it started with — a crdsync that runs for days must not start failing with 401.

Paths, environment and clock are injectable, so tests build a fake service-account directory. The credentials
themselves are crdsync.kube.credentials.service_account (also what a crdsync without any kubeconfig uses).

Failure modes: `ConfigError` naming what is missing (not in a pod: no KUBERNETES_SERVICE_HOST, or an unreadable
token / CA file) when the client is built. A token file that cannot be read at a later refresh (a rotation in flight)
keeps the previous token and logs a warning; the next refresh tries again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crdsync.kube.client import KubeClient
from crdsync.kube.credentials import SERVICE_ACCOUNT_DIR, TOKEN_REFRESH_SECONDS, missing, service_account

__all__ = ["SERVICE_ACCOUNT_DIR", "client", "missing", "namespace"]


def namespace(sa_dir: Path = SERVICE_ACCOUNT_DIR) -> str | None:
    """The pod's namespace from the service-account mount, or None outside a pod."""
    try:
        value = (sa_dir / "namespace").read_text().strip()
    except OSError:
        return None
    return value or None


def client(
    *,
    sa_dir: Path = SERVICE_ACCOUNT_DIR,
    env: Mapping[str, str] | None = None,
    refresh_seconds: float = TOKEN_REFRESH_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> KubeClient:
    """A KubeClient for the apiserver of the cluster this pod runs in; `kwargs` go to KubeClient (field_manager...)."""
    return KubeClient(service_account(sa_dir, env, refresh_seconds, clock), **kwargs)
