"""A real cert-manager on the local host plane: its controller built from the pinned upstream module, and its CRDs.

The controller is our own small main (devkit/devplane/go/certmanager/main.go) over cert-manager's public controller
packages, pinned in that module's go.mod; it is built once and cached like the control-plane binaries. The CRDs come
from the same module version (deploy/crds in the module zip, located with `go mod download -json`), so the binary and
the schemas it writes against can never drift apart. Those files are plain YAML today; whole-line Helm directives
(`{{- if ... }}` / `{{- end }}`) are dropped should they appear, and anything templated inline is refused.

Only SelfSigned and CA issuers are linked in, and no webhook runs: neither issuer needs defaulting, validation or
conversion to work (the CRDs serve a single version).

The module lookup, the CRDs and the process are devkit.devplane.operators' (shared with external-secrets); this
module says where cert-manager's pins and CRDs are and how its controller is started.

Failure modes: CertManagerError (CRD files that do not parse, with file:line; CRDs not established in time; the
controller exiting or not becoming ready, with its log tail; a cluster refusing a write); BuildError from the build
helper when the binary cannot be built. Both carry a message meant for the user; neither is a bare traceback cause.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crdsync.kube.client import KubeClient
from crdsync.kube.errors import AlreadyExists
from crdsync.kube.resource import Resource
from devkit.devplane import operators
from devkit.devplane.build import GO_DIR, ensure_go_binary
from devkit.devplane.operator_files import (
    ModuleInfo,
    OperatorError,
    established,
    names_refused,
    parse_module_download,
    render_crds,
    strip_template_lines,
)
from devkit.devplane.operators import Controller, Operator

CERT_MANAGER_MODULE = "github.com/cert-manager/cert-manager"
MODULE_DIR = GO_DIR / "certmanager"
BINARY_NAME = "cert-manager-controller"
BINARY_ENV = "CRDSYNC_CERT_MANAGER_CONTROLLER"  # a prebuilt binary to use instead of building one
DEFAULT_NAMESPACE = "cert-manager"
CRD_SUBDIR = "deploy/crds"
DEFAULT_READY_TIMEOUT = operators.DEFAULT_READY_TIMEOUT
DEFAULT_ESTABLISH_TIMEOUT = operators.DEFAULT_ESTABLISH_TIMEOUT

_NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class CertManagerError(OperatorError):
    """cert-manager could not be installed or run; the message says where and why."""


OPERATOR = Operator(
    name="cert-manager",
    module=CERT_MANAGER_MODULE,
    module_dir=MODULE_DIR,
    crd_subdir=CRD_SUBDIR,
    marker_crd="certificates.cert-manager.io",
    binary_env=BINARY_ENV,
    error=CertManagerError,
)


def cert_manager_module() -> ModuleInfo:
    """The cert-manager module version our go.mod pins, downloaded into the module cache if it is not there yet."""
    return operators.pinned_module(OPERATOR)


def load_crds(module: ModuleInfo | None = None) -> list[dict[str, Any]]:
    """Every CRD shipped in the pinned module's deploy/crds, in file-name order."""
    return operators.load_crds(OPERATOR, module)


def ensure_cert_manager_binary() -> Path:
    """The cert-manager controller binary: $CRDSYNC_CERT_MANAGER_CONTROLLER if set, else a cached build of our module.

    A cold build prints progress to stderr and takes minutes; later calls return the cached path at once. Raises
    BuildError if go is missing, the build fails or the explicit path is not an executable file.
    """
    return operators.explicit_binary(OPERATOR) or ensure_go_binary(BINARY_NAME, MODULE_DIR)


def install_crds(kubeconfig: Path, *, timeout: float = DEFAULT_ESTABLISH_TIMEOUT) -> None:
    """Server-side apply every cert-manager CRD of the pinned module to the cluster and wait until all are Established.

    Idempotent: applying again with unchanged files changes nothing. Raises CertManagerError if a write is refused,
    the apiserver rejects a CRD's names, or the CRDs are not established within `timeout` seconds.
    """
    operators.install_crds(OPERATOR, kubeconfig, timeout=timeout)


def _ensure_namespace(client: KubeClient, name: str) -> None:
    if client.get(_NAMESPACES, None, name) is not None:
        return
    # Created by someone else between our read and our write is just as good.
    with contextlib.suppress(AlreadyExists):
        client.create(_NAMESPACES, {"metadata": {"name": name}})


# -- the running controller ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertManager(Controller):
    """A running cert-manager controller started by `run_cert_manager`."""

    namespace: str  # the cluster resource namespace: where ClusterIssuers' Secrets live


def controller_args(binary: Path, kubeconfig: Path, namespace: str, address_file: Path) -> list[str]:
    """The controller's command line (pure). Health on a free loopback port, reported through `address_file`."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--cluster-resource-namespace={namespace}",
        "--health-listen-address=127.0.0.1:0",
        f"--address-file={address_file}",
        "--leader-elect=false",
        "--v=2",
    ]


@contextmanager
def run_cert_manager(
    kubeconfig: Path,
    log_path: Path,
    namespace: str = DEFAULT_NAMESPACE,
    *,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
) -> Iterator[CertManager]:
    """Run the cert-manager controller against `kubeconfig` until the block ends; yield once it is ready.

    Creates `namespace` (the cluster resource namespace, where ClusterIssuers' Secrets live) if missing. The CRDs
    must be installed (`install_crds`). The controller runs in its own process group with stdout and stderr appended
    to `log_path`; it is stopped on exit however the block ends, and the kernel stops it should Python die outright.
    Ready means every controller is constructed and its informer caches have synced.

    Raises CertManagerError (with the log tail) if it exits or is not ready within `ready_timeout` seconds, and
    BuildError if the binary cannot be built.
    """
    if not _DNS_LABEL.match(namespace):
        raise CertManagerError(f"invalid namespace {namespace!r}: expected a DNS label (lowercase, digits, '-')")
    kubeconfig = Path(kubeconfig).resolve()
    binary = ensure_cert_manager_binary()
    with operators.cluster(kubeconfig, "preparing for cert-manager", CertManagerError) as client:
        operators.check_crds_installed(OPERATOR, client, kubeconfig)
        _ensure_namespace(client, namespace)
    with operators.run_controller(
        OPERATOR,
        binary,
        lambda address_file: controller_args(binary, kubeconfig, namespace, address_file),
        log_path,
        ready_timeout=ready_timeout,
    ) as running:
        yield CertManager(**vars(running), namespace=namespace)


__all__ = [
    "BINARY_ENV",
    "CERT_MANAGER_MODULE",
    "DEFAULT_NAMESPACE",
    "OPERATOR",
    "CertManager",
    "CertManagerError",
    "ModuleInfo",
    "cert_manager_module",
    "controller_args",
    "ensure_cert_manager_binary",
    "established",
    "install_crds",
    "load_crds",
    "names_refused",
    "parse_module_download",
    "render_crds",
    "run_cert_manager",
    "strip_template_lines",
]
