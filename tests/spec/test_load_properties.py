"""Property tests of the loader: never an exception, always located errors, valid specs load faithfully, mutations
are caught where they were made."""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from crdsync.spec.load import LoadResult, load_text
from crdsync.spec.model import (
    Condition,
    ConflictPolicy,
    DeletionPolicy,
    Direction,
    FollowDirection,
    LabelSelector,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.spec.source import FieldPath, format_field_path
from tests.spec.strategies import JSON_VALUES, SCHEMA, from_mapping_schema, to_yaml, valid_specs
from tests.spec.textpos import where

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCHEMA_VALIDATOR = Draft202012Validator(SCHEMA)


def assert_located(result: LoadResult, text: str) -> None:
    assert (result.config is None) == bool(result.errors)
    lines = len(re.split("\r\n|[\n\r\x85\u2028\u2029]", text))  # every YAML line break
    for error in result.errors:
        assert error.location.file == "gen.yaml"
        assert 1 <= error.location.line <= lines, error
        assert error.location.column >= 1, error
        assert error.message and "\n" not in error.message and "Traceback" not in error.message


@PROPERTY_SETTINGS
@given(from_mapping_schema())
def test_schema_generated_specs_load_or_give_located_errors(data: dict[str, Any]) -> None:
    text = to_yaml(data)
    result = load_text(text, "gen.yaml")
    assert_located(result, text)
    if SCHEMA_VALIDATOR.is_valid(data):
        # Whatever is left must be semantic: no schema-style message can appear for a schema-valid document.
        schema_style = ("unknown key", "missing required key", "expected ")
        assert not any(e.message.startswith(schema_style) for e in result.errors)


# ---------------------------------------------------------------------------------------------------------------------
# Valid by construction


def _selector_tuple(selector: LabelSelector | None) -> Any:
    if selector is None:
        return None
    return (selector.match_labels, tuple((r.key, r.operator.value, r.values) for r in selector.match_expressions))


def _expected_selector(data: dict[str, Any] | None) -> Any:
    if data is None:
        return None
    expressions = tuple((e["key"], e["operator"], tuple(e.get("values", ()))) for e in data.get("matchExpressions", ()))
    return (tuple(data.get("matchLabels", {}).items()), expressions)


def _when_tuple(when: tuple[Condition, ...]) -> list[tuple[Any, ...]]:
    return [(c.path, c.in_, c.not_in, c.exists) for c in when]


def _expected_when(when: Any) -> list[tuple[Any, ...]]:
    # One mapping means the same as a one-item list.
    written = [] if when is None else [when] if isinstance(when, dict) else when
    return [
        (
            c["path"],
            tuple(c["in"]) if "in" in c else None,
            tuple(c["notIn"]) if "notIn" in c else None,
            c.get("exists"),
        )
        for c in written
    ]


def _patch_tuple(patch: Any) -> tuple[Any, ...]:
    return (
        patch.op.value,
        patch.path,
        patch.value,
        patch.from_path,
        dict(patch.key_map),
        patch.key_prefix,
        _when_tuple(patch.when),
    )


def _expected_patch(data: dict[str, Any]) -> tuple[Any, ...]:
    return (
        data["op"],
        data["path"],
        data.get("value"),
        data.get("from"),
        data.get("keyMap", {}),
        data.get("keyPrefix"),
        _expected_when(data.get("when")),
    )


def assert_rule_reflects(rule: Rule, direction: str, data: dict[str, Any]) -> None:
    assert rule.direction is Direction(direction)
    assert rule.gvk.api_version == data["apiVersion"] and rule.gvk.kind == data["kind"]
    assert rule.scope is Scope(data.get("scope", "Namespaced"))
    assert rule.mode is SyncMode(data.get("mode", "all"))
    assert _selector_tuple(rule.selector) == _expected_selector(data.get("selector"))
    assert _selector_tuple(rule.namespace_selector) == _expected_selector(data.get("namespaceSelector"))
    assert rule.namespaces == tuple(data.get("namespaces", ()))
    host = data.get("host", {})
    assert rule.host.namespaces == tuple(host.get("namespaces", ()))
    assert rule.host.name_patterns == tuple(host.get("names", ()))
    assert rule.host.virtual_namespace == host.get("virtualNamespace")
    naming = data.get("naming", {})
    assert rule.naming.max_length == naming.get("maxLength", 63)
    assert rule.naming.hash_length == naming.get("hashLength", 16)
    patches = data.get("patches", {})
    assert [_patch_tuple(p) for p in rule.patches_to_host] == [_expected_patch(p) for p in patches.get("toHost", [])]
    assert [_patch_tuple(p) for p in rule.patches_to_virtual] == [
        _expected_patch(p) for p in patches.get("toVirtual", [])
    ]
    status = data.get("status", {})
    assert rule.status.enabled is status.get("sync", True)
    assert rule.status.paths == tuple(status.get("paths", ["$.status"]))
    default_observed = ["$.status.observedGeneration", "$.status.conditions[*].observedGeneration"]
    assert rule.status.observed_generation_paths == tuple(status.get("observedGenerationPaths", default_observed))
    deletion = data.get("deletion", {})
    assert rule.deletion is DeletionPolicy(deletion.get("policy", "Delete"))
    assert rule.finalizer is deletion.get("finalizer", False)
    assert rule.conflict is ConflictPolicy(data.get("conflict", "Abort"))
    assert rule.read_only is data.get("readOnly", True)
    references = data.get("references", [])
    assert len(rule.references) == len(references)
    for reference, expected in zip(rule.references, references, strict=True):
        assert reference.path == expected["path"] and reference.kind == expected["kind"]
        assert reference.follow is FollowDirection(expected.get("follow", "none"))
        assert reference.namespace_path == expected.get("namespacePath")
        if "apiVersion" in expected:
            assert reference.api_version == expected["apiVersion"]
        assert _when_tuple(reference.when) == _expected_when(expected.get("when"))


def assert_reflects(config: SyncConfig, spec: dict[str, Any]) -> None:
    assert config.name == spec["metadata"]["name"]
    written = [("toHost", r) for r in spec["spec"].get("toHost", [])] + [
        ("fromHost", r) for r in spec["spec"].get("fromHost", [])
    ]
    assert len(config.rules) == len(written)
    for rule, (direction, data) in zip(config.rules, written, strict=True):
        assert_rule_reflects(rule, direction, data)
    for rule in config.rules:
        for reference in rule.references:
            # An omitted apiVersion resolves to a rule the reference can actually use.
            directions = {
                FollowDirection.TO_HOST: {Direction.TO_HOST},
                FollowDirection.FROM_HOST: {Direction.FROM_HOST},
                FollowDirection.NONE: {Direction.TO_HOST, Direction.FROM_HOST},
            }[reference.follow]
            assert any(config.rule_for(d, reference.gvk) for d in directions)


@PROPERTY_SETTINGS
@given(valid_specs())
def test_valid_specs_load_into_a_config_that_reflects_them(spec: dict[str, Any]) -> None:
    text = to_yaml(spec)
    result = load_text(text, "gen.yaml")
    assert result.errors == (), "\n".join(map(str, result.errors)) + "\n" + text
    assert result.config is not None
    assert_reflects(result.config, spec)
    assert SCHEMA_VALIDATOR.is_valid(spec)


# ---------------------------------------------------------------------------------------------------------------------
# Mutations

# Places where any key or any value is allowed, so neither mutation makes them invalid.
_OPEN_MAPS = {"matchLabels", "keyMap"}
_ANY_VALUE = {"value", "in", "notIn"}


def _nodes(data: Any, path: FieldPath = ()) -> list[tuple[FieldPath, Any]]:
    found: list[tuple[FieldPath, Any]] = [(path, data)]
    if isinstance(data, dict):
        for key, value in data.items():
            if key in _ANY_VALUE or (path and path[-1] in _OPEN_MAPS):
                continue
            found.extend(_nodes(value, (*path, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_nodes(value, (*path, index)))
    return found


def _replace(data: Any, path: FieldPath, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _closed_mappings(spec: dict[str, Any]) -> list[FieldPath]:
    return [p for p, v in _nodes(spec) if isinstance(v, dict) and not (p and p[-1] in _OPEN_MAPS)]


@PROPERTY_SETTINGS
@given(valid_specs(), st.data())
def test_an_injected_unknown_key_is_reported_at_the_key(spec: dict[str, Any], data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_closed_mappings(spec)))
    mutated = copy.deepcopy(spec)
    target: Any = mutated  # a path step is a key or a list index
    for part in path:
        target = target[part]
    target["zzUnknownKey"] = 1
    text = to_yaml(mutated)
    result = load_text(text, "gen.yaml")
    assert_located(result, text)
    field = format_field_path((*path, "zzUnknownKey"))
    matching = [e for e in result.errors if e.field_path == field]
    assert matching, f"no error for {field}:\n" + "\n".join(map(str, result.errors))
    assert matching[0].message.startswith("unknown key 'zzUnknownKey'")
    assert (matching[0].location.line, matching[0].location.column) == where(text, "zzUnknownKey")


@PROPERTY_SETTINGS
@given(valid_specs(), st.data())
def test_a_wrong_type_is_reported_at_the_value(spec: dict[str, Any], data: st.DataObject) -> None:
    candidates = [(p, v) for p, v in _nodes(spec) if p]
    path, value = data.draw(st.sampled_from(candidates))
    # A mapping where a scalar or list belongs, a string where anything else belongs.
    replacement: Any = {"zzWrongType": 1} if isinstance(value, str) else "zzWrongType"
    mutated = copy.deepcopy(spec)
    _replace(mutated, path, replacement)
    text = to_yaml(mutated)
    result = load_text(text, "gen.yaml")
    assert_located(result, text)
    field = format_field_path(path)
    matching = [e for e in result.errors if e.field_path == field]
    assert matching, f"no error for {field}:\n" + "\n".join(map(str, result.errors)) + "\n" + text
    assert any((e.location.line, e.location.column) == where(text, "zzWrongType") for e in matching), matching


# ---------------------------------------------------------------------------------------------------------------------
# Arbitrary input


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert_located(load_text(text, "gen.yaml"), text)


@PROPERTY_SETTINGS
@given(JSON_VALUES)
def test_arbitrary_yaml_data_never_raises(data: Any) -> None:
    text = to_yaml(data)
    assert_located(load_text(text, "gen.yaml"), text)
