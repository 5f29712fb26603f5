"""Event routing as pure functions (crdsync/engine/routing.py): which keys an event queues, and why not others.

No engine, no threads: a kind registry with served resources, a reference index, and the event's object.
"""

from __future__ import annotations

from typing import Any

from crdsync.engine import routing
from crdsync.engine.keys import Key, ObjectName, ReferenceIndex, Task
from crdsync.engine.kinds import KindRuntime, Kinds, kinds_of
from crdsync.spec.model import (
    Direction,
    FollowDirection,
    HostSelection,
    LabelSelector,
    Reference,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import followers, to_host, to_virtual
from tests.engine.kinds import SECRET, SECRETS, SHARED, SHAREDS, WIDGET, WIDGETS

TENANT = Tenant(vcluster="vc1", host_namespace="tenant-a")
OTHER = Tenant(vcluster="vc2", host_namespace="tenant-a")
SECRET_REF = Reference(path="$.spec.secretName", kind="Secret", api_version="v1", follow=FollowDirection.FROM_HOST)
ISSUER_REF = Reference(path="$.spec.issuer", kind="SharedThing", api_version="example.com/v1")
CONFIG = SyncConfig(
    name="routing",
    rules=(
        Rule(direction=Direction.TO_HOST, gvk=WIDGET, references=(SECRET_REF, ISSUER_REF)),
        Rule(direction=Direction.FROM_HOST, gvk=SECRET, mode=SyncMode.REFERENCED),
        Rule(
            direction=Direction.FROM_HOST,
            gvk=SHARED,
            scope=Scope.CLUSTER,
            selector=LabelSelector(match_labels=(("shared", "true"),)),
            host=HostSelection(),
        ),
    ),
)


def registry() -> Kinds:
    kinds = kinds_of(CONFIG)
    for runtime, res in ((kinds[("example.com", "Widget")], WIDGETS), (kinds[("", "Secret")], SECRETS)):
        runtime.host_res = runtime.virtual_res = res
    kinds[("example.com", "SharedThing")].host_res = kinds[("example.com", "SharedThing")].virtual_res = SHAREDS
    return kinds


def view(index: ReferenceIndex | None = None) -> routing.View:
    return routing.View(CONFIG, TENANT, index or ReferenceIndex(), lambda namespace: None)


def widget(name: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def host_secret(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "tenant-a"}, "data": {}}


def rule_of(kinds: Kinds, kind: str, direction: Direction) -> Rule:
    runtime: KindRuntime = next(r for r in kinds.values() if r.gvk.kind == kind)
    return runtime.rules[direction]


def test_a_tenant_source_routes_to_its_own_key_naming_both_ends_and_indexes_what_it_references() -> None:
    kinds = registry()
    runtime = kinds[("example.com", "Widget")]
    routes = routing.virtual_event(view(), runtime, "ADDED", widget("w", secretName="tls", issuer="ca"))
    (key,) = routes.keys
    assert key.task is Task.TO_HOST
    assert key.source == ObjectName("default", "w")
    assert key.target == ObjectName(
        "tenant-a", host_name(TENANT, "default", "w", runtime.rules[Direction.TO_HOST].naming)
    )
    assert routes.references is not None and routes.references.referrer == key
    assert [(f.virtual_name, f.direction) for f in routes.references.follows] == [("tls", FollowDirection.FROM_HOST)]
    assert routes.references.shared == (("example.com", "SharedThing", None, "ca"),)


def test_a_deleted_source_indexes_nothing_so_its_followers_are_let_go() -> None:
    runtime = registry()[("example.com", "Widget")]
    routes = routing.virtual_event(view(), runtime, "DELETED", widget("w", secretName="tls"))
    assert routes.references is not None
    assert routes.references.follows == () and routes.references.shared == ()


def test_an_object_claiming_to_be_an_import_goes_to_the_import_key_of_its_own_place_only() -> None:
    """The tenant can write import bookkeeping on any object: it names a host source, but the key is where the object
    stands, and the toHost rule never sees it (that would export a copy of a host object)."""
    kinds = registry()
    rule = rule_of(kinds, "Secret", Direction.FROM_HOST)
    forged = to_virtual(CONFIG, rule, host_secret("someone-elses"), TENANT, target=("default", "mine"))
    widget_runtime = kinds[("example.com", "Widget")]
    forged_widget = {**forged, "apiVersion": "example.com/v1", "kind": "Widget"}
    (key,) = routing.virtual_event(view(), widget_runtime, "ADDED", forged_widget).keys
    assert key.task is Task.IMPORT
    assert key.identity == ObjectName("default", "mine")
    assert key.source is None  # no reference names this place: nothing to fill it from


def test_an_import_key_from_a_virtual_event_carries_the_host_object_the_reference_names() -> None:
    kinds = registry()
    index = ReferenceIndex()
    referrer = Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w"))
    refs = followers(CONFIG, rule_of(kinds, "Widget", Direction.TO_HOST), widget("w", secretName="tls"), TENANT)
    index.update(referrer, refs)
    secret = to_virtual(
        CONFIG, rule_of(kinds, "Secret", Direction.FROM_HOST), host_secret("x"), TENANT, ("default", "tls")
    )
    (key,) = routing.virtual_event(view(index), kinds[("", "Secret")], "MODIFIED", secret).keys
    assert key.task is Task.IMPORT and key.target == ObjectName("default", "tls")
    assert key.source == ObjectName(refs[0].host_namespace, refs[0].host_name)


def test_a_host_copy_routes_to_its_source_only_when_tenancy_proves_it_this_tenants() -> None:
    kinds = registry()
    runtime = kinds[("example.com", "Widget")]
    rule = runtime.rules[Direction.TO_HOST]
    ours = to_host(CONFIG, rule, {**widget("w"), "metadata": {"name": "w", "namespace": "default", "uid": "u"}}, TENANT)
    (key,) = routing.host_event(view(), runtime, ours).keys
    assert key == Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w"))
    assert key.target == ObjectName("tenant-a", ours["metadata"]["name"])
    theirs = to_host(
        CONFIG, rule, {**widget("w"), "metadata": {"name": "w", "namespace": "default", "uid": "u"}}, OTHER
    )
    assert routing.host_event(view(), runtime, theirs).keys == ()


def test_a_host_object_shared_by_name_routes_to_its_fromhost_key_and_to_whoever_names_it() -> None:
    kinds = registry()
    index = ReferenceIndex()
    referrer = Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w"))
    index.update_shared(referrer, [("example.com", "SharedThing", None, "ca")])
    shared = {"apiVersion": "example.com/v1", "kind": "SharedThing", "metadata": {"name": "ca"}}
    keys = routing.host_event(view(index), kinds[("example.com", "SharedThing")], shared).keys
    assert keys == (Key(Task.FROM_HOST, "example.com", "SharedThing", ObjectName(None, "ca")), referrer)
    assert keys[0].target == ObjectName(None, "ca")


def test_a_host_object_an_import_names_routes_to_that_import() -> None:
    kinds = registry()
    index = ReferenceIndex()
    refs = followers(CONFIG, rule_of(kinds, "Widget", Direction.TO_HOST), widget("w", secretName="tls"), TENANT)
    index.update(Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w")), refs)
    named = host_secret(refs[0].host_name)
    (key,) = routing.host_event(view(index), kinds[("", "Secret")], named).keys
    assert key.task is Task.IMPORT and key.target == ObjectName("default", "tls")
    assert routing.host_event(view(index), kinds[("", "Secret")], host_secret("unrelated")).keys == ()


def test_keys_are_equal_by_the_end_they_are_reconciled_for() -> None:
    bare = Key.imported("", "Secret", ObjectName("default", "tls"))
    known = Key.imported("", "Secret", ObjectName("default", "tls"), ObjectName("tenant-a", "tls-x-default-vc1"))
    assert bare == known and hash(bare) == hash(known)
    assert bare != Key(Task.TO_HOST, "", "Secret", ObjectName("default", "tls"))


CA_REF = Reference(path="$.spec.caSecret", kind="Secret", api_version="v1", follow=FollowDirection.TO_HOST)
EXPORTING = SyncConfig(
    name="exporting",
    rules=(
        Rule(direction=Direction.TO_HOST, gvk=WIDGET, references=(CA_REF,)),
        Rule(direction=Direction.TO_HOST, gvk=SECRET, mode=SyncMode.REFERENCED),
    ),
)


def exporting_registry() -> Kinds:
    kinds = kinds_of(EXPORTING)
    kinds[("example.com", "Widget")].host_res = kinds[("example.com", "Widget")].virtual_res = WIDGETS
    kinds[("", "Secret")].host_res = kinds[("", "Secret")].virtual_res = SECRETS
    return kinds


def tenant_secret(name: str, ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "data": {}}


def test_a_tenant_object_a_source_exports_routes_to_its_export_key_and_an_unreferenced_one_nowhere() -> None:
    kinds = exporting_registry()
    index = ReferenceIndex()
    widget_rule = kinds[("example.com", "Widget")].rules[Direction.TO_HOST]
    refs = followers(EXPORTING, widget_rule, widget("w", caSecret="ca"), TENANT)
    index.update(Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w")), refs)
    secrets = kinds[("", "Secret")]
    exporting_view = routing.View(EXPORTING, TENANT, index, lambda namespace: None)
    (key,) = routing.virtual_event(exporting_view, secrets, "MODIFIED", tenant_secret("ca")).keys
    assert key.task is Task.EXPORT
    assert key.source == ObjectName("default", "ca")
    secret_rule = secrets.rules[Direction.TO_HOST]
    assert key.target == ObjectName("tenant-a", host_name(TENANT, "default", "ca", secret_rule.naming))
    assert routing.virtual_event(exporting_view, secrets, "MODIFIED", tenant_secret("unrelated")).keys == ()


def test_whatever_stands_where_a_reference_imports_routes_to_that_import_while_referenced() -> None:
    """The tenant's own object at an import's place (no bookkeeping of ours) is judged by the import key: the import
    must not overwrite it, and its going away lets the import in."""
    kinds = registry()
    index = ReferenceIndex()
    refs = followers(CONFIG, rule_of(kinds, "Widget", Direction.TO_HOST), widget("w", secretName="tls"), TENANT)
    index.update(Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w")), refs)
    secrets = kinds[("", "Secret")]
    (key,) = routing.virtual_event(view(index), secrets, "ADDED", tenant_secret("tls")).keys
    assert key == Key.imported("", "Secret", ObjectName("default", "tls"))
    assert key.source == ObjectName(refs[0].host_namespace, refs[0].host_name)
    assert routing.virtual_event(view(index), secrets, "ADDED", tenant_secret("other")).keys == ()


class ListedInformer:
    """What namespace_event reads of a kind's virtual informer: its cached objects."""

    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs = list(objs)

    def list(self) -> list[dict[str, Any]]:
        return self.objs


def test_a_namespace_change_routes_again_every_source_in_it_whose_rule_selects_namespaces() -> None:
    labelled = SyncConfig(
        name="labelled",
        rules=(
            Rule(
                direction=Direction.TO_HOST,
                gvk=WIDGET,
                namespace_selector=LabelSelector(match_labels=(("sync", "yes"),)),
            ),
        ),
    )
    kinds = kinds_of(labelled)
    runtime = kinds[("example.com", "Widget")]
    runtime.host_res = runtime.virtual_res = WIDGETS
    runtime.virtual = ListedInformer(widget("a", "team"), widget("b", "elsewhere"), widget("c", "team"))  # type: ignore[assignment]
    labels = {"team": {"sync": "yes"}}
    namespace_view = routing.View(labelled, TENANT, ReferenceIndex(), lambda namespace: labels.get(namespace or ""))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"sync": "yes"}}}
    found = routing.namespace_event(namespace_view, kinds.values(), namespace)
    assert [routes.keys for routes in found] == [
        (Key(Task.TO_HOST, "example.com", "Widget", ObjectName("team", "a")),),
        (Key(Task.TO_HOST, "example.com", "Widget", ObjectName("team", "c")),),
    ]
    assert all(routes.references is not None for routes in found)


def test_a_source_being_deleted_or_no_longer_selected_still_routes_its_key_but_indexes_nothing() -> None:
    selective = SyncConfig(
        name="selective",
        rules=(
            Rule(
                direction=Direction.TO_HOST,
                gvk=WIDGET,
                selector=LabelSelector(match_labels=(("sync", "yes"),)),
                references=(SECRET_REF,),
            ),
            Rule(direction=Direction.FROM_HOST, gvk=SECRET, mode=SyncMode.REFERENCED),
        ),
    )
    kinds = kinds_of(selective)
    runtime = kinds[("example.com", "Widget")]
    runtime.host_res = runtime.virtual_res = WIDGETS
    selective_view = routing.View(selective, TENANT, ReferenceIndex(), lambda namespace: None)
    selected = widget("w", secretName="tls")
    selected["metadata"]["labels"] = {"sync": "yes"}
    routes = routing.virtual_event(selective_view, runtime, "MODIFIED", selected)
    assert routes.references is not None and [f.virtual_name for f in routes.references.follows] == ["tls"]
    deleting = {**selected, "metadata": {**selected["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    unselected = {**selected, "metadata": {**selected["metadata"], "labels": {"sync": "no"}}}
    for obj in (deleting, unselected):
        routes = routing.virtual_event(selective_view, runtime, "MODIFIED", obj)
        assert [k.identity for k in routes.keys] == [ObjectName("default", "w")]
        assert routes.references is not None and routes.references.follows == ()


def test_a_key_routed_before_the_other_side_serves_the_kind_carries_no_target() -> None:
    kinds = registry()
    widgets_runtime = kinds[("example.com", "Widget")]
    widgets_runtime.host_res = None
    (key,) = routing.virtual_event(view(), widgets_runtime, "ADDED", widget("w")).keys
    assert key.source == ObjectName("default", "w") and key.target is None
    shared_runtime = kinds[("example.com", "SharedThing")]
    shared = {"apiVersion": "example.com/v1", "kind": "SharedThing", "metadata": {"name": "ca"}}
    (served,) = routing.host_event(view(), shared_runtime, shared).keys
    assert served.target == ObjectName(None, "ca")
    shared_runtime.virtual_res = None
    (unserved,) = routing.host_event(view(), shared_runtime, shared).keys
    assert unserved.source == ObjectName(None, "ca") and unserved.target is None


def test_a_host_object_shared_into_a_landing_namespace_targets_that_namespace() -> None:
    landing = SyncConfig(
        name="landing",
        rules=(
            Rule(
                direction=Direction.FROM_HOST,
                gvk=WIDGET,
                host=HostSelection(namespaces=("platform",), virtual_namespace="shared"),
            ),
        ),
    )
    kinds = kinds_of(landing)
    runtime = kinds[("example.com", "Widget")]
    runtime.host_res = runtime.virtual_res = WIDGETS
    landing_view = routing.View(landing, TENANT, ReferenceIndex(), lambda namespace: None)
    (key,) = routing.host_event(landing_view, runtime, widget("w", "platform")).keys
    assert key.task is Task.FROM_HOST
    assert key.source == ObjectName("platform", "w") and key.target == ObjectName("shared", "w")
    # And back: whatever stands at shared/w is judged against platform/w.
    (back,) = routing.virtual_event(landing_view, runtime, "MODIFIED", widget("w", "shared")).keys
    assert back == key and back.target == ObjectName("shared", "w")
    assert routing.virtual_event(landing_view, runtime, "MODIFIED", widget("w", "elsewhere")).keys == ()


def test_a_host_copy_of_an_exported_object_routes_to_its_export_key() -> None:
    kinds = exporting_registry()
    secrets = kinds[("", "Secret")]
    rule = secrets.rules[Direction.TO_HOST]
    source = {**tenant_secret("ca"), "metadata": {"name": "ca", "namespace": "default", "uid": "u"}}
    copy = to_host(EXPORTING, rule, source, TENANT)
    exporting_view = routing.View(EXPORTING, TENANT, ReferenceIndex(), lambda namespace: None)
    (key,) = routing.host_event(exporting_view, secrets, copy).keys
    assert key == Key(Task.EXPORT, "", "Secret", ObjectName("default", "ca"))
    assert key.target == ObjectName("tenant-a", copy["metadata"]["name"])


def test_a_tenant_object_where_a_shared_object_lands_and_that_a_source_exports_routes_to_both_keys() -> None:
    """Secrets shared from the host (mode all) and exported when referenced: the tenant's own Secret at a shared
    Secret's place is judged by the fromHost key (the import must not take it over) and by its export key."""
    both = SyncConfig(
        name="both",
        rules=(
            Rule(direction=Direction.TO_HOST, gvk=WIDGET, references=(CA_REF,)),
            Rule(direction=Direction.TO_HOST, gvk=SECRET, mode=SyncMode.REFERENCED),
            Rule(direction=Direction.FROM_HOST, gvk=SECRET),
        ),
    )
    kinds = kinds_of(both)
    kinds[("example.com", "Widget")].host_res = kinds[("example.com", "Widget")].virtual_res = WIDGETS
    secrets = kinds[("", "Secret")]
    secrets.host_res = secrets.virtual_res = SECRETS
    index = ReferenceIndex()
    refs = followers(
        both, kinds[("example.com", "Widget")].rules[Direction.TO_HOST], widget("w", caSecret="ca"), TENANT
    )
    index.update(Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w")), refs)
    both_view = routing.View(both, TENANT, index, lambda namespace: None)
    keys = routing.virtual_event(both_view, secrets, "MODIFIED", tenant_secret("ca")).keys
    assert [k.task for k in keys] == [Task.FROM_HOST, Task.EXPORT]
    assert {k.identity for k in keys} == {ObjectName("default", "ca")}
