"""Bookkeeping: the labels and annotations crdsync writes on every copy, and how to read them back.

A copy records where it came from (side, kind, namespace, name, uid of its source) and who manages it, so the way back
is looked up, never parsed out of a name. Everything under PREFIX on a copy is ours: incoming keys under PREFIX are
stripped before ours are added, so a tenant cannot forge bookkeeping (e.g. label a Certificate as someone else's copy).
User-facing selection labels under PREFIX on *host* objects (like `crdsync.io/shared`) are only read for selection;
they are stripped from what is copied like every other PREFIX key.

Pure functions over plain dicts; nothing raises: malformed metadata (non-map labels, non-string values) simply reads as
"not ours".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crdsync.gvk import GroupVersionKind

PREFIX = "crdsync.io/"

LABEL_MANAGED_BY = PREFIX + "managed-by"
MANAGER = "crdsync"
LABEL_VCLUSTER = PREFIX + "vcluster"
LABEL_ROLE = PREFIX + "role"
ROLE_COPY = "copy"  # synced by its own rule
ROLE_FOLLOWER = "follower"  # synced because a reference of another object names it
# On a host copy released under DeletionPolicy Orphan: managed-by and role are removed (nothing manages it any more),
# vcluster and the source annotations stay, and this label says so, so an admin can list and remove what a tenant left
# behind (`crdsync gc`) and the same source can take its copy back when it is selected again (translate.tenancy).
LABEL_ORPHANED = PREFIX + "orphaned"

ANN_SOURCE_SIDE = PREFIX + "source-side"
SIDE_VIRTUAL = "virtual"
SIDE_HOST = "host"
ANN_SOURCE_NAMESPACE = PREFIX + "source-namespace"  # absent for a cluster-scoped source
ANN_SOURCE_NAME = PREFIX + "source-name"
ANN_SOURCE_UID = PREFIX + "source-uid"  # absent when the source had no uid yet (offline `plan`)
ANN_SOURCE_KIND = PREFIX + "source-kind"  # "<group>/<kind>", e.g. "cert-manager.io/Certificate", "/Secret"
# On host copies of toHost rules that sync status: the virtual object's metadata.generation the copy was written from
# (decimal), so observedGeneration values can be mapped back (translate.status.virtual_status).
ANN_SOURCE_GENERATION = PREFIX + "source-generation"
# On host copies made by to_host: "<digest>.<fields>", a digest of everything the copy was translated from (the rules,
# the tenant, crdsync's version and the source's fields to_host reads) and how many fields the copy sets, so the
# engine can tell a pair is in sync without translating it (reconcile's fast path; anything else: the full path).
ANN_SOURCE_DIGEST = PREFIX + "source-digest"

# Written by tools into every applied object; copying it would make `kubectl apply` on the other side diff against the
# wrong configuration.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class SourceRef:
    """Where a copy came from, as recorded in its bookkeeping."""

    side: str  # SIDE_VIRTUAL | SIDE_HOST
    kind: str  # "<group>/<kind>"
    namespace: str | None
    name: str
    uid: str  # "" when not recorded
    vcluster: str | None

    @property
    def group_kind(self) -> tuple[str, str]:
        group, _, kind = self.kind.rpartition("/")
        return group, kind


def source_kind(gvk: GroupVersionKind) -> str:
    """The ANN_SOURCE_KIND value for a kind: group and kind, version-free (a CRD serves several versions)."""
    return f"{gvk.group}/{gvk.kind}"


def _string_map(value: Any) -> dict[str, str]:
    # Objects are plain dicts (JSON): isinstance(dict) is a C check where Mapping is an ABC one, on every copy judged.
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """The object's labels as a new dict (empty when absent or malformed)."""
    meta = obj.get("metadata")
    return _string_map(meta.get("labels")) if isinstance(meta, dict) else {}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """The object's annotations as a new dict (empty when absent or malformed)."""
    meta = obj.get("metadata")
    return _string_map(meta.get("annotations")) if isinstance(meta, dict) else {}


def source_of(obj: Mapping[str, Any]) -> SourceRef | None:
    """The source recorded on a copy made by crdsync, or None when `obj` is not one (or its bookkeeping is partial)."""
    labels = labels_of(obj)
    if labels.get(LABEL_MANAGED_BY) != MANAGER:
        return None
    ann = annotations_of(obj)
    side, kind, name = ann.get(ANN_SOURCE_SIDE), ann.get(ANN_SOURCE_KIND), ann.get(ANN_SOURCE_NAME)
    if side not in (SIDE_VIRTUAL, SIDE_HOST) or kind is None or "/" not in kind or not name:
        return None
    return SourceRef(
        side=side,
        kind=kind,
        namespace=ann.get(ANN_SOURCE_NAMESPACE),
        name=name,
        uid=ann.get(ANN_SOURCE_UID, ""),
        vcluster=labels.get(LABEL_VCLUSTER),
    )


def is_managed(obj: Mapping[str, Any], vcluster: str | None = None) -> bool:
    """True when crdsync manages `obj` (for `vcluster` when given: another tenant's copies are not ours to touch)."""
    labels = labels_of(obj)
    if labels.get(LABEL_MANAGED_BY) != MANAGER:
        return False
    return vcluster is None or labels.get(LABEL_VCLUSTER) == vcluster


def carries_bookkeeping(obj: Mapping[str, Any]) -> bool:
    """True when `obj` has any crdsync bookkeeping key: such objects are copies and must never be synced back."""
    if LABEL_MANAGED_BY in labels_of(obj):
        return True
    ann = annotations_of(obj)
    return any(key in ann for key in (ANN_SOURCE_SIDE, ANN_SOURCE_NAME, ANN_SOURCE_KIND))


def without_ours(values: Mapping[str, str] | None) -> dict[str, str]:
    """Labels or annotations minus every key under PREFIX and the last-applied annotation (new dict)."""
    if not values:
        return {}
    return {k: v for k, v in values.items() if not k.startswith(PREFIX) and k != LAST_APPLIED}


def bookkeeping_labels(vcluster: str, role: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGER, LABEL_VCLUSTER: vcluster, LABEL_ROLE: role}


def bookkeeping_annotations(
    side: str, gvk: GroupVersionKind, namespace: str | None, name: str, uid: str
) -> dict[str, str]:
    ann = {ANN_SOURCE_SIDE: side, ANN_SOURCE_KIND: source_kind(gvk), ANN_SOURCE_NAME: name}
    if namespace is not None:
        ann[ANN_SOURCE_NAMESPACE] = namespace
    if uid:
        ann[ANN_SOURCE_UID] = uid
    return ann


def source_generation(obj: Mapping[str, Any]) -> int | None:
    """The ANN_SOURCE_GENERATION recorded on a copy, or None when absent or not a plain non-negative decimal."""
    value = annotations_of(obj).get(ANN_SOURCE_GENERATION)
    # metadata.generation is an int64: more than 19 digits is not one of ours (and int() refuses very long strings).
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    return int(value)


def recorded_digest(obj: Mapping[str, Any]) -> tuple[str, int] | None:
    """(digest, field count) from a copy's ANN_SOURCE_DIGEST, or None when absent or malformed."""
    value = annotations_of(obj).get(ANN_SOURCE_DIGEST)
    if value is None:
        return None
    digest, dot, count = value.partition(".")
    if not dot or not digest or not count.isascii() or not count.isdigit() or len(count) > 9:
        return None
    return digest, int(count)
