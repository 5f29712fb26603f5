"""CustomResourceDefinitions of the operators the shipped mappings serve, taken from each operator's pinned Go module.

The mapping library (mappings/*.yaml) is only worth shipping if the host copies it produces are accepted by the
operator's real CRD schema. Operators with no controller here (prometheus-operator, Gateway API, Istio, KEDA,
Traefik) still publish their CRDs inside their Go modules; `SOURCES` pins one module version per operator and says
where in it the CRD YAML lives. `load_crds(name)`:

1. downloads the module with `go mod download -json <module>@<version>` (GOFLAGS=-mod=mod, in a scratch module under
   the cache, so no go.mod of the project is touched; the Go module proxy serves it like any dependency);
2. reads the files matching the source's globs, keeps the apiextensions.k8s.io/v1 CustomResourceDefinition documents
   (Gateway API ships a ValidatingAdmissionPolicy beside its CRDs) and, when `kinds` is set, only those;
3. caches the result as JSON under `<cache root>/crds/<name>-<version>.json` (the cache root of the binaries, see
   devkit.devplane.build.cache_root), so later runs neither call go nor parse YAML (Istio's file is ~1 MB).

`install_crds(kubeconfig, crds)` server-side applies them and waits until each is Established.

Failure modes, all CrdSourceError with a message for the user: an unknown name, `go` missing, a download the proxy
refuses (with go's message), a module that resolves to another version than pinned, glob patterns matching no file
or no CRD, YAML that does not parse (file and line), a CRD the apiserver refuses or does not establish in time.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from devkit.devplane.build import cache_root
from devkit.devplane.operators import apply_crds, go_mod_download

DEFAULT_ESTABLISH_TIMEOUT = 90.0
_CACHE_FORMAT = "1"  # bumped when what a cache file holds changes


class CrdSourceError(Exception):
    """CRDs could not be located, read or installed; the message says where and why."""


@dataclass(frozen=True)
class CrdSource:
    """Where one operator keeps its CRDs: a Go module version and glob patterns relative to the module root."""

    name: str
    module: str
    version: str
    files: tuple[str, ...]
    kinds: tuple[str, ...] = ()  # empty: every CRD found; else only CRDs of these kinds (spec.names.kind)

    @property
    def cache_name(self) -> str:
        return f"{self.name}-{self.version}.json"


# One pin per operator of mappings/. The proxy serves prometheus-operator's main module (which holds the CRD YAML)
# up to v0.85.0; newer versions are served for pkg/apis/monitoring only, which holds Go types and no YAML.
SOURCES: dict[str, CrdSource] = {
    source.name: source
    for source in (
        CrdSource(
            "prometheus-operator",
            "github.com/prometheus-operator/prometheus-operator",
            "v0.85.0",
            ("example/prometheus-operator-crd/monitoring.coreos.com_*.yaml",),
        ),
        CrdSource(
            "gateway-api",
            "sigs.k8s.io/gateway-api",
            "v1.6.3",
            ("config/crd/standard/gateway.networking.k8s.io_*.yaml",),
        ),
        CrdSource("istio", "istio.io/api", "v1.32.0", ("kubernetes/customresourcedefinitions.gen.yaml",)),
        CrdSource("keda", "github.com/kedacore/keda/v2", "v2.21.0", ("config/crd/bases/keda.sh_*.yaml",)),
        CrdSource(
            "traefik",
            "github.com/traefik/traefik/v3",
            "v3.7.13",
            ("docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml",),
        ),
    )
}


# -- pure parts --------------------------------------------------------------------------------------------------------


def is_crd(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and document.get("apiVersion") == "apiextensions.k8s.io/v1"
        and document.get("kind") == "CustomResourceDefinition"
        and isinstance(document.get("metadata"), dict)
        and isinstance(document["metadata"].get("name"), str)
    )


def crds_in(text: str, source: str, kinds: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The CRDs in one multi-document YAML text (other documents skipped), only `kinds` when given.

    Raises CrdSourceError naming `source` and the line for YAML that does not parse.
    """
    yaml = YAML(typ="safe")
    # YAML 1.1's value key: an unquoted `=` (an enum value in prometheus-operator's CRDs) is a plain string.
    yaml.constructor.add_constructor("tag:yaml.org,2002:value", _value_tag)
    try:
        documents = list(yaml.load_all(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise CrdSourceError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    out = []
    for document in documents:
        if not is_crd(document):
            continue
        kind = ((document.get("spec") or {}).get("names") or {}).get("kind")
        if kinds and kind not in kinds:
            continue
        out.append(_plain(document))
    return out


def _value_tag(constructor: Any, node: Any) -> Any:
    return constructor.construct_scalar(node)


def _plain(value: Any) -> Any:
    """JSON-compatible plain data (YAML timestamps and the like become strings)."""
    return json.loads(json.dumps(value, default=str))


def matching_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Files under `root` matching any of the glob `patterns` (relative to root), sorted, without duplicates."""
    found: set[Path] = set()
    for pattern in patterns:
        directory = root / os.path.dirname(pattern)
        if directory.is_dir():
            found.update(p for p in directory.iterdir() if p.is_file() and fnmatch.fnmatch(p.name, Path(pattern).name))
    return sorted(found)


def extract(source: CrdSource, module_dir: Path) -> list[dict[str, Any]]:
    """The CRDs `source` names inside a module directory. Raises CrdSourceError when there are none."""
    files = matching_files(module_dir, source.files)
    if not files:
        raise CrdSourceError(
            f"{source.module}@{source.version}: no file matches {', '.join(source.files)} in {module_dir}"
        )
    crds: list[dict[str, Any]] = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            raise CrdSourceError(f"{path}: cannot read: {exc}") from None
        crds += crds_in(text, str(path), source.kinds)
    if not crds:
        where = ", ".join(source.files)
        raise CrdSourceError(f"{source.module}@{source.version}: no CustomResourceDefinition in {where}")
    return crds


# -- IO: the module cache, the CRD cache, the cluster ------------------------------------------------------------------


def source_for(name: str) -> CrdSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise CrdSourceError(f"no CRD source named {name!r}; known: {', '.join(sorted(SOURCES))}") from None


def crd_cache_dir() -> Path:
    return cache_root() / "crds"


def download(source: CrdSource) -> Path:
    """The module directory of `source` in Go's module cache, downloaded first if needed."""
    scratch = crd_cache_dir() / ".gomod"
    scratch.mkdir(parents=True, exist_ok=True)
    if not (scratch / "go.mod").is_file():
        (scratch / "go.mod").write_text("module crdsync.local/crds\n\ngo 1.22\n")
    target = f"{source.module}@{source.version}"
    module = go_mod_download(target, scratch, CrdSourceError, env={**os.environ, "GOFLAGS": "-mod=mod"})
    if module.version != source.version:
        raise CrdSourceError(f"go resolved {source.module}@{module.version}, but {source.name} pins {source.version}")
    return module.dir


def load_crds(name: str) -> list[dict[str, Any]]:
    """The CRDs of the named source: from the cache, else downloaded, extracted and cached (atomically)."""
    source = source_for(name)
    path = crd_cache_dir() / source.cache_name
    try:
        cached = json.loads(path.read_text())
        if cached.get("format") == _CACHE_FORMAT and cached.get("module") == f"{source.module}@{source.version}":
            crds: list[dict[str, Any]] = cached["crds"]
            return crds
    except (OSError, ValueError, AttributeError, KeyError):
        pass  # absent or unreadable: rebuild it
    crds = extract(source, download(source))
    record = {"format": _CACHE_FORMAT, "module": f"{source.module}@{source.version}", "files": source.files}
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({**record, "crds": crds}))
        temporary.replace(path)
    except OSError as exc:
        raise CrdSourceError(f"caching {name} CRDs at {path}: {exc}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return crds


def install_crds(
    kubeconfig: Path, crds: Sequence[dict[str, Any]], *, timeout: float = DEFAULT_ESTABLISH_TIMEOUT
) -> None:
    """Server-side apply `crds` and wait until every one is Established (operators.apply_crds); idempotent. Raises
    CrdSourceError when a write is refused, the apiserver refuses a CRD's names, or they are not established in
    time."""
    apply_crds(kubeconfig, crds, CrdSourceError, timeout=timeout)


__all__ = [
    "SOURCES",
    "CrdSource",
    "CrdSourceError",
    "crd_cache_dir",
    "crds_in",
    "download",
    "extract",
    "install_crds",
    "is_crd",
    "load_crds",
    "matching_files",
    "source_for",
]
