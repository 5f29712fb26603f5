"""fromHost copies (crdsync/engine/fromhost.py): what a tenant sees of host objects shared with it or imported into it.

The engine runs against the in-memory clusters of tests/fakeapi, with test_engine's harness.
"""

from __future__ import annotations

from typing import Any

import pytest

from crdsync.engine.engine import Engine
from crdsync.spec.model import (
    ConflictPolicy,
    DeletionPolicy,
    Direction,
    FollowDirection,
    HostSelection,
    LabelSelector,
    Naming,
    Reference,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_KIND,
    ANN_SOURCE_NAME,
    ANN_SOURCE_SIDE,
    LABEL_MANAGED_BY,
    LABEL_ORPHANED,
    LABEL_ROLE,
    LABEL_VCLUSTER,
    MANAGER,
    PREFIX,
    ROLE_COPY,
    source_of,
)
from crdsync.translate.names import host_name
from crdsync.translate.objects import to_host, to_virtual
from tests.engine.kinds import NAMESPACES, SECRET, SECRETS, SHARED, SHAREDS, WIDGET, WIDGETS
from tests.engine.test_engine import (
    TENANT,
    World,
    host_secret,
    host_secret_issued_for,
    make_config,
    shared_thing,
    widget,
    widget_rule,
)


def shared_rule(**overrides: Any) -> Rule:
    fields: dict[str, Any] = {
        "direction": Direction.FROM_HOST,
        "gvk": SHARED,
        "scope": Scope.CLUSTER,
        "selector": LabelSelector(match_labels=(("shared", "true"),)),
        "host": HostSelection(),
    }
    fields.update(overrides)
    return Rule(**fields)


def writes(engine: Engine, side: str, verb: str) -> float:
    """crdsync_writes_total{side, verb}: what an operator reads to see which cluster the sync writes to."""
    return engine.metrics.registry.get_sample_value("crdsync_writes_total", {"side": side, "verb": verb}) or 0.0


def test_a_shared_objects_status_reaches_its_virtual_copy(worlds: list[World], events: list[tuple[str, str]]) -> None:
    """SharedThing has a status subresource on both sides: the copy's status goes in a write of its own."""
    w = World(SyncConfig(name="shared", rules=(shared_rule(),)))
    worlds.append(w)
    host_obj = shared_thing("issuer", shared=True, x=1)
    host_obj["status"] = {"phase": "Ready"}
    w.host.put(SHAREDS, host_obj)
    w.start()
    copy = w.virtual.get(SHAREDS, None, "issuer")
    assert copy is not None
    assert copy["spec"] == {"x": 1}
    assert copy["status"] == {"phase": "Ready"}


def test_a_shared_object_unshared_has_its_virtual_copy_deleted_counted_as_a_virtual_write(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    w = World(SyncConfig(name="shared", rules=(shared_rule(),)))
    worlds.append(w)
    w.host.put(SHAREDS, shared_thing("issuer", shared=True))
    engine = w.start()
    assert w.virtual.get(SHAREDS, None, "issuer") is not None
    w.host.put(SHAREDS, shared_thing("issuer", shared=False))
    w.settle()
    assert w.virtual.get(SHAREDS, None, "issuer") is None
    assert writes(engine, "virtual", "delete") == 1
    assert writes(engine, "host", "delete") == 0


def test_under_orphan_an_unshared_objects_virtual_copy_stays_as_the_tenants_own_without_our_bookkeeping(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    w = World(SyncConfig(name="shared", rules=(shared_rule(deletion=DeletionPolicy.ORPHAN),)))
    worlds.append(w)
    w.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    engine = w.start()
    assert source_of(w.virtual.get(SHAREDS, None, "issuer") or {}) is not None
    w.host.put(SHAREDS, shared_thing("issuer", shared=False, x=1))
    w.settle()
    left = w.virtual.get(SHAREDS, None, "issuer")
    assert left is not None and left["spec"] == {"x": 1}
    assert source_of(left) is None
    meta = left["metadata"]
    assert not [k for k in {**meta.get("labels", {}), **meta.get("annotations", {})} if k.startswith(PREFIX)]
    assert writes(engine, "virtual", "patch") == 1
    assert writes(engine, "host", "patch") == 0


def test_a_virtual_object_claiming_a_host_source_the_host_does_not_have_gives_way_to_the_real_copy(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    """A forged (or stale) claim to a host source that does not exist holds no place: the shared object's copy
    replaces it."""
    config, w = shared_world(worlds)
    forged = to_virtual(config, config.rules[0], shared_thing("nowhere", shared=True, x=666), TENANT)
    forged["metadata"]["name"] = "issuer"
    w.virtual.put(SHAREDS, forged)
    w.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    w.start()
    copy = w.virtual.get(SHAREDS, None, "issuer")
    assert copy is not None and copy["spec"] == {"x": 1}
    claimed = source_of(copy)
    assert claimed is not None and claimed.name == "issuer"
    assert not [reason for reason, _ in events if reason in ("NameTaken", "TargetExists")]


def test_a_namespaced_shared_object_lands_in_a_virtual_namespace_created_for_it(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    rule = Rule(
        direction=Direction.FROM_HOST,
        gvk=WIDGET,
        host=HostSelection(namespaces=("platform",), virtual_namespace="platform-shared"),
    )
    w = World(SyncConfig(name="landing", rules=(rule,)))
    worlds.append(w)
    host_widget = widget("w1", "platform", size=3)
    w.host.put(WIDGETS, host_widget)
    w.start()
    assert w.virtual.get(NAMESPACES, None, "platform-shared") is not None
    copy = w.virtual.get(WIDGETS, "platform-shared", "w1")
    assert copy is not None and copy["spec"] == {"size": 3}


def test_an_import_no_longer_referenced_is_deleted_counted_as_a_virtual_write(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    w = World(make_config())
    worlds.append(w)
    engine = w.start()
    host_secret_issued_for(w)
    assert w.virtual.get(SECRETS, "default", "tls") is not None
    w.virtual.put(WIDGETS, widget("w1"))
    w.settle()
    assert w.virtual.get(SECRETS, "default", "tls") is None
    assert writes(engine, "virtual", "delete") == 1


def shared_world(worlds: list[World]) -> tuple[SyncConfig, World]:
    """A world syncing the shared kind alone, stopped by the `worlds` fixture."""
    config = SyncConfig(name="shared", rules=(shared_rule(),))
    worlds.append(World(config))
    return config, worlds[-1]


def forged_copy(config: SyncConfig, claimed: str, place: str, **spec: Any) -> dict[str, Any]:
    """A virtual object at `place` carrying our bookkeeping that claims host SharedThing `claimed` as its source."""
    forged = to_virtual(config, config.rules[0], shared_thing(claimed, shared=True, **spec), TENANT)
    forged["metadata"]["name"] = place
    return forged


def test_a_virtual_object_claiming_a_host_source_that_is_not_shared_gives_way_to_the_real_copy(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    config, w = shared_world(worlds)
    w.host.put(SHAREDS, shared_thing("private", shared=False, x=666))
    w.virtual.put(SHAREDS, forged_copy(config, "private", "issuer", x=666))
    w.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    w.start()
    copy = w.virtual.get(SHAREDS, None, "issuer")
    assert copy is not None and copy["spec"] == {"x": 1}
    assert events_on == []


def test_a_virtual_object_claiming_another_shared_host_object_keeps_its_place_and_the_copy_is_reported_name_taken(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    config, w = shared_world(worlds)
    w.host.put(SHAREDS, shared_thing("other", shared=True, x=2))
    w.virtual.put(SHAREDS, forged_copy(config, "other", "issuer", x=2))
    w.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    w.start()
    standing = w.virtual.get(SHAREDS, None, "issuer")
    assert standing is not None and standing["spec"] == {"x": 2}
    assert [(name, reason) for name, reason, message in events_on if message] == [("issuer", "NameTaken")]


def test_two_host_objects_of_one_name_shared_into_one_landing_namespace_the_first_keeps_the_place(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    rule = Rule(
        direction=Direction.FROM_HOST,
        gvk=WIDGET,
        host=HostSelection(namespaces=("a", "b"), virtual_namespace="landing"),
    )
    w = World(SyncConfig(name="landing", rules=(rule,)))
    worlds.append(w)
    w.host.put(WIDGETS, widget("x", "a", v=1))
    w.start()
    w.host.put(WIDGETS, widget("x", "b", v=2))
    w.settle()
    copy = w.virtual.get(WIDGETS, "landing", "x")
    assert copy is not None and copy["spec"] == {"v": 1}
    claimed = source_of(copy)
    assert claimed is not None and claimed.namespace == "a"
    assert ("x", "NameTaken") in {(name, reason) for name, reason, _ in events_on}


def tenants_issuer() -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "SharedThing",
        "metadata": {"name": "issuer", "labels": {"team": "mine"}},
        "spec": {"mine": True},
    }


@pytest.mark.parametrize("policy", [ConflictPolicy.ABORT, ConflictPolicy.ADOPT, ConflictPolicy.OVERWRITE])
def test_a_tenants_own_object_where_a_shared_objects_copy_goes_is_handled_by_the_conflict_policy(
    policy: ConflictPolicy, worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    """Abort leaves the tenant's object alone (TargetExists); Adopt takes over the fields the copy sets; Overwrite
    replaces the object with the copy."""
    w = World(SyncConfig(name="shared", rules=(shared_rule(conflict=policy, read_only=False),)))
    worlds.append(w)
    w.virtual.put(SHAREDS, tenants_issuer())
    w.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    engine = w.start()
    standing = w.virtual.get(SHAREDS, None, "issuer")
    assert standing is not None
    assert writes(engine, "virtual", "replace") == (1 if policy is ConflictPolicy.OVERWRITE else 0)
    # Adopt applies the copy's fields; Overwrite's replace already wrote the whole copy, so nothing follows it.
    assert writes(engine, "virtual", "apply") == (1 if policy is ConflictPolicy.ADOPT else 0)
    reported = [(name, reason) for name, reason, message in events_on if message]
    if policy is ConflictPolicy.ABORT:
        assert standing["spec"] == {"mine": True} and source_of(standing) is None
        assert reported == [("issuer", "TargetExists")]
        return
    assert reported == []
    claimed = source_of(standing)
    assert claimed is not None and claimed.name == "issuer"
    expected = {"mine": True, "x": 1} if policy is ConflictPolicy.ADOPT else {"x": 1}
    assert standing["spec"] == expected
    assert ("team" in standing["metadata"].get("labels", {})) is (policy is ConflictPolicy.ADOPT)


def test_an_import_never_overwrites_a_tenant_object_the_to_host_rule_selects_by_its_namespaces_labels(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    """A kind in both directions: the tenant's object in a namespace the toHost rule selects by label is exported,
    and an import for the same place never takes it over, whatever the conflict policy."""
    to_host = Rule(
        direction=Direction.TO_HOST, gvk=WIDGET, namespace_selector=LabelSelector(match_labels=(("sync", "yes"),))
    )
    from_host = Rule(
        direction=Direction.FROM_HOST,
        gvk=WIDGET,
        selector=LabelSelector(match_labels=(("flow", "in"),)),
        conflict=ConflictPolicy.OVERWRITE,
    )
    w = World(SyncConfig(name="both", rules=(to_host, from_host)))
    worlds.append(w)
    w.virtual.put(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"sync": "yes"}}}
    )
    w.virtual.put(WIDGETS, widget("x", "team", size=1))
    host_widget = widget("x", "team", replicas=9)
    host_widget["metadata"]["labels"] = {"flow": "in"}
    w.host.put(WIDGETS, host_widget)
    w.start()
    standing = w.virtual.get(WIDGETS, "team", "x")
    assert standing is not None and source_of(standing) is None and standing["spec"] == {"size": 1}
    assert ("x", "TargetExists") in {(name, reason) for name, reason, _ in events_on}


def test_a_host_object_this_tenant_left_behind_under_orphan_may_be_imported_back(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    """The tenant exported Secret tls under DeletionPolicy Orphan and deleted it: the host copy stays, marked
    orphaned and still provably this tenant's, so a reference importing tls brings its content back."""
    secret_export = Rule(
        direction=Direction.TO_HOST, gvk=SECRET, mode=SyncMode.REFERENCED, deletion=DeletionPolicy.ORPHAN
    )
    import_rule = Rule(direction=Direction.FROM_HOST, gvk=SECRET, mode=SyncMode.REFERENCED)
    w = World(SyncConfig(name="orphans", rules=(widget_rule(), secret_export, import_rule)))
    worlds.append(w)
    w.start()
    w.virtual.put(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tls", "namespace": "default"},
            "data": {"k": "djE="},
        },
    )
    w.virtual.put(WIDGETS, widget("w1", caSecret="tls"))
    w.settle()
    left = w.host_copy("default", "tls", SECRETS, secret_export)
    assert left is not None
    w.virtual.remove(SECRETS, "default", "tls")
    w.settle()
    left = w.host_copy("default", "tls", SECRETS, secret_export)
    assert left is not None and left["metadata"]["labels"].get(LABEL_ORPHANED) == "true"
    w.virtual.put(WIDGETS, widget("w1", secretName="tls"))
    w.settle()
    imported = w.virtual.get(SECRETS, "default", "tls")
    assert [(n, r) for n, r, _ in events_on] == []
    assert imported is not None and imported["data"] == {"k": "djE="}


def test_an_import_refuses_a_host_object_claiming_an_export_of_this_tenant_where_the_export_naming_would_not_put_it(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    """Exports and imports of Secrets are named differently here. At the import's host name stands an object with
    this tenant's export bookkeeping for the same virtual Secret: the toHost rule never puts a copy there, so the claim
    is not provable and the object is not handed over."""
    secret_export = Rule(
        direction=Direction.TO_HOST, gvk=SECRET, mode=SyncMode.REFERENCED, naming=Naming(hash_length=20)
    )
    import_rule = Rule(direction=Direction.FROM_HOST, gvk=SECRET, mode=SyncMode.REFERENCED)
    config = SyncConfig(name="namings", rules=(widget_rule(), secret_export, import_rule))
    w = World(config)
    worlds.append(w)
    virtual_tls = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "tls", "namespace": "default", "uid": "u1"},
        "data": {"k": "c2VjcmV0"},
    }
    claim = to_host(config, secret_export, virtual_tls, TENANT)
    claim["metadata"]["name"] = host_name(TENANT, "default", "tls", import_rule.naming)
    assert claim["metadata"]["name"] != host_name(TENANT, "default", "tls", secret_export.naming)
    w.host.put(SECRETS, claim)
    w.start()
    w.virtual.put(WIDGETS, widget("w1", secretName="tls"))
    w.settle()
    assert w.virtual.get(SECRETS, "default", "tls") is None
    assert ("w1", "ImportRefused") in {(name, reason) for name, reason, _ in events_on}


def test_a_reference_importing_an_object_shared_by_name_imports_only_what_the_host_shares(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    issuer = Reference(
        path="$.spec.issuer", kind="SharedThing", api_version="example.com/v1", follow=FollowDirection.FROM_HOST
    )
    w = World(SyncConfig(name="by-name", rules=(widget_rule(references=(issuer,)), shared_rule())))
    worlds.append(w)
    w.host.put(SHAREDS, shared_thing("public", shared=True, x=1))
    w.host.put(SHAREDS, shared_thing("private", shared=False, x=2))
    w.start()
    w.virtual.put(WIDGETS, widget("ok", issuer="public"))
    w.virtual.put(WIDGETS, widget("sneaky", issuer="private"))
    w.settle()
    public = w.virtual.get(SHAREDS, None, "public")
    assert public is not None and public["spec"] == {"x": 1}
    assert w.virtual.get(SHAREDS, None, "private") is None
    refused = {name for name, reason, message in events_on if reason == "ImportRefused" and message}
    assert refused == {"sneaky"}


def test_a_tenants_own_object_at_a_place_an_import_no_longer_wants_is_left_alone_without_errors(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    w = World(make_config())
    worlds.append(w)
    w.start()
    own = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "default"}, "data": {}}
    w.virtual.put(SECRETS, own)
    host_secret_issued_for(w)
    assert ("tls", "TargetExists") in {(name, reason) for name, reason, _ in events_on}
    events_on.clear()
    w.virtual.put(WIDGETS, widget("w1"))  # the reference goes: nothing to import there any more
    w.settle()
    standing = w.virtual.get(SECRETS, "default", "tls")
    assert standing is not None and standing["data"] == {} and source_of(standing) is None
    assert events_on == []


def test_under_orphan_an_import_no_longer_referenced_stays_as_the_tenants_own_without_our_bookkeeping(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    import_rule = Rule(
        direction=Direction.FROM_HOST, gvk=SECRET, mode=SyncMode.REFERENCED, deletion=DeletionPolicy.ORPHAN
    )
    w = World(SyncConfig(name="orphan-imports", rules=(widget_rule(), import_rule)))
    worlds.append(w)
    w.start()
    host_secret_issued_for(w)
    assert source_of(w.virtual.get(SECRETS, "default", "tls") or {}) is not None
    w.virtual.put(WIDGETS, widget("w1"))
    w.settle()
    left = w.virtual.get(SECRETS, "default", "tls")
    assert left is not None and left["data"] == {"tls.crt": "djE="}
    assert source_of(left) is None
    assert events_on == []


def test_an_import_whose_host_object_turns_out_to_be_another_owners_copy_is_withdrawn(
    worlds: list[World], events_on: list[tuple[str, str, str]]
) -> None:
    w = World(make_config())
    worlds.append(w)
    w.start()
    w.virtual.put(WIDGETS, widget("w1", secretName="tls"))
    w.settle()
    copy = w.host_copy("default", "w1")
    assert copy is not None
    name = copy["spec"]["secretName"]
    w.host.put(SECRETS, host_secret(name, "djE="))
    w.settle()
    assert w.virtual.get(SECRETS, "default", "tls") is not None
    theirs = host_secret(name, "c2VjcmV0")
    theirs["metadata"]["labels"] = {LABEL_MANAGED_BY: MANAGER, LABEL_VCLUSTER: "vc2", LABEL_ROLE: ROLE_COPY}
    theirs["metadata"]["annotations"] = {ANN_SOURCE_SIDE: "virtual", ANN_SOURCE_KIND: "/Secret", ANN_SOURCE_NAME: "key"}
    w.host.put(SECRETS, theirs)
    w.settle()
    assert w.virtual.get(SECRETS, "default", "tls") is None
    assert ("w1", "ImportRefused") in {(n, reason) for n, reason, _ in events_on}
