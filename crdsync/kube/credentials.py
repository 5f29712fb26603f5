"""Static client credentials, held without the `kubernetes` package: the server, how to trust it, who we are.

The official package costs a crdsync process 0.145 s of start-up and 17 MB of resident memory (importing it imports
every generated API model), a third of an idle crdsync, paid once per tenant. What a service account or a typical
kubeconfig of a virtual cluster needs is small: the server URL, its CA (a file or inline data) or TLS verification
off, a TLS server name, a client certificate and key (files or inline data), a bearer token or a token file. That is
what `StaticCredentials` holds, in the shape the transport reads (`host`, `auth_settings()`,
`connection_pool_maxsize`) plus the urllib3 pool it builds from it. Everything else a kubeconfig can ask for (exec
plugins, auth providers, basic auth, proxies, impersonation) stays with the official loader (crdsync.kube.kubeconfig
decides which).

A token file is re-read when older than `refresh_seconds` (bound service-account tokens rotate; a read that fails
mid-rotation keeps the previous token and logs a warning). Key material given inline is written to private temporary
files (0600, in a 0700 directory removed at exit), because TLS libraries load client certificates from files; the
official loader does the same.

Failure modes: `ConfigError` when a token file cannot be read or is empty at construction; nothing here contacts a
server.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import urllib3

from crdsync.kube.errors import ConfigError

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# client-go re-reads the file every minute; bound tokens are refreshed by the kubelet at 80% of their lifetime
# (at least 10 minutes before expiry), so a minute is always early enough.
TOKEN_REFRESH_SECONDS = 60.0


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
            raise ConfigError(f"{self.path}: the token file is empty")
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


class StaticCredentials:
    """What the transport needs to reach and authenticate to one apiserver, duck-typed like the official
    Configuration where the transport reads it."""

    def __init__(
        self,
        host: str,
        *,
        ca_file: str | None = None,
        ca_data: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        verify: bool = True,
        tls_server_name: str | None = None,
        token: Callable[[], str | None] | None = None,
    ) -> None:
        self.host = host
        self.ca_file, self.ca_data = ca_file, ca_data
        self.cert_file, self.key_file = cert_file, key_file
        self.verify = verify
        self.tls_server_name = tls_server_name
        self.connection_pool_maxsize: int | None = None  # set by the transport before pool_manager()
        self._token = token

    def auth_settings(self) -> dict[str, dict[str, str]]:
        """The credentials to send with the next request, as the official Configuration's method returns them."""
        token = self._token() if self._token is not None else None
        if not token:
            return {}
        return {"BearerToken": {"in": "header", "key": "authorization", "value": f"Bearer {token}"}}

    def pool_manager(self) -> urllib3.PoolManager:
        """A urllib3 pool configured as the official client configures its own for the same settings."""
        args: dict[str, Any] = {
            "cert_reqs": ssl.CERT_REQUIRED if self.verify else ssl.CERT_NONE,
            "ca_certs": self.ca_file,
            "ca_cert_data": self.ca_data,
            "cert_file": self.cert_file,
            "key_file": self.key_file,
        }
        if self.tls_server_name:
            args["server_hostname"] = self.tls_server_name
        if self.connection_pool_maxsize is not None:
            args["maxsize"] = self.connection_pool_maxsize
        return urllib3.PoolManager(**args)


def missing(sa_dir: Path = SERVICE_ACCOUNT_DIR, env: Mapping[str, str] | None = None) -> str:
    """Why in-cluster credentials cannot be built here ("" when they can): the first thing that is absent."""
    env = os.environ if env is None else env
    for var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        if not env.get(var):
            return f"${var} is not set"
    for name in ("token", "ca.crt"):
        path = sa_dir / name
        if not os.access(path, os.R_OK):
            return f"{path} is missing or unreadable"
    return ""


def service_account(
    sa_dir: Path = SERVICE_ACCOUNT_DIR,
    env: Mapping[str, str] | None = None,
    refresh_seconds: float = TOKEN_REFRESH_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> StaticCredentials:
    """The pod's own credentials: the service address from KUBERNETES_SERVICE_HOST/PORT, the mounted CA, and the
    mounted token re-read every `refresh_seconds` (the kubelet rotates it; a crdsync running for days must not start
    failing with 401). ConfigError when not in a pod with a service account."""
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
    return StaticCredentials(
        f"https://{host}:{env['KUBERNETES_SERVICE_PORT']}", ca_file=str(sa_dir / "ca.crt"), token=token.current
    )


_private_dir: str | None = None
_private_lock = threading.Lock()


def private_file(content: bytes, suffix: str) -> str:
    """Write `content` to a new file only this user can read, in a directory removed when the process exits."""
    global _private_dir
    with _private_lock:
        if _private_dir is None:
            _private_dir = tempfile.mkdtemp(prefix="crdsync-credentials-")  # mode 0700
            atexit.register(shutil.rmtree, _private_dir, True)
        descriptor, path = tempfile.mkstemp(suffix=suffix, dir=_private_dir)  # mode 0600
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    return path
