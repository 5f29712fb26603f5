"""Coming from vcluster's generic sync: the copies vcluster made are adopted under naming style vcluster, and the
collisions its naming allows are refused, never overwritten.

First the pure decision (tenancy.is_vcluster_copy_of), then the engine against the in-memory clusters: host copies as
vcluster's syncer leaves them (its names, its vcluster.loft.sh/object-* annotations and managed-by label, an owner
reference to the vcluster, written by its own field manager) are taken over with no delete and no create; a second
source that vcluster's naming gives the same host name gets NameTaken.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import ConflictPolicy, Naming, NamingStyle, Rule, SyncConfig
from crdsync.translate.bookkeeping import source_of
from crdsync.translate.names import Tenant, host_name, vcluster_cluster_marker
from crdsync.translate.tenancy import claims_vcluster_copy, is_vcluster_copy_of
from tests.engine.kinds import NAMESPACES, SHAREDS, WIDGET, WIDGETS
from tests.engine.test_engine import TENANT, World, widget, widget_rule
from tests.fakeapi import FakeCluster

VCLUSTER = Naming(style=NamingStyle.VCLUSTER)
VCLUSTER_MANAGER = "vcluster"  # the field manager vcluster's syncer writes as (its client's name)


def vcluster_copy(
    virtual_obj: dict[str, Any], *, tenant: Tenant = TENANT, kind: str = "example.com/v1, Kind=Widget", **extra: Any
) -> dict[str, Any]:
    """A host copy exactly as vcluster's generic export leaves it (translate.HostMetadata in v0.21-v0.27)."""
    meta = virtual_obj["metadata"]
    ns, name = meta.get("namespace"), meta["name"]
    host = host_name(tenant, ns, name, VCLUSTER)
    annotations = {
        "vcluster.loft.sh/object-name": name,
        "vcluster.loft.sh/object-uid": meta.get("uid", ""),
        "vcluster.loft.sh/object-kind": kind,
        "vcluster.loft.sh/object-host-name": host,
        "vcluster.loft.sh/controlled-by": "widget/example.com/GenericExport",
        "vcluster.loft.sh/managed-annotations": "",
    }
    labels = dict(meta.get("labels") or {})
    if ns is None:
        labels["vcluster.loft.sh/managed-by"] = vcluster_cluster_marker(tenant)
    else:
        annotations["vcluster.loft.sh/object-namespace"] = ns
        annotations["vcluster.loft.sh/object-host-namespace"] = tenant.host_namespace
        labels["vcluster.loft.sh/managed-by"] = tenant.vcluster
        labels["vcluster.loft.sh/namespace"] = ns
    copy: dict[str, Any] = {
        "apiVersion": virtual_obj["apiVersion"],
        "kind": virtual_obj["kind"],
        "metadata": {"name": host, "labels": labels, "annotations": annotations},
        "spec": dict(virtual_obj.get("spec") or {}),
    }
    if ns is not None:
        copy["metadata"]["namespace"] = tenant.host_namespace
        copy["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Service", "name": tenant.vcluster, "uid": "svc-uid", "controller": False}
        ]
    copy.update(extra)
    return copy


# --- the pure decision -----------------------------------------------------------------------------------------------


def _source() -> dict[str, Any]:
    obj = widget("w1", "apps", size=1)
    obj["metadata"]["uid"] = "u-1"
    return obj


def _is_copy(host_obj: dict[str, Any], naming: Naming = VCLUSTER, gvk: GroupVersionKind = WIDGET) -> bool:
    return is_vcluster_copy_of(
        host_obj, TENANT, gvk, namespaced=True, source_namespace="apps", source_name="w1", naming=naming
    )


def _edited(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    obj = vcluster_copy(_source())
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    if value is None:
        parent.pop(path[-1])
    else:
        parent[path[-1]] = value
    return obj


def test_vclusters_copy_of_this_source_is_recognised() -> None:
    assert _is_copy(vcluster_copy(_source()))
    assert claims_vcluster_copy(vcluster_copy(_source()))
    # Another served version of the same kind is the same objects.
    assert _is_copy(vcluster_copy(_source(), kind="example.com/v2, Kind=Widget"))
    # Copies made before vcluster 0.21 carry neither object-kind nor the object-host-* annotations.
    old = vcluster_copy(_source())
    for key in ("object-kind", "object-host-name", "object-host-namespace"):
        del old["metadata"]["annotations"][f"vcluster.loft.sh/{key}"]
    assert _is_copy(old)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("metadata", "labels", "vcluster.loft.sh/managed-by"), "other-vcluster"),
        (("metadata", "labels", "vcluster.loft.sh/managed-by"), None),
        (("metadata", "annotations", "vcluster.loft.sh/object-name"), "w2"),
        (("metadata", "annotations", "vcluster.loft.sh/object-name"), None),
        (("metadata", "annotations", "vcluster.loft.sh/object-namespace"), "other"),
        (("metadata", "annotations", "vcluster.loft.sh/object-namespace"), None),
        (("metadata", "annotations", "vcluster.loft.sh/object-kind"), "example.com/v1, Kind=Gadget"),
        (("metadata", "annotations", "vcluster.loft.sh/object-kind"), "garbage"),
        (("metadata", "annotations", "vcluster.loft.sh/object-host-name"), "elsewhere"),
        (("metadata", "annotations", "vcluster.loft.sh/object-host-namespace"), "elsewhere"),
        (("metadata", "namespace"), "another-host-namespace"),
        (("metadata", "name"), "w1-x-apps-x-vc1-but-not-quite"),
        (("metadata", "labels", "crdsync.io/managed-by"), "crdsync"),  # crdsync's bookkeeping: judged as crdsync's
        (("metadata", "labels", "crdsync.io/orphaned"), "true"),
        (("metadata", "annotations", "crdsync.io/source-name"), "w1"),
    ],
)
def test_anything_that_does_not_prove_it_is_not_vclusters_copy(path: tuple[str, ...], value: Any) -> None:
    assert not _is_copy(_edited(path, value))


def test_only_style_vcluster_believes_vclusters_bookkeeping() -> None:
    assert not _is_copy(vcluster_copy(_source()), naming=Naming())


def test_cluster_scoped_copies_carry_the_cluster_marker() -> None:
    shared = {"apiVersion": "example.com/v1", "kind": "SharedThing", "metadata": {"name": "corp", "uid": "u"}}
    copy = vcluster_copy(shared, kind="example.com/v1, Kind=SharedThing")
    assert copy["metadata"]["name"] == "vcluster-corp-x-tenant-a-x-vc1"
    gvk = GroupVersionKind("example.com", "v1", "SharedThing")
    assert is_vcluster_copy_of(
        copy, TENANT, gvk, namespaced=False, source_namespace=None, source_name="corp", naming=VCLUSTER
    )
    copy["metadata"]["labels"]["vcluster.loft.sh/managed-by"] = TENANT.vcluster  # the namespaced marker: wrong here
    assert not is_vcluster_copy_of(
        copy, TENANT, gvk, namespaced=False, source_namespace=None, source_name="corp", naming=VCLUSTER
    )


def test_malformed_metadata_is_not_a_copy() -> None:
    for broken in ({}, {"metadata": None}, {"metadata": {"labels": "x", "annotations": 5}}):
        assert not _is_copy(broken)
        assert not claims_vcluster_copy(broken)


# --- the engine ------------------------------------------------------------------------------------------------------


def vcluster_world(conflict: ConflictPolicy = ConflictPolicy.ABORT) -> World:
    rule = widget_rule(naming=VCLUSTER, references=(), conflict=conflict)
    world = World(SyncConfig(name="vcluster", rules=(rule,)))
    world.host = FakeCluster("host", [WIDGETS, SHAREDS, NAMESPACES])
    world.virtual = FakeCluster("virtual", [WIDGETS, SHAREDS, NAMESPACES])
    return world


@pytest.fixture
def world(events: list[tuple[str, str]]) -> Iterator[World]:
    w = vcluster_world()
    w.events = events
    yield w
    w.stop()


def host_copy(world: World, ns: str, name: str) -> dict[str, Any] | None:
    return world.host.get(WIDGETS, TENANT.host_namespace, host_name(TENANT, ns, name, VCLUSTER))


def test_vcluster_made_copies_are_adopted_without_delete_or_create(world: World) -> None:
    names = [("apps", "w1"), ("apps", "a" * 60), ("db", "c" * 51 + ".d")]  # short, truncated, the 62-character case
    for ns, name in names:
        virtual_obj = world.virtual.put(WIDGETS, widget(name, ns, size=len(name)))
        world.host.put(WIDGETS, vcluster_copy(virtual_obj, status={"ready": True}), manager=VCLUSTER_MANAGER)
    world.host.writes.clear()

    world.start()

    verbs = {verb for verb, *_ in world.host.our_writes()}
    assert verbs <= {"patch", "apply"}, world.host.our_writes()  # ownership conversion, then our apply
    for ns, name in names:
        copy = host_copy(world, ns, name)
        assert copy is not None
        source = source_of(copy)
        assert source is not None and (source.namespace, source.name) == (ns, name)
        assert source.uid == world.virtual.get(WIDGETS, ns, name)["metadata"]["uid"]  # type: ignore[index]
        assert copy["spec"] == {"size": len(name)}
        # vcluster's keys were vcluster's syncer's; its record became ours, so our apply shed them.
        assert not any(k.startswith("vcluster.loft.sh/") for k in copy["metadata"].get("annotations", {}))
        assert not any(k.startswith("vcluster.loft.sh/") for k in copy["metadata"].get("labels", {}))
        entries = copy["metadata"]["managedFields"]
        managers = {(e["manager"], e["operation"]) for e in entries if not e.get("subresource")}
        assert (VCLUSTER_MANAGER, "Update") not in managers and ("crdsync", "Apply") in managers
        # Status keeps flowing back.
        assert world.virtual.get(WIDGETS, ns, name)["status"] == {"ready": True}  # type: ignore[index]
    assert not world.events

    # Converged: a restart writes nothing, and status written later still flows.
    world.stop()
    before = len(world.host.our_writes())
    world.start()
    assert len(world.host.our_writes()) == before
    copy = host_copy(world, "apps", "w1")
    assert copy is not None
    copy["status"] = {"ready": False}
    world.host.put(WIDGETS, copy, manager="operator")
    world.settle()
    assert world.virtual.get(WIDGETS, "apps", "w1")["status"] == {"ready": False}  # type: ignore[index]


def test_vclusters_copy_of_an_earlier_object_is_replaced(world: World) -> None:
    source = world.virtual.put(WIDGETS, widget("w1", "apps", size=1))
    stale = vcluster_copy(source)
    stale["metadata"]["annotations"]["vcluster.loft.sh/object-uid"] = "uid-of-a-deleted-object"
    world.host.put(WIDGETS, stale, manager=VCLUSTER_MANAGER)
    world.start()
    world.settle()
    copy = host_copy(world, "apps", "w1")
    assert copy is not None and source_of(copy) is not None
    assert source_of(copy).uid == source["metadata"]["uid"]  # type: ignore[union-attr]
    assert [w[0] for w in world.host.our_writes()].count("delete") == 1


@pytest.mark.parametrize("conflict", list(ConflictPolicy))
def test_a_second_source_with_the_same_vcluster_name_gets_name_taken(
    conflict: ConflictPolicy, events: list[tuple[str, str]]
) -> None:
    world = vcluster_world(conflict)
    world.events = events
    try:
        world.start()
        world.virtual.put(WIDGETS, widget("a-x-b", "c", owner="first"))
        world.settle()
        name = host_name(TENANT, "c", "a-x-b", VCLUSTER)
        assert name == host_name(TENANT, "b-x-c", "a", VCLUSTER) == "a-x-b-x-c-x-vc1"
        first = world.host.get(WIDGETS, TENANT.host_namespace, name)
        assert first is not None and first["spec"] == {"owner": "first"}
        writes = len(world.host.our_writes())

        world.virtual.put(WIDGETS, widget("a", "b-x-c", owner="second"))
        world.settle()

        assert world.host.get(WIDGETS, TENANT.host_namespace, name) == first  # untouched, not overwritten
        assert len(world.host.our_writes()) == writes
        assert ("NameTaken", f"host object {name} is the copy of c/a-x-b") in events
    finally:
        world.stop()


@pytest.mark.parametrize("conflict", list(ConflictPolicy))
def test_vclusters_copy_of_another_source_is_never_taken(
    conflict: ConflictPolicy, events: list[tuple[str, str]]
) -> None:
    world = vcluster_world(conflict)
    world.events = events
    try:
        # vcluster's copy of c/a-x-b; only a/b-x-c exists now (vcluster's own source is gone).
        ghost = widget("a-x-b", "c", owner="first")
        ghost["metadata"]["uid"] = "ghost-uid"
        world.host.put(WIDGETS, vcluster_copy(ghost), manager=VCLUSTER_MANAGER)
        world.virtual.put(WIDGETS, widget("a", "b-x-c", owner="second"))
        before = world.host.get(WIDGETS, TENANT.host_namespace, "a-x-b-x-c-x-vc1")
        world.host.writes.clear()
        world.start()
        assert world.host.our_writes() == []
        assert world.host.get(WIDGETS, TENANT.host_namespace, "a-x-b-x-c-x-vc1") == before
        assert any(reason == "NameTaken" for reason, _ in events)
    finally:
        world.stop()


def test_another_vclusters_copy_is_never_adopted(world: World) -> None:
    source = world.virtual.put(WIDGETS, widget("w1", "apps", size=1))
    foreign = vcluster_copy(source)
    foreign["metadata"]["labels"]["vcluster.loft.sh/managed-by"] = "someone-else"
    world.host.put(WIDGETS, foreign, manager=VCLUSTER_MANAGER)
    world.host.writes.clear()
    world.start()
    assert world.host.our_writes() == []
    assert [reason for reason, _ in world.events] == ["NameTaken"]


def test_style_hashed_leaves_vclusters_copies_alone(events: list[tuple[str, str]]) -> None:
    # Without style vcluster, crdsync's names differ and vcluster's copy is not looked at: a fresh copy is created.
    rule: Rule = widget_rule(references=())
    world = World(SyncConfig(name="hashed", rules=(rule,)))
    world.host = FakeCluster("host", [WIDGETS, SHAREDS, NAMESPACES])
    world.virtual = FakeCluster("virtual", [WIDGETS, SHAREDS, NAMESPACES])
    try:
        source = world.virtual.put(WIDGETS, widget("w1", "apps", size=1))
        old = world.host.put(WIDGETS, vcluster_copy(source), manager=VCLUSTER_MANAGER)
        world.start()
        assert world.host.get(WIDGETS, TENANT.host_namespace, old["metadata"]["name"]) == old
        assert world.host.get(WIDGETS, TENANT.host_namespace, host_name(TENANT, "apps", "w1", Naming())) is not None
    finally:
        world.stop()


@pytest.mark.parametrize(("conflict", "taken_over"), [(ConflictPolicy.ADOPT, True), (ConflictPolicy.ABORT, False)])
def test_under_style_vcluster_an_unmanaged_object_in_the_way_follows_the_conflict_policy(
    events: list[tuple[str, str]], conflict: ConflictPolicy, taken_over: bool
) -> None:
    """Only vcluster's bookkeeping makes an object "vcluster's copy of something else" (NameTaken); a plain object
    somebody made at that name is an unmanaged object like any other, and the rule's conflict policy decides."""
    world = vcluster_world(conflict)
    try:
        world.virtual.put(WIDGETS, widget("w1", "apps", size=1))
        place = {"name": host_name(TENANT, "apps", "w1", VCLUSTER), "namespace": TENANT.host_namespace}
        world.host.put(WIDGETS, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": place, "spec": {}})
        world.start()
        copy = host_copy(world, "apps", "w1")
        assert copy is not None
        assert (copy["spec"] == {"size": 1}) is taken_over
        assert [reason for reason, _ in events] == ([] if taken_over else ["TargetExists"])
    finally:
        world.stop()
