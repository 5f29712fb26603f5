"""A KubeClient for the cluster crdsync runs in, authenticated as the pod's service account.

Reads what the kubelet mounts (token, ca.crt, namespace under /var/run/secrets/kubernetes.io/serviceaccount) and the
KUBERNETES_SERVICE_HOST/PORT variables every pod gets. The token is a bound, projected token: the kubelet rotates the
file (hourly by default, the token itself expires), so the client re-reads it every `refresh_seconds` before a
request instead of keeping the one it started with — a crdsync that runs for days must not start failing with 401.

Paths, environment and clock are injectable, so tests build a fake service-account directory.

Failure modes: `ConfigError` naming what is missing (not in a pod: no KUBERNETES_SERVICE_HOST, or an unreadable
token / CA file) when the client is built. A token file that cannot be read at a later refresh (a rotation in flight)
keeps the previous token and logs a warning; the next refresh tries again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ConfigError

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# client-go re-reads the file every minute; bound tokens are refreshed by the kubelet at 80% of their lifetime
# (at least 10 minutes before expiry), so a minute is always early enough.
TOKEN_REFRESH_SECONDS = 60.0


def namespace(sa_dir: Path = SERVICE_ACCOUNT_DIR) -> str | None:
    """The pod's namespace from the service-account mount, or None outside a pod."""
    try:
        value = (sa_dir / "namespace").read_text().strip()
    except OSError:
        return None
    return value or None


def missing(sa_dir: Path = SERVICE_ACCOUNT_DIR, env: Mapping[str, str] | None = None) -> str:
    """Why an in-cluster client cannot be built here ("" when it can): the first thing that is absent."""
    env = os.environ if env is None else env
    for var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        if not env.get(var):
            return f"${var} is not set"
    for name in ("token", "ca.crt"):
        path = sa_dir / name
        if not os.access(path, os.R_OK):
            return f"{path} is missing or unreadable"
    return ""


class TokenFile:
    """The bearer token from a file, re-read when older than `refresh_seconds` (thread-safe)."""

    def __init__(
        self, path: Path, refresh_seconds: float = TOKEN_REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._refresh = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._token = self._read()  # raises OSError/ConfigError at construction: no token, no client
        self._read_at = clock()

    def _read(self) -> str:
        token = self.path.read_text().strip()
        if not token:
            raise ConfigError(f"{self.path}: the service-account token file is empty")
        return token

    def current(self) -> str:
        with self._lock:
            if self._clock() - self._read_at >= self._refresh:
                try:
                    self._token = self._read()
                except (OSError, ConfigError) as exc:
                    log.warning("re-reading %s failed, keeping the previous token: %s", self.path, exc)
                self._read_at = self._clock()
            return self._token


def client(
    *,
    sa_dir: Path = SERVICE_ACCOUNT_DIR,
    env: Mapping[str, str] | None = None,
    refresh_seconds: float = TOKEN_REFRESH_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> KubeClient:
    """A KubeClient for the apiserver of the cluster this pod runs in; `kwargs` go to KubeClient (field_manager...)."""
    from kubernetes.client import Configuration

    env = os.environ if env is None else env
    reason = missing(sa_dir, env)
    if reason:
        raise ConfigError(f"not running in a pod with a service account: {reason}")
    host = env["KUBERNETES_SERVICE_HOST"]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 service address
    try:
        token = TokenFile(sa_dir / "token", refresh_seconds, clock)
    except OSError as exc:
        raise ConfigError(f"{sa_dir / 'token'}: cannot read the service-account token: {exc}") from None
    configuration = Configuration(host=f"https://{host}:{env['KUBERNETES_SERVICE_PORT']}")
    configuration.ssl_ca_cert = str(sa_dir / "ca.crt")
    configuration.api_key["authorization"] = token.current()
    configuration.api_key_prefix["authorization"] = "Bearer"

    # The transport builds its headers from auth_settings(), which calls this hook first (under its auth lock),
    # so every request carries the token as it is on disk at most `refresh_seconds` ago.
    def refresh(config: Any) -> None:
        config.api_key["authorization"] = token.current()

    hook: Any = refresh  # the attribute is declared None in the untyped-ish generated Configuration
    configuration.refresh_api_key_hook = hook
    return KubeClient(configuration, **kwargs)
