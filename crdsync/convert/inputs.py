"""Find the vcluster generic-sync configurations in a file and locate every field of them in that file.

The forms users have (field names as vcluster and the plugin read them):

- a bare generic-sync config (vcluster v0.14-v0.27, pkg/config/config.go then config/config.go): `version: v1beta1`,
  `export`, `import`, `hooks`;
- vcluster Helm values holding it: `sync.generic.config` as a YAML *string* (v0.14-v0.19), or
  `experimental.genericSync` as an object (v0.20-v0.27), with `multiNamespaceMode.enabled` (v0.14-v0.19) or
  `experimental.multiNamespaceMode.enabled` (v0.20-v0.25) and RBAC `extraRules` beside them;
- the vcluster-generic-crd-sync-plugin's config (`version: v1beta1`, `mappings: [fromVirtualCluster |
  fromHostCluster]`), bare or in the plugin's Helm values as the env var CONFIG of `plugin.<name>` (a YAML string).

Positions: every returned `Source` locates a config-relative field path as file:line:col of the *file*. For YAML held
in a string the positions inside the string are mapped back line by line (block scalars `|`: content line i is file
line indicator+1+i at the block's indentation, verified against the file text); a line that cannot be verified (folded
or quoted strings) is located at the string itself.

Failure modes: none raised. Unreadable files, YAML syntax errors (also inside an embedded string, located in the file)
and documents that hold no recognisable configuration come back as `InputError`s; values-level items that do not carry
over (RBAC extraRules, vcluster's own customResources sync with JavaScript expressions, CONFIG from valueFrom) come
back as findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from crdsync.convert.report import Finding, InputError
from crdsync.spec.model import Location
from crdsync.spec.source import Document, FieldPath, format_field_path, parse_yaml

Format = Literal["generic", "plugin"]
Where = Callable[[FieldPath], Location]

_GENERIC_KEYS = ("export", "import", "hooks")


@dataclass(frozen=True)
class Source:
    """One generic-sync configuration found in a file, as plain data, with a locator for its fields."""

    format: Format
    origin: str  # where in the file it is, e.g. "sync.generic.config" ("" for a bare config)
    data: Any
    where: Where = field(compare=False)
    multi_namespace: bool | None = None  # from the values beside it; None for a bare config (unknown)

    def describe(self, path: FieldPath) -> str:
        """`export[0].patches[1]`, prefixed with the origin when the config sits inside values."""
        inner = format_field_path(path)
        if not self.origin:
            return inner
        return f"{self.origin}.{inner}" if inner else self.origin


@dataclass(frozen=True)
class Found:
    sources: tuple[Source, ...] = ()
    findings: tuple[Finding, ...] = ()
    errors: tuple[InputError, ...] = ()


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _prefixed(document: Document, prefix: FieldPath) -> Where:
    def where(path: FieldPath) -> Location:
        return document.positions.value((*prefix, *path))

    return where


def _line_map(file_text: str, at: Location, content: str) -> Callable[[int, int], tuple[int, int] | None]:
    """Map (line, column) inside `content`, a string value written at `at`, to (line, column) in the file."""
    lines = file_text.split("\n")
    row = at.line - 1
    indicator = lines[row][at.column - 1 :] if 0 <= row < len(lines) else ""
    content_lines = content.split("\n")
    verified: dict[int, int] = {}  # content line (1-based) -> column offset in the file
    if indicator[:1] in ("|", ">"):
        indent: int | None = None
        for index, text in enumerate(content_lines):
            file_row = row + 1 + index
            if file_row >= len(lines):
                break
            file_line = lines[file_row].rstrip("\r")
            if indent is None and text and file_line.endswith(text):
                indent = len(file_line) - len(text)
            if indent is not None and file_line[indent:] == text and file_line[:indent].strip() == "":
                verified[index + 1] = indent
    elif len(content_lines) == 1 and 0 <= row < len(lines):
        offset = lines[row].find(content, at.column - 1) if content else -1
        if offset >= 0:
            verified[1] = offset

    block = indicator[:1] in ("|", ">")

    def mapped(line: int, column: int) -> tuple[int, int] | None:
        offset = verified.get(line)
        if offset is None:
            return None
        # Block content line 1 is the line after the indicator; a one-line string sits on the indicator's line.
        return (row + 1 + line if block else row + 1), column + offset

    return mapped


def _embedded(
    file_text: str, filename: str, document: Document, path: FieldPath, text: str
) -> tuple[Document | None, Where, InputError | None]:
    """Parse YAML held in the string at `path`; positions inside it are mapped back to the file."""
    at = document.positions.value(path)
    mapped = _line_map(file_text, at, text)

    def to_file(location: Location) -> Location:
        found = mapped(location.line, location.column)
        return at if found is None else Location(filename, found[0], found[1])

    documents, problems = parse_yaml(text, filename)
    if problems:
        problem = problems[0]
        message = problem.message
        if message.startswith("empty mapping file"):
            return None, lambda _p: at, None
        where = to_file(problem.location)
        return None, lambda _p: at, InputError(where, f"in the YAML string at {format_field_path(path)}: {message}")
    if not documents:
        return None, lambda _p: at, None
    embedded = documents[0]

    def locate(inner: FieldPath) -> Location:
        return to_file(embedded.positions.value(inner))

    return embedded, locate, None


def _multi_namespace(data: Any) -> bool | None:
    for keys in (("multiNamespaceMode", "enabled"), ("experimental", "multiNamespaceMode", "enabled")):
        value = _get(data, *keys)
        if isinstance(value, bool):
            return value
    return None


def _is_generic(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and (any(k in data for k in _GENERIC_KEYS) or data.get("version") == "v1beta1")
        and ("mappings" not in data)
    )


def _is_plugin(data: Any) -> bool:
    return isinstance(data, dict) and "mappings" in data and not any(k in data for k in _GENERIC_KEYS)


def _extra_rules(document: Document, origin: FieldPath, rbac: Any, findings: list[Finding]) -> None:
    """RBAC extraRules beside a generic-sync config: crdsync derives its RBAC from the mapping instead."""
    for role in ("role", "clusterRole"):
        rules = _get(rbac, role, "extraRules")
        if isinstance(rules, list) and rules:
            path = (*origin, role, "extraRules")
            findings.append(
                Finding(
                    document.positions.value(path),
                    format_field_path(path),
                    f"{len(rules)} RBAC extraRules for the generic sync",
                    "not needed: `crdsync rbac MAPPING` prints the least-privilege RBAC the converted mapping needs on "
                    "the host and virtual clusters",
                    "note",
                )
            )


def _custom_resources(document: Document, data: Any, findings: list[Finding]) -> None:
    """vcluster's successor sync (sync.toHost/fromHost.customResources): not generic sync; reported, not converted."""
    for direction in ("toHost", "fromHost"):
        resources = _get(data, "sync", direction, "customResources")
        if not isinstance(resources, dict):
            continue
        for resource, spec in resources.items():
            path: FieldPath = ("sync", direction, "customResources", resource)
            findings.append(
                Finding(
                    document.positions.key(path),
                    format_field_path(path),
                    f"vcluster's own customResources sync of {resource} is not generic sync and is not converted",
                    "write a crdsync rule for its kind (apiVersion and kind, which customResources leaves to the CRD), "
                    "or keep vcluster syncing it and leave it out of crdsync",
                )
            )
            patches = spec.get("patches") if isinstance(spec, dict) else None
            for index, patch in enumerate(patches if isinstance(patches, list) else []):
                if not isinstance(patch, dict):
                    continue
                for key in ("expression", "reverseExpression"):
                    if key in patch:
                        expr_path = (*path, "patches", index, key)
                        findings.append(
                            Finding(
                                document.positions.value(expr_path),
                                format_field_path(expr_path),
                                "a JavaScript expression: crdsync runs no scripts",
                                "express the change as crdsync patches (set, copy, remove) or references",
                            )
                        )


def _plugin_sources(
    file_text: str, filename: str, document: Document, data: dict[str, Any], found: list[Source]
) -> tuple[list[Finding], list[InputError]]:
    findings: list[Finding] = []
    errors: list[InputError] = []
    for key in ("plugin", "plugins"):
        plugins = data.get(key)
        if not isinstance(plugins, dict):
            continue
        for name, plugin in plugins.items():
            env = plugin.get("env") if isinstance(plugin, dict) else None
            if not isinstance(env, list):
                continue
            for index, var in enumerate(env):
                if not isinstance(var, dict) or var.get("name") != "CONFIG":
                    continue
                path: FieldPath = (key, name, "env", index, "value")
                value = var.get("value")
                if not isinstance(value, str):
                    where = document.positions.value((key, name, "env", index))
                    findings.append(
                        Finding(
                            where,
                            format_field_path((key, name, "env", index)),
                            "the plugin's CONFIG is not given as a value here (valueFrom or empty)",
                            "run crdsync convert on the file that holds the plugin config itself",
                        )
                    )
                    continue
                embedded, where_fn, error = _embedded(file_text, filename, document, path, value)
                if error is not None:
                    errors.append(error)
                    continue
                config = embedded.data if embedded is not None else {}
                found.append(Source("plugin", format_field_path(path), config, where_fn, None))
                rbac = plugin.get("rbac") if isinstance(plugin, dict) else None
                _extra_rules(document, (key, name, "rbac"), rbac, findings)
    return findings, errors


def _values_sources(
    text: str,
    filename: str,
    document: Document,
    data: dict[str, Any],
    sources: list[Source],
    findings: list[Finding],
    errors: list[InputError],
) -> bool:
    """The configurations in one document of vcluster Helm values (sync.generic.config, experimental.genericSync,
    plugin.<name>), appended to `sources`, `findings` and `errors`; False when the document holds none of them."""
    before = len(sources)
    multi = _multi_namespace(data)
    config = _get(data, "sync", "generic", "config")
    if isinstance(config, str):
        path: FieldPath = ("sync", "generic", "config")
        embedded, locate, error = _embedded(text, filename, document, path, config)
        if error is not None:
            errors.append(error)
        else:
            data_of = embedded.data if embedded else {}
            sources.append(Source("generic", "sync.generic.config", data_of, locate, multi))
        _extra_rules(document, ("sync", "generic"), _get(data, "sync", "generic"), findings)
    generic = _get(data, "experimental", "genericSync")
    if isinstance(generic, dict):
        sources.append(
            Source(
                "generic",
                "experimental.genericSync",
                generic,
                _prefixed(document, ("experimental", "genericSync")),
                multi,
            )
        )
        _extra_rules(document, ("experimental", "genericSync"), generic, findings)
    plugin_findings, plugin_errors = _plugin_sources(text, filename, document, data, sources)
    findings.extend(plugin_findings)
    errors.extend(plugin_errors)
    has_custom = any(
        isinstance(_get(data, "sync", d, "customResources"), dict) and _get(data, "sync", d, "customResources")
        for d in ("toHost", "fromHost")
    )
    if len(sources) > before or plugin_errors or has_custom:
        if len(sources) > before and isinstance(data.get("rbac"), dict):
            _extra_rules(document, ("rbac",), data["rbac"], findings)
        _custom_resources(document, data, findings)
        return True
    return False


def find_sources(text: str, filename: str) -> Found:
    """Every generic-sync configuration in `text` (a file's content), located; see the module docstring."""
    documents, problems = parse_yaml(text, filename)
    if problems:
        empty = "empty file: no generic-sync configuration"
        return Found(
            errors=tuple(
                InputError(p.location, empty if p.message.startswith("empty") else p.message) for p in problems
            )
        )
    sources: list[Source] = []
    findings: list[Finding] = []
    errors: list[InputError] = []
    unrecognised: list[Document] = []
    for document in documents:
        data = document.data
        if _is_generic(data):
            sources.append(Source("generic", "", data, _prefixed(document, ()), None))
            continue
        if _is_plugin(data):
            sources.append(Source("plugin", "", data, _prefixed(document, ()), None))
            continue
        if not isinstance(data, dict):
            unrecognised.append(document)
            continue
        if not _values_sources(text, filename, document, data, sources, findings, errors):
            unrecognised.append(document)
    if not sources and not findings and not errors:
        first = unrecognised[0].positions.value(()) if unrecognised else Location(filename, 1, 1)
        errors.append(
            InputError(
                first,
                "not a vcluster generic-sync configuration: expected a config (version: v1beta1 with export/import/"
                "hooks, or the plugin's mappings), or vcluster Helm values with sync.generic.config, "
                "experimental.genericSync or plugin.<name>.env CONFIG",
            )
        )
    elif unrecognised:
        for document in unrecognised:
            findings.append(
                Finding(
                    document.positions.value(()),
                    "",
                    f"YAML document {document.index + 1} holds no generic-sync configuration and was skipped",
                    "check it is not a config in a form crdsync convert does not know",
                )
            )
    return Found(tuple(sources), tuple(findings), tuple(errors))
