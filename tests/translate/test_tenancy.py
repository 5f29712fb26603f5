"""The tenant boundary, as a specification: what one tenant's engine trusts, where its writes may go, and what it
refuses. Each test states one rule of crdsync/translate/tenancy.py (or of the translation that relies on it) and names
the attack it stops; tests/engine/test_tenant_attacks.py carries the same attacks through the engine, and
e2e/test_tenant_isolation.py through real apiservers and the real cert-manager.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import (
    Direction,
    FollowDirection,
    HostSelection,
    Naming,
    Reference,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.translate import bookkeeping as bk
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import shared_references, to_host
from crdsync.translate.tenancy import (
    MAX_DEPTH,
    MAX_EVENT_MESSAGE,
    MAX_NODES,
    check_shape,
    event_message,
    importable,
    is_orphan_of,
    trusted_host_source,
)

WIDGET = GroupVersionKind("example.com", "v1", "Widget")
CONFIGMAP = GroupVersionKind("", "v1", "ConfigMap")
CLASS = GroupVersionKind("example.com", "v1", "WidgetClass")
TENANT = Tenant("team-a", "tenants")
OTHER = Tenant("team-b", "tenants")
NAMING = Naming()


def copy_of(tenant: Tenant, namespace: str, name: str, *, at: str | None = None, **labels: str) -> dict[str, Any]:
    """A host Widget carrying bookkeeping that claims virtual (namespace, name) of `tenant`, standing at `at`."""
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": at or host_name(tenant, namespace, name, NAMING),
            "namespace": tenant.host_namespace,
            "labels": {**bk.bookkeeping_labels(tenant.vcluster, bk.ROLE_COPY), **labels},
            "annotations": bk.bookkeeping_annotations(bk.SIDE_VIRTUAL, WIDGET, namespace, name, "uid-1"),
        },
    }


# -- provenance: bookkeeping counts only where the name proves it -----------------------------------------------------


def test_a_copy_standing_where_the_naming_rule_puts_its_source_is_trusted() -> None:
    source = trusted_host_source(copy_of(TENANT, "apps", "web"), TENANT, WIDGET, namespaced=True, naming=NAMING)
    assert source is not None and (source.namespace, source.name) == ("apps", "web")


def test_labels_an_operator_copied_from_tenant_input_are_not_trusted() -> None:
    """Break 2: tenant A's issued Secret, with labels naming tenant B's CA Secret, stands at A's name."""
    forged = copy_of(OTHER, "apps", "ca", at=host_name(TENANT, "apps", "tls", NAMING))
    assert trusted_host_source(forged, OTHER, WIDGET, namespaced=True, naming=NAMING) is None


def test_another_tenants_copy_is_not_ours() -> None:
    theirs = copy_of(OTHER, "apps", "web")
    assert trusted_host_source(theirs, TENANT, WIDGET, namespaced=True, naming=NAMING) is None


@pytest.mark.parametrize(
    "change",
    [
        {"namespace": "kube-system"},  # right name, wrong namespace
        {"kind": "example.com/Gadget"},  # claims another kind
        {"side": bk.SIDE_HOST},  # claims to be an import
        {"cluster": True},  # claims a cluster-scoped source for a namespaced kind
    ],
)
def test_any_claim_the_name_does_not_prove_is_refused(change: dict[str, Any]) -> None:
    obj = copy_of(TENANT, "apps", "web")
    meta = obj["metadata"]
    if "namespace" in change:
        meta["namespace"] = change["namespace"]
    if "kind" in change:
        meta["annotations"][bk.ANN_SOURCE_KIND] = change["kind"]
    if "side" in change:
        meta["annotations"][bk.ANN_SOURCE_SIDE] = change["side"]
    if "cluster" in change:
        del meta["annotations"][bk.ANN_SOURCE_NAMESPACE]
    assert trusted_host_source(obj, TENANT, WIDGET, namespaced=True, naming=NAMING) is None


@given(
    claimed=st.tuples(st.sampled_from(["apps", "default", "tenants"]), st.sampled_from(["web", "ca", "tls", "db"])),
    actual=st.tuples(st.sampled_from(["apps", "default", "tenants"]), st.sampled_from(["web", "ca", "tls", "db"])),
)
def test_trusted_exactly_when_the_name_is_the_claimed_sources_name(
    claimed: tuple[str, str], actual: tuple[str, str]
) -> None:
    obj = copy_of(TENANT, *claimed, at=host_name(TENANT, *actual, NAMING))
    trusted = trusted_host_source(obj, TENANT, WIDGET, namespaced=True, naming=NAMING) is not None
    assert trusted == (claimed == actual)


def test_orphan_marks_count_only_where_the_name_proves_them() -> None:
    orphan = copy_of(TENANT, "apps", "web")
    labels = orphan["metadata"]["labels"]
    del labels[bk.LABEL_MANAGED_BY], labels[bk.LABEL_ROLE]
    labels[bk.LABEL_ORPHANED] = "true"
    assert is_orphan_of(orphan, TENANT, WIDGET, namespaced=True, naming=NAMING)
    assert bk.source_of(orphan) is None  # nothing routes it as a live copy
    moved = {**orphan, "metadata": {**orphan["metadata"], "name": host_name(TENANT, "apps", "other", NAMING)}}
    assert not is_orphan_of(moved, TENANT, WIDGET, namespaced=True, naming=NAMING)
    assert not is_orphan_of(orphan, OTHER, WIDGET, namespaced=True, naming=NAMING)


def test_imports_take_operator_written_objects_and_our_own_copies_but_never_anothers() -> None:
    """Break 7: with a colliding name a tenant could import another tenant's issued tls.key."""
    written_by_operator = {"metadata": {"name": host_name(TENANT, "apps", "tls", NAMING), "namespace": "tenants"}}
    assert importable(written_by_operator, TENANT, WIDGET, namespaced=True, naming=NAMING)
    assert importable(copy_of(TENANT, "apps", "tls"), TENANT, WIDGET, namespaced=True, naming=NAMING)
    theirs = copy_of(OTHER, "apps", "key", at=host_name(TENANT, "apps", "tls", NAMING))
    assert not importable(theirs, TENANT, WIDGET, namespaced=True, naming=NAMING)


# -- shape limits: poison objects are refused before any recursive code touches them --------------------------------


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def test_shape_limits() -> None:
    check_shape(nested(MAX_DEPTH))
    with pytest.raises(TranslationError, match="deeper than"):
        check_shape(nested(MAX_DEPTH + 1))
    with pytest.raises(TranslationError, match="more than"):
        check_shape({"items": list(range(MAX_NODES))})
    with pytest.raises(TranslationError, match="deeper than"):
        check_shape(nested(100_000))  # iterative: a recursion limit never decides


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 800, 5_000])
def test_translation_refuses_deep_objects_with_a_translation_error(depth: int) -> None:
    """Break 6: 500-1,000 levels made paths.clone raise RecursionError, which nothing caught."""
    rule = Rule(direction=Direction.TO_HOST, gvk=WIDGET)
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "a"}}
    obj["spec"] = nested(depth)
    with pytest.raises(TranslationError, match="deeper than"):
        to_host(SyncConfig("t", (rule,)), rule, obj, TENANT)


def test_event_messages_are_bounded_and_one_line() -> None:
    message = event_message("denied\nby webhook\x1b[31m " + "x" * 5000)
    assert len(message) == MAX_EVENT_MESSAGE and message.endswith("...")
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith("denied by webhook [31m x")
    fits = "y" * MAX_EVENT_MESSAGE
    assert event_message(fits) == fits  # a message that fits is never cut


def test_an_object_of_exactly_max_nodes_values_is_translated() -> None:
    check_shape({"items": list(range(MAX_NODES - 2))})  # the map, the list and its items
    with pytest.raises(TranslationError, match="more than") as info:
        check_shape({"items": list(range(MAX_NODES - 1))}, "host object")
    assert info.value.message.startswith("host object holds more than")


# -- references: nothing a tenant writes points a host operator outside the tenant's namespace ----------------------

CONFIG_REF = Reference(
    path="$.spec.configRef.name",
    kind="ConfigMap",
    api_version="v1",
    follow=FollowDirection.TO_HOST,
    namespace_path="$.spec.configRef.namespace",
)
REFS = Reference(
    path="$.spec.refs[*].name",
    kind="ConfigMap",
    api_version="v1",
    follow=FollowDirection.TO_HOST,
    namespace_path="$.spec.refs[*].namespace",
)
CLASS_REF = Reference(
    path="$.spec.classRef.name",
    kind="WidgetClass",
    api_version="example.com/v1",
    namespace_path="$.spec.classRef.namespace",
)
SHARED_CLASSES = Rule(
    direction=Direction.FROM_HOST,
    gvk=CLASS,
    scope=Scope.NAMESPACED,
    host=HostSelection(namespaces=("widget-system",), virtual_namespace="widget-classes"),
)
WIDGETS = Rule(direction=Direction.TO_HOST, gvk=WIDGET, references=(CONFIG_REF, REFS, CLASS_REF))
CONFIG = SyncConfig(
    "t", (WIDGETS, Rule(direction=Direction.TO_HOST, gvk=CONFIGMAP, mode=SyncMode.REFERENCED), SHARED_CLASSES)
)


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "apps"},
        "spec": spec,
    }


def test_a_namespace_field_without_a_name_never_crosses_as_written() -> None:
    """Break 5: `configRef: {namespace: kube-system}` reached the host unchanged."""
    copy = to_host(CONFIG, WIDGETS, widget(configRef={"namespace": "kube-system"}), TENANT)
    assert copy["spec"]["configRef"] == {"namespace": TENANT.host_namespace}


@given(
    namespaces=st.lists(st.sampled_from(["apps", "kube-system", "other-tenant", "tenants", ""]), min_size=1, max_size=4)
)
def test_wildcard_references_pair_each_name_with_its_own_namespace(namespaces: list[str]) -> None:
    """Break 5: every match took the first match's namespace."""
    refs = [{"name": f"cfg{i}", "namespace": ns} for i, ns in enumerate(namespaces)]
    copy = to_host(CONFIG, WIDGETS, widget(refs=refs), TENANT)
    for i, (written, original) in enumerate(zip(copy["spec"]["refs"], refs, strict=True)):
        expected_ns = original["namespace"] or "apps"  # an empty namespace means the Widget's own
        assert written["name"] == host_name(TENANT, expected_ns, f"cfg{i}", NAMING)
        if original["namespace"]:
            assert written["namespace"] == TENANT.host_namespace


def test_names_shared_by_name_are_checked_where_the_sharing_rule_puts_them() -> None:
    """Break 5: the WidgetClass check looked in the Widget's namespace, not where shared classes are imported."""
    obj = widget(classRef={"name": "gold", "namespace": "widget-classes"})
    [shared] = shared_references(CONFIG, WIDGETS, obj)
    assert (shared.virtual_namespace, shared.host_namespace, shared.name) == ("widget-classes", "widget-system", "gold")
    assert to_host(CONFIG, WIDGETS, obj, TENANT)["spec"]["classRef"] == {"name": "gold", "namespace": "widget-system"}
    # Named anywhere else, it is not a shared class: refused, not resolved somewhere the tenant chose.
    with pytest.raises(TranslationError, match="shared only in virtual namespace"):
        shared_references(CONFIG, WIDGETS, widget(classRef={"name": "gold", "namespace": "kube-system"}))
