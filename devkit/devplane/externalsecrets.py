"""A real external-secrets on the local host plane: its controller built from the pinned upstream module, and its CRDs.

The controller is our own small main (devkit/devplane/go/external-secrets/main.go) over external-secrets' public
reconcilers (ExternalSecret, SecretStore, ClusterSecretStore, PushSecret), pinned in that module's go.mod; it runs out
of cluster on a kubeconfig with leader election off, health (and optional metrics) on loopback only.

Only the in-tree `fake` provider and generator are linked. Upstream chooses providers with blank imports of
pkg/provider/register and pkg/generator/register *inside* its controller packages, so a main cannot leave the cloud
SDKs out (1,750 packages, 129 MB of Go; the fake build is 635 packages, 31 MB), and `go build -overlay` refuses files
in the module cache. So the build runs in a prepared directory under the cache: our main.go/go.mod/go.sum plus
`upstream/`, a copy of the pinned module's apis/ and pkg/ (tests left out) in which those two files import only the
fake ones, and a `replace` to it. Everything else is upstream's code at the version go.sum pins. The prepared
directory is keyed by our module's files, the patch and the module's go.sum hash; the binary is then cached by
devkit.devplane.build like every other (bin/external-secrets-controller-<key>/).

The CRDs come from the same module version (config/crds/bases; deploy/crds/bundle.yaml is the same set with a
conversion webhook stanza that nothing runs here), so the binary and the schemas it writes against never drift.

Failure modes: ExternalSecretsError (the module cannot be located or read, CRD files that do not parse, CRDs refused
or not established in time, the controller exiting or not becoming ready, with its log tail, a cluster refusing a
write); BuildError from the build helper when the binary cannot be built. Both carry a message meant for the user.
The module lookup, the CRDs and the process are devkit.devplane.operators' (shared with cert-manager).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devkit.devplane import operators
from devkit.devplane.build import GO_DIR, BuildError, cache_root, ensure_go_binary, module_inputs
from devkit.devplane.operator_files import ModuleInfo, OperatorError
from devkit.devplane.operators import Controller, Operator

ESO_MODULE = "github.com/external-secrets/external-secrets"
MODULE_DIR = GO_DIR / "external-secrets"
BINARY_NAME = "external-secrets-controller"
BINARY_ENV = "CRDSYNC_EXTERNAL_SECRETS_CONTROLLER"  # a prebuilt binary to use instead of building one
CRD_SUBDIR = "config/crds/bases"
DEFAULT_READY_TIMEOUT = operators.DEFAULT_READY_TIMEOUT
DEFAULT_ESTABLISH_TIMEOUT = operators.DEFAULT_ESTABLISH_TIMEOUT

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

_REQUIRE = re.compile(rf"^\s*(?:require\s+)?{re.escape(ESO_MODULE)}\s+(v\S+)\s*$", re.MULTILINE)


class ExternalSecretsError(OperatorError):
    """external-secrets could not be installed or run; the message says where and why."""


OPERATOR = Operator(
    name="external-secrets",
    module=ESO_MODULE,
    module_dir=MODULE_DIR,
    crd_subdir=CRD_SUBDIR,
    marker_crd="externalsecrets.external-secrets.io",
    binary_env=BINARY_ENV,
    error=ExternalSecretsError,
    skip_files=frozenset({"kustomization.yaml"}),  # the kustomization is not a CRD
)

# A running external-secrets controller, as `run_external_secrets` yields it.
ExternalSecrets = Controller


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
        # One reconcile at a time: v0.16.2's fake provider writes a shared map in NewClient without a lock, and two
        # ExternalSecrets reconciled at once crash the whole controller ("fatal error: concurrent map writes").
        "--concurrent=1",
    ]


# -- IO: the module cache, the build, the cluster --------------------------------------------------------------------


def eso_module() -> ModuleInfo:
    """The external-secrets module version our go.mod pins, downloaded into the module cache if not there yet."""
    return operators.pinned_module(OPERATOR)


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
    explicit = operators.explicit_binary(OPERATOR)
    if explicit:
        return explicit
    try:
        directory = prepare_build_dir()
    except ExternalSecretsError as exc:  # find_binary's callers expect BuildError for anything that stops a build
        raise BuildError(str(exc)) from None
    return ensure_go_binary(BINARY_NAME, directory)


def load_crds(module: ModuleInfo | None = None) -> list[dict[str, Any]]:
    """Every CRD in the pinned module's config/crds/bases (file-name order; the kustomization is not a CRD)."""
    return operators.load_crds(OPERATOR, module)


def install_crds(kubeconfig: Path, *, timeout: float = DEFAULT_ESTABLISH_TIMEOUT) -> None:
    """Server-side apply every external-secrets CRD of the pinned module and wait until all are Established.

    Idempotent. Raises ExternalSecretsError if a write is refused, the apiserver rejects a CRD's names, or the CRDs
    are not established within `timeout` seconds.
    """
    operators.install_crds(OPERATOR, kubeconfig, timeout=timeout)


# -- the running controller ------------------------------------------------------------------------------------------


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
    binary = ensure_external_secrets_binary()
    with operators.cluster(kubeconfig, "checking external-secrets CRDs", ExternalSecretsError) as client:
        operators.check_crds_installed(OPERATOR, client, kubeconfig)
    with operators.run_controller(
        OPERATOR,
        binary,
        lambda address_file: controller_args(binary, kubeconfig, address_file),
        log_path,
        ready_timeout=ready_timeout,
    ) as running:
        yield running


__all__ = [
    "BINARY_ENV",
    "ESO_MODULE",
    "FAKE_ONLY",
    "OPERATOR",
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
