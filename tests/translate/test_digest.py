"""The restart fast path's field counts: what a write of a copy owns, and what managedFields say we own now."""

from __future__ import annotations

from typing import Any

from crdsync.translate.digest import applied_field_count, owned_field_count

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


def test_a_field_someone_removed_always_lowers_the_count() -> None:
    """Regression: counting leaves, a map that kept being ours after its only owned field was removed counted as the
    leaf it replaced, so the copy passed as in sync."""
    lost_only_field = {"f:metadata": {"f:labels": {".": {}}}, "f:spec": CREATED["f:spec"]}  # labels: {app} → {}
    assert owned_field_count(stored(("crdsync", lost_only_field)), "crdsync") < applied_field_count(COPY)
    lost_empty_map = {**CREATED, "f:spec": {".": {}, "f:size": {}, "f:items": {}}}
    assert owned_field_count(stored(("crdsync", lost_empty_map)), "crdsync") < applied_field_count(COPY)


def test_anyone_else_s_entry_or_an_unreadable_one_is_no_count() -> None:
    assert owned_field_count(stored(("crdsync", CREATED), ("kubectl", {"f:spec": {"f:size": {}}})), "crdsync") == -1
    assert owned_field_count(stored(("crdsync", "not fields")), "crdsync") == -1  # type: ignore[arg-type]
    assert owned_field_count({"metadata": {"managedFields": ["nonsense"]}}, "crdsync") == -1
