"""Find or build the control-plane binaries (etcd, kube-apiserver) that the local planes run.

Resolution order for each binary: an explicit path (CRDSYNC_ETCD / CRDSYNC_KUBE_APISERVER), then KUBEBUILDER_ASSETS
(a directory holding `etcd` and `kube-apiserver`, the envtest convention), then a local build of the pinned Go module
under devkit/devplane/go/<name>/. Builds are cached under CRDSYNC_CACHE_DIR (default ~/.cache/crdsync) in
bin/<name>-<key>/<name>, where the key hashes every pinned input (go.mod, go.sum, the module's Go sources, the package
and the linker flags), so a second run builds nothing and a changed pin builds afresh next to the old one.

Concurrency and crashes: a per-binary file lock keeps two processes from building the same key at once (the second
waits, then finds the binary); go writes to a temporary path that is renamed into place only on success, so an
interrupted build never leaves a half-written binary under the final name.

Failure modes: a missing `go`, a failed build (the error carries the tail of go's output), and an explicit path that
is not an executable file all raise BuildError with a message saying what to do; nothing here raises anything else
for bad input.
"""

from __future__ import annotations

import collections
import fcntl
import hashlib
import importlib
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# The Kubernetes release the kube-apiserver module pins; /version reports it through the linker flags below.
KUBE_VERSION = "v1.36.3"

GO_DIR = Path(__file__).resolve().parent / "go"

# Bumped when the way we invoke `go build` changes in a way the hashed inputs do not show.
_RECIPE = "1"
_BASE_LDFLAGS = "-s -w"  # no symbol table or DWARF: a third of the size and a faster link
_TAIL_LINES = 40
_HEARTBEAT_SECONDS = 30.0


class BuildError(Exception):
    """A binary could not be found or built; the message says why and what to do."""


def _version_ldflags(version: str) -> str:
    # Both packages carry a copy of the version: component-base serves /version, client-go the User-Agent.
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


# name -> (module directory, extra linker flags) of the binaries this package knows how to build.
BUILTIN: Mapping[str, tuple[Path, str]] = {
    "etcd": (GO_DIR / "etcd", ""),
    "kube-apiserver": (GO_DIR / "kube-apiserver", _version_ldflags(KUBE_VERSION)),
}

# Helm's release flags (its Makefile): the version `helm version` prints, and the Kubernetes version `helm template`
# and `helm lint` assume by default, which upstream derives from client-go (v0.37 -> 1.37).
HELM_VERSION = "v3.22.0"
_HELM_LDFLAGS = (
    f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    " -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"
    " -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"
)

# name -> (module directory, package, extra linker flags) of tools whose main package lives inside a pinned library
# module and cannot be imported from a main.go of ours: their module directory holds only go.mod/go.sum (a `tool`
# directive), and the build names the package.
TOOLS: Mapping[str, tuple[Path, str, str]] = {
    "helm": (GO_DIR / "helm", "helm.sh/helm/v3/cmd/helm", _HELM_LDFLAGS),
    # The controller-runtime copier of `python -m devkit bench --peers`: a main.go of ours in its own pinned module.
    "cr-copier": (GO_DIR / "cr-copier", ".", ""),
    # The chaos suite's TCP proxy between crdsync and each apiserver (stalls, resets, delays; e2e/chaos).
    "toxiproxy": (GO_DIR / "toxiproxy", "github.com/Shopify/toxiproxy/v2/cmd/server", ""),
}

# name -> "module:function" of binaries whose devplane helper prepares the build directory before `go build` (e.g.
# external-secrets, built against a copy of its module that links only the fake provider); the function returns the
# cached or freshly built binary. Imported on use, since those helpers import this module.
PREPARED: Mapping[str, str] = {
    "external-secrets-controller": "devkit.devplane.externalsecrets:ensure_external_secrets_binary",
}


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """Root of crdsync's caches: CRDSYNC_CACHE_DIR, else $XDG_CACHE_HOME/crdsync, else ~/.cache/crdsync."""
    env = os.environ if env is None else env
    if env.get("CRDSYNC_CACHE_DIR"):
        return Path(env["CRDSYNC_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "crdsync"
    return Path.home() / ".cache" / "crdsync"


def module_inputs(module_dir: Path) -> dict[str, bytes]:
    """The files whose content pins a build: go.mod, go.sum and every Go source of the module, by relative path.

    Raises BuildError if the directory holds no go.mod (a typo'd or missing module).
    """
    if not (module_dir / "go.mod").is_file():
        raise BuildError(f"{module_dir}: no go.mod here; expected a Go module to build")
    inputs: dict[str, bytes] = {}
    for path in sorted(module_dir.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            inputs[path.relative_to(module_dir).as_posix()] = path.read_bytes()
    return inputs


def cache_key(inputs: Mapping[str, bytes], package: str, ldflags: str, target: str | None = None) -> str:
    """A short hex digest of everything that determines the built binary (pure: same inputs, same key)."""
    digest = hashlib.sha256()
    target = target or f"{sys.platform}-{platform.machine()}"
    for part in (_RECIPE, target, package, ldflags):
        digest.update(part.encode() + b"\0")
    for name in sorted(inputs):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(inputs[name]).digest())
    return digest.hexdigest()[:16]


def cached_binary_path(name: str, key: str, root: Path | None = None) -> Path:
    """Where the binary `name` with cache key `key` lives (whether or not it was built yet)."""
    return (root or cache_root()) / "bin" / f"{name}-{key}" / name


def _progress(message: str, stream: TextIO | None = None) -> None:
    print(f"crdsync: {message}", file=stream or sys.stderr, flush=True)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _progress(f"waiting for another process building {path.stem.lstrip('.')} to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _count_dependencies(go: str, module_dir: Path, package: str) -> str:
    """`/N`, N being how many packages the build needs at most (std included); "" if go cannot say."""
    try:
        listed = subprocess.run(
            [go, "list", "-deps", package], cwd=module_dir, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"/{len(listed.stdout.split())}" if listed.returncode == 0 else ""


def _run_go_build(name: str, module_dir: Path, package: str, ldflags: str, output: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            f"cannot build {name}: `go` (1.26 or newer) is not on PATH; install Go, or point KUBEBUILDER_ASSETS at a "
            f"directory holding etcd and kube-apiserver, or set CRDSYNC_{name.upper().replace('-', '_')} to a binary"
        )
    command = [go, "build", "-v", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", str(output), package]
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    compiled = 0
    started = time.monotonic()
    finished = threading.Event()

    def heartbeat() -> None:
        # -v names each package as go compiles it; a count every so often shows a cold build is moving. The total
        # is looked up only once a build proves slow, so quick (cached) builds do not pay for it.
        total = ""
        while not finished.wait(_HEARTBEAT_SECONDS):
            total = total or _count_dependencies(go, module_dir, package)
            step = f"{compiled}{total} packages compiled" if compiled else "compiling or linking"
            _progress(f"  still building {name}: {step}, {time.monotonic() - started:.0f}s")

    process = subprocess.Popen(
        command,
        cwd=module_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    ticker = threading.Thread(target=heartbeat, name=f"build-{name}-progress", daemon=True)
    ticker.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip("\n"))
            if not line.startswith(("go: ", "#", " ", "\t")):
                compiled += 1
        returncode = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        finished.set()
        ticker.join()
    if returncode != 0:
        output_tail = "\n".join(tail) or "(no output)"
        raise BuildError(
            f"building {name} in {module_dir} failed (go build exited {returncode}); last lines of go's output:\n"
            f"{output_tail}"
        )


def ensure_go_binary(name: str, module_dir: Path, package: str = ".", ldflags: str = "") -> Path:
    """Return the path of `name` built from `package` of the Go module at `module_dir`, building it if not cached.

    `ldflags` are appended to "-s -w" (e.g. "-X pkg.var=value"). Prints one progress line per step to stderr.
    Raises BuildError if go is missing or the build fails (with the tail of go's output).
    """
    module_dir = module_dir.resolve()
    full_ldflags = f"{_BASE_LDFLAGS} {ldflags}".strip()
    key = cache_key(module_inputs(module_dir), package, full_ldflags)
    binary = cached_binary_path(name, key)
    if binary.is_file():
        return binary
    with _file_lock(binary.parent.parent / f".{name}-{key}.lock"):
        if binary.is_file():  # another process built it while we waited for the lock
            return binary
        binary.parent.mkdir(parents=True, exist_ok=True)
        temporary = binary.parent / f".{name}.tmp-{os.getpid()}"
        started = time.monotonic()
        _progress(f"building {name} from {module_dir} (first build of these pins; a cold build takes minutes)")
        try:
            _run_go_build(name, module_dir, package, full_ldflags, temporary)
            os.replace(temporary, binary)
        finally:
            temporary.unlink(missing_ok=True)
        _progress(f"built {name} in {time.monotonic() - started:.1f}s -> {binary}")
    return binary


def _env_name(name: str) -> str:
    return "CRDSYNC_" + name.upper().replace("-", "_")


def _check_executable(path: Path, origin: str) -> Path:
    if not path.is_file():
        raise BuildError(f"{origin}: {path} does not exist or is not a file")
    if not os.access(path, os.X_OK):
        raise BuildError(f"{origin}: {path} is not executable")
    return path


def find_binary(name: str, env: Mapping[str, str] | None = None) -> Path:
    """Return a runnable `etcd`, `kube-apiserver` or tool (`helm`): explicit env path (CRDSYNC_<NAME>), then
    KUBEBUILDER_ASSETS (control-plane binaries only), then a cached build.

    Raises BuildError for an unknown name, a bad explicit path or a failed build.
    """
    if name not in BUILTIN and name not in TOOLS and name not in PREPARED:
        known = ", ".join(sorted([*BUILTIN, *TOOLS, *PREPARED]))
        raise BuildError(f"unknown control-plane binary or tool {name!r}; known: {known}")
    env = os.environ if env is None else env
    explicit = env.get(_env_name(name))
    if explicit:
        return _check_executable(Path(explicit).expanduser(), _env_name(name))
    if name in PREPARED:
        module_name, function = PREPARED[name].split(":")
        built: Path = getattr(importlib.import_module(module_name), function)()
        return built
    if name in TOOLS:  # not an envtest asset: KUBEBUILDER_ASSETS never holds it
        module_dir, package, ldflags = TOOLS[name]
        return ensure_go_binary(name, module_dir, package, ldflags)
    assets = env.get("KUBEBUILDER_ASSETS")
    if assets:
        return _check_executable(Path(assets).expanduser() / name, "KUBEBUILDER_ASSETS")
    module_dir, ldflags = BUILTIN[name]
    return ensure_go_binary(name, module_dir, ".", ldflags)
