"""Selection on both sides and the list/watch query string."""

from __future__ import annotations

from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import (
    Direction,
    HostSelection,
    LabelSelector,
    Rule,
    Scope,
    SelectorOperator,
    SelectorRequirement,
    SyncMode,
)
from crdsync.translate.bookkeeping import ANN_SOURCE_NAME, LABEL_MANAGED_BY, MANAGER
from crdsync.translate.selectors import matches, selects_host, selects_virtual

GVK = GroupVersionKind("example.com", "v1", "Widget")
SEL = LabelSelector(
    match_labels=(("app", "web"),),
    match_expressions=(
        SelectorRequirement("tier", SelectorOperator.IN, ("fe", "be")),
        SelectorRequirement("legacy", SelectorOperator.DOES_NOT_EXIST),
        SelectorRequirement("env", SelectorOperator.NOT_IN, ("prod",)),
        SelectorRequirement("owner", SelectorOperator.EXISTS),
    ),
)


def obj(name: str = "w", namespace: str | None = "apps", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app": "web", "tier": "fe", "owner": "x"}, True),
        ({"app": "web", "tier": "fe", "owner": "x", "env": "dev"}, True),
        ({"app": "web", "tier": "fe", "owner": "x", "env": "prod"}, False),
        ({"app": "web", "tier": "fe", "owner": "x", "legacy": ""}, False),
        ({"app": "web", "tier": "db", "owner": "x"}, False),
        ({"app": "web", "owner": "x"}, False),
        ({"app": "api", "tier": "fe", "owner": "x"}, False),
        ({"app": "web", "tier": "fe"}, False),
        (None, False),
    ],
)
def test_matches(labels: dict[str, str] | None, expected: bool) -> None:
    assert matches(SEL, labels) is expected


def test_no_or_empty_selector_matches_everything() -> None:
    assert matches(None, None)
    assert matches(LabelSelector(), {"a": "b"})


def test_selects_virtual_namespace_rules() -> None:
    rule = Rule(
        Direction.TO_HOST,
        GVK,
        namespaces=("apps", "web"),
        namespace_selector=LabelSelector(match_labels=(("team", "a"),)),
        selector=LabelSelector(match_labels=(("sync", "yes"),)),
    )
    assert selects_virtual(rule, obj(sync="yes"), {"team": "a"})
    assert not selects_virtual(rule, obj(sync="no"), {"team": "a"})
    assert not selects_virtual(rule, obj(sync="yes"), {"team": "b"})
    assert not selects_virtual(rule, obj(sync="yes"), None)
    assert not selects_virtual(rule, obj(namespace="other", sync="yes"), {"team": "a"})


def test_selects_virtual_refuses_referenced_fromhost_and_our_copies() -> None:
    rule = Rule(Direction.TO_HOST, GVK)
    assert selects_virtual(rule, obj(), None)
    assert not selects_virtual(Rule(Direction.TO_HOST, GVK, mode=SyncMode.REFERENCED), obj(), None)
    assert not selects_virtual(Rule(Direction.FROM_HOST, GVK), obj(), None)
    assert not selects_virtual(rule, obj(**{LABEL_MANAGED_BY: MANAGER}), None)


def test_cluster_scoped_rule_ignores_namespace_conditions() -> None:
    rule = Rule(Direction.TO_HOST, GVK, scope=Scope.CLUSTER, namespaces=("apps",))
    assert selects_virtual(rule, obj(namespace=None), None)


def test_selects_host() -> None:
    rule = Rule(
        Direction.FROM_HOST,
        GVK,
        selector=LabelSelector(match_labels=(("crdsync.io/shared", "true"),)),
        host=HostSelection(namespaces=("shared",), name_patterns=("public-*", "exact")),
    )
    shared = {"crdsync.io/shared": "true"}
    assert selects_host(rule, obj("public-ca", "shared", **shared))
    assert selects_host(rule, obj("exact", "shared", **shared))
    assert not selects_host(rule, obj("Public-ca", "shared", **shared))  # globs are case-sensitive
    assert not selects_host(rule, obj("private", "shared", **shared))
    assert not selects_host(rule, obj("public-ca", "other", **shared))
    assert not selects_host(rule, obj("public-ca", "shared"))


def test_selects_host_never_takes_copies_or_referenced_rules() -> None:
    rule = Rule(Direction.FROM_HOST, GVK)
    copy_of_tenant_object = obj()
    copy_of_tenant_object["metadata"]["annotations"] = {ANN_SOURCE_NAME: "x"}
    assert selects_host(rule, obj())
    assert not selects_host(rule, copy_of_tenant_object)
    assert not selects_host(rule, obj(**{LABEL_MANAGED_BY: MANAGER}))
    assert not selects_host(Rule(Direction.FROM_HOST, GVK, mode=SyncMode.REFERENCED), obj())
    assert not selects_host(Rule(Direction.TO_HOST, GVK), obj())


def test_host_namespaces_bind_only_namespaced_rules_and_patterns_need_a_name() -> None:
    cluster = Rule(Direction.FROM_HOST, GVK, scope=Scope.CLUSTER, host=HostSelection(namespaces=("shared",)))
    assert selects_host(cluster, obj(namespace=None))
    named = Rule(Direction.FROM_HOST, GVK, host=HostSelection(name_patterns=("*",)))
    nameless = obj()
    del nameless["metadata"]["name"]
    assert selects_host(named, obj())
    assert not selects_host(named, nameless)
    assert not selects_host(named, {**obj(), "metadata": {"name": 5, "namespace": "apps"}})


def test_a_namespace_that_is_not_a_string_is_in_no_listed_namespace() -> None:
    virtual = Rule(Direction.TO_HOST, GVK, namespaces=("apps",))
    host = Rule(Direction.FROM_HOST, GVK, host=HostSelection(namespaces=("apps",)))
    odd = {**obj(), "metadata": {"name": "w", "namespace": ["apps"]}}
    assert selects_virtual(virtual, obj(), None) and not selects_virtual(virtual, odd, None)
    assert selects_host(host, obj()) and not selects_host(host, odd)
    assert not selects_host(host, {**obj(), "metadata": "nonsense"})
