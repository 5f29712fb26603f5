"""Metadata hygiene: what a copy keeps of its source's metadata, and the identity and bookkeeping forced onto it.

A copy carries only name, namespace, labels and annotations of its source (COPIED_METADATA); server-owned fields
(uid, resourceVersion, managedFields, ...) and status stay with the source (strip_server_fields), and incoming keys
under crdsync.io/ are dropped (bookkeeping.without_ours), so a tenant cannot forge bookkeeping. `stamp` writes the
copy's identity and our bookkeeping last, after the spec's patches, so patches cannot break the way back either.

Pure functions over plain dicts; inputs are never mutated, except by `stamp` and `with_type`, which work on the
caller's own copy. Failure modes: TranslationError for objects without metadata (or metadata.name), namespaced objects
without a namespace, an apiVersion/kind of another kind than the rule's, and labels or annotations that are not maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import Rule
from crdsync.translate import paths
from crdsync.translate.bookkeeping import without_ours
from crdsync.translate.errors import TranslationError

SERVER_OWNED_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)

# The metadata a copy carries; everything else (generateName, server fields) stays with the source.
COPIED_METADATA = ("name", "namespace", "labels", "annotations")


def strip_server_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `obj` without status and without server-owned metadata."""
    meta = obj.get("metadata")
    out = {
        k: paths.clone(v)
        for k, v in obj.items()
        if k != "status" and not (k == "metadata" and isinstance(meta, Mapping))
    }
    if isinstance(meta, Mapping):
        out["metadata"] = {k: paths.clone(v) for k, v in meta.items() if k not in SERVER_OWNED_METADATA}
    return out


def metadata_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise TranslationError("object has no metadata", "metadata")
    return meta


def identity(rule: Rule, obj: Mapping[str, Any]) -> tuple[str | None, str]:
    """(namespace or None, name) of `obj` as `rule` sees it; raises when a required part is missing."""
    meta = metadata_of(obj)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError("object has no metadata.name", "metadata.name")
    if not rule.namespaced:
        return None, name
    namespace = meta.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise TranslationError(
            f"{rule.gvk.kind} is namespaced but the object has no metadata.namespace", "metadata.namespace"
        )
    return namespace, name


def uid_of(obj: Mapping[str, Any]) -> str:
    uid = metadata_of(obj).get("uid")
    return uid if isinstance(uid, str) else ""


def generation_of(obj: Mapping[str, Any]) -> int | None:
    """metadata.generation when it is a non-negative integer (the server's), else None."""
    meta = obj.get("metadata")
    generation = meta.get("generation") if isinstance(meta, Mapping) else None
    if isinstance(generation, int) and not isinstance(generation, bool) and generation >= 0:
        return generation
    return None


def check_kind(rule: Rule, obj: Mapping[str, Any]) -> None:
    """Refuse an object of another group/kind than `rule` syncs (any version: CRDs serve several)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version is None and kind is None:
        return  # list items from some clients carry neither; the caller picked the rule by what it listed
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise TranslationError("apiVersion and kind must be strings", "apiVersion")
    gvk = GroupVersionKind.from_api_version(api_version, kind)
    if (gvk.group, gvk.kind) != (rule.gvk.group, rule.gvk.kind):
        raise TranslationError(f"object is a {gvk}, but the rule syncs {rule.gvk}", "kind")


def with_type(rule: Rule, obj: dict[str, Any]) -> dict[str, Any]:
    obj.setdefault("apiVersion", rule.gvk.api_version)
    obj.setdefault("kind", rule.gvk.kind)
    return obj


def copied_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The COPIED_METADATA of `meta` (deep copies), labels and annotations without our keys."""
    out: dict[str, Any] = {k: paths.clone(v) for k, v in meta.items() if k in COPIED_METADATA}
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise TranslationError(f"metadata.{key} must be a map", f"metadata.{key}")
        out[key] = without_ours(value)
    return out


def stamp(
    obj: dict[str, Any],
    namespace: str | None,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> dict[str, Any]:
    """Force identity and bookkeeping onto `obj` (our own copy) after patches; drops empty label/annotation maps."""
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    meta["name"] = name
    if namespace is None:
        meta.pop("namespace", None)
    else:
        meta["namespace"] = namespace
    for key, ours in (("labels", labels), ("annotations", annotations)):
        current = meta.get(key)
        merged = {**(current if isinstance(current, Mapping) else {}), **ours}
        if merged:
            meta[key] = merged
        else:
            meta.pop(key, None)
    obj["metadata"] = meta
    return obj
