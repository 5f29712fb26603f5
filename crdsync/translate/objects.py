"""Object translation: the desired copy of an object on the other side, and the way back.

- to_host: a virtual object -> its desired host copy (toHost rules, and exported followers of mode-referenced rules);
  the copy records the virtual generation it was written from, for observedGeneration.
- virtual_status: a host copy's status -> the desired status of its virtual source, observedGeneration values mapped
  from host generations to virtual ones.
- to_virtual: a host object -> its desired virtual copy (fromHost rules; mode-referenced ones need the engine's target).
- reverse: a host copy made by to_host -> the synced fields of its virtual source (the round-trip law).
- followers: the objects named by references of a virtual object that must be exported or imported with it.

Every function takes plain dicts and returns new plain dicts: inputs are never mutated, nothing does IO, and the result
depends only on the arguments. Copies never carry server-owned metadata (uid, resourceVersion, managedFields, ...) and
never carry the source's keys under crdsync.io/ (tenants cannot forge bookkeeping); our bookkeeping is added last, after
the spec's patches, so patches cannot break the way back either.

References are rewritten by the naming rule of the referenced kind: tenant naming (names.host_name in the tenant's host
namespace) when the referenced kind's rule in the follow direction (any rule of the kind for follow none) is toHost or
mode referenced, and also when no rule covers the kind at all (the hashed name cannot point at a host object the tenant
does not own); identity when it is a fromHost mode-all rule. A reference applies when every condition of its `when`
holds (an empty `when` always does); where several references match the same field, the first that applies wins, and
a field no applicable reference matches is copied unchanged.

Failure modes: TranslationError (located at the rule, reference or patch; str() is one line) for objects without
metadata.name, namespaced objects without a namespace, a rule of the wrong direction or kind, reference fields that
are not strings, references to namespaced kinds from cluster-scoped objects without namespacePath, and every path /
patch error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crdsync.spec.model import (
    Direction,
    FollowDirection,
    GroupVersionKind,
    Naming,
    Reference,
    Rule,
    SyncConfig,
    SyncMode,
)
from crdsync.translate import paths
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_GENERATION,
    ROLE_COPY,
    ROLE_FOLLOWER,
    SIDE_HOST,
    SIDE_VIRTUAL,
    bookkeeping_annotations,
    bookkeeping_labels,
    source_generation,
    source_of,
    without_ours,
)
from crdsync.translate.errors import TranslationError, json_type
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.patches import apply_patches_in_place, conditions_hold

__all__ = [
    "SERVER_OWNED_METADATA",
    "FollowRef",
    "Resolver",
    "TranslationError",
    "followers",
    "reference_host_name",
    "reverse",
    "strip_server_fields",
    "to_host",
    "to_virtual",
    "virtual_status",
]

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
_COPIED_METADATA = ("name", "namespace", "labels", "annotations")

# (group-version-kind, host namespace or None, host name) -> (virtual namespace or None, virtual name), or None when
# the engine knows no virtual object behind that host name.
Resolver = Callable[[GroupVersionKind, str | None, str], tuple[str | None, str] | None]


@dataclass(frozen=True)
class FollowRef:
    """An object named by a reference that must move with its referrer: exported (toHost) or imported (fromHost)."""

    gvk: GroupVersionKind
    direction: FollowDirection
    virtual_namespace: str | None
    virtual_name: str
    host_namespace: str | None
    host_name: str


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


# --- object identity -------------------------------------------------------------------------------------------------


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise TranslationError("object has no metadata", "metadata")
    return meta


def _identity(rule: Rule, obj: Mapping[str, Any]) -> tuple[str | None, str]:
    """(namespace or None, name) of `obj` as `rule` sees it; raises when a required part is missing."""
    meta = _metadata(obj)
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


def _uid(obj: Mapping[str, Any]) -> str:
    uid = _metadata(obj).get("uid")
    return uid if isinstance(uid, str) else ""


def _check_kind(rule: Rule, obj: Mapping[str, Any]) -> None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version is None and kind is None:
        return  # list items from some clients carry neither; the caller picked the rule by what it listed
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise TranslationError("apiVersion and kind must be strings", "apiVersion")
    gvk = GroupVersionKind.from_api_version(api_version, kind)
    if (gvk.group, gvk.kind) != (rule.gvk.group, rule.gvk.kind):
        raise TranslationError(f"object is a {gvk}, but the rule syncs {rule.gvk}", "kind")


def _with_type(rule: Rule, obj: dict[str, Any]) -> dict[str, Any]:
    obj.setdefault("apiVersion", rule.gvk.api_version)
    obj.setdefault("kind", rule.gvk.kind)
    return obj


def _copied_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: paths.clone(v) for k, v in meta.items() if k in _COPIED_METADATA}
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise TranslationError(f"metadata.{key} must be a map", f"metadata.{key}")
        out[key] = without_ours(value)
    return out


def _stamp(
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


# --- references ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """How the kind a reference names is named on the host."""

    tenant_naming: bool
    namespaced: bool
    naming: Naming


def _tenant_named(rule: Rule) -> bool:
    return rule.direction is Direction.TO_HOST or rule.mode is SyncMode.REFERENCED


# Per config (by identity; the config is kept alive by its entry): reference key -> _Target. Translations run for every
# event, and finding the target rule is a scan over all rules; the answer only depends on the config and the reference.
_TARGETS: dict[int, tuple[SyncConfig, dict[tuple[Any, ...], _Target]]] = {}
_MAX_CONFIGS = 8


def _target(config: SyncConfig, ref: Reference, referrer_namespaced: bool) -> _Target:
    entry = _TARGETS.get(id(config))
    if entry is None or entry[0] is not config:
        if len(_TARGETS) >= _MAX_CONFIGS:
            _TARGETS.clear()
        entry = (config, {})
        _TARGETS[id(config)] = entry
    key = (ref.api_version, ref.kind, ref.follow, ref.namespace_path is not None, referrer_namespaced)
    target = entry[1].get(key)
    if target is None:
        target = entry[1][key] = _find_target(config, ref, referrer_namespaced)
    return target


def _find_target(config: SyncConfig, ref: Reference, referrer_namespaced: bool) -> _Target:
    gvk = ref.gvk
    candidates = list(config.rules_for_kind(gvk.group, gvk.kind))
    if ref.follow is FollowDirection.TO_HOST:
        candidates = [r for r in candidates if r.direction is Direction.TO_HOST]
    elif ref.follow is FollowDirection.FROM_HOST:
        candidates = [r for r in candidates if r.direction is Direction.FROM_HOST]
    if not candidates:
        return _Target(True, referrer_namespaced or ref.namespace_path is not None, Naming())
    # Tenant naming first (the safe reading when a kind flows both ways), then the exact version.
    best = min(candidates, key=lambda r: (not _tenant_named(r), r.gvk != gvk))
    return _Target(_tenant_named(best), best.namespaced, best.naming)


def _name_locations(obj: Mapping[str, Any], ref: Reference) -> list[tuple[paths.Location, str]]:
    """(location, name) of every non-empty name `ref` points at; null/empty values name nothing and are skipped."""
    out = []
    for location in paths.locations(obj, ref.path):
        value = paths.value_at(obj, location)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise TranslationError(f"a reference must be a string name, found {json_type(value)}", ref.path)
        out.append((location, value))
    return out


def _referenced_namespace(
    ref: Reference, target: _Target, obj: Mapping[str, Any], referrer_namespace: str | None
) -> str | None:
    """The namespace the referenced object lives in on the side of `obj` (None: cluster-scoped)."""
    if not target.namespaced:
        return None
    if ref.namespace_path is not None:
        for location in paths.locations(obj, ref.namespace_path):
            value = paths.value_at(obj, location)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise TranslationError(f"a namespace must be a string, found {json_type(value)}", ref.namespace_path)
            return value
    if referrer_namespace is None:
        raise TranslationError(
            f"{ref.kind} is namespaced but the referring object is cluster-scoped; set namespacePath", ref.path
        )
    return referrer_namespace


def reference_host_name(
    config: SyncConfig, ref: Reference, tenant: Tenant, virtual_namespace: str | None, name: str
) -> tuple[str | None, str]:
    """(host namespace, host name) of the object `ref` names as virtual (namespace, name)."""
    target = _target(config, ref, virtual_namespace is not None)
    return _host_side(target, tenant, virtual_namespace if target.namespaced else None, name)


def _host_side(target: _Target, tenant: Tenant, namespace: str | None, name: str) -> tuple[str | None, str]:
    if not target.tenant_naming:
        return namespace, name
    host_ns = tenant.host_namespace if target.namespaced else None
    return host_ns, host_name(tenant, namespace, name, target.naming)


def _rewrite_references_to_host(
    config: SyncConfig,
    rule: Rule,
    source: Mapping[str, Any],
    out: dict[str, Any],
    tenant: Tenant,
    referrer_namespace: str | None,
) -> dict[str, Any]:
    writes: dict[paths.Location, Any] = {}
    for ref in rule.references:
        try:
            if not conditions_hold(ref.when, source):
                continue
            target = _target(config, ref, rule.namespaced)
            found = [(loc, name) for loc, name in _name_locations(source, ref) if loc not in writes]
            if not found:
                continue
            namespace = _referenced_namespace(ref, target, source, referrer_namespace)
            for location, name in found:
                writes[location] = _host_side(target, tenant, namespace, name)[1]
            if target.tenant_naming and target.namespaced and ref.namespace_path is not None:
                for location in paths.locations(source, ref.namespace_path):
                    if location not in writes and paths.value_at(source, location) not in (None, ""):
                        writes[location] = tenant.host_namespace
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    # Locations outside what was copied (status, server metadata) have nothing to rewrite.
    kept = {loc: value for loc, value in writes.items() if paths.value_at(out, loc, _ABSENT) is not _ABSENT}
    paths.write_in_place(out, kept)
    return out


_ABSENT = object()


def _rewrite_references_back(
    config: SyncConfig,
    rule: Rule,
    obj: dict[str, Any],
    tenant: Tenant,
    resolve: Resolver | None,
) -> dict[str, Any]:
    """Map tenant-named reference values in a host-side object back to virtual names (where `resolve` knows them)."""
    if resolve is None:
        return obj
    writes: dict[paths.Location, Any] = {}
    for ref in rule.references:
        try:
            if not conditions_hold(ref.when, obj):
                continue
            target = _target(config, ref, rule.namespaced)
            if not target.tenant_naming:
                continue  # identity is its own inverse
            host_ns = tenant.host_namespace if target.namespaced else None
            back_ns: str | None = None
            for location, name in _name_locations(obj, ref):
                if location in writes:
                    continue
                resolved = resolve(ref.gvk, host_ns, name)
                if resolved is None:
                    continue
                back_ns, writes[location] = resolved
            if back_ns is not None and target.namespaced and ref.namespace_path is not None:
                for location in paths.locations(obj, ref.namespace_path):
                    if location not in writes and paths.value_at(obj, location) not in (None, ""):
                        writes[location] = back_ns
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    paths.write_in_place(obj, writes)
    return obj


# --- the translations ------------------------------------------------------------------------------------------------


def _located(rule: Rule, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except TranslationError as exc:
        raise exc.located(rule.location) from None


def _generation(obj: Mapping[str, Any]) -> int | None:
    meta = obj.get("metadata")
    generation = meta.get("generation") if isinstance(meta, Mapping) else None
    if isinstance(generation, int) and not isinstance(generation, bool) and generation >= 0:
        return generation
    return None


def _maps_generations(rule: Rule, status_subresource: bool) -> bool:
    """Whether observedGeneration values of `rule` are mapped back, and so whether to_host records the generation.

    Not without a status subresource: there every status write bumps metadata.generation, so a mapped value written
    back would itself make the next one differ (a write loop). Not for exported followers (mode referenced): their
    status never flows back.
    """
    return (
        status_subresource
        and rule.mode is SyncMode.ALL
        and rule.status.enabled
        and bool(rule.status.observed_generation_paths)
    )


def to_host(
    config: SyncConfig,
    rule: Rule,
    virtual_obj: Mapping[str, Any],
    tenant: Tenant,
    *,
    status_subresource: bool = True,
) -> dict[str, Any]:
    """The desired host copy of `virtual_obj` under toHost `rule` (see the module docstring).

    When the rule maps observedGeneration values back (status sync on, observedGenerationPaths not empty, mode all,
    and `status_subresource`: the kind has a status subresource on both sides), the copy records the virtual object's
    metadata.generation in the ANN_SOURCE_GENERATION annotation. With a status subresource the generation changes
    only when the virtual object's spec (anything but metadata and status) does, which rewrites the copy anyway, so
    recording it costs a write only when the spec change leaves the host copy's own fields unchanged (e.g. a field a
    patch removes); without that write the mapped values would stay one generation behind for good.
    """

    def build() -> dict[str, Any]:
        if rule.direction is not Direction.TO_HOST:
            raise TranslationError(f"to_host needs a toHost rule, got the {rule.direction.value} rule for {rule.gvk}")
        _check_kind(rule, virtual_obj)
        namespace, name = _identity(rule, virtual_obj)
        out = strip_server_fields(virtual_obj)
        out["metadata"] = _copied_metadata(_metadata(virtual_obj))
        out = _rewrite_references_to_host(config, rule, virtual_obj, out, tenant, namespace)
        apply_patches_in_place(rule.patches_to_host, out, virtual_obj)
        role = ROLE_FOLLOWER if rule.mode is SyncMode.REFERENCED else ROLE_COPY
        annotations = bookkeeping_annotations(SIDE_VIRTUAL, rule.gvk, namespace, name, _uid(virtual_obj))
        generation = _generation(virtual_obj)
        if generation is not None and _maps_generations(rule, status_subresource):
            annotations[ANN_SOURCE_GENERATION] = str(generation)
        return _with_type(
            rule,
            _stamp(
                out,
                tenant.host_namespace if rule.namespaced else None,
                host_name(tenant, namespace, name, rule.naming),
                bookkeeping_labels(tenant.vcluster, role),
                annotations,
            ),
        )

    return _located(rule, build)


def _map_observed_generations(rule: Rule, view: dict[str, Any], host_obj: Mapping[str, Any]) -> None:
    recorded = source_generation(host_obj)
    host_generation = _generation(host_obj)
    if recorded is None or host_generation is None:
        return  # a copy written before generations were recorded, or no server generation: nothing to map with
    writes: dict[paths.Location, Any] = {}
    for path in rule.status.observed_generation_paths:
        for location in paths.locations(view, path):
            if not location or location[0] != "status":
                raise TranslationError("observedGeneration paths must select fields inside $.status", path)
            value = paths.value_at(view, location)
            if isinstance(value, int) and not isinstance(value, bool):
                writes[location] = recorded if value == host_generation else max(recorded - 1, 0)
    paths.write_in_place(view, writes)


def virtual_status(
    rule: Rule,
    host_obj: Mapping[str, Any],
    virtual_obj: Mapping[str, Any],
    *,
    status_subresource: bool = True,
) -> dict[str, Any] | None:
    """The desired `status` of the virtual source of `host_obj` (toHost `rule`), or None when status sync is off.

    rule.status.paths are taken from host_obj (list items a filter selects keep their order, unselected ones are left
    out). Then observedGeneration values are mapped from host generations to virtual ones (below), and
    rule.patches_to_virtual run on a view {apiVersion, kind, metadata of virtual_obj, status}, with host_obj as the
    other side for COPY.

    observedGeneration: let S be the virtual generation recorded on host_obj by to_host (ANN_SOURCE_GENERATION) and H
    host_obj's metadata.generation. Every integer at rule.status.observed_generation_paths becomes S when it equals H
    (the operator has seen the spec to_host wrote for virtual generation S, or one identical to it), and max(S - 1, 0)
    otherwise (the operator has not seen it yet; which older virtual generation it did see is not recorded anywhere,
    but any value below S reads as stale, and S - 1 is the largest, so the value never goes down while the host spec
    changes only through crdsync). A tenant's tool comparing status with metadata.generation thus sees "current"
    exactly when the host operator has caught up with the virtual spec (and the copy is up to date: S is the virtual
    object's generation whenever to_host has been applied). Values are left as they
    are when the annotation or H is missing or malformed, for non-integers, and when mapping is off
    (observedGenerationPaths empty, or `status_subresource` False: without a status subresource every status write
    bumps the generation, so no mapped value could ever settle).

    Reads only host_obj's status, its metadata.generation and the recorded generation; to_host writes nothing else
    that this reads (and reads no status itself), so the two cannot feed each other.
    """
    if not rule.status.enabled:
        return None

    def build() -> dict[str, Any]:
        selected: list[paths.Location] = []
        for path in rule.status.paths:
            for location in paths.locations(host_obj, path):
                if not location or location[0] != "status":
                    raise TranslationError("status paths must select fields inside $.status", path)
                selected.append(location)
        projected = paths.project(host_obj, selected) if selected else {}
        meta = virtual_obj.get("metadata")
        view: dict[str, Any] = {
            "apiVersion": virtual_obj.get("apiVersion", rule.gvk.api_version),
            "kind": virtual_obj.get("kind", rule.gvk.kind),
            "metadata": {
                k: paths.clone(v)
                for k, v in (meta if isinstance(meta, Mapping) else {}).items()
                if k in _COPIED_METADATA
            },
            "status": projected.get("status", {}),
        }
        if _maps_generations(rule, status_subresource):
            _map_observed_generations(rule, view, host_obj)
        apply_patches_in_place(rule.patches_to_virtual, view, host_obj)
        status = view.get("status")
        if status is None:
            return {}
        if not isinstance(status, dict):
            raise TranslationError(f"status must be a map, found {json_type(status)}", "$.status")
        return status

    return _located(rule, build)


def to_virtual(
    config: SyncConfig,
    rule: Rule,
    host_obj: Mapping[str, Any],
    tenant: Tenant,
    target: tuple[str | None, str] | None = None,
    resolve: Resolver | None = None,
) -> dict[str, Any]:
    """The desired virtual copy of `host_obj` under fromHost `rule`.

    Mode all keeps the name; namespaced objects land in rule.host.virtual_namespace (or the same namespace name).
    Mode referenced (an imported follower) lands at `target` = (virtual namespace, name), which the engine takes from
    the reference. Status is included as the host has it. Reference values that are tenant-named host names are mapped
    back through `resolve` when given and when it knows them; identity-named ones are kept.
    """

    def build() -> dict[str, Any]:
        if rule.direction is not Direction.FROM_HOST:
            raise TranslationError(
                f"to_virtual needs a fromHost rule, got the {rule.direction.value} rule for {rule.gvk}"
            )
        _check_kind(rule, host_obj)
        host_namespace, host_obj_name = _identity(rule, host_obj)
        if rule.mode is SyncMode.REFERENCED:
            if target is None:
                raise TranslationError(f"{rule.gvk.kind} is imported only when referenced; no target was given")
            namespace, name = target
            if rule.namespaced and not namespace:
                raise TranslationError(f"{rule.gvk.kind} is namespaced but the target has no namespace")
            role = ROLE_FOLLOWER
        else:
            namespace = (rule.host.virtual_namespace or host_namespace) if rule.namespaced else None
            name, role = host_obj_name, ROLE_COPY
        out = strip_server_fields(host_obj)
        out["metadata"] = _copied_metadata(_metadata(host_obj))
        if "status" in host_obj:
            out["status"] = paths.clone(host_obj["status"])
        out = _rewrite_references_back(config, rule, out, tenant, resolve)
        apply_patches_in_place(rule.patches_to_virtual, out, host_obj)
        return _with_type(
            rule,
            _stamp(
                out,
                namespace if rule.namespaced else None,
                name,
                bookkeeping_labels(tenant.vcluster, role),
                bookkeeping_annotations(SIDE_HOST, rule.gvk, host_namespace, host_obj_name, _uid(host_obj)),
            ),
        )

    return _located(rule, build)


def reverse(
    config: SyncConfig, rule: Rule, host_obj: Mapping[str, Any], tenant: Tenant, resolve: Resolver
) -> dict[str, Any]:
    """The synced fields of the virtual object that `host_obj` (a copy made by to_host under `rule`) was made from.

    Name and namespace come from bookkeeping, bookkeeping is removed, and reference values are mapped back through
    `resolve(gvk, host namespace, host name)` (values it does not know are kept). The inverse of to_host on synced
    fields: reverse(to_host(x)) == x minus status, server-owned metadata, keys under crdsync.io/ and the last-applied
    annotation. Patches are not inverted: fields rule.patches_to_host changed come back as the host has them.
    """

    def build() -> dict[str, Any]:
        if rule.direction is not Direction.TO_HOST:
            raise TranslationError(f"reverse needs a toHost rule, got the {rule.direction.value} rule for {rule.gvk}")
        _check_kind(rule, host_obj)
        source = source_of(host_obj)
        if source is None or source.side != SIDE_VIRTUAL:
            raise TranslationError(
                "object is not a copy crdsync made from a virtual object (no bookkeeping)", "metadata.annotations"
            )
        if source.group_kind != (rule.gvk.group, rule.gvk.kind):
            raise TranslationError(
                f"object is a copy of a {source.kind}, but the rule syncs {rule.gvk}", "metadata.annotations"
            )
        if rule.namespaced and source.namespace is None:
            raise TranslationError(
                "copy of a namespaced object has no source-namespace annotation", "metadata.annotations"
            )
        out = strip_server_fields(host_obj)
        out["metadata"] = _copied_metadata(_metadata(host_obj))
        out = _rewrite_references_back(config, rule, out, tenant, resolve)
        return _stamp(out, source.namespace if rule.namespaced else None, source.name, {}, {})

    return _located(rule, build)


def followers(config: SyncConfig, rule: Rule, virtual_obj: Mapping[str, Any], tenant: Tenant) -> tuple[FollowRef, ...]:
    """The objects named by `virtual_obj`'s references with follow toHost / fromHost, deduplicated and sorted.

    Host names agree with what to_host writes into the copy's reference fields.
    """
    try:
        namespace, _ = _identity(rule, virtual_obj)
    except TranslationError as exc:
        raise exc.located(rule.location) from None
    found: set[FollowRef] = set()
    for ref in rule.references:
        if ref.follow is FollowDirection.NONE:
            continue
        try:
            if not conditions_hold(ref.when, virtual_obj):
                continue
            target = _target(config, ref, rule.namespaced)
            names = _name_locations(virtual_obj, ref)
            if not names:
                continue
            ref_namespace = _referenced_namespace(ref, target, virtual_obj, namespace)
            for _, name in names:
                host_ns, host = _host_side(target, tenant, ref_namespace, name)
                found.add(FollowRef(ref.gvk, ref.follow, ref_namespace, name, host_ns, host))
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    return tuple(sorted(found, key=lambda f: (f.direction.value, f.gvk, f.virtual_namespace or "", f.virtual_name)))


def shared_references(
    config: SyncConfig, rule: Rule, virtual_obj: Mapping[str, Any]
) -> tuple[tuple[GroupVersionKind, str | None, str], ...]:
    """(kind, virtual namespace, name) of every object `virtual_obj` names whose kind keeps host names (a fromHost
    rule with mode all, e.g. a shared ClusterIssuer).

    Such a name crosses to the host unchanged, so it could point a host operator at *any* host object of that kind;
    the engine lets the copy through only when each named object is one that was shared into the virtual cluster.
    """
    try:
        namespace, _ = _identity(rule, virtual_obj)
    except TranslationError as exc:
        raise exc.located(rule.location) from None
    found: set[tuple[GroupVersionKind, str | None, str]] = set()
    for ref in rule.references:
        if ref.follow is not FollowDirection.NONE:
            continue
        try:
            if not conditions_hold(ref.when, virtual_obj):
                continue
            target = _target(config, ref, rule.namespaced)
            if target.tenant_naming:
                continue
            names = _name_locations(virtual_obj, ref)
            if not names:
                continue
            ref_namespace = _referenced_namespace(ref, target, virtual_obj, namespace)
            found.update((ref.gvk, ref_namespace, name) for _, name in names)
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    return tuple(sorted(found, key=lambda f: (f[0], f[1] or "", f[2])))
