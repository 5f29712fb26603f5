"""The mapping JSON Schema itself, and how its violations are explained and located."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from crdsync.gvk import GroupVersionKind
from crdsync.spec import model
from crdsync.spec.schema import load_schema, schema_file, schema_problems
from crdsync.spec.source import format_field_path, parse_yaml
from tests.spec.textpos import where

SCHEMA = load_schema()
DEFS = SCHEMA["$defs"]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DEFS[schema["$ref"].removeprefix("#/$defs/")]
    return schema


def object_schemas() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "<root>", SCHEMA
    for name, schema in DEFS.items():
        if "properties" in schema:
            yield name, schema


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def test_schema_is_valid_draft_2020_12_with_an_id() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].startswith("https://")
    assert schema_file().name == "mapping.schema.json"


def test_load_schema_returns_a_private_copy() -> None:
    copy = load_schema()
    copy["$defs"].clear()
    assert load_schema()["$defs"], "callers must not be able to corrupt the cached schema"


@pytest.mark.parametrize(("name", "schema"), list(object_schemas()))
def test_every_object_rejects_unknown_keys_and_describes_its_fields(name: str, schema: dict[str, Any]) -> None:
    assert schema.get("additionalProperties") is False, f"{name} must reject unknown keys"
    for key, prop in schema["properties"].items():
        described = "description" in prop or "description" in resolve(prop) or "const" in prop
        assert described, f"{name}.{key} has no description for editor completion"


def test_model_defaults_are_the_documented_defaults() -> None:
    rule = DEFS["rule"]["properties"]
    defaults = model.Rule(direction=model.Direction.TO_HOST, gvk=GroupVersionKind("", "v1", "X"))
    assert rule["scope"]["default"] == defaults.scope.value
    assert rule["mode"]["default"] == defaults.mode.value
    assert rule["conflict"]["default"] == defaults.conflict.value
    assert rule["readOnly"]["default"] is defaults.read_only
    assert DEFS["deletion"]["properties"]["policy"]["default"] == defaults.deletion.value
    assert DEFS["deletion"]["properties"]["finalizer"]["default"] is defaults.finalizer
    assert DEFS["naming"]["properties"]["maxLength"]["default"] == model.Naming().max_length
    assert DEFS["naming"]["properties"]["hashLength"]["default"] == model.Naming().hash_length


def test_hash_length_bounds_make_the_hash_a_boundary() -> None:
    # The hash alone separates tenants' host names: >= 64 bits at the minimum, >= 80 by default, and a default
    # name still a DNS label with room for a readable part.
    from crdsync.translate.names import MAX_HASH_LENGTH, MIN_HASH_LENGTH

    hash_length = DEFS["naming"]["properties"]["hashLength"]
    assert hash_length["minimum"] == MIN_HASH_LENGTH and MIN_HASH_LENGTH * 5 >= 64
    assert hash_length["default"] * 5 >= 80
    assert hash_length["maximum"] <= MAX_HASH_LENGTH
    assert hash_length["default"] + 2 <= DEFS["naming"]["properties"]["maxLength"]["default"] <= 63
    assert DEFS["status"]["properties"]["sync"]["default"] is model.StatusSync().enabled
    assert tuple(DEFS["status"]["properties"]["paths"]["default"]) == model.StatusSync().paths
    observed = DEFS["status"]["properties"]["observedGenerationPaths"]["default"]
    assert tuple(observed) == model.StatusSync().observed_generation_paths
    assert DEFS["reference"]["properties"]["follow"]["default"] == model.FollowDirection.NONE.value


@pytest.mark.parametrize(
    ("definition", "enum_type"),
    [
        (DEFS["rule"]["properties"]["scope"], model.Scope),
        (DEFS["rule"]["properties"]["mode"], model.SyncMode),
        (DEFS["rule"]["properties"]["conflict"], model.ConflictPolicy),
        (DEFS["deletion"]["properties"]["policy"], model.DeletionPolicy),
        (DEFS["reference"]["properties"]["follow"], model.FollowDirection),
        (DEFS["selectorRequirement"]["properties"]["operator"], model.SelectorOperator),
    ],
)
def test_enums_match_the_model(definition: dict[str, Any], enum_type: type[Any]) -> None:
    assert sorted(definition["enum"]) == sorted(e.value for e in enum_type)


def test_patch_ops_match_the_model() -> None:
    ops = [resolve(b)["properties"]["op"]["const"] for b in DEFS["patch"]["oneOf"]]
    assert sorted(ops) == sorted(op.value for op in model.PatchOp)


def test_spec_fields_map_one_to_one_to_the_model() -> None:
    renamed = {"apiVersion": "gvk", "kind": "gvk", "patches": "patches_to_host", "reverse": "reverse_paths"}
    rule_fields = {f.name for f in dataclasses.fields(model.Rule)}
    for key in DEFS["rule"]["properties"]:
        assert renamed.get(key, camel_to_snake(key)) in rule_fields, key
    reference_fields = {f.name for f in dataclasses.fields(model.Reference)}
    for key in DEFS["reference"]["properties"]:
        assert camel_to_snake(key) in reference_fields, key
    host_fields = {f.name for f in dataclasses.fields(model.HostSelection)}
    for key in DEFS["hostSelection"]["properties"]:
        assert {"names": "name_patterns"}.get(key, camel_to_snake(key)) in host_fields, key


def explain(text: str) -> list[tuple[int, int, str, str]]:
    (document,), problems = parse_yaml(text, "f.yaml")
    assert problems == []
    return sorted(
        (p.location.line, p.location.column, format_field_path(p.path), p.message) for p in schema_problems(document)
    )


HEADER = "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: t}\n"


def test_unknown_key_is_located_at_the_key_with_a_suggestion() -> None:
    text = HEADER + "spec:\n  toHost:\n    - apiVersion: v1\n      kind: Secret\n      scop: Cluster\n"
    assert explain(text) == [(*where(text, "scop"), "spec.toHost[0].scop", "unknown key 'scop'; did you mean 'scope'?")]


def test_wrong_type_is_located_at_the_value_with_a_quoting_hint() -> None:
    text = HEADER + "spec:\n  toHost:\n    - apiVersion: v1\n      kind: Secret\n"
    text += "      selector: {matchLabels: {shared: true}}\n"
    ((line, column, field, message),) = explain(text)
    assert (line, column) == where(text, "true")
    assert field == "spec.toHost[0].selector.matchLabels.shared"
    assert message == 'expected a string, got true (quote it: "true")'


def test_missing_key_is_located_at_the_mapping() -> None:
    text = HEADER + "spec:\n  fromHost:\n    - apiVersion: v1\n      mode: referenced\n"
    assert explain(text) == [(*where(text, "apiVersion: v1"), "spec.fromHost[0].kind", "missing required key 'kind'")]


def test_patch_errors_are_explained_against_the_chosen_op_only() -> None:
    text = HEADER + (
        "spec:\n  toHost:\n    - apiVersion: v1\n      kind: Secret\n      patches:\n        toHost:\n"
        "          - {op: copy, path: $.a, form: $.b}\n"
        "          - {op: sett, path: $.a, value: 1}\n"
        "          - {path: $.a}\n"
        "          - {op: rewriteLabelKeys, path: $.a}\n"
        "          - 5\n"
    )
    assert explain(text) == [
        (*where(text, "{op: copy"), "spec.toHost[0].patches.toHost[0].from", "missing required key 'from'"),
        (*where(text, "form"), "spec.toHost[0].patches.toHost[0].form", "unknown key 'form'; did you mean 'from'?"),
        (
            *where(text, "sett"),
            "spec.toHost[0].patches.toHost[1].op",
            "unknown patch op 'sett': expected one of set, add, replace, copy, remove, rewriteLabelKeys, "
            "rewriteLabelSelector, rewriteLabelKey; did you mean 'set'?",
        ),
        (
            *where(text, "{path: $.a}"),
            "spec.toHost[0].patches.toHost[2].op",
            "missing required key 'op' (one of set, add, replace, copy, remove, rewriteLabelKeys, "
            "rewriteLabelSelector, rewriteLabelKey)",
        ),
        (
            *where(text, "{op: rewriteLabelKeys"),
            "spec.toHost[0].patches.toHost[3]",
            "rewriteLabelKeys needs keyMap, keyPrefix or keyStyle",
        ),
        (*where(text, "5\n"), "spec.toHost[0].patches.toHost[4]", "expected a mapping, got the number 5"),
    ]


def test_enum_const_pattern_range_and_selector_messages() -> None:
    text = (
        "apiVersion: crdsync.io/v1\nkind: SyncConfig\nmetadata: {name: Bad_Name}\n"
        "spec:\n  toHost:\n    - apiVersion: v1\n      kind: secret\n      scope: cluster\n"
        "      naming: {maxLength: 300, hashLength: 12}\n"
        "      namespaces: [a, a]\n"
        "      selector: {matchLabels: {'bad key': x}, matchExpressions: [{key: k, operator: Exists, values: [v]}]}\n"
        "      references: [{path: $.a, kind: Secret, when: {path: $.b}}]\n"
    )
    got = {(line, column): message for line, column, _field, message in explain(text)}
    assert got[where(text, "crdsync.io/v1")] == "must be 'crdsync.io/v1alpha1', got 'crdsync.io/v1'"
    assert got[where(text, "Bad_Name")].startswith("'Bad_Name' must be a lowercase DNS-style name")
    assert got[where(text, "secret")].startswith("'secret' must be a CamelCase kind name")
    assert got[where(text, "cluster")] == "'cluster' is not one of Namespaced, Cluster; did you mean 'Cluster'?"
    assert got[where(text, "300")] == "the number 300 is out of range: must be at most 253"
    assert got[where(text, "12}")] == "the number 12 is out of range: must be at least 13"
    assert got[where(text, "a]")] == "duplicate entry 'a'"
    assert got[where(text, "'bad key'")].startswith("key 'bad key' must be a label key")
    assert got[where(text, "[v]")] == "Exists and DoesNotExist take no values"
    assert got[where(text, "{path: $.b}")] == (
        "a condition needs at least one test: in, notIn, exists, equal, notEqual or empty"
    )
    assert len(got) == 10


def test_when_alternatives_are_explained_by_the_type_written() -> None:
    # `when` is one condition or a list of them: a mistake inside either is explained in the shape the author chose.
    text = HEADER + (
        "spec:\n  toHost:\n    - apiVersion: v1\n      kind: Secret\n      references:\n"
        "        - {path: $.a, kind: Secret, when: {path: $.b, in: [z], inn: [x]}}\n"
        "        - {path: $.a, kind: Secret, when: [{path: $.b, in: [x]}, {path: 3, in: [y]}]}\n"
        "        - {path: $.a, kind: Secret, when: true}\n"
    )
    assert explain(text) == [
        (*where(text, "inn"), "spec.toHost[0].references[0].when.inn", "unknown key 'inn'; did you mean 'in'?"),
        (
            *where(text, "3, in"),
            "spec.toHost[0].references[1].when[1].path",
            'expected a string, got the number 3 (quote it: "3")',
        ),
        (
            *where(text, "true}"),
            "spec.toHost[0].references[2].when",
            "expected a condition (a mapping with path and in, notIn or exists) or a list of conditions, got true",
        ),
    ]
    assert [resolve(b)["type"] for b in DEFS["when"]["anyOf"]] == ["object", "array"]
