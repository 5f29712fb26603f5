"""The tenant boundary: the pure rules that decide what one tenant's engine may read, write and trust.

crdsync acts on the host with host privileges on behalf of a tenant it does not trust. Whatever the tenant writes into
its virtual cluster (names, labels, annotations, crdsync's own bookkeeping keys, fields an operator will copy, absurd
nesting), these invariants hold:

1. Host writes land only in the tenant's host namespace (or, for a cluster-scoped kind a toHost rule declares, under
   a name of this tenant's naming rule), and only on objects whose provenance this tenant's engine can prove:
   `trusted_host_source` — bookkeeping on a host object counts only when the object's name and namespace are exactly
   what this tenant's naming rule gives for the source it claims. Under naming style vcluster (not injective: two
   sources can share a name) the engine also checks that the claimed source is the one it syncs, and a copy made by
   vcluster's syncer counts as this source's only when `is_vcluster_copy_of` proves it the same way (vcluster's
   bookkeeping naming this tenant's vcluster and exactly this source, at the name vcluster gives it, and no crdsync
   bookkeeping at all). Between tenants sharing a host namespace style vcluster is weaker than hashed names (see
   translate.names): the proof is only as good as the naming.
2. Imports copy into the virtual cluster only host objects that a fromHost rule selects for this tenant: mode-all
   objects the rule's selection picks (answered from the host object, `shared_host_object`), and followers at the
   tenant-named host name; a follower carrying any bookkeeping must be this tenant's own (`importable`).
3. Nothing the tenant writes is trusted as bookkeeping: a virtual object's crdsync.io keys prove nothing ("is this
   name shared" is answered from the host informer and the rule's selection), and host events are routed by the
   rule's mode, never by a label.
4. Events are recorded only on the tenant's virtual objects, with bounded messages (`event_message`).
5. Objects nested deeper than MAX_DEPTH or with more than MAX_NODES values are refused before any translation
   (`check_shape`), so one poison object costs one Event, never a stalled worker or watch.

Pure functions over plain dicts and spec values; nothing does IO. check_shape raises TranslationError; every other
function answers with a value and never raises on malformed input (malformed reads as "not trusted").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import Naming, NamingStyle
from crdsync.translate.bookkeeping import (
    LABEL_MANAGED_BY,
    LABEL_ORPHANED,
    LABEL_VCLUSTER,
    MANAGER,
    SIDE_VIRTUAL,
    SourceRef,
    annotations_of,
    carries_bookkeeping,
    labels_of,
    source_kind,
    source_of,
)
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant, host_name, vcluster_cluster_marker

# Deeper than any real Kubernetes object (the deepest built-in types nest ~20 levels) and far below what recursive
# code can walk: json, copy and every recursive helper in translate stay well inside Python's recursion limit.
MAX_DEPTH = 100
# Values (maps, lists and scalars) in one object. The apiserver caps a request at 3 MiB and etcd a value at 1.5 MiB;
# this bounds the work one object can cost a translation at a similar order (a 1.5 MiB object of short strings).
MAX_NODES = 200_000
# Event messages: events.k8s.io caps a note at 1 KiB.
MAX_EVENT_MESSAGE = 1024

# The bookkeeping vcluster's syncer writes on its host copies (pkg/util/translate/types.go, v0.14-v0.28). The
# object-kind and object-host-* annotations exist from v0.21 on; managed-by holds the vcluster name on namespaced copies
# and SafeConcatName(host namespace, "x", vcluster) on cluster-scoped ones.
VCLUSTER_LABEL_MANAGED_BY = "vcluster.loft.sh/managed-by"
VCLUSTER_ANN_NAME = "vcluster.loft.sh/object-name"
VCLUSTER_ANN_NAMESPACE = "vcluster.loft.sh/object-namespace"
VCLUSTER_ANN_UID = "vcluster.loft.sh/object-uid"
VCLUSTER_ANN_KIND = "vcluster.loft.sh/object-kind"  # GroupVersionKind.String(): "<group>/<version>, Kind=<kind>"
VCLUSTER_ANN_HOST_NAME = "vcluster.loft.sh/object-host-name"
VCLUSTER_ANN_HOST_NAMESPACE = "vcluster.loft.sh/object-host-namespace"


def check_shape(obj: Any, what: str = "object") -> None:
    """Raise TranslationError when `obj` nests deeper than MAX_DEPTH or holds more than MAX_NODES values.

    Iterative, a level at a time (a recursive walk is what a poison object attacks); one pass over the object, and one
    list extend per map or list rather than a tuple per value: every object synced is walked once.
    """
    level: list[Any] = [obj]
    depth = nodes = 0
    while level:
        depth += 1
        nodes += len(level)
        if nodes > MAX_NODES:
            raise TranslationError(f"{what} holds more than {MAX_NODES} values; crdsync does not sync it")
        below: list[Any] = []
        for value in level:
            if isinstance(value, dict):
                below.extend(value.values())
            elif isinstance(value, list):
                below.extend(value)
        if below and depth >= MAX_DEPTH:
            raise TranslationError(f"{what} nests deeper than {MAX_DEPTH} levels; crdsync does not sync it")
        level = below


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def expected_host_identity(
    tenant: Tenant, namespaced: bool, source_namespace: str | None, source_name: str, naming: Naming
) -> tuple[str | None, str]:
    """(host namespace or None, host name) of this tenant's copy of virtual (namespace, name)."""
    return (tenant.host_namespace if namespaced else None), host_name(tenant, source_namespace, source_name, naming)


def trusted_host_source(
    host_obj: Mapping[str, Any],
    tenant: Tenant,
    gvk: GroupVersionKind,
    *,
    namespaced: bool,
    naming: Naming,
) -> SourceRef | None:
    """The virtual source a host object records, if and only if this tenant's engine can prove it made that copy.

    A host object's bookkeeping is written by whoever wrote the object: crdsync, or an operator copying labels a tenant
    chose (cert-manager's secretTemplate), or another tenant's crdsync. It is believed only when it names this tenant,
    this kind, a virtual source, and the object stands exactly at the host namespace and name this tenant's naming
    rule gives that source. Finding another tenant's source at that name would need a hash collision (see names).
    """
    source = source_of(host_obj)
    if source is None or source.side != SIDE_VIRTUAL or source.vcluster != tenant.vcluster:
        return None
    if source.kind != source_kind(gvk):
        return None
    if namespaced != (source.namespace is not None):
        return None
    meta = _meta(host_obj)
    try:
        expected = expected_host_identity(tenant, namespaced, source.namespace, source.name, naming)
    except ValueError:
        return None
    if (meta.get("namespace") if namespaced else None, meta.get("name")) != expected:
        return None
    return source


def is_orphan_of(
    host_obj: Mapping[str, Any],
    tenant: Tenant,
    gvk: GroupVersionKind,
    *,
    namespaced: bool,
    naming: Naming,
) -> bool:
    """True when `host_obj` is a copy this tenant's engine released under DeletionPolicy Orphan (see orphan_labels)
    and its name proves it: such a copy may be taken back when its source is selected again, and `crdsync gc` may
    remove it."""
    labels = labels_of(host_obj)
    if labels.get(LABEL_ORPHANED) != "true" or labels.get(LABEL_VCLUSTER) != tenant.vcluster:
        return False
    if LABEL_MANAGED_BY in labels:
        return False
    claimed = {**labels, LABEL_MANAGED_BY: MANAGER}
    as_managed = {**host_obj, "metadata": {**_meta(host_obj), "labels": claimed}}
    return trusted_host_source(as_managed, tenant, gvk, namespaced=namespaced, naming=naming) is not None


def importable(
    host_obj: Mapping[str, Any],
    tenant: Tenant,
    gvk: GroupVersionKind,
    *,
    namespaced: bool,
    naming: Naming,
) -> bool:
    """May `host_obj`, found at a tenant-named host name, be imported into this tenant's virtual cluster?

    Objects an operator wrote carry no bookkeeping of ours and are importable (that is what imports are for). An
    object carrying bookkeeping must be this tenant's own copy: another tenant's copy that happens to stand at this
    name (a hash collision, or forged labels) is never handed over.
    """
    if not carries_bookkeeping(host_obj) and LABEL_ORPHANED not in labels_of(host_obj):
        return True
    if trusted_host_source(host_obj, tenant, gvk, namespaced=namespaced, naming=naming) is not None:
        return True
    return is_orphan_of(host_obj, tenant, gvk, namespaced=namespaced, naming=naming)


def claims_vcluster_copy(host_obj: Mapping[str, Any]) -> bool:
    """True when `host_obj` carries vcluster's bookkeeping (its managed-by label or object-name annotation): it says it
    is some vcluster's copy of some virtual object, whether or not that can be proven (is_vcluster_copy_of)."""
    return VCLUSTER_LABEL_MANAGED_BY in labels_of(host_obj) or VCLUSTER_ANN_NAME in annotations_of(host_obj)


def _vcluster_kind_matches(recorded: str, gvk: GroupVersionKind) -> bool:
    """Does vcluster's object-kind value name `gvk`'s group and kind? The version is not compared: vcluster recorded
    the version its config named, and a mapping may sync another served version of the same objects."""
    group_version, sep, kind = recorded.partition(", Kind=")
    if not sep:
        return False
    group, slash, _version = group_version.rpartition("/")
    return bool(slash) and (group, kind) == (gvk.group, gvk.kind)


def is_vcluster_copy_of(
    host_obj: Mapping[str, Any],
    tenant: Tenant,
    gvk: GroupVersionKind,
    *,
    namespaced: bool,
    source_namespace: str | None,
    source_name: str,
    naming: Naming,
) -> bool:
    """Is `host_obj` the copy vcluster's syncer made of this tenant's virtual (source_namespace, source_name)?

    The migration rule: under naming style vcluster such a copy is taken over as this source's copy, whatever the
    rule's conflict policy. It is believed only as far as crdsync's own bookkeeping is (trusted_host_source): the
    object stands exactly at the host namespace and name vcluster's naming gives this source; vcluster's managed-by
    label names this tenant's vcluster (its cluster marker for cluster-scoped kinds); object-name and object-namespace
    name exactly this source (no namespace for cluster-scoped kinds); object-kind, object-host-name and
    object-host-namespace, where present (vcluster >= 0.21), agree with the kind and where the object stands. An object
    carrying any crdsync bookkeeping is never vcluster's copy: that is crdsync's (or a forgery), judged as such. The
    recorded object-uid is not compared here: a copy of an earlier object of the same name is still this source's
    copy, and the engine replaces it as it replaces its own.
    """
    if naming.style is not NamingStyle.VCLUSTER:
        return False  # only vcluster's names prove anything about vcluster's bookkeeping
    if carries_bookkeeping(host_obj) or LABEL_ORPHANED in labels_of(host_obj):
        return False
    if namespaced != (source_namespace is not None) or not source_name:
        return False
    meta = _meta(host_obj)
    name, namespace = meta.get("name"), meta.get("namespace") if namespaced else None
    try:
        expected = expected_host_identity(tenant, namespaced, source_namespace, source_name, naming)
    except ValueError:
        return False
    if (namespace, name) != expected or not isinstance(name, str):
        return False
    labels, ann = labels_of(host_obj), annotations_of(host_obj)
    marker = tenant.vcluster if namespaced else vcluster_cluster_marker(tenant)
    if labels.get(VCLUSTER_LABEL_MANAGED_BY) != marker:
        return False
    if ann.get(VCLUSTER_ANN_NAME) != source_name or ann.get(VCLUSTER_ANN_NAMESPACE) != source_namespace:
        return False
    kind = ann.get(VCLUSTER_ANN_KIND)
    if kind is not None and not _vcluster_kind_matches(kind, gvk):
        return False
    if VCLUSTER_ANN_HOST_NAME in ann and ann[VCLUSTER_ANN_HOST_NAME] != name:
        return False
    return not (VCLUSTER_ANN_HOST_NAMESPACE in ann and ann[VCLUSTER_ANN_HOST_NAMESPACE] != namespace)


def event_message(text: str) -> str:
    """An Event message bounded to MAX_EVENT_MESSAGE characters, one line, printable characters only."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text.replace("\n", " "))
    if len(cleaned) > MAX_EVENT_MESSAGE:
        cleaned = cleaned[: MAX_EVENT_MESSAGE - 3] + "..."
    return cleaned


__all__ = [
    "MAX_DEPTH",
    "MAX_EVENT_MESSAGE",
    "MAX_NODES",
    "VCLUSTER_ANN_HOST_NAME",
    "VCLUSTER_ANN_HOST_NAMESPACE",
    "VCLUSTER_ANN_KIND",
    "VCLUSTER_ANN_NAME",
    "VCLUSTER_ANN_NAMESPACE",
    "VCLUSTER_ANN_UID",
    "VCLUSTER_LABEL_MANAGED_BY",
    "check_shape",
    "claims_vcluster_copy",
    "event_message",
    "expected_host_identity",
    "importable",
    "is_orphan_of",
    "is_vcluster_copy_of",
    "trusted_host_source",
]
