"""A real external-secrets on the local host plane: its controller built from the pinned upstream module, and its CRDs.

The controller is our own small main (crdsync/devplane/go/external-secrets/main.go) over external-secrets' public
reconcilers (ExternalSecret, SecretStore, ClusterSecretStore, PushSecret), pinned in that module's go.mod; it runs out
of cluster on a kubeconfig with leader election off, health (and optional metrics) on loopback only.

Only the in-tree `fake` provider and generator are linked. Upstream chooses providers with blank imports of
pkg/provider/register and pkg/generator/register *inside* its controller packages, so a main cannot leave the cloud
SDKs out (1,750 packages, 129 MB of Go; the fake build is 635 packages, 31 MB), and `go build -overlay` refuses files
in the module cache. So the build runs in a prepared directory under the cache: our main.go/go.mod/go.sum plus
`upstream/`, a copy of the pinned module's apis/ and pkg/ (tests left out) in which those two files import only the
fake ones, and a `replace` to it. Everything else is upstream's code at the version go.sum pins. The prepared
directory is keyed by our module's files, the patch and the module's go.sum hash; the binary is then cached by
crdsync.devplane.build like every other (bin/external-secrets-controller-<key>/).

The CRDs come from the same module version (config/crds/bases; deploy/crds/bundle.yaml is the same set with a
conversion webhook stanza that nothing runs here), so the binary and the schemas it writes against never drift.

Failure modes: ExternalSecretsError (the module cannot be located or read, CRD files that do not parse, CRDs refused
or not established in time, the controller exiting or not becoming ready, with its log tail, a cluster refusing a
write); BuildError from the build helper when the binary cannot be built. Both carry a message meant for the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crdsync.devplane import process
from crdsync.devplane.build import GO_DIR, BuildError, cache_root, ensure_go_binary, module_inputs
from crdsync.devplane.certmanager import (
    CertManagerError,
    ModuleInfo,
    established,
    names_refused,
    parse_module_download,
    render_crds,
)
from crdsync.kube.client import KubeClient, Resource
from crdsync.kube.errors import ApiError, ConfigError

ESO_MODULE = "github.com/external-secrets/external-secrets"
MODULE_DIR = GO_DIR / "external-secrets"
BINARY_NAME = "external-secrets-controller"
BINARY_ENV = "CRDSYNC_EXTERNAL_SECRETS_CONTROLLER"  # a prebuilt binary to use instead of building one
FIELD_MANAGER = "crdsync-devplane"
CRD_SUBDIR = "config/crds/bases"
DEFAULT_READY_TIMEOUT = 120.0
DEFAULT_ESTABLISH_TIMEOUT = 60.0

# The two upstream files replaced in the build copy (see the module docstring), relative to the module root.
FAKE_ONLY = {
    "pkg/provider/register/register.go": (
        "// Replaced by crdsync's dev build: only the in-tree fake provider (no network, no cloud SDKs).\n"
        "package register\n\n"
        'import _ "github.com/external-secrets/external-secrets/pkg/provider/fake"\n'
    ),
    "pkg/generator/register/register.go": (
        "// Replaced by crdsync's dev build: only the in-tree fake generator.\n"
        "package register\n\n"
        'import _ "github.com/external-secrets/external-secrets/pkg/generator/fake"\n'
    ),
}
_COPIED_TREES = ("apis", "pkg")
_RECIPE = "1"  # bumped when the way the build directory is prepared changes

_CRDS = Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False)
_REQUIRE = re.compile(rf"^\s*(?:require\s+)?{re.escape(ESO_MODULE)}\s+(v\S+)\s*$", re.MULTILINE)


class ExternalSecretsError(Exception):
    """external-secrets could not be installed or run; the message says where and why."""


def _progress(message: str) -> None:
    print(f"crdsync: {message}", file=sys.stderr, flush=True)


# -- pure parts ------------------------------------------------------------------------------------------------------


def pinned_version(go_mod: str) -> str:
    """The external-secrets version a go.mod requires. Raises ExternalSecretsError when it requires none."""
    match = _REQUIRE.search(go_mod)
    if match is None:
        raise ExternalSecretsError(f"{MODULE_DIR / 'go.mod'}: no requirement on {ESO_MODULE}")
    return match.group(1)


def module_sum(go_sum: str, version: str) -> str:
    """The h1: hash go.sum records for the module's content at `version` (the pin the prepared copy must match)."""
    for line in go_sum.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == ESO_MODULE and fields[1] == version:
            return fields[2]
    raise ExternalSecretsError(f"{MODULE_DIR / 'go.sum'}: no hash for {ESO_MODULE} {version}; run `go mod tidy` there")


def build_go_mod(go_mod: str) -> str:
    """Our go.mod with the build copy replacing the upstream module (pure)."""
    comment = "// Added by crdsync's dev build: upstream with fake-only registers."
    return f"{go_mod.rstrip()}\n\n{comment}\nreplace {ESO_MODULE} => ./upstream\n"


def prepared_key(inputs: dict[str, bytes], upstream_sum: str) -> str:
    """A digest of everything the prepared directory holds: our module's files, the pinned content hash, the patch."""
    digest = hashlib.sha256()
    for part in (_RECIPE, upstream_sum):
        digest.update(part.encode() + b"\0")
    for name in sorted(inputs):
        digest.update(name.encode() + b"\0" + hashlib.sha256(inputs[name]).digest())
    for name in sorted(FAKE_ONLY):
        digest.update(name.encode() + b"\0" + FAKE_ONLY[name].encode())
    return digest.hexdigest()[:16]


def controller_args(binary: Path, kubeconfig: Path, address_file: Path) -> list[str]:
    """The controller's command line (pure). Health on a free loopback port, reported through `address_file`."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        "--health-listen-address=127.0.0.1:0",
        f"--address-file={address_file}",
        "--metrics-listen-address=0",
        # Stores are revalidated on change anyway; a short period only matters to tests that break a store.
        "--store-requeue-interval=30s",
    ]


# -- IO: the module cache, the build, the cluster --------------------------------------------------------------------


def eso_module() -> ModuleInfo:
    """The external-secrets module version our go.mod pins, downloaded into the module cache if not there yet."""
    go = shutil.which("go")
    if go is None:
        raise ExternalSecretsError("cannot locate external-secrets: `go` is not on PATH (it comes from its Go module)")
    command = [go, "mod", "download", "-json", ESO_MODULE]
    try:
        result = subprocess.run(
            command, cwd=MODULE_DIR, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExternalSecretsError(f"{' '.join(command)} in {MODULE_DIR}: {exc}") from None
    if result.returncode != 0 and not result.stdout.strip():
        raise ExternalSecretsError(f"{' '.join(command)} in {MODULE_DIR} failed: {result.stderr.strip()[-2000:]}")
    try:
        return parse_module_download(result.stdout, f"go mod download -json {ESO_MODULE} (in {MODULE_DIR})")
    except CertManagerError as exc:
        raise ExternalSecretsError(str(exc)) from None


def _copy_upstream(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for name in ("go.mod", "go.sum", "LICENSE"):
        shutil.copyfile(source / name, target / name)
    for tree in _COPIED_TREES:
        shutil.copytree(
            source / tree, target / tree, ignore=shutil.ignore_patterns("*_test.go", "testdata", "_testdata")
        )
    for relative, text in FAKE_ONLY.items():
        path = target / relative
        if not path.is_file():  # upstream moved it: the patch would silently link every provider again
            raise ExternalSecretsError(f"{source}: no {relative}; update FAKE_ONLY in {__file__}")
        path.chmod(0o644)
        path.write_text(text)
    for path in target.rglob("*"):  # copies of module-cache files are read-only; make the tree removable
        path.chmod(0o755 if path.is_dir() else 0o644)


def prepare_build_dir() -> Path:
    """The build directory for the fake-only controller, created under the cache on first use (idempotent)."""
    inputs = module_inputs(MODULE_DIR)
    go_mod, go_sum = inputs["go.mod"].decode(), inputs["go.sum"].decode()
    version = pinned_version(go_mod)
    key = prepared_key(inputs, module_sum(go_sum, version))
    directory = cache_root() / "src" / f"{BINARY_NAME}-{key}"
    if (directory / "go.mod").is_file():
        return directory
    module = eso_module()
    if module.version != version:
        raise ExternalSecretsError(f"go resolved {ESO_MODULE}@{module.version}, but go.mod pins {version}")
    temporary = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        _copy_upstream(module.dir, temporary / "upstream")
        for name, content in inputs.items():
            if name != "go.mod":
                (temporary / name).parent.mkdir(parents=True, exist_ok=True)
                (temporary / name).write_bytes(content)
        (temporary / "go.mod").write_text(build_go_mod(go_mod))
        try:
            temporary.rename(directory)
        except OSError:  # another process prepared the same key first: theirs is identical
            if not (directory / "go.mod").is_file():
                raise
    except OSError as exc:
        raise ExternalSecretsError(f"preparing {directory}: {exc}") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return directory


def ensure_external_secrets_binary() -> Path:
    """The controller binary: $CRDSYNC_EXTERNAL_SECRETS_CONTROLLER if set, else a cached fake-only build.

    A cold build prints progress to stderr and takes minutes; later calls return the cached path at once. Raises
    BuildError if go is missing, the module cannot be prepared, the build fails or the explicit path is not an
    executable file.
    """
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise BuildError(f"{BINARY_ENV}: {path} is not an executable file")
        return path
    try:
        directory = prepare_build_dir()
    except ExternalSecretsError as exc:  # find_binary's callers expect BuildError for anything that stops a build
        raise BuildError(str(exc)) from None
    return ensure_go_binary(BINARY_NAME, directory)


def load_crds(module: ModuleInfo | None = None) -> list[dict[str, Any]]:
    """Every CRD in the pinned module's config/crds/bases (file-name order; the kustomization is not a CRD)."""
    module = module or eso_module()
    directory = module.dir / CRD_SUBDIR
    files = sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")
    if not files:
        raise ExternalSecretsError(f"{directory}: no CRD files in {module.path}@{module.version}")
    crds: list[dict[str, Any]] = []
    for path in files:
        try:
            crds += render_crds(path.read_text(), str(path))
        except OSError as exc:
            raise ExternalSecretsError(f"{path}: cannot read: {exc}") from None
        except CertManagerError as exc:
            raise ExternalSecretsError(str(exc)) from None
    return crds


def _client(kubeconfig: Path) -> KubeClient:
    try:
        return KubeClient.from_kubeconfig(str(kubeconfig), field_manager=FIELD_MANAGER)
    except ConfigError as exc:
        raise ExternalSecretsError(str(exc)) from None


def install_crds(kubeconfig: Path, *, timeout: float = DEFAULT_ESTABLISH_TIMEOUT) -> None:
    """Server-side apply every external-secrets CRD of the pinned module and wait until all are Established.

    Idempotent. Raises ExternalSecretsError if a write is refused, the apiserver rejects a CRD's names, or the CRDs
    are not established within `timeout` seconds.
    """
    crds = load_crds()
    client = _client(kubeconfig)
    try:
        for crd in crds:
            client.apply(_CRDS, crd, force=True)
        deadline = time.monotonic() + timeout
        pending = [crd["metadata"]["name"] for crd in crds]
        while pending:
            still: list[str] = []
            for name in pending:
                current = client.get(_CRDS, None, name) or {}
                refused = names_refused(current)
                if refused:
                    raise ExternalSecretsError(f"{kubeconfig}: CustomResourceDefinition {name} refused: {refused}")
                if not established(current):
                    still.append(name)
            pending = still
            if pending and time.monotonic() > deadline:
                raise ExternalSecretsError(
                    f"{kubeconfig}: CRDs not established within {timeout:.0f}s: {', '.join(pending)}"
                )
            if pending:
                time.sleep(0.2)
    except ApiError as exc:
        raise ExternalSecretsError(f"{kubeconfig}: installing external-secrets CRDs: {exc}") from None
    finally:
        client.close()


# -- the running controller ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExternalSecrets:
    """A running external-secrets controller started by `run_external_secrets`."""

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
    except (OSError, ValueError):  # not listening yet, or 503 while caches sync
        return None


def _check_crds_installed(kubeconfig: Path) -> None:
    # Without them the manager's informers never sync and it would only time out, far from the cause.
    client = _client(kubeconfig)
    try:
        if client.get(_CRDS, None, "externalsecrets.external-secrets.io") is None:
            raise ExternalSecretsError(f"{kubeconfig}: external-secrets CRDs are not installed; call install_crds()")
    except ApiError as exc:
        raise ExternalSecretsError(f"{kubeconfig}: checking external-secrets CRDs: {exc}") from None
    finally:
        client.close()


@contextmanager
def run_external_secrets(
    kubeconfig: Path, log_path: Path, *, ready_timeout: float = DEFAULT_READY_TIMEOUT
) -> Iterator[ExternalSecrets]:
    """Run the external-secrets controller against `kubeconfig` until the block ends; yield once it is ready.

    The CRDs must be installed (`install_crds`). The controller runs in its own process group with its output
    appended to `log_path`; it is stopped on exit however the block ends (and by the kernel should Python die).
    Ready means every reconciler is set up and the informers of the kinds they watch have synced.

    Raises ExternalSecretsError (with the log tail) if it exits or is not ready within `ready_timeout` seconds, and
    BuildError if the binary cannot be built.
    """
    kubeconfig = Path(kubeconfig).resolve()
    log_path = Path(log_path).resolve()
    binary = ensure_external_secrets_binary()
    _check_crds_installed(kubeconfig)
    address_file = log_path.with_name(f".{log_path.name}.health-address")
    address_file.unlink(missing_ok=True)
    _progress(f"starting external-secrets controller (log: {log_path})")
    try:
        pid = process.spawn(controller_args(binary, kubeconfig, address_file), log_path, detached=False)
    except OSError as exc:
        raise ExternalSecretsError(f"cannot start {binary}: {exc}") from None
    started = process.start_time(pid) or 0
    try:
        began = time.monotonic()
        address = None
        while address is None:
            status = process.exit_status(pid)
            if status is not None:
                raise ExternalSecretsError(
                    f"external-secrets controller exited with status {status} before becoming ready; last lines of "
                    f"{log_path}:\n{process.tail(log_path, 60)}"
                )
            address = _ready(address_file)
            if address is None:
                if time.monotonic() - began > ready_timeout:
                    raise ExternalSecretsError(
                        f"external-secrets controller not ready within {ready_timeout:.0f}s; last lines of "
                        f"{log_path}:\n{process.tail(log_path, 60)}"
                    )
                time.sleep(0.2)
        _progress(f"external-secrets ready after {time.monotonic() - began:.1f}s (health at http://{address})")
        yield ExternalSecrets(pid, started, binary, log_path, address)
    finally:
        with contextlib.suppress(OSError):
            process.stop_group(pid, started, grace_seconds=10.0)
        address_file.unlink(missing_ok=True)


__all__ = [
    "BINARY_ENV",
    "ESO_MODULE",
    "FAKE_ONLY",
    "ExternalSecrets",
    "ExternalSecretsError",
    "build_go_mod",
    "controller_args",
    "ensure_external_secrets_binary",
    "eso_module",
    "install_crds",
    "load_crds",
    "module_sum",
    "pinned_version",
    "prepare_build_dir",
    "prepared_key",
    "run_external_secrets",
]
