"""The in-memory apiserver's subtle rules, each pinned: a fake that drifts from the apiserver here would let engine
tests pass that the real one fails (or the reverse)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.kube.errors import AlreadyExists, Conflict, Invalid, NotFound
from tests.fakeapi import FakeCluster, applied, resource
from tests.fakeapi.fields import from_fields_v1

WIDGETS = resource("example.com", "v1", "Widget", "widgets")
CONFIGMAPS = resource("", "v1", "ConfigMap", "configmaps", status=False)


def widget(name: str = "w", **spec: Any) -> dict[str, Any]:
    metadata = {"name": name, "namespace": "ns"}
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": metadata, "spec": spec}


def owners(obj: dict[str, Any]) -> dict[tuple[str, str, str | None], set[tuple[str, ...]]]:
    return {
        (e["manager"], e["operation"], e.get("subresource")): from_fields_v1(e["fieldsV1"])
        for e in obj["metadata"]["managedFields"]
    }


def stored(cluster: FakeCluster, name: str = "w") -> dict[str, Any]:
    obj = cluster.get(WIDGETS, "ns", name)
    assert obj is not None
    return obj


# -- server-side apply ----------------------------------------------------------------------------------------------


def test_apply_removes_what_the_same_manager_stopped_applying_unless_someone_else_owns_it() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    cluster.apply(WIDGETS, widget(a=1, b=2, c=3))
    tenant = stored(cluster)
    tenant["spec"]["c"] = 30  # another manager changes c: it is theirs now
    cluster.put(WIDGETS, tenant, manager="tenant")
    cluster.apply(WIDGETS, widget(a=1))
    assert stored(cluster)["spec"] == {"a": 1, "c": 30}
    assert owners(stored(cluster))[("crdsync", "Apply", None)] >= {("f:spec", "f:a")}
    assert ("f:spec", "f:c") in owners(stored(cluster))[("tenant", "Update", None)]


def test_owning_the_map_above_a_field_does_not_keep_it() -> None:
    """A POST records its maps as owned nodes ("."): that keeps nobody's field from being pruned."""
    cluster = FakeCluster("c", [WIDGETS])
    cluster.put(WIDGETS, widget(a=1), manager="tenant")
    assert ("f:spec",) in owners(stored(cluster))[("tenant", "Update", None)]
    cluster.apply(WIDGETS, widget(a=1, extra=True))
    cluster.apply(WIDGETS, widget(a=1))
    assert stored(cluster)["spec"] == {"a": 1}


def test_apply_conflicts_with_another_owner_of_a_changed_value_unless_forced() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    cluster.put(WIDGETS, widget(size=1), manager="tenant")
    cluster.apply(WIDGETS, widget(size=1), force=False)  # same value: shared, no conflict
    assert ("f:spec", "f:size") in owners(stored(cluster))[("tenant", "Update", None)]
    with pytest.raises(Conflict, match='conflict with "tenant"'):
        cluster.apply(WIDGETS, widget(size=2), force=False)
    assert stored(cluster)["spec"] == {"size": 1}
    cluster.apply(WIDGETS, widget(size=2), force=True)
    assert stored(cluster)["spec"] == {"size": 2}
    fields = owners(stored(cluster))
    assert ("f:spec", "f:size") not in fields[("tenant", "Update", None)]  # taken over: only the map node stays
    assert ("f:spec", "f:size") in fields[("crdsync", "Apply", None)]


def test_an_update_takes_the_fields_it_changes_from_the_applier() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    cluster.apply(WIDGETS, widget(size=1, color="red"))
    obj = stored(cluster)
    obj["spec"]["size"] = 5
    cluster.put(WIDGETS, obj, manager="editor")
    fields = owners(stored(cluster))
    assert ("f:spec", "f:size") in fields[("editor", "Update", None)]
    assert ("f:spec", "f:size") not in fields[("crdsync", "Apply", None)]
    assert ("f:spec", "f:color") not in fields[("editor", "Update", None)]  # unchanged: not taken


def test_a_write_carrying_managed_fields_replaces_them() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    cluster.create(WIDGETS, widget(size=1))
    obj = stored(cluster)
    (entry,) = obj["metadata"]["managedFields"]
    converted = [{**entry, "operation": "Apply"}]
    cluster.patch(WIDGETS, "ns", "w", [{"op": "replace", "path": "/metadata/managedFields", "value": converted}],
                  patch_type="json")
    assert set(owners(stored(cluster))) == {("crdsync", "Apply", None)}
    cluster.apply(WIDGETS, widget())  # now an applier's field: applying without it removes it
    assert stored(cluster)["spec"] in (None, {})


# -- patches and preconditions --------------------------------------------------------------------------------------


def test_a_json_patch_test_op_guards_the_whole_patch() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    version = cluster.create(WIDGETS, widget(size=1))["metadata"]["resourceVersion"]
    guarded = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "not-" + version},
        {"op": "remove", "path": "/spec/size"},
    ]
    with pytest.raises(Invalid, match="testing value /metadata/resourceVersion failed"):
        cluster.patch(WIDGETS, "ns", "w", guarded, patch_type="json")
    assert stored(cluster)["spec"] == {"size": 1} and stored(cluster)["metadata"]["resourceVersion"] == version
    guarded[0]["value"] = version
    cluster.patch(WIDGETS, "ns", "w", guarded, patch_type="json")
    assert "size" not in stored(cluster)["spec"]
    with pytest.raises(Invalid):
        cluster.patch(WIDGETS, "ns", "w", [{"op": "remove", "path": "/spec/size"}], patch_type="json")


def test_preconditions_and_missing_objects() -> None:
    cluster = FakeCluster("c", [WIDGETS, CONFIGMAPS])
    first = cluster.create(WIDGETS, widget(size=1))
    with pytest.raises(AlreadyExists):
        cluster.create(WIDGETS, widget(size=2))
    cluster.put(WIDGETS, widget(size=3), manager="tenant")
    with pytest.raises(Conflict):
        cluster.replace(WIDGETS, first)  # stale resourceVersion
    with pytest.raises(Conflict):
        cluster.patch(WIDGETS, "ns", "w", {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}})
    with pytest.raises(Invalid, match="must be specified"):  # custom resources need a resourceVersion on PUT
        cluster.replace(WIDGETS, widget(size=4))
    cluster.create(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "ns"}, "data": {"a": "1"}})
    cluster.replace(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "ns"}, "data": {"a": "2"}})  # built-in: may
    with pytest.raises(NotFound):
        cluster.patch(WIDGETS, "ns", "missing", {"spec": {}})
    with pytest.raises(Conflict):
        cluster.delete(WIDGETS, "ns", "w", uid=first["metadata"]["uid"] + "-old")
    assert cluster.delete(WIDGETS, "ns", "w", uid=first["metadata"]["uid"]) is True
    assert cluster.delete(WIDGETS, "ns", "w") is False


def test_resource_versions_are_per_cluster_and_unordered_unless_asked() -> None:
    a, b = FakeCluster("a", [WIDGETS]), FakeCluster("b", [WIDGETS])
    assert a.create(WIDGETS, widget())["metadata"]["resourceVersion"] == b.create(WIDGETS, widget())[
        "metadata"]["resourceVersion"]
    opaque = FakeCluster("o", [WIDGETS])
    versions = [opaque.create(WIDGETS, widget(f"w{i}"))["metadata"]["resourceVersion"] for i in range(20)]
    assert len(set(versions)) == 20 and all(v.isdigit() for v in versions)
    assert [int(v) for v in versions] != sorted(int(v) for v in versions)
    counting = FakeCluster("n", [WIDGETS], opaque_versions=False)
    versions = [counting.create(WIDGETS, widget(f"w{i}"))["metadata"]["resourceVersion"] for i in range(3)]
    assert versions == ["1", "2", "3"]


# -- generation, status, finalizers, immutability ---------------------------------------------------------------------


def test_generation_counts_spec_changes_only() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    cluster.apply(WIDGETS, widget(size=1))
    assert stored(cluster)["metadata"]["generation"] == 1
    labelled = widget(size=1)
    labelled["metadata"]["labels"] = {"a": "b"}
    cluster.apply(WIDGETS, labelled)
    cluster.apply(WIDGETS, {**widget(), "status": {"ready": True}}, subresource="status")
    assert stored(cluster)["metadata"]["generation"] == 1 and stored(cluster)["status"] == {"ready": True}
    cluster.apply(WIDGETS, widget(size=2))
    assert stored(cluster)["metadata"]["generation"] == 2


def test_the_status_subresource_separates_main_and_status_writes() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    cluster.apply(WIDGETS, {**widget(size=1), "status": {"ignored": True}})
    assert "status" not in stored(cluster)
    cluster.apply(WIDGETS, {**widget(size=9), "status": {"ready": True}}, subresource="status")
    assert stored(cluster)["spec"] == {"size": 1} and stored(cluster)["status"] == {"ready": True}
    assert ("crdsync", "Apply", "status") in owners(stored(cluster))


def test_finalizers_hold_a_deletion_and_the_last_one_removed_completes_it() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    held = widget(size=1)
    held["metadata"]["finalizers"] = ["example.com/keep"]
    cluster.create(WIDGETS, held)
    assert cluster.delete(WIDGETS, "ns", "w")
    terminating = stored(cluster)
    assert terminating["metadata"]["deletionTimestamp"] and terminating["metadata"]["generation"] == 2
    with pytest.raises(Invalid, match="no new finalizers"):
        cluster.patch(WIDGETS, "ns", "w", {"metadata": {"finalizers": ["example.com/keep", "more"]}})
    cluster.patch(WIDGETS, "ns", "w", {"metadata": {"finalizers": None}})
    assert cluster.get(WIDGETS, "ns", "w") is None


def test_immutable_fields_refuse_updates_not_creates() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    cluster.immutable[("example.com", "Widget")] = [("spec", "size")]
    cluster.apply(WIDGETS, widget(size=1))
    with pytest.raises(Invalid, match="field is immutable"):
        cluster.apply(WIDGETS, widget(size=2))
    cluster.apply(WIDGETS, widget(size=1, other=True))
    assert stored(cluster)["spec"] == {"size": 1, "other": True}


# -- discovery, views, depth ----------------------------------------------------------------------------------------


def test_an_unserved_kind_is_not_found_and_get_answers_none() -> None:
    cluster = FakeCluster("c", [CONFIGMAPS])
    assert cluster.resource_for(GroupVersionKind("example.com", "v1", "Widget")) is None
    assert cluster.get(WIDGETS, "ns", "w") is None
    with pytest.raises(NotFound):
        cluster.apply(WIDGETS, widget())


def test_a_gated_view_shares_the_objects_and_asks_before_every_write() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    asked: list[tuple[str, str]] = []
    view = cluster.with_write_gate(lambda method, path: asked.append((method, path)))
    view.apply(WIDGETS, widget(size=1))
    assert stored(cluster)["spec"] == {"size": 1}
    assert asked == [("PATCH", "/apis/example.com/v1/namespaces/ns/widgets/w")]

    def refuse(method: str, path: str) -> None:
        raise Conflict(0, "Fenced", "term over", None)

    with pytest.raises(Conflict):
        cluster.with_write_gate(refuse).apply(WIDGETS, widget(size=2))
    assert stored(cluster)["spec"] == {"size": 1}


def test_poison_objects_are_stored_applied_and_compared_without_recursion() -> None:
    depth = sys.getrecursionlimit() * 3
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(depth):
        node["x"] = {}
        node = node["x"]
    cluster = FakeCluster("c", [WIDGETS])
    cluster.put(WIDGETS, widget(deep=deep), manager="tenant")
    cluster.apply(WIDGETS, widget(size=1))
    obj = stored(cluster)
    assert obj["spec"]["size"] == 1 and "deep" in obj["spec"]


def test_applied_is_what_a_server_hands_back() -> None:
    obj = applied(widget(size=1), "crdsync", status={"ready": True})
    assert obj["spec"] == {"size": 1, "defaultedByServer": "yes"}  # a default, owned by nobody
    assert obj["status"] == {"ready": True}
    fields = owners(obj)
    assert fields[("crdsync", "Apply", None)] == {("f:spec", "f:size")}
    assert fields[("operator", "Update", "status")] == {("f:status",), ("f:status", "f:ready")}
