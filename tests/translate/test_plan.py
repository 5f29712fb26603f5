"""The pure core of `crdsync plan`: each input object planned as `crdsync run` would sync it, every object accounted
for (printed, unmatched with its reason, or an error located at the object), with rules built in code."""

from __future__ import annotations

from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import (
    Direction,
    FollowDirection,
    HostSelection,
    LabelSelector,
    Location,
    Reference,
    Rule,
    SyncConfig,
    SyncMode,
)
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.plan import ANN_PLAN, ANN_PLAN_STUB, Plan, PlanInput, Planner

WIDGET = GroupVersionKind("example.com", "v1", "Widget")
GADGET = GroupVersionKind("example.com", "v1", "Gadget")
SECRET = GroupVersionKind("", "v1", "Secret")
TENANT = Tenant("vc1", "vc-vc1")
MAPPING = Location("mapping.yaml", 3, 5)


def item(
    gvk: GroupVersionKind,
    name: str,
    namespace: str | None = "apps",
    line: int = 1,
    labels: dict[str, str] | None = None,
    **fields: Any,
) -> PlanInput:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = labels
    obj = {"apiVersion": gvk.api_version, "kind": gvk.kind, "metadata": meta, **fields}
    return PlanInput(obj, Location("objects.yaml", line, 1), gvk)


def from_virtual(rules: tuple[Rule, ...], *items: PlanInput) -> Plan:
    return Planner(SyncConfig("test", rules), TENANT, "default").from_virtual(items)


def from_host(rules: tuple[Rule, ...], *items: PlanInput) -> Plan:
    return Planner(SyncConfig("test", rules), TENANT, "default").from_host(items)


def widget_rule(*references: Reference) -> Rule:
    return Rule(Direction.TO_HOST, WIDGET, references=references, location=MAPPING)


def test_a_follower_that_cannot_be_translated_is_an_error_located_at_its_referrer() -> None:
    rules = (
        widget_rule(Reference("$.spec.secretName", "Secret", "v1", FollowDirection.TO_HOST)),
        Rule(Direction.TO_HOST, SECRET, mode=SyncMode.REFERENCED),
    )
    broken_secret = item(SECRET, "creds", line=1)
    broken_secret.obj["metadata"]["labels"] = ["not", "a", "map"]
    plan = from_virtual(rules, broken_secret, item(WIDGET, "w", line=7, spec={"secretName": "creds"}))
    assert [o.obj["kind"] for o in plan.outputs] == ["Widget"]  # the widget's copy is still planned
    assert (plan.translated, plan.followers) == (1, 0)
    (error,) = plan.errors
    assert error.startswith("objects.yaml:7:1: Widget apps/w: ")
    assert "metadata.labels must be a map" in error


def test_an_exported_follower_of_a_kind_no_rule_syncs_is_a_stub_at_its_host_name() -> None:
    rules = (widget_rule(Reference("$.spec.gadget", "Gadget", "example.com/v1", FollowDirection.TO_HOST)),)
    plan = from_virtual(rules, item(WIDGET, "w", spec={"gadget": "g"}))
    assert not plan.errors and plan.followers == 1
    widget, gadget = (o.obj for o in plan.outputs)
    expected = host_name(TENANT, "apps", "g", rules[0].naming)
    assert widget["spec"]["gadget"] == expected
    assert (gadget["apiVersion"], gadget["kind"]) == ("example.com/v1", "Gadget")
    assert (gadget["metadata"]["namespace"], gadget["metadata"]["name"]) == (TENANT.host_namespace, expected)
    annotations = gadget["metadata"]["annotations"]
    assert annotations[ANN_PLAN] == "follower"
    assert "Gadget apps/g" in annotations[ANN_PLAN_STUB]


def test_a_host_object_that_cannot_be_translated_is_an_error_located_at_it() -> None:
    rules = (Rule(Direction.FROM_HOST, WIDGET, location=MAPPING),)
    broken = item(WIDGET, "bad", line=4)
    broken.obj["metadata"]["annotations"] = "not a map"
    plan = from_host(rules, item(WIDGET, "good", line=1), broken)
    assert [o.obj["metadata"]["name"] for o in plan.outputs] == ["good"]
    assert plan.translated == 1
    (error,) = plan.errors
    assert error.startswith("objects.yaml:4:1: Widget apps/bad: mapping.yaml:3:5: ")
    assert "metadata.annotations must be a map" in error


def test_a_host_object_is_unmatched_for_the_host_selection_it_fails() -> None:
    rule = Rule(
        Direction.FROM_HOST,
        WIDGET,
        selector=LabelSelector(match_labels=(("shared", "yes"),)),
        host=HostSelection(namespaces=("apps",), name_patterns=("pub-*",)),
        location=MAPPING,
    )
    plan = from_host(
        (rule,),
        item(WIDGET, "pub-a", labels={"shared": "yes"}),
        item(WIDGET, "private", line=2, labels={"shared": "yes"}),
        item(WIDGET, "pub-b", namespace="other", line=3, labels={"shared": "yes"}),
        item(WIDGET, "pub-c", line=4),
    )
    plan_unmatched = dict(line.split(": ", 1) for line in plan.unmatched)
    assert [o.obj["metadata"]["name"] for o in plan.outputs] == ["pub-a"]
    assert "host.names" in plan_unmatched["objects.yaml:2:1"]
    assert "host.namespaces" in plan_unmatched["objects.yaml:3:1"]
    assert "labels do not match the selector" in plan_unmatched["objects.yaml:4:1"]
