"""Reading mapping rules as written, for the semantic checks and the builder: every rule mapping of a document with
its direction and field path, the rules fit for cross-rule checks, and every place in a rule that holds a JSONPath.

Failure modes: none raised. The data may be schema-invalid: a value of the wrong type is skipped (the schema has
already reported it), and `raw_rules` keeps only rules whose apiVersion and kind match the schema's own patterns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from crdsync.spec.model import Direction, Location
from crdsync.spec.schema import defined_pattern
from crdsync.spec.source import Document, FieldPath, Problem

DIRECTION_KEYS: dict[str, Direction] = {"toHost": Direction.TO_HOST, "fromHost": Direction.FROM_HOST}


# The schema's own patterns: a rule the schema rejected for its apiVersion or kind is skipped here, not reported twice.
def valid_api_version(value: Any) -> bool:
    return isinstance(value, str) and defined_pattern("apiVersion").match(value) is not None


def valid_kind(value: Any) -> bool:
    return isinstance(value, str) and defined_pattern("kind").match(value) is not None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class RawRule:
    """A rule as written. The checks within one rule see every rule mapping; `raw_rules` (the cross-rule checks and
    the builder) only those with a well-formed apiVersion and kind, which the properties below then assume."""

    document: Document
    direction: Direction
    path: FieldPath  # ('spec', 'toHost', 3)
    data: dict[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.data["apiVersion"])

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def mode(self) -> str | None:
        mode = self.data.get("mode", "all")
        return mode if mode in ("all", "referenced") else None

    @property
    def location(self) -> Location:
        return self.document.positions.value(self.path)

    def problem(self, relative: FieldPath, message: str, at_key: bool = False) -> Problem:
        """A problem at `relative` below the rule: at the key itself with `at_key` (a field that should not be
        there), else at its value."""
        path = (*self.path, *relative)
        where = self.document.positions.key(path) if at_key else self.document.positions.value(path)
        return Problem(where, path, message, self.document.index)


def iter_rule_data(document: Document) -> Iterator[tuple[Direction, FieldPath, dict[str, Any]]]:
    """Every rule mapping in a document, with its direction and path, whatever its content."""
    data = document.data
    spec = data.get("spec") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        return
    for key, direction in DIRECTION_KEYS.items():
        rules = spec.get(key)
        if not isinstance(rules, list):
            continue
        for index, rule in enumerate(rules):
            if isinstance(rule, dict):
                yield direction, ("spec", key, index), rule


def document_rules(document: Document) -> list[RawRule]:
    """Every rule mapping in a document, whatever its content (for the checks within one rule)."""
    return [RawRule(document, direction, path, rule) for direction, path, rule in iter_rule_data(document)]


def raw_rules(documents: Sequence[Document]) -> list[RawRule]:
    """The rules of all documents, in load order, that have a well-formed apiVersion and kind."""
    return [
        rule
        for document in documents
        for rule in document_rules(document)
        if valid_api_version(rule.data.get("apiVersion")) and valid_kind(rule.data.get("kind"))
    ]


def rooted(path: str) -> str:
    """A path written relative to a match (vcluster's `subPath`, `namePath`: `name`, `.name`, `[0]`, `@.name` or
    `$.name`) as a JSONPath rooted at that match: `$.name`. Anything else is returned unchanged for the path check."""
    stripped = path.strip()
    if stripped.startswith("@"):
        return "$" + stripped[1:]
    if stripped.startswith("$"):
        return stripped
    if stripped.startswith(".") or stripped.startswith("["):
        return "$" + stripped
    return "$." + stripped if stripped else stripped


def iter_conditions(when: Any) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """(path relative to `when`, condition mapping) of each condition in a `when`: one mapping or a list of them."""
    if isinstance(when, dict):
        yield (), when
    for i, condition in enumerate(as_list(when)):
        if isinstance(condition, dict):
            yield (i,), condition


def _condition_paths(where: FieldPath, when: Any) -> Iterator[tuple[FieldPath, Any]]:
    for relative, condition in iter_conditions(when):
        if "path" in condition:
            yield (*where, *relative, "path"), condition["path"]
        if isinstance(condition.get("subPath"), str):
            yield (*where, *relative, "subPath"), rooted(condition["subPath"])


def iter_path_fields(rule: dict[str, Any]) -> Iterator[tuple[FieldPath, Any]]:
    """(relative field path, value) of every place in a rule where a JSONPath is accepted."""
    patches = as_dict(rule.get("patches"))
    for side in ("toHost", "toVirtual"):
        for j, patch in enumerate(as_list(patches.get(side))):
            patch = as_dict(patch)
            for key in ("path", "from"):
                if key in patch:
                    yield ("patches", side, j, key), patch[key]
            yield from _condition_paths(("patches", side, j, "when"), patch.get("when"))
    for k, ref in enumerate(as_list(rule.get("references"))):
        ref = as_dict(ref)
        # With namePath, namePath and namespacePath are rooted at each item (written relative, like vcluster's).
        item_relative = "namePath" in ref
        for key in ("path", "namespacePath", "namePath"):
            if key in ref:
                value = ref[key]
                relative_here = key == "namePath" or (key == "namespacePath" and item_relative)
                yield ("references", k, key), rooted(value) if relative_here and isinstance(value, str) else value
        yield from _condition_paths(("references", k, "when"), ref.get("when"))
    status = as_dict(rule.get("status"))
    for key in ("paths", "observedGenerationPaths"):
        for m, status_path in enumerate(as_list(status.get(key))):
            yield ("status", key, m), status_path
    for m, reverse_path in enumerate(as_list(as_dict(rule.get("reverse")).get("paths"))):
        yield ("reverse", "paths", m), reverse_path
