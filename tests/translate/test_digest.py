"""The restart fast path's field counts: what a write of a copy owns, and what managedFields say we own now."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import Direction, Location, Patch, PatchOp, Rule, StatusSync, SyncConfig
from crdsync.translate.bookkeeping import recorded_digest
from crdsync.translate.digest import applied_field_count, owned_field_count, source_digest, with_source_digest
from crdsync.translate.names import Tenant
from crdsync.translate.objects import to_host

WIDGET = GroupVersionKind("example.com", "v1", "Widget")

COPY: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "ns", "labels": {"app": "w"}},
    "spec": {"size": 1, "empty": {}, "items": [1, 2]},
}
# As the apiserver records a create (an Update owns the maps too: ".") and an apply (leaves only) of COPY.
CREATED = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {".": {}, "f:size": {}, "f:empty": {}, "f:items": {}},
}
APPLIED = {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:size": {}, "f:empty": {}, "f:items": {}}}


def stored(*entries: tuple[str, dict[str, Any]], subresource: str | None = None) -> dict[str, Any]:
    managed = [{"manager": m, "operation": "Update", "fieldsV1": f} for m, f in entries]
    if subresource:
        managed.append({"manager": "operator", "operation": "Update", "subresource": subresource, "fieldsV1": {}})
    return {"metadata": {"managedFields": managed}}


def test_a_copy_as_written_counts_what_its_entry_owns_however_the_entry_was_made() -> None:
    assert applied_field_count(COPY) == 7  # metadata, labels, app, spec, size, empty, items
    assert owned_field_count(stored(("crdsync", CREATED)), "crdsync") == 7
    assert owned_field_count(stored(("crdsync", APPLIED)), "crdsync") == 7
    assert owned_field_count(stored(("crdsync", APPLIED), subresource="status"), "crdsync") == 7


def test_our_create_record_beside_our_apply_record_counts_each_path_once() -> None:
    """A change that dropped nothing leaves the create's Update record beside the apply's (engine/writes.py): between
    them they name what the last write set, however the fields are split, and a removed field still lowers it."""
    assert owned_field_count(stored(("crdsync", CREATED), ("crdsync", APPLIED)), "crdsync") == 7
    size_moved: dict[str, Any] = {
        "f:spec": {"f:size": {}}
    }  # the apply changed size: the Update record lost it to the Apply record
    kept = {"f:metadata": CREATED["f:metadata"], "f:spec": {".": {}, "f:empty": {}, "f:items": {}}}
    assert owned_field_count(stored(("crdsync", kept), ("crdsync", size_moved)), "crdsync") == 7
    lost = {"f:metadata": {"f:labels": {".": {}}}, "f:spec": kept["f:spec"]}
    assert owned_field_count(stored(("crdsync", lost), ("crdsync", size_moved)), "crdsync") < 7
    assert owned_field_count(stored(("crdsync", kept), ("crdsync", "bad")), "crdsync") == -1  # type: ignore[arg-type]


def test_a_field_someone_removed_always_lowers_the_count() -> None:
    """Regression: counting leaves, a map that kept being ours after its only owned field was removed counted as the
    leaf it replaced, so the copy passed as in sync."""
    lost_only_field = {"f:metadata": {"f:labels": {".": {}}}, "f:spec": CREATED["f:spec"]}  # labels: {app} → {}
    assert owned_field_count(stored(("crdsync", lost_only_field)), "crdsync") < applied_field_count(COPY)
    lost_empty_map = {**CREATED, "f:spec": {".": {}, "f:size": {}, "f:items": {}}}
    assert owned_field_count(stored(("crdsync", lost_empty_map)), "crdsync") < applied_field_count(COPY)


def test_status_entries_anywhere_in_the_list_are_not_counted() -> None:
    status_first = stored(("crdsync", CREATED))
    status_first["metadata"]["managedFields"].insert(
        0, {"manager": "operator", "subresource": "status", "fieldsV1": {}}
    )
    assert owned_field_count(status_first, "crdsync") == 7


def test_an_object_without_managed_fields_counts_nothing() -> None:
    objects: list[dict[str, Any]] = [
        {},
        {"metadata": "nonsense"},
        {"metadata": {}},
        {"metadata": {"managedFields": None}},
    ]
    for obj in objects:
        assert owned_field_count(obj, "crdsync") == 0


def test_anyone_else_s_entry_or_an_unreadable_one_is_no_count() -> None:
    assert owned_field_count(stored(("crdsync", CREATED), ("kubectl", {"f:spec": {"f:size": {}}})), "crdsync") == -1
    assert owned_field_count(stored(("crdsync", "not fields")), "crdsync") == -1  # type: ignore[arg-type]
    assert owned_field_count({"metadata": {"managedFields": ["nonsense"]}}, "crdsync") == -1


# --- source_digest: equal exactly when to_host's inputs are ---------------------------------------------------------

RULE = Rule(
    Direction.TO_HOST,
    WIDGET,
    status=StatusSync(observed_generation_paths=("$.status.observedGeneration",)),
    reverse_paths=("$.spec.assigned.port",),
    location=Location("widgets.yaml", 3, 5),
)
CONFIG = SyncConfig("widgets", (RULE,))
TENANT = Tenant("vc1", "vc-vc1")


def source(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": "w",
            "namespace": "apps",
            "uid": "u-1",
            "generation": 2,
            "resourceVersion": "17",
            "labels": {"app": "w"},
            "annotations": {"note": "n"},
        },
        "spec": {"size": 1},
    }
    for key, value in changes.items():
        if key in ("spec", "data", "status"):
            obj[key] = value
        else:
            obj["metadata"][key] = value
    return obj


def digest(obj: dict[str, Any], config: SyncConfig = CONFIG, tenant: Tenant = TENANT, subresource: bool = True) -> Any:
    return source_digest(config, config.rules[0], obj, tenant, status_subresource=subresource)


@pytest.mark.parametrize(
    "change",
    [
        {"spec": {"size": 2}},
        {"data": {"x": "y"}},
        {"name": "w2"},
        {"namespace": "other"},
        {"labels": {"app": "v"}},
        {"annotations": {"note": "m"}},
        {"uid": "u-2"},
        {"generation": 3},  # recorded on the copy for observedGeneration
    ],
)
def test_a_change_to_anything_to_host_reads_changes_the_digest(change: dict[str, Any]) -> None:
    assert digest(source()) == digest(source())
    assert digest(source(**change)) != digest(source())


@pytest.mark.parametrize(
    "change",
    [
        {"status": {"observedGeneration": 2}},
        {"resourceVersion": "18"},
        {"managedFields": [{"manager": "kubectl"}]},
        {"spec": {"size": 1, "assigned": {"port": 30080}}},  # a reverse path: the host's, never sent
    ],
)
def test_what_to_host_ignores_leaves_the_digest_as_it_is(change: dict[str, Any]) -> None:
    assert digest(source(**change)) == digest(source())


def test_the_generation_counts_only_where_it_is_recorded() -> None:
    assert digest(source(generation=3), subresource=False) == digest(source(), subresource=False)
    unmapped = dataclasses.replace(RULE, status=StatusSync(observed_generation_paths=()))
    config = SyncConfig("widgets", (unmapped,))
    assert digest(source(generation=3), config) == digest(source(), config)


def test_rules_tenant_and_status_subresource_are_inputs_but_where_rules_were_written_is_not() -> None:
    moved = SyncConfig("widgets", (dataclasses.replace(RULE, location=Location("widgets.yaml", 40, 1)),))
    assert digest(source(), moved) == digest(source())
    patched = dataclasses.replace(RULE, patches_to_host=(Patch(PatchOp.REMOVE, "$.spec.size"),))
    assert digest(source(), SyncConfig("widgets", (patched,))) != digest(source())
    assert digest(source(), tenant=Tenant("vc2", "vc-vc1")) != digest(source())
    assert digest(source(), tenant=Tenant("vc1", "vc-other")) != digest(source())
    assert digest(source(), subresource=False) != digest(source())


def test_many_tenants_each_get_their_own_digest() -> None:
    """The fingerprint cache holds a bounded number of tenants; whatever it evicted, every answer is the same."""
    tenants = [Tenant(f"vc{i}", f"ns{i}") for i in range(150)]
    first = [digest(source(), tenant=t) for t in tenants]
    assert len(set(first)) == len(tenants)
    assert [digest(source(), tenant=t) for t in reversed(tenants)] == first[::-1]


@pytest.mark.parametrize(
    "spec",
    [
        {"weird": {1, 2}},  # not JSON at all
        {"text": "\ud800"},  # JSON can hold it, UTF-8 cannot
    ],
)
def test_a_source_that_cannot_be_digested_has_no_digest_and_never_raises(spec: Any) -> None:
    assert digest(source(spec=spec)) is None


def test_a_deeply_nested_source_has_no_digest() -> None:
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"n": deep}
    assert digest(source(spec=deep)) is None


def test_what_only_the_slower_encoder_can_write_is_still_digested() -> None:
    """Integers beyond 64 bits and nesting past 254 levels, which orjson refuses: digested by json.dumps, still
    telling values apart."""

    def nested(depth: int, leaf: int) -> dict[str, Any]:
        value: dict[str, Any] = {"leaf": leaf}
        for _ in range(depth):
            value = {"n": value}
        return value

    for first, second in ((2**70, 2**70 + 1), (nested(300, 1), nested(300, 2))):
        digests = digest(source(spec={"v": first})), digest(source(spec={"v": second}))
        assert None not in digests and digests[0] != digests[1]
        assert digest(source(spec={"v": first})) == digests[0]


def test_non_ascii_text_is_digested_as_written() -> None:
    assert digest(source(spec={"text": "é"})) not in (None, digest(source(spec={"text": "e"})))


def test_the_stamped_copy_records_the_digest_and_the_fields_its_apply_owns() -> None:
    copy = to_host(CONFIG, RULE, source(), TENANT)
    value = digest(source())
    stamped = with_source_digest(copy, value)
    assert stamped is copy
    assert recorded_digest(stamped) == (value, applied_field_count(stamped))
    assert stamped["metadata"]["labels"]["app"] == "w"  # the rest of the copy is kept
    assert stamped["metadata"]["annotations"]["note"] == "n"
    bare: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    assert recorded_digest(with_source_digest(bare, "ab")) == ("ab", 3)  # metadata, its annotations, the one key


def test_the_digest_does_not_depend_on_the_order_keys_were_listed_in() -> None:
    """A source re-read from the apiserver may list its keys in another order: same source, same digest."""
    forward = source(spec={"a": 1, "b": {"c": 2, "d": 3}}, labels={"x": "1", "y": "2"})
    backward = source(spec={"b": {"d": 3, "c": 2}, "a": 1}, labels={"y": "2", "x": "1"})
    assert digest(forward) == digest(backward)


def test_a_keyed_list_is_no_count_so_removed_fields_cannot_make_up_for_its_items() -> None:
    """Regression: a keyed list (x-kubernetes-list-type map or set) records each item (k:, v:) and its fields, which
    applied_field_count, reading a list as one field, never counts. So such a copy as written counted more than it
    records, and exactly as many fields removed by someone else (a JSON patch leaves no entry) brought the count back
    to the recorded one: the fast path took a copy missing them as in sync (entry as a real kube-apiserver wrote it)."""
    keyed = {**COPY, "spec": {"size": 1, "empty": {}, "ports": [{"name": "a", "port": 1}]}}
    ports: dict[str, Any] = {'k:{"name":"a"}': {".": {}, "f:name": {}, "f:port": {}}}
    applied = {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:size": {}, "f:empty": {}, "f:ports": ports}}
    # someone removed labels.app, spec.size and spec.empty: three paths, as many as the item's k: and fields
    removed = {"f:metadata": {"f:labels": {}}, "f:spec": {"f:ports": ports}}
    assert owned_field_count(stored(("crdsync", removed)), "crdsync") != applied_field_count(keyed)
    assert owned_field_count(stored(("crdsync", applied)), "crdsync") == -1
    set_list: dict[str, Any] = {"f:spec": {"f:tags": {'v:"a"': {}}}}
    assert owned_field_count(stored(("crdsync", CREATED), ("crdsync", set_list)), "crdsync") == -1
