"""Rule-level features of issue 11 as the loader sees them: `reverse` (host-owned fields written back),
`replaceOnConflict`, and a kind in both directions. Each valid form builds the model; each invalid one is one located
error that says what to do instead."""

from __future__ import annotations

import textwrap

import pytest

from crdsync.spec.load import load_text
from crdsync.spec.model import Direction, SpecError, SyncConfig
from crdsync.spec.paths import field_chain, paths_overlap


def mapping(to_host: str = "", from_host: str = "") -> str:
    def block(rules: str) -> str:
        return textwrap.indent(textwrap.dedent(rules).strip(), "    ") if rules.strip() else "    []"

    return (
        "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: t}\nspec:\n"
        f"  toHost:\n{block(to_host)}\n  fromHost:\n{block(from_host)}\n"
    )


def loaded(text: str) -> SyncConfig:
    result = load_text(text, "m.yaml")
    assert result.config is not None, [str(e) for e in result.errors]
    return result.config


def only_error(text: str) -> SpecError:
    result = load_text(text, "m.yaml")
    assert result.config is None
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    return result.errors[0]


WIDGET = "- {apiVersion: example.com/v1, kind: Widget"


# --- reverse -----------------------------------------------------------------------------------------------------


def test_reverse_paths_build_into_the_rule() -> None:
    config = loaded(
        mapping(
            WIDGET + ", reverse: {paths: [$.spec.assignedPort, \"$.metadata.annotations['example.com/endpoint']\"]}}"
        )
    )
    (rule,) = config.rules
    assert rule.reverse_paths == ("$.spec.assignedPort", "$.metadata.annotations['example.com/endpoint']")
    assert rule.replace_on_conflict is False


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("$.spec.ports[*].assigned", "plain chain"),
        ("$.spec.ports[0]", "plain chain"),
        ("$..port", "plain chain"),
        ("$.status.port", "status.paths"),
        ("$.metadata.labels.team", "label"),
        ("$.metadata.name", "under $.spec"),
        ("$.spec", "under $.spec"),
        ("$.metadata.annotations['crdsync.io/source-name']", "reserves"),
        ("$.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']", "reserves"),
        ("$.spec[", "JSONPath"),
    ],
)
def test_reverse_paths_that_could_loop_or_leak_are_refused(path: str, says: str) -> None:
    error = only_error(mapping(WIDGET + f', reverse: {{paths: ["{path}"]}}}}'))
    assert error.field_path == "spec.toHost[0].reverse.paths[0]"
    assert says.lower() in error.message.lower()


def test_a_reference_reading_a_reverse_path_is_refused_at_the_reference() -> None:
    text = mapping(
        """
        - apiVersion: example.com/v1
          kind: Widget
          reverse: {paths: [$.spec.backend.name]}
          references: [{path: "$.spec.backend.name", kind: Widget}]
        """
    )
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].references[0].path"
    assert "host name" in error.message


def test_a_to_host_patch_writing_a_reverse_path_is_refused() -> None:
    text = mapping(
        """
        - apiVersion: example.com/v1
          kind: Widget
          reverse: {paths: [$.spec.port]}
          patches: {toHost: [{op: set, path: $.spec.port, value: 1}]}
        """
    )
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].patches.toHost[0].path"
    assert "host owns" in error.message


@pytest.mark.parametrize(
    ("text", "field_path"),
    [
        (mapping(WIDGET + ", mode: referenced, reverse: {paths: [$.spec.port]}}"), "spec.toHost[0].reverse"),
        (mapping(from_host=WIDGET + ", reverse: {paths: [$.spec.port]}}"), "spec.fromHost[0].reverse"),
        (mapping(from_host=WIDGET + ", replaceOnConflict: true}"), "spec.fromHost[0].replaceOnConflict"),
    ],
)
def test_reverse_and_replace_on_conflict_only_where_they_apply(text: str, field_path: str) -> None:
    assert only_error(text).field_path == field_path


def test_schema_refuses_an_empty_reverse_and_a_non_boolean_replace() -> None:
    assert only_error(mapping(WIDGET + ", reverse: {paths: []}}")).field_path.startswith("spec.toHost[0].reverse")
    assert only_error(mapping(WIDGET + ", replaceOnConflict: yes-please}")).field_path == (
        "spec.toHost[0].replaceOnConflict"
    )


def test_replace_on_conflict_builds() -> None:
    (rule,) = loaded(mapping(WIDGET + ", replaceOnConflict: true}")).rules
    assert rule.direction is Direction.TO_HOST and rule.replace_on_conflict is True


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("$.spec.a", "$.spec.a", True),
        ("$.spec.a", "$.spec.a.b", True),
        ("$.spec.a.b", "$.spec.a", True),
        ("$.spec.a", "$.spec.b", False),
        ("$.spec.refs", "$.spec.refs[*].name", True),
        ("$.spec.x", "$.spec.refs[*].name", False),
        ("$.spec.x", "$..name", True),
        ("$.spec.x", "$.spec[?(@.a == 1)]", True),
        ("$.spec.x", "$.status", False),
    ],
)
def test_paths_overlap(first: str, second: str, overlap: bool) -> None:
    assert paths_overlap(first, second) is overlap
    assert paths_overlap(second, first) is overlap


def test_field_chain() -> None:
    assert field_chain("$.spec.a") == ("spec", "a")
    assert field_chain("$.metadata.annotations['example.com/x']") == ("metadata", "annotations", "example.com/x")
    assert field_chain("$.spec.a[0]") is None
    assert field_chain("$") is None


# --- a kind in both directions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to_host", "from_host", "ok"),
    [
        # Disjoint by labels.
        ("selector: {matchLabels: {flow: out}}", "selector: {matchLabels: {flow: in}}", True),
        # Disjoint by namespaces: imports land in one virtual namespace the toHost rule does not export from ...
        ("namespaces: [apps, web]", "host: {namespaces: [shared], virtualNamespace: imported}", True),
        # ... or keep the names of host namespaces outside the exported ones.
        ("namespaces: [apps]", "host: {namespaces: [shared, public]}", True),
        # Not disjoint: the landing namespace is exported from, imports land anywhere, or no namespace list.
        ("namespaces: [apps, imported]", "host: {namespaces: [shared], virtualNamespace: imported}", False),
        ("namespaces: [apps]", "host: {names: ['public-*']}", False),
        ("selector: {matchLabels: {flow: out}}", "host: {virtualNamespace: imported}", False),
        ("selector: {matchLabels: {a: x}}", "selector: {matchLabels: {b: y}}", False),
    ],
)
def test_a_kind_in_both_directions_needs_selections_that_say_which_rule_owns_an_object(
    to_host: str, from_host: str, ok: bool
) -> None:
    text = mapping(WIDGET + f", {to_host}}}", WIDGET + f", {from_host}}}")
    result = load_text(text, "m.yaml")
    assert result.ok is ok, [str(e) for e in result.errors]
    if not ok:
        (error,) = result.errors
        assert error.field_path == "spec.fromHost[0].kind"
        assert "virtualNamespace" in error.message and "mode: referenced" in error.message


def test_the_knative_shape_loads_both_ways() -> None:
    # The shape of vcluster's knative example (the same kinds exported and imported), here told apart by labels.
    text = mapping(
        """
        - apiVersion: serving.knative.dev/v1
          kind: Service
          selector: {matchExpressions: [{key: serving.knative.dev/creator, operator: DoesNotExist}]}
        """,
        """
        - apiVersion: serving.knative.dev/v1
          kind: Service
          selector: {matchExpressions: [{key: serving.knative.dev/creator, operator: Exists}]}
        """,
    )
    config = loaded(text)
    assert [rule.direction for rule in config.rules] == [Direction.TO_HOST, Direction.FROM_HOST]
