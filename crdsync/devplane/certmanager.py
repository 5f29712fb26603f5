"""A real cert-manager on the local host plane: its controller built from the pinned upstream module, and its CRDs.

The controller is our own small main (crdsync/devplane/go/certmanager/main.go) over cert-manager's public controller
packages, pinned in that module's go.mod; it is built once and cached like the control-plane binaries. The CRDs come
from the same module version (deploy/crds in the module zip, located with `go mod download -json`), so the binary and
the schemas it writes against can never drift apart. Those files are plain YAML today; whole-line Helm directives
(`{{- if ... }}` / `{{- end }}`) are dropped should they appear, and anything templated inline is refused.

Only SelfSigned and CA issuers are linked in, and no webhook runs: neither issuer needs defaulting, validation or
conversion to work (the CRDs serve a single version).

Failure modes: CertManagerError (CRD files that do not parse, with file:line; CRDs not established in time; the
controller exiting or not becoming ready, with its log tail; a cluster refusing a write); BuildError from the build
helper when the binary cannot be built. Both carry a message meant for the user; neither is a bare traceback cause.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from crdsync.devplane import process
from crdsync.devplane.build import GO_DIR, BuildError, ensure_go_binary
from crdsync.kube.client import KubeClient, Resource
from crdsync.kube.errors import AlreadyExists, ApiError, ConfigError

CERT_MANAGER_MODULE = "github.com/cert-manager/cert-manager"
MODULE_DIR = GO_DIR / "certmanager"
BINARY_NAME = "cert-manager-controller"
BINARY_ENV = "CRDSYNC_CERT_MANAGER_CONTROLLER"  # a prebuilt binary to use instead of building one
DEFAULT_NAMESPACE = "cert-manager"
FIELD_MANAGER = "crdsync-devplane"
CRD_SUBDIR = "deploy/crds"
DEFAULT_READY_TIMEOUT = 120.0  # informer sync on a busy two-core machine takes seconds; a hang is caught well after
DEFAULT_ESTABLISH_TIMEOUT = 60.0

_CRDS = Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False)
_NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False)
# A directive alone on its line: `{{- if .Values.crds.enabled }}`, `{{- end }}`, `{{/* comment */}}`.
_TEMPLATE_LINE = re.compile(r"^\s*\{\{.*\}\}\s*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class CertManagerError(Exception):
    """cert-manager could not be installed or run; the message says where and why."""


def _progress(message: str) -> None:
    print(f"crdsync: {message}", file=sys.stderr, flush=True)


# -- the module and its CRDs (pure parts first) ------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleInfo:
    """One downloaded Go module version: its path, version and directory in the module cache."""

    path: str
    version: str
    dir: Path


def parse_module_download(output: str, source: str = "go mod download -json") -> ModuleInfo:
    """The module `go mod download -json <module>` reported. Raises CertManagerError on an error report or junk."""
    try:
        data = json.loads(output)
    except ValueError as exc:
        raise CertManagerError(f"{source}: output is not JSON ({exc}): {output[:200]!r}") from None
    if not isinstance(data, dict):
        raise CertManagerError(f"{source}: expected a JSON object, got {output[:200]!r}")
    if data.get("Error"):
        raise CertManagerError(f"{source}: {data['Error']}")
    fields = {key: data.get(key) for key in ("Path", "Version", "Dir")}
    missing = [key for key, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise CertManagerError(f"{source}: no {', '.join(missing)} in {output[:200]!r}")
    return ModuleInfo(str(fields["Path"]), str(fields["Version"]), Path(str(fields["Dir"])))


def strip_template_lines(text: str, source: str) -> str:
    """`text` with whole-line Helm directives blanked (keeping line numbers for error messages).

    Raises CertManagerError naming source:line for a template expression inside a line, which cannot be rendered
    without Helm's values.
    """
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        if _TEMPLATE_LINE.match(line):
            lines[number - 1] = "\n"
        elif "{{" in line:
            raise CertManagerError(
                f"{source}:{number}: inline Helm template expression cannot be rendered without Helm: {line.strip()}"
            )
    return "".join(lines)


def render_crds(text: str, source: str) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions in one YAML file (multi-document allowed, empty documents skipped).

    Raises CertManagerError with source:line for YAML errors, and source plus document number for a document that is
    not an apiextensions.k8s.io/v1 CustomResourceDefinition with a name.
    """
    yaml = YAML(typ="safe", pure=True)
    try:
        documents = list(yaml.load_all(strip_template_lines(text, source)))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise CertManagerError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise CertManagerError(f"{source}: not valid YAML: {exc}") from None
    crds: list[dict[str, Any]] = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        where = f"{source} (document {index})"
        if not isinstance(document, dict):
            raise CertManagerError(f"{where}: expected a mapping, got {type(document).__name__}")
        kind = (document.get("apiVersion"), document.get("kind"))
        if kind != ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
            raise CertManagerError(
                f"{where}: expected apiextensions.k8s.io/v1 CustomResourceDefinition, got {kind[0]} {kind[1]}"
            )
        metadata = document.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
            raise CertManagerError(f"{where}: CustomResourceDefinition without metadata.name")
        crds.append(document)
    return crds


def established(crd: dict[str, Any]) -> bool:
    """Whether a CRD as read back from the apiserver reports Established=True."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def names_refused(crd: dict[str, Any]) -> str | None:
    """The apiserver's reason when it refused a CRD's names (NamesAccepted=False), else None."""
    for condition in (crd.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "NamesAccepted" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "names not accepted")
    return None


# -- IO: the module cache, the build, the cluster --------------------------------------------------------------------


def cert_manager_module() -> ModuleInfo:
    """The cert-manager module version our go.mod pins, downloaded into the module cache if it is not there yet."""
    go = shutil.which("go")
    if go is None:
        raise CertManagerError("cannot locate cert-manager's CRDs: `go` is not on PATH (they come from its Go module)")
    command = [go, "mod", "download", "-json", CERT_MANAGER_MODULE]
    try:
        result = subprocess.run(
            command, cwd=MODULE_DIR, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CertManagerError(f"{' '.join(command)} in {MODULE_DIR}: {exc}") from None
    if result.returncode != 0 and not result.stdout.strip():
        raise CertManagerError(f"{' '.join(command)} in {MODULE_DIR} failed: {result.stderr.strip()[-2000:]}")
    return parse_module_download(result.stdout, f"go mod download -json {CERT_MANAGER_MODULE} (in {MODULE_DIR})")


def load_crds(module: ModuleInfo | None = None) -> list[dict[str, Any]]:
    """Every CRD shipped in the pinned module's deploy/crds, in file-name order."""
    module = module or cert_manager_module()
    directory = module.dir / CRD_SUBDIR
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CertManagerError(f"{directory}: no CRD files in {module.path}@{module.version}")
    crds: list[dict[str, Any]] = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            raise CertManagerError(f"{path}: cannot read: {exc}") from None
        crds += render_crds(text, str(path))
    return crds


def ensure_cert_manager_binary() -> Path:
    """The cert-manager controller binary: $CRDSYNC_CERT_MANAGER_CONTROLLER if set, else a cached build of our module.

    A cold build prints progress to stderr and takes minutes; later calls return the cached path at once. Raises
    BuildError if go is missing, the build fails or the explicit path is not an executable file.
    """
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise BuildError(f"{BINARY_ENV}: {path} is not an executable file")
        return path
    return ensure_go_binary(BINARY_NAME, MODULE_DIR)


def _client(kubeconfig: Path) -> KubeClient:
    try:
        return KubeClient.from_kubeconfig(str(kubeconfig), field_manager=FIELD_MANAGER)
    except ConfigError as exc:
        raise CertManagerError(str(exc)) from None


def install_crds(kubeconfig: Path, *, timeout: float = DEFAULT_ESTABLISH_TIMEOUT) -> None:
    """Server-side apply every cert-manager CRD of the pinned module to the cluster and wait until all are Established.

    Idempotent: applying again with unchanged files changes nothing. Raises CertManagerError if a write is refused,
    the apiserver rejects a CRD's names, or the CRDs are not established within `timeout` seconds.
    """
    crds = load_crds()
    client = _client(kubeconfig)
    names = [crd["metadata"]["name"] for crd in crds]
    try:
        for crd in crds:
            client.apply(_CRDS, crd, force=True)
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            still: list[str] = []
            for name in pending:
                current = client.get(_CRDS, None, name) or {}
                refused = names_refused(current)
                if refused:
                    raise CertManagerError(f"{kubeconfig}: CustomResourceDefinition {name} refused: {refused}")
                if not established(current):
                    still.append(name)
            pending = still
            if pending and time.monotonic() > deadline:
                raise CertManagerError(
                    f"{kubeconfig}: CustomResourceDefinitions not established within {timeout:.0f}s: "
                    + ", ".join(pending)
                )
            if pending:
                time.sleep(0.2)
    except ApiError as exc:
        raise CertManagerError(f"{kubeconfig}: installing cert-manager CRDs: {exc}") from None
    finally:
        client.close()


def _ensure_namespace(client: KubeClient, name: str) -> None:
    if client.get(_NAMESPACES, None, name) is not None:
        return
    # Created by someone else between our read and our write is just as good.
    with contextlib.suppress(AlreadyExists):
        client.create(_NAMESPACES, {"metadata": {"name": name}})


def _check_crds_installed(client: KubeClient, kubeconfig: Path) -> None:
    # Without them the controller's informers never sync and it would only time out, far from the cause.
    if client.get(_CRDS, None, "certificates.cert-manager.io") is None:
        raise CertManagerError(f"{kubeconfig}: cert-manager CRDs are not installed; call install_crds() first")


# -- the running controller ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertManager:
    """A running cert-manager controller started by `run_cert_manager`."""

    pid: int
    start_time: int  # kernel start time, so a reused pid is never mistaken for ours
    binary: Path
    log_path: Path
    health_address: str  # host:port serving /livez and /readyz
    namespace: str  # the cluster resource namespace: where ClusterIssuers' Secrets live

    def alive(self) -> bool:
        return process.is_running(self.pid, self.start_time)

    def rss_bytes(self) -> int | None:
        """Resident memory of the controller process now, or None if it is gone."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) * 1024 if match else None

    def log_tail(self, lines: int = 40) -> str:
        return process.tail(self.log_path, lines)


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


def _ready(address_file: Path) -> str | None:
    """The health address once /readyz answers 200, else None."""
    try:
        address = address_file.read_text().strip()
    except OSError:
        return None
    if not address:
        return None
    try:
        with urllib.request.urlopen(f"http://{address}/readyz", timeout=2) as response:
            return address if response.status == 200 else None
    except (OSError, ValueError):  # not listening yet, or 503 while caches sync (HTTPError is an OSError)
        return None


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
    log_path = Path(log_path).resolve()
    binary = ensure_cert_manager_binary()
    client = _client(kubeconfig)
    try:
        _check_crds_installed(client, kubeconfig)
        _ensure_namespace(client, namespace)
    except ApiError as exc:
        raise CertManagerError(f"{kubeconfig}: preparing for cert-manager: {exc}") from None
    finally:
        client.close()

    address_file = log_path.with_name(f".{log_path.name}.health-address")
    address_file.unlink(missing_ok=True)
    _progress(f"starting cert-manager controller (log: {log_path})")
    try:
        pid = process.spawn(controller_args(binary, kubeconfig, namespace, address_file), log_path, detached=False)
    except OSError as exc:
        raise CertManagerError(f"cannot start {binary}: {exc}") from None
    started = process.start_time(pid) or 0
    try:
        began = time.monotonic()
        address = None
        while address is None:
            status = process.exit_status(pid)
            if status is not None:
                raise CertManagerError(
                    f"cert-manager controller exited with status {status} before becoming ready; last lines of "
                    f"{log_path}:\n{process.tail(log_path, 60)}"
                )
            address = _ready(address_file)
            if address is None:
                if time.monotonic() - began > ready_timeout:
                    raise CertManagerError(
                        f"cert-manager controller not ready within {ready_timeout:.0f}s; last lines of "
                        f"{log_path}:\n{process.tail(log_path, 60)}"
                    )
                time.sleep(0.2)
        _progress(f"cert-manager ready after {time.monotonic() - began:.1f}s (health at http://{address})")
        yield CertManager(pid, started, binary, log_path, address, namespace)
    finally:
        process.stop_group(pid, started, grace_seconds=10.0)
        address_file.unlink(missing_ok=True)


__all__ = [
    "BINARY_ENV",
    "CERT_MANAGER_MODULE",
    "DEFAULT_NAMESPACE",
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
