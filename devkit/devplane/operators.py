"""What every operator controller on the local host plane shares: its pinned Go module, its CRDs and its process.

An operator here is a controller of ours over an upstream project's public packages (cert-manager, external-secrets),
pinned in a Go module under devkit/devplane/go/<name>/. `Operator` describes one; the functions below do the rest
the same way for each:

- the upstream module version our go.mod pins, located (downloaded if need be) with `go mod download -json`;
- its CRD files, read from a directory of that module version (so the binary and the schemas it writes against never
  drift apart), server-side applied and waited on until Established (`go_mod_download` and `apply_crds` serve CRDs
  that come without a controller too, as devkit.devplane.crds has);
- the controller binary: an explicit prebuilt path from the environment, else the operator module's own build;
- the controller process: started in its own process group with its output appended to a log, health on a free
  loopback port it reports through an address file, ready once /readyz answers 200, stopped however the block ends
  (and by the kernel should Python die outright).

Failure modes: every error an operator can meet is raised as its own `Operator.error` (a subclass of OperatorError)
with a message meant for the user (CRD files that do not parse, with file:line; CRDs refused or not established in
time; the controller exiting or not becoming ready, with its log tail; a cluster refusing a write). The pure helpers
(`parse_module_download`, `strip_template_lines`, `render_crds`) raise OperatorError itself; `go_mod_download`,
`cluster` and `apply_crds` raise the error class their caller passes.

The pure parsing (go's module report, CRD YAML, CRD conditions) and OperatorError are in
devkit.devplane.operator_files.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ApiError, ConfigError
from crdsync.kube.resource import Resource
from devkit.devplane import process
from devkit.devplane.build import BuildError
from devkit.devplane.operator_files import (
    ModuleInfo,
    OperatorError,
    established,
    names_refused,
    parse_module_download,
    render_crds,
)

FIELD_MANAGER = "crdsync-devplane"
DEFAULT_READY_TIMEOUT = 120.0  # informer sync on a busy two-core machine takes seconds; a hang is caught well after
DEFAULT_ESTABLISH_TIMEOUT = 60.0

CRDS = Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False)


@dataclass(frozen=True)
class Operator:
    """One operator controller: where its pins live, where its CRDs are, and the error its failures raise."""

    name: str  # for messages: "cert-manager"
    module: str  # the upstream Go module: "github.com/cert-manager/cert-manager"
    module_dir: Path  # our pinned module (go.mod requiring `module`)
    crd_subdir: str  # the CRD files' directory inside the upstream module
    marker_crd: str  # a CRD whose presence means the CRDs are installed
    binary_env: str  # a prebuilt binary to use instead of building one
    error: type[OperatorError]
    skip_files: frozenset[str] = frozenset()  # YAML files in crd_subdir that are not CRDs


def progress(message: str) -> None:
    print(f"crdsync: {message}", file=sys.stderr, flush=True)


# -- IO: the module cache, the binary, the cluster -------------------------------------------------------------------


def go_mod_download(target: str, cwd: Path, error: type[Exception], *, env: dict[str, str] | None = None) -> ModuleInfo:
    """`go mod download -json <target>` run in the module `cwd`: the module's path, version and cache directory.

    `target` is a module path (the version `cwd`'s go.mod pins) or path@version. Raises `error` when go is missing,
    fails, or reports something that is not a module.
    """
    go = shutil.which("go")
    if go is None:
        raise error(f"cannot download {target}: `go` is not on PATH (it comes from its Go module)")
    command = [go, "mod", "download", "-json", target]
    where = f"{' '.join(command)} in {cwd}"
    try:
        result = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"{where}: {exc}") from None
    if result.returncode != 0 and not result.stdout.strip():
        raise error(f"{where} failed: {result.stderr.strip()[-2000:]}")
    try:
        return parse_module_download(result.stdout, f"go mod download -json {target} (in {cwd})")
    except OperatorError as exc:
        raise error(str(exc)) from None


def pinned_module(operator: Operator) -> ModuleInfo:
    """The upstream module version our go.mod pins, downloaded into the module cache if it is not there yet."""
    return go_mod_download(operator.module, operator.module_dir, operator.error)


def load_crds(operator: Operator, module: ModuleInfo | None = None) -> list[dict[str, Any]]:
    """Every CRD in the pinned module's CRD directory, in file-name order (`skip_files` left out)."""
    module = module or pinned_module(operator)
    directory = module.dir / operator.crd_subdir
    files = sorted(p for p in directory.glob("*.yaml") if p.name not in operator.skip_files)
    if not files:
        raise operator.error(f"{directory}: no CRD files in {module.path}@{module.version}")
    crds: list[dict[str, Any]] = []
    for path in files:
        try:
            crds += render_crds(path.read_text(), str(path))
        except OSError as exc:
            raise operator.error(f"{path}: cannot read: {exc}") from None
        except OperatorError as exc:
            raise operator.error(str(exc)) from None
    return crds


def explicit_binary(operator: Operator) -> Path | None:
    """The prebuilt binary named by the operator's environment variable, if set. Raises BuildError if not runnable."""
    explicit = os.environ.get(operator.binary_env)
    if not explicit:
        return None
    path = Path(explicit).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BuildError(f"{operator.binary_env}: {path} is not an executable file")
    return path


@contextmanager
def cluster(kubeconfig: Path, doing: str, error: type[Exception]) -> Iterator[KubeClient]:
    """A client for `kubeconfig` for the block; a bad kubeconfig, or an ApiError in the block, raises `error`."""
    try:
        kube = KubeClient.from_kubeconfig(str(kubeconfig), field_manager=FIELD_MANAGER)
    except ConfigError as exc:
        raise error(str(exc)) from None
    try:
        yield kube
    except ApiError as exc:
        raise error(f"{kubeconfig}: {doing}: {exc}") from None
    finally:
        kube.close()


def apply_crds(
    kubeconfig: Path,
    crds: Sequence[dict[str, Any]],
    error: type[Exception],
    *,
    what: str = "CRDs",
    timeout: float = DEFAULT_ESTABLISH_TIMEOUT,
) -> None:
    """Server-side apply `crds` (forcing our field manager's ownership) and wait until every one is Established.

    Idempotent: applying again with unchanged CRDs changes nothing. Raises `error` if a write is refused, the
    apiserver rejects a CRD's names, or the CRDs are not established within `timeout` seconds.
    """
    with cluster(kubeconfig, f"installing {what}", error) as kube:
        for crd in crds:
            kube.apply(CRDS, crd, force=True)
        deadline = time.monotonic() + timeout
        pending = [crd["metadata"]["name"] for crd in crds]
        while pending:
            still: list[str] = []
            for name in pending:
                current = kube.get(CRDS, None, name) or {}
                refused = names_refused(current)
                if refused:
                    raise error(f"{kubeconfig}: CustomResourceDefinition {name} refused: {refused}")
                if not established(current):
                    still.append(name)
            pending = still
            if pending and time.monotonic() > deadline:
                raise error(
                    f"{kubeconfig}: CustomResourceDefinitions not established within {timeout:.0f}s: "
                    + ", ".join(pending)
                )
            if pending:
                time.sleep(0.2)


def install_crds(operator: Operator, kubeconfig: Path, *, timeout: float = DEFAULT_ESTABLISH_TIMEOUT) -> None:
    """Server-side apply every CRD of the operator's pinned module and wait until all are Established (`apply_crds`).

    Raises `operator.error` when the files cannot be read or the cluster refuses or does not establish them.
    """
    apply_crds(kubeconfig, load_crds(operator), operator.error, what=f"{operator.name} CRDs", timeout=timeout)


def check_crds_installed(operator: Operator, kube: KubeClient, kubeconfig: Path) -> None:
    """Raises `operator.error` unless the operator's marker CRD is on the cluster (ApiError passes through).

    Without the CRDs the controller's informers never sync and it would only time out, far from the cause.
    """
    if kube.get(CRDS, None, operator.marker_crd) is None:
        raise operator.error(f"{kubeconfig}: {operator.name} CRDs are not installed; call install_crds() first")


# -- the running controller ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Controller:
    """A running operator controller started by `run_controller`."""

    pid: int
    start_time: int  # kernel start time, so a reused pid is never mistaken for ours
    binary: Path
    log_path: Path
    health_address: str  # host:port serving /livez and /readyz

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


def health_ready(address_file: Path) -> str | None:
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
def run_controller(
    operator: Operator,
    binary: Path,
    command: Callable[[Path], list[str]],
    log_path: Path,
    *,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
) -> Iterator[Controller]:
    """Run `command(address_file)` until the block ends; yield once its /readyz answers 200.

    The controller runs in its own process group with stdout and stderr appended to `log_path` and reports its health
    address (a free loopback port) through `address_file`; it is stopped on exit however the block ends, and the
    kernel stops it should Python die outright. Raises `operator.error` (with the log tail) if it cannot start, exits
    or is not ready within `ready_timeout` seconds.
    """
    log_path = Path(log_path).resolve()
    address_file = log_path.with_name(f".{log_path.name}.health-address")
    address_file.unlink(missing_ok=True)
    progress(f"starting {operator.name} controller (log: {log_path})")
    try:
        pid = process.spawn(command(address_file), log_path, detached=False)
    except OSError as exc:
        raise operator.error(f"cannot start {binary}: {exc}") from None
    started = process.start_time(pid) or 0
    try:
        began = time.monotonic()
        address = None
        while address is None:
            status = process.exit_status(pid)
            if status is not None:
                raise operator.error(
                    f"{operator.name} controller exited with status {status} before becoming ready; last lines of "
                    f"{log_path}:\n{process.tail(log_path, 60)}"
                )
            address = health_ready(address_file)
            if address is None:
                if time.monotonic() - began > ready_timeout:
                    raise operator.error(
                        f"{operator.name} controller not ready within {ready_timeout:.0f}s; last lines of "
                        f"{log_path}:\n{process.tail(log_path, 60)}"
                    )
                time.sleep(0.2)
        progress(f"{operator.name} ready after {time.monotonic() - began:.1f}s (health at http://{address})")
        yield Controller(pid, started, binary, log_path, address)
    finally:
        with contextlib.suppress(OSError):
            process.stop_group(pid, started, grace_seconds=10.0)
        address_file.unlink(missing_ok=True)


__all__ = [
    "CRDS",
    "DEFAULT_ESTABLISH_TIMEOUT",
    "DEFAULT_READY_TIMEOUT",
    "FIELD_MANAGER",
    "Controller",
    "Operator",
    "apply_crds",
    "check_crds_installed",
    "cluster",
    "explicit_binary",
    "go_mod_download",
    "health_ready",
    "install_crds",
    "load_crds",
    "pinned_module",
    "progress",
    "run_controller",
]
