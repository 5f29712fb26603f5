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
    Naming,
    Reference,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.translate.bookkeeping import ANN_SOURCE_NAME, LABEL_ROLE
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
    plan = from_host(rules, item(WIDGET, "good", line=1), broken, item(WIDGET, "also-good", namespace=None, line=9))
    assert [o.obj["metadata"]["name"] for o in plan.outputs] == ["good", "also-good"]
    assert plan.outputs[1].obj["metadata"]["namespace"] == "default"  # namespaced, none given: --namespace's
    assert plan.translated == 2
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


def test_the_rule_of_the_objects_own_version_is_preferred() -> None:
    beta = GroupVersionKind("example.com", "v1beta1", "Widget")
    rules = (
        Rule(Direction.TO_HOST, WIDGET, naming=Naming(max_length=40, hash_length=16), location=MAPPING),
        Rule(Direction.TO_HOST, beta, naming=Naming(max_length=30, hash_length=16), location=MAPPING),
    )
    plan = from_virtual(rules, item(beta, "w"), item(WIDGET, "w", line=2))
    beta_copy, v1_copy = (o.obj for o in plan.outputs)
    assert beta_copy["metadata"]["name"] == host_name(TENANT, "apps", "w", rules[1].naming)
    assert v1_copy["metadata"]["name"] == host_name(TENANT, "apps", "w", rules[0].naming)
    assert "rule for Widget.example.com/v1beta1" in plan.outputs[0].comment


def test_objects_without_a_namespace_are_planned_in_the_default_namespace() -> None:
    rules = (widget_rule(),)
    for namespace in (None, ""):
        plan = Planner(SyncConfig("test", rules), TENANT, "team").from_virtual([item(WIDGET, "w", namespace)])
        (copy,) = (o.obj for o in plan.outputs)
        assert copy["metadata"]["name"] == host_name(TENANT, "team", "w", rules[0].naming)
        assert plan.outputs[0].comment.startswith("host <- virtual Widget team/w (Widget vc-vc1/")


def test_a_cluster_scoped_object_keeps_no_namespace() -> None:
    rule = Rule(Direction.TO_HOST, WIDGET, scope=Scope.CLUSTER, location=MAPPING)
    plan = from_virtual((rule,), item(WIDGET, "w", None))
    (output,) = plan.outputs
    assert "namespace" not in output.obj["metadata"]
    assert output.comment.startswith(f"host <- virtual Widget w (Widget {host_name(TENANT, None, 'w', rule.naming)};")


def test_a_follower_two_objects_reference_is_printed_once_after_the_first() -> None:
    rules = (
        widget_rule(Reference("$.spec.secretName", "Secret", "v1", FollowDirection.TO_HOST)),
        Rule(Direction.TO_HOST, SECRET, mode=SyncMode.REFERENCED),
    )
    secret = item(SECRET, "creds", labels={"keep": "me"}, data={"k": "dg=="})
    plan = from_virtual(
        rules,
        item(WIDGET, "a", spec={"secretName": "creds"}),
        secret,
        item(WIDGET, "b", spec={"secretName": "creds"}),
    )
    assert [(o.obj["kind"], o.obj["metadata"]["name"]) for o in plan.outputs] == [
        ("Widget", host_name(TENANT, "apps", "a", rules[0].naming)),
        ("Secret", host_name(TENANT, "apps", "creds", rules[1].naming)),
        ("Widget", host_name(TENANT, "apps", "b", rules[0].naming)),
    ]
    exported = plan.outputs[1].obj
    assert exported["data"] == {"k": "dg=="}  # given in the input: printed in full, no stub
    assert exported["metadata"]["labels"]["keep"] == "me"
    assert exported["metadata"]["annotations"][ANN_PLAN] == "follower"
    assert ANN_PLAN_STUB not in exported["metadata"]["annotations"]
    assert plan.outputs[1].comment == "host <- virtual Secret apps/creds (exported while Widget apps/a references it)"
    assert (plan.translated, plan.followers, plan.unmatched, plan.errors) == (2, 1, [], [])


def test_an_exported_follower_not_in_the_input_is_the_stub_its_rule_would_write() -> None:
    rules = (
        widget_rule(Reference("$.spec.secretName", "Secret", "v1", FollowDirection.TO_HOST)),
        Rule(Direction.TO_HOST, SECRET, mode=SyncMode.REFERENCED),
    )
    plan = from_virtual(rules, item(WIDGET, "a", spec={"secretName": "creds"}))
    stub = plan.outputs[1]
    meta = stub.obj["metadata"]
    assert (meta["namespace"], meta["name"]) == (TENANT.host_namespace, host_name(TENANT, "apps", "creds", Naming()))
    assert meta["labels"][LABEL_ROLE] == "follower"
    assert meta["annotations"][ANN_SOURCE_NAME] == "creds"
    assert meta["annotations"][ANN_PLAN_STUB] == "the content of virtual Secret apps/creds, which is not in the input"
    assert stub.comment == (
        "host <- virtual Secret apps/creds (exported while Widget apps/a references it; "
        "stub: the content of virtual Secret apps/creds, which is not in the input)"
    )


def test_an_imported_follower_is_the_stub_of_the_virtual_copy_that_would_appear() -> None:
    rules = (
        widget_rule(Reference("$.spec.secretName", "Secret", "v1", FollowDirection.FROM_HOST)),
        Rule(Direction.FROM_HOST, SECRET, mode=SyncMode.REFERENCED),
    )
    plan = from_virtual(rules, item(WIDGET, "a", spec={"secretName": "tls"}))
    imported = plan.outputs[1]
    host = host_name(TENANT, "apps", "tls", Naming())
    meta = imported.obj["metadata"]
    assert (imported.obj["kind"], meta["namespace"], meta["name"]) == ("Secret", "apps", "tls")
    assert meta["annotations"][ANN_SOURCE_NAME] == host  # its bookkeeping names the host source
    assert meta["labels"][LABEL_ROLE] == "follower"
    stub = f"the content of host Secret {TENANT.host_namespace}/{host} once it exists"
    assert meta["annotations"][ANN_PLAN_STUB] == stub
    assert imported.comment == (
        f"virtual <- host Secret {TENANT.host_namespace}/{host} (imported while Widget apps/a references it; "
        f"stub: {stub})"
    )
    # Without a referenced fromHost rule the stub is the bare object at its virtual name.
    plan = from_virtual(rules[:1], item(WIDGET, "a", spec={"secretName": "tls"}))
    bare = plan.outputs[1].obj
    assert bare["metadata"]["name"] == "tls" and bare["metadata"]["namespace"] == "apps"
    assert set(bare["metadata"]["annotations"]) == {ANN_PLAN, ANN_PLAN_STUB}


def test_every_object_no_rule_takes_is_listed_with_its_reason() -> None:
    rules = (
        Rule(Direction.TO_HOST, WIDGET, namespaces=("apps", "web"), location=MAPPING),
        Rule(
            Direction.TO_HOST,
            GADGET,
            namespace_selector=LabelSelector(match_labels=(("sync", "yes"),)),
            location=MAPPING,
        ),
        Rule(Direction.TO_HOST, SECRET, mode=SyncMode.REFERENCED, location=MAPPING),
    )
    namespace = GroupVersionKind("", "v1", "Namespace")
    copy_labels = {"crdsync.io/managed-by": "crdsync"}
    plan = from_virtual(
        rules,
        item(namespace, "apps", None, line=1, labels={"sync": "no"}),
        item(WIDGET, "other-ns", namespace="other", line=2),
        item(WIDGET, "a-copy", line=3, labels=copy_labels),
        item(GADGET, "no-ns-given", namespace="web", line=4),
        item(GADGET, "ns-no-match", line=5),
        item(SECRET, "loose", line=6),
        item(GroupVersionKind("", "v1", "ConfigMap"), "cm", line=7),
    )
    assert plan.outputs == [] and plan.errors == []
    assert plan.notes == ["objects.yaml:1:1: Namespace apps: used as namespace context (no rule syncs it)"]
    where = "rule for {} at mapping.yaml:3:5"
    assert plan.unmatched == [
        f"objects.yaml:2:1: Widget other/other-ns: namespace other is not among the namespaces of the toHost "
        f"{where.format('Widget.example.com/v1')}",
        "objects.yaml:3:1: Widget apps/a-copy: it carries crdsync bookkeeping (it is a copy crdsync made), so it is "
        "never synced back",
        f"objects.yaml:4:1: Gadget web/no-ns-given: the toHost {where.format('Gadget.example.com/v1')} has a "
        "namespaceSelector and the input has no Namespace web to read labels from",
        "objects.yaml:5:1: Gadget apps/ns-no-match: the labels of namespace apps do not match the namespaceSelector of "
        f"the toHost {where.format('Gadget.example.com/v1')}",
        f"objects.yaml:6:1: Secret apps/loose: the toHost {where.format('Secret.v1')} is mode referenced, and no "
        "object in the input references it with follow: toHost",
        "objects.yaml:7:1: ConfigMap apps/cm: no toHost rule for ConfigMap.v1",
    ]


def test_a_namespace_selector_reads_the_labels_of_namespaces_in_the_input() -> None:
    rule = Rule(
        Direction.TO_HOST, WIDGET, namespace_selector=LabelSelector(match_labels=(("sync", "yes"),)), location=MAPPING
    )
    namespace = GroupVersionKind("", "v1", "Namespace")
    plan = from_virtual((rule,), item(WIDGET, "w"), item(namespace, "apps", None, labels={"sync": "yes"}))
    assert [o.obj["kind"] for o in plan.outputs] == ["Widget"] and plan.unmatched == []


def test_references_that_cannot_be_read_are_reported_once() -> None:
    rule = widget_rule(Reference("$.spec.secretName", "Secret", "v1", FollowDirection.TO_HOST, location=MAPPING))
    plan = from_virtual((rule,), item(WIDGET, "w", spec={"secretName": 5}))
    assert plan.outputs == [] and plan.unmatched == []
    (error,) = plan.errors
    assert error.startswith("objects.yaml:1:1: Widget apps/w: mapping.yaml:3:5: ")


def test_from_host_prints_the_virtual_copy_and_refers_referenced_kinds_to_from_virtual() -> None:
    rules = (
        Rule(Direction.FROM_HOST, WIDGET, location=MAPPING),
        Rule(Direction.FROM_HOST, SECRET, mode=SyncMode.REFERENCED, location=MAPPING),
    )
    plan = from_host(
        rules,
        item(GADGET, "g", line=4),
        item(WIDGET, "w", labels={"crdsync.io/managed-by": "crdsync"}, line=1),
        item(SECRET, "s", line=3),
        item(WIDGET, "v", line=2),
    )
    (output,) = plan.outputs
    assert (
        output.comment
        == "virtual <- host Widget apps/v (Widget apps/v; fromHost rule for Widget.example.com/v1 at mapping.yaml:3:5)"
    )
    assert plan.translated == 1
    assert plan.unmatched == [
        "objects.yaml:4:1: Gadget apps/g: no fromHost rule for Gadget.example.com/v1",
        "objects.yaml:1:1: Widget apps/w: it carries crdsync bookkeeping (it is a copy crdsync made), so it is never "
        "synced back",
        "objects.yaml:3:1: Secret apps/s: the fromHost rule for Secret.v1 at mapping.yaml:3:5 is mode referenced: it "
        "is imported only while a synced virtual object references it (plan that object with --from virtual)",
    ]


def test_an_object_referenced_only_for_import_is_not_printed_as_an_export() -> None:
    rules = (
        widget_rule(Reference("$.spec.secretName", "Secret", "v1", FollowDirection.FROM_HOST)),
        Rule(Direction.TO_HOST, SECRET, mode=SyncMode.REFERENCED, location=MAPPING),
    )
    plan = from_virtual(rules, item(WIDGET, "w", spec={"secretName": "s"}), item(SECRET, "s", line=5))
    assert [o.obj["kind"] for o in plan.outputs] == ["Widget", "Secret"]  # the import's stub, not an export
    assert plan.outputs[1].comment.startswith("virtual <- host Secret")
    (unmatched,) = plan.unmatched
    assert unmatched.startswith("objects.yaml:5:1: Secret apps/s: ") and "follow: toHost" in unmatched


def test_a_namespace_without_labels_matches_no_namespace_selector() -> None:
    rule = Rule(
        Direction.TO_HOST, WIDGET, namespace_selector=LabelSelector(match_labels=(("sync", "yes"),)), location=MAPPING
    )
    namespace = GroupVersionKind("", "v1", "Namespace")
    plan = from_virtual((rule,), item(WIDGET, "w"), item(namespace, "apps", None))
    assert plan.outputs == []
    (unmatched,) = plan.unmatched
    assert "the labels of namespace apps do not match the namespaceSelector" in unmatched


def test_an_exported_follower_given_in_the_input_has_its_own_references_renamed() -> None:
    rules = (
        widget_rule(Reference("$.spec.gadget", "Gadget", "example.com/v1", FollowDirection.TO_HOST)),
        Rule(
            Direction.TO_HOST,
            GADGET,
            mode=SyncMode.REFERENCED,
            references=(Reference("$.spec.secretName", "Secret", "v1"),),
        ),
        Rule(Direction.TO_HOST, SECRET, mode=SyncMode.REFERENCED),
    )
    plan = from_virtual(
        rules,
        item(WIDGET, "w", spec={"gadget": "g", "other": "h"}),
        item(GADGET, "g", spec={"secretName": "creds"}),
    )
    assert (plan.translated, plan.followers, plan.errors) == (1, 1, [])
    gadget = plan.outputs[1].obj
    assert gadget["spec"]["secretName"] == host_name(TENANT, "apps", "creds", Naming())
    # Not in the input: the stub its rule would write, references and all (none to rename in a stub).
    plan = from_virtual(rules, item(WIDGET, "w", spec={"gadget": "g"}))
    assert (plan.translated, plan.followers, plan.errors) == (1, 1, [])
    assert ANN_PLAN_STUB in plan.outputs[1].obj["metadata"]["annotations"]


def test_every_follower_is_counted() -> None:
    rules = (
        widget_rule(
            Reference("$.spec.secrets[*]", "Secret", "v1", FollowDirection.TO_HOST),
            Reference("$.spec.imports[*]", "Secret", "v1", FollowDirection.FROM_HOST),
        ),
    )
    plan = from_virtual(rules, item(WIDGET, "w", spec={"secrets": ["a", "b"], "imports": ["c"]}))
    assert (plan.translated, plan.followers) == (1, 3)
    assert len(plan.outputs) == 4
