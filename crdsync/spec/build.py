"""Schema-valid, check-clean mapping documents -> the frozen model (crdsync.spec.model).

Only called once every document passed the schema and the semantic checks, so the data has the documented shape;
this module maps camelCase YAML to the snake_case model, fills the documented defaults, attaches source locations and
resolves omitted reference apiVersions. A `when` written as one condition mapping becomes a one-item tuple, exactly
like the same condition written as a one-item list. Values written by `set` patches and condition operands stay plain
JSON (dict/list), exactly what the translate layer writes into objects.

Failure modes: none by design. A shape the checks should have rejected raises KeyError/TypeError/ValueError; the
loader catches that and reports it as an internal error located at the rule, never a traceback.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.spec.checks.references import candidate_api_versions
from crdsync.spec.checks.rules import RawRule, iter_rule_data, raw_rules, rooted
from crdsync.spec.model import (
    Condition,
    ConflictPolicy,
    DeletionPolicy,
    Direction,
    FollowDirection,
    HostSelection,
    KeyStyle,
    LabelSelector,
    Naming,
    NamingStyle,
    Patch,
    PatchOp,
    Reference,
    Rule,
    Scope,
    SelectorOperator,
    SelectorRequirement,
    StatusSync,
    SyncConfig,
    SyncMode,
)
from crdsync.spec.source import Document, FieldPath, Positions


def _selector(data: dict[str, Any] | None) -> LabelSelector | None:
    if data is None:
        return None
    return LabelSelector(
        match_labels=tuple((str(k), str(v)) for k, v in data.get("matchLabels", {}).items()),
        match_expressions=tuple(
            SelectorRequirement(
                key=e["key"], operator=SelectorOperator(e["operator"]), values=tuple(e.get("values", ()))
            )
            for e in data.get("matchExpressions", ())
        ),
    )


def _condition(data: dict[str, Any], positions: Positions, path: FieldPath) -> Condition:
    relative = "subPath" in data
    return Condition(
        # A subPath is written relative (`name`, `.name`, `$.name`); the model keeps it rooted at the match.
        path=rooted(data["subPath"]) if relative else data["path"],
        in_=tuple(copy.deepcopy(data["in"])) if "in" in data else None,
        not_in=tuple(copy.deepcopy(data["notIn"])) if "notIn" in data else None,
        exists=data.get("exists"),
        equal=data.get("equal"),
        not_equal=data.get("notEqual"),
        empty=data.get("empty"),
        relative=relative,
        location=positions.value(path),
    )


def _conditions(data: Any, positions: Positions, path: FieldPath) -> tuple[Condition, ...]:
    """`when` as written: absent, one condition mapping, or a list of them (each located at its own mapping)."""
    if data is None:
        return ()
    if isinstance(data, dict):
        return (_condition(data, positions, path),)
    return tuple(_condition(item, positions, (*path, i)) for i, item in enumerate(data))


def _patch(data: dict[str, Any], positions: Positions, path: FieldPath) -> Patch:
    return Patch(
        op=PatchOp(data["op"]),
        path=data["path"],
        value=copy.deepcopy(data.get("value")),
        from_path=data.get("from"),
        key_map=tuple((str(k), str(v)) for k, v in data.get("keyMap", {}).items()),
        key_prefix=data.get("keyPrefix"),
        key_style=KeyStyle(data["keyStyle"]) if "keyStyle" in data else None,
        when=_conditions(data.get("when"), positions, (*path, "when")),
        location=positions.value(path),
    )


def _reference(
    data: dict[str, Any], positions: Positions, path: FieldPath, rules: Sequence[RawRule]
) -> Reference:
    follow = data.get("follow", FollowDirection.NONE.value)
    api_version = data.get("apiVersion")
    if api_version is None:
        # The checks guaranteed exactly one candidate.
        (api_version,) = candidate_api_versions(rules, data["kind"], follow)
    return Reference(
        path=data["path"],
        kind=data["kind"],
        api_version=api_version,
        follow=FollowDirection(follow),
        # With namePath both are rooted at each item (written relative, like vcluster's); without, namespacePath is
        # a JSONPath of the whole object.
        namespace_path=(rooted(data["namespacePath"]) if "namePath" in data else data["namespacePath"])
        if "namespacePath" in data
        else None,
        name_path=rooted(data["namePath"]) if "namePath" in data else None,
        format=data.get("format"),
        when=_conditions(data.get("when"), positions, (*path, "when")),
        location=positions.value(path),
    )


_DEFAULT_NAMING = Naming()
_DEFAULT_STATUS = StatusSync()


def build_rule(
    document: Document, direction: Direction, path: FieldPath, data: dict[str, Any], rules: Sequence[RawRule]
) -> Rule:
    positions = document.positions
    naming = data.get("naming", {})
    status = data.get("status", {})
    host = data.get("host", {})
    deletion = data.get("deletion", {})
    patches = data.get("patches", {})
    return Rule(
        direction=direction,
        gvk=GroupVersionKind.from_api_version(data["apiVersion"], data["kind"]),
        scope=Scope(data.get("scope", Scope.NAMESPACED.value)),
        mode=SyncMode(data.get("mode", SyncMode.ALL.value)),
        selector=_selector(data.get("selector")),
        namespace_selector=_selector(data.get("namespaceSelector")),
        namespaces=tuple(data.get("namespaces", ())),
        host=HostSelection(
            namespaces=tuple(host.get("namespaces", ())),
            name_patterns=tuple(host.get("names", ())),
            virtual_namespace=host.get("virtualNamespace"),
        ),
        naming=Naming(
            max_length=naming.get("maxLength", _DEFAULT_NAMING.max_length),
            hash_length=naming.get("hashLength", _DEFAULT_NAMING.hash_length),
            style=NamingStyle(naming.get("style", _DEFAULT_NAMING.style.value)),
        ),
        patches_to_host=tuple(
            _patch(p, positions, (*path, "patches", "toHost", i)) for i, p in enumerate(patches.get("toHost", ()))
        ),
        patches_to_virtual=tuple(
            _patch(p, positions, (*path, "patches", "toVirtual", i)) for i, p in enumerate(patches.get("toVirtual", ()))
        ),
        status=StatusSync(
            enabled=status.get("sync", True),
            paths=tuple(status["paths"]) if "paths" in status else _DEFAULT_STATUS.paths,
            observed_generation_paths=tuple(status["observedGenerationPaths"])
            if "observedGenerationPaths" in status
            else _DEFAULT_STATUS.observed_generation_paths,
        ),
        reverse_paths=tuple(data.get("reverse", {}).get("paths", ())),
        references=tuple(
            _reference(r, positions, (*path, "references", i), rules) for i, r in enumerate(data.get("references", ()))
        ),
        deletion=DeletionPolicy(deletion.get("policy", DeletionPolicy.DELETE.value)),
        finalizer=deletion.get("finalizer", False),
        conflict=ConflictPolicy(data.get("conflict", ConflictPolicy.ABORT.value)),
        replace_on_conflict=data.get("replaceOnConflict", False),
        read_only=data.get("readOnly", True),
        location=positions.value(path),
    )


def _config_name(documents: Sequence[Document]) -> str:
    names: list[str] = []
    for document in documents:
        name = str(document.data["metadata"]["name"])
        if name not in names:
            names.append(name)
    return "+".join(names)


def build_config(documents: Sequence[Document], sources: Sequence[str]) -> SyncConfig:
    """Merge the rules of every document, in load order, into one SyncConfig."""
    rules = raw_rules(documents)
    built = tuple(
        build_rule(document, direction, path, data, rules)
        for document in documents
        for direction, path, data in iter_rule_data(document)
    )
    return SyncConfig(name=_config_name(documents), rules=built, sources=tuple(sources))

