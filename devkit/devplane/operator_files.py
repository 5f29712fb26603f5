"""The pure part of the operators' plumbing: what `go mod download -json` reported, CRD YAML, and CRD conditions.

No IO: each function takes text or an object read elsewhere (devkit.devplane.operators does the reading). Failure
modes: OperatorError with a message for the user - go's error report or junk output, YAML that does not parse (with
file:line), an inline Helm template expression, a document that is not a named v1 CustomResourceDefinition.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

# A directive alone on its line: `{{- if .Values.crds.enabled }}`, `{{- end }}`, `{{/* comment */}}`.
_TEMPLATE_LINE = re.compile(r"^\s*\{\{.*\}\}\s*$")


class OperatorError(Exception):
    """An operator could not be located, installed or run; the message says where and why."""


@dataclass(frozen=True)
class ModuleInfo:
    """One downloaded Go module version: its path, version and directory in the module cache."""

    path: str
    version: str
    dir: Path


def parse_module_download(output: str, source: str = "go mod download -json") -> ModuleInfo:
    """The module `go mod download -json <module>` reported. Raises OperatorError on an error report or junk."""
    try:
        data = json.loads(output)
    except ValueError as exc:
        raise OperatorError(f"{source}: output is not JSON ({exc}): {output[:200]!r}") from None
    if not isinstance(data, dict):
        raise OperatorError(f"{source}: expected a JSON object, got {output[:200]!r}")
    if data.get("Error"):
        raise OperatorError(f"{source}: {data['Error']}")
    fields = {key: data.get(key) for key in ("Path", "Version", "Dir")}
    missing = [key for key, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise OperatorError(f"{source}: no {', '.join(missing)} in {output[:200]!r}")
    return ModuleInfo(str(fields["Path"]), str(fields["Version"]), Path(str(fields["Dir"])))


def strip_template_lines(text: str, source: str) -> str:
    """`text` with whole-line Helm directives blanked (keeping line numbers for error messages).

    Raises OperatorError naming source:line for a template expression inside a line, which cannot be rendered without
    Helm's values.
    """
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        if _TEMPLATE_LINE.match(line):
            lines[number - 1] = "\n"
        elif "{{" in line:
            raise OperatorError(
                f"{source}:{number}: inline Helm template expression cannot be rendered without Helm: {line.strip()}"
            )
    return "".join(lines)


def render_crds(text: str, source: str) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions in one YAML file (multi-document allowed, empty documents skipped).

    Raises OperatorError with source:line for YAML errors, and source plus document number for a document that is not
    an apiextensions.k8s.io/v1 CustomResourceDefinition with a name.
    """
    yaml = YAML(typ="safe", pure=True)
    try:
        documents = list(yaml.load_all(strip_template_lines(text, source)))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise OperatorError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise OperatorError(f"{source}: not valid YAML: {exc}") from None
    crds: list[dict[str, Any]] = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        where = f"{source} (document {index})"
        if not isinstance(document, dict):
            raise OperatorError(f"{where}: expected a mapping, got {type(document).__name__}")
        kind = (document.get("apiVersion"), document.get("kind"))
        if kind != ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
            raise OperatorError(
                f"{where}: expected apiextensions.k8s.io/v1 CustomResourceDefinition, got {kind[0]} {kind[1]}"
            )
        metadata = document.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
            raise OperatorError(f"{where}: CustomResourceDefinition without metadata.name")
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
