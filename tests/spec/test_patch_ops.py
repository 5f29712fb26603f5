"""The mapping features for vcluster's generic-sync ops: schema entries, what the loader builds, and the located checks.

add / replace patches, rewriteLabelKey and keyStyle, conditions with subPath and vcluster's equal / notEqual /
empty, references with namePath and format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crdsync.spec.checks.references import format_problem
from crdsync.spec.checks.rules import rooted
from crdsync.spec.load import load_text
from crdsync.spec.model import Condition, KeyStyle, PatchOp, Reference, SyncConfig
from tests.spec.test_load import at, only_error, spec
from tests.spec.textpos import where

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "mapping.schema.json").read_text())
DEFS = SCHEMA["$defs"]


def loaded(text: str) -> SyncConfig:
    result = load_text(text, "t.yaml")
    assert result.ok, "\n".join(map(str, result.errors))
    assert result.config is not None
    return result.config


def test_schema_lists_every_patch_op_of_the_model_with_a_description() -> None:
    ops = {branch["$ref"].rsplit("/", 1)[1] for branch in DEFS["patch"]["oneOf"]}
    consts = {DEFS[name]["properties"]["op"]["const"] for name in ops}
    assert consts == {op.value for op in PatchOp}
    for name in ops:
        assert DEFS[name]["description"], name
    assert DEFS["keyStyle"]["enum"] == [style.value for style in KeyStyle]
    for key in ("subPath", "equal", "notEqual", "empty"):
        assert DEFS["condition"]["properties"][key]["description"], key
    for key in ("namePath", "format"):
        assert DEFS["reference"]["properties"][key]["description"], key


def test_add_replace_and_rewrite_label_key_are_built() -> None:
    config = loaded(
        spec(
            """
            toHost:
              - apiVersion: v1
                kind: ConfigMap
                naming: {style: vcluster}
                patches:
                  toHost:
                    - {op: add, path: $.data, value: {a: b}}
                    - {op: replace, path: $.data.x, value: y}
                    - {op: rewriteLabelKey, path: $.spec.topologyKey, keyStyle: vcluster}
                    - {op: rewriteLabelSelector, path: $.spec.selector, keyStyle: vclusterLegacy}
            """
        )
    )
    add, replace, key, selector = config.rules[0].patches_to_host
    assert (add.op, add.value) == (PatchOp.ADD, {"a": "b"})
    assert (replace.op, replace.value) == (PatchOp.REPLACE, "y")
    assert (key.op, key.key_style) == (PatchOp.REWRITE_LABEL_KEY, KeyStyle.VCLUSTER)
    assert selector.key_style is KeyStyle.VCLUSTER_LEGACY


def test_conditions_with_sub_path_and_vcluster_tests_are_built() -> None:
    config = loaded(
        spec(
            """
            toHost:
              - apiVersion: v1
                kind: ConfigMap
                patches:
                  toHost:
                    - op: remove
                      path: $.spec.items[*]
                      when:
                        - {subPath: kind, equal: "3"}
                        - {subPath: .group, notEqual: 4}
                        - {path: $.spec.x, empty: true}
            """
        )
    )
    first, second, third = config.rules[0].patches_to_host[0].when
    assert (first.path, first.relative, first.equal) == ("$.kind", True, "3")
    assert (second.path, second.not_equal) == ("$.group", 4)
    assert third == Condition("$.spec.x", empty=True, location=third.location)


def test_references_with_name_path_and_format_are_built_rooted_at_each_item() -> None:
    config = loaded(
        spec(
            """
            toHost:
              - apiVersion: example.com/v1
                kind: Router
                references:
                  - {path: $.spec.backends, kind: Service, namePath: service, namespacePath: namespace}
                  - {path: $.spec.url, kind: Service, format: '$NAME.$NAMESPACE.svc'}
                  - {path: $.spec.other, kind: Service, namespacePath: $.spec.otherNs}
              - {apiVersion: v1, kind: Service}
            """
        )
    )
    backends, url, other = config.rules[0].references
    assert (backends.name_path, backends.namespace_path) == ("$.service", "$.namespace")
    assert url.format == "$NAME.$NAMESPACE.svc" and url.name_path is None
    assert other == Reference("$.spec.other", "Service", "v1", namespace_path="$.spec.otherNs", location=other.location)


@pytest.mark.parametrize(
    ("written", "rooted_path"),
    [("name", "$.name"), (".a.b", "$.a.b"), ("[0]", "$[0]"), ("@.x", "$.x"), ("$.y", "$.y"), ("$", "$")],
)
def test_relative_paths_are_rooted_at_the_match(written: str, rooted_path: str) -> None:
    assert rooted(written) == rooted_path


def test_two_vcluster_tests_in_one_condition_are_refused_at_the_second() -> None:
    text = spec(
        """
        toHost:
          - apiVersion: v1
            kind: ConfigMap
            patches:
              toHost:
                - {op: remove, path: $.a, when: {path: $.b, empty: true, notEqual: x}}
        """
    )
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].patches.toHost[0].when.notEqual"
    assert at(error) == where(text, "notEqual: x")
    assert "at most one of empty, equal and notEqual" in error.message


def test_invalid_sub_path_is_located_at_the_sub_path() -> None:
    text = spec(
        """
        toHost:
          - apiVersion: v1
            kind: ConfigMap
            patches:
              toHost:
                - {op: remove, path: $.a, when: [{path: $.k, in: [x]}, {subPath: "[?(", equal: x}]}
        """
    )
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].patches.toHost[0].when[1].subPath"
    assert "invalid JSONPath" in error.message


def test_condition_needs_path_or_sub_path_and_a_test() -> None:
    text = spec(
        "toHost: [{apiVersion: v1, kind: ConfigMap, patches: {toHost: [{op: remove, path: $.a, when: {path: $.b}}]}}]"
    )
    assert "at least one test: in, notIn, exists, equal, notEqual or empty" in only_error(text).message


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("{op: rewriteLabelKeys, path: $.a, keyStyle: vcluster, keyPrefix: p/}", "remove keyMap and keyPrefix"),
        ("{op: rewriteLabelKey, path: $.a, keyStyle: vcluster}", "set naming: {style: vcluster}"),
    ],
)
def test_key_style_checks_are_located_at_key_style(patch: str, message: str) -> None:
    text = spec(f"toHost: [{{apiVersion: v1, kind: ConfigMap, patches: {{toHost: [{patch}]}}}}]")
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].patches.toHost[0].keyStyle"
    assert at(error) == where(text, "keyStyle")
    assert message in error.message


def test_key_style_only_on_the_way_to_the_host() -> None:
    text = spec(
        """
        toHost:
          - apiVersion: v1
            kind: ConfigMap
            naming: {style: vcluster}
            patches:
              toVirtual: [{op: rewriteLabelKeys, path: $.status.labels, keyStyle: vcluster}]
        """
    )
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].patches.toVirtual[0].keyStyle"
    assert "only on the way to the host" in error.message


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("$NAMESPACE/$NAME", None),
        ("$NAME.$NAMESPACE.svc.cluster.local", None),
        ("http://$NAME.$NAMESPACE:8080", None),
        ("$NAME", None),
        ("$NAMESPACE", "$NAME exactly once"),
        ("$NAME/$NAME", "$NAME exactly once"),
        ("$NAME.$NAMESPACE.$NAMESPACE", "at most once"),
        ("$NAME-$NAMESPACE", "a character a namespace cannot"),
        ("$NAMESPACE$NAME", "a character a namespace cannot"),
        ("$NAME.$HOST", "other '$'"),
    ],
)
def test_format_problems(fmt: str, problem: str | None) -> None:
    found = format_problem(fmt)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_bad_format_is_located_at_the_format() -> None:
    text = spec(
        """
        toHost:
          - apiVersion: example.com/v1
            kind: Router
            references: [{path: $.spec.url, kind: Service, format: '$NAME-$NAMESPACE'}]
          - {apiVersion: v1, kind: Service}
        """
    )
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].references[0].format"
    assert at(error) == where(text, "'$NAME-$NAMESPACE'")
