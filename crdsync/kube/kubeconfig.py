"""Loading a kubeconfig (or, without one, the pod's in-cluster configuration) into client credentials.

Which file: `path`, else $KUBECONFIG, else ~/.kube/config, else the in-cluster service account
(crdsync.kube.incluster). A kubeconfig whose chosen context needs only static credentials (server, CA file or data,
insecure-skip-tls-verify, tls-server-name, client certificate and key as files or data, token or tokenFile) is read
here into crdsync.kube.credentials.StaticCredentials, without importing the `kubernetes` package (0.145 s and 17 MB
per process). Anything else (exec plugins, auth providers, basic auth, proxy-url, impersonation, a field this module
does not know, several files in $KUBECONFIG) goes to the official loader, which supports it all and returns a
`kubernetes.client.Configuration` with a refresh hook for credentials that expire; the transport accepts either.

Failure modes: `ConfigError` naming the file (and context) and why it could not be loaded, or, with no file at all,
why the in-cluster configuration could not be loaded either. Nothing is contacted here.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crdsync.kube.credentials import StaticCredentials, TokenFile, private_file, service_account
from crdsync.kube.errors import ConfigError

# The fields the static path understands; any other field in the chosen cluster or user means the official loader.
CLUSTER_FIELDS = frozenset(
    {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name"}
)
USER_FIELDS = frozenset(
    {"client-certificate", "client-certificate-data", "client-key", "client-key-data", "token", "tokenFile"}
)
IGNORED_FIELDS = frozenset({"extensions"})


def load(path: str | None, context: str | None = None) -> Any:
    """Credentials for the kubeconfig at `path` (None: the search order above): StaticCredentials when they suffice,
    else the official loader's Configuration."""
    default_file = os.path.expanduser("~/.kube/config")
    listed = os.environ.get("KUBECONFIG")
    if path is None and not listed and not os.path.exists(default_file):
        try:
            return service_account()
        except ConfigError as exc:
            raise ConfigError(f"no kubeconfig given, $KUBECONFIG unset, ~/.kube/config missing and {exc}") from None
    shown = path or listed or "~/.kube/config"
    if path is not None and not os.path.exists(os.path.expanduser(path)):
        raise ConfigError(f"{path}: kubeconfig file does not exist")
    file = path if path is not None else (listed or default_file)
    if os.pathsep in file:  # several files to merge: the official loader's job
        return _official(path, context)
    where = f" (context {context!r})" if context else ""
    try:
        static = static_credentials(Path(os.path.expanduser(file)), context)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{shown}{where}: cannot load kubeconfig: {exc}") from None
    return static if static is not None else _official(path, context)


def static_credentials(file: Path, context: str | None) -> StaticCredentials | None:
    """The chosen context's credentials when static ones suffice, else None. ValueError/OSError say what is wrong."""
    from ruamel.yaml import YAML  # already loaded by the mapping loader; imported here to keep this module light

    try:
        document = YAML(typ="safe", pure=True).load(file.read_text(encoding="utf-8"))
    except OSError:
        raise
    except Exception as exc:  # ruamel's parser errors share no base class worth naming here
        raise ValueError(f"not YAML: {exc}") from None
    if not isinstance(document, Mapping):
        raise ValueError("not a kubeconfig (no mapping at the top)")
    name = context or document.get("current-context")
    if not name:
        raise ValueError("no context given and no current-context set")
    chosen = _named(document, "contexts", "context", name)
    if chosen is None:
        raise ValueError(f"context {name!r} not found")
    cluster = _named(document, "clusters", "cluster", chosen.get("cluster"))
    if cluster is None:
        raise ValueError(f"cluster {chosen.get('cluster')!r} of context {name!r} not found")
    user = _named(document, "users", "user", chosen.get("user")) if chosen.get("user") else {}
    if user is None:
        raise ValueError(f"user {chosen.get('user')!r} of context {name!r} not found")
    if set(cluster) - CLUSTER_FIELDS - IGNORED_FIELDS or set(user) - USER_FIELDS - IGNORED_FIELDS:
        return None
    has_cert = "client-certificate" in user or "client-certificate-data" in user
    has_key = "client-key" in user or "client-key-data" in user
    doubled = any(f in user and f"{f}-data" in user for f in ("client-certificate", "client-key")) or (
        "certificate-authority" in cluster and "certificate-authority-data" in cluster
    )
    if ("token" in user and "tokenFile" in user) or has_cert != has_key or doubled:
        return None  # unusual combinations: their precedence rules (or refusals) are the official loader's
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise ValueError(f"cluster {chosen.get('cluster')!r} has no server")
    base = file.parent
    token: Callable[[], str | None] | None = None
    if "token" in user:
        if not isinstance(user["token"], str):
            raise ValueError("token must be a string")
        token = _constant(user["token"])
    elif "tokenFile" in user:
        token = TokenFile(_relative(base, user["tokenFile"])).current
    ca_data = _data(cluster, "certificate-authority-data")
    try:
        ca_text = ca_data.decode("ascii") if ca_data else None
    except UnicodeDecodeError:
        raise ValueError("certificate-authority-data is not PEM") from None
    return StaticCredentials(
        server,
        ca_file=_file(base, cluster, "certificate-authority"),
        ca_data=ca_text,
        cert_file=_file(base, user, "client-certificate") or _private(user, "client-certificate-data", ".crt"),
        key_file=_file(base, user, "client-key") or _private(user, "client-key-data", ".key"),
        verify=not _flag(cluster, "insecure-skip-tls-verify"),
        tls_server_name=_text(cluster, "tls-server-name"),
        token=token,
    )


def _flag(section: Mapping[str, Any], field: str) -> bool:
    """A YAML boolean; anything else is an error (a string "false" must never read as true and turn TLS off)."""
    value = section.get(field, False)
    if not isinstance(value, bool):
        raise ValueError(f"{field} must be true or false, not {value!r}")
    return value


def _text(section: Mapping[str, Any], field: str) -> str | None:
    value = section.get(field)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{field} must be a string, not {value!r}")
    return value or None


def _constant(value: str) -> Callable[[], str | None]:
    return lambda: value


def _named(document: Mapping[str, Any], section: str, field: str, name: Any) -> Mapping[str, Any] | None:
    for entry in document.get(section) or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            value = entry.get(field)
            return value if isinstance(value, Mapping) else {}
    return None


def _relative(base: Path, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a file name")
    return base / os.path.expanduser(value)  # an absolute path stays absolute


def _file(base: Path, section: Mapping[str, Any], field: str) -> str | None:
    if field not in section:
        return None
    path = _relative(base, section[field])
    if not path.is_file():
        raise ValueError(f"{field} {path} does not exist")
    return str(path)


def _data(section: Mapping[str, Any], field: str) -> bytes:
    value = section.get(field)
    if value is None:
        return b""
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{field} is not base64") from None


def _private(section: Mapping[str, Any], field: str, suffix: str) -> str | None:
    content = _data(section, field)
    return private_file(content, suffix) if content else None


def _official(path: str | None, context: str | None) -> Any:
    """The official loader (the `kubernetes` package): everything static_credentials leaves to it."""
    from kubernetes.client import Configuration
    from kubernetes.config import kube_config

    # The loader is untyped; calling it through Any keeps mypy --strict quiet without ignores.
    load_kubeconfig: Any = kube_config.load_kube_config
    configuration = Configuration()
    shown = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        load_kubeconfig(config_file=path, context=context, client_configuration=configuration, persist_config=False)
    except Exception as exc:
        where = f" (context {context!r})" if context else ""
        raise ConfigError(f"{shown}{where}: cannot load kubeconfig: {exc}") from None
    return configuration
