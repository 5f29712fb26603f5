"""Loading a kubeconfig (or, without one, the pod's in-cluster configuration) into a client Configuration.

The official client's loaders do the work: TLS material, client certificates, tokens and exec plugins; the
Configuration they fill carries a refresh hook for credentials that expire, which crdsync.kube.transport calls before
every request. Which file: `path`, else $KUBECONFIG, else ~/.kube/config, else the in-cluster service account.

Failure modes: `ConfigError` naming the file (and context) and why it could not be loaded, or, with no file at all,
why the in-cluster configuration could not be loaded either. Nothing is contacted here.
"""

from __future__ import annotations

import os
from typing import Any

from crdsync.kube.errors import ConfigError


def load(path: str | None, context: str | None = None) -> Any:
    """A `kubernetes.client.Configuration` from the kubeconfig at `path` (None: the search order above)."""
    from kubernetes.client import Configuration
    from kubernetes.config import incluster_config, kube_config

    # The loaders are untyped; calling them through Any keeps mypy --strict quiet without ignores.
    load_incluster: Any = incluster_config.load_incluster_config
    load_kubeconfig: Any = kube_config.load_kube_config
    configuration = Configuration()
    default_file = os.path.expanduser("~/.kube/config")
    if path is None and not os.environ.get("KUBECONFIG") and not os.path.exists(default_file):
        try:
            load_incluster(client_configuration=configuration)
        except Exception as exc:
            raise ConfigError(
                f"no kubeconfig given, $KUBECONFIG unset, ~/.kube/config missing and not in a pod ({exc})"
            ) from None
    else:
        shown = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
        if path is not None and not os.path.exists(os.path.expanduser(path)):
            raise ConfigError(f"{path}: kubeconfig file does not exist")
        try:
            load_kubeconfig(config_file=path, context=context, client_configuration=configuration, persist_config=False)
        except Exception as exc:
            where = f" (context {context!r})" if context else ""
            raise ConfigError(f"{shown}{where}: cannot load kubeconfig: {exc}") from None
    return configuration
