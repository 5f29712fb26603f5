"""Object translation: the desired copy of an object on the other side, and the objects that move with it.

- to_host: a virtual object -> its desired host copy (toHost rules, and exported followers of mode-referenced rules);
  the copy records the virtual generation it was written from, for observedGeneration (translate.status).
- to_virtual: a host object -> its desired virtual copy (fromHost rules; mode-referenced ones need the engine's target).
- followers: the objects named by references of a virtual object that must be exported or imported with it.
- shared_references: the host objects a virtual object names by their host names (kinds shared by name), for the
  engine's check that each is one the sharing rule selects.

This module composes the concepts that have their own modules: metadata hygiene (translate.metadata), reference
rewriting (translate.references, translate.formats), host-owned fields (translate.reverse_paths), status and
observedGeneration (translate.status) and the restart digest (translate.digest).

Every function takes plain dicts and returns new plain dicts: inputs are never mutated, nothing does IO, and the result
depends only on the arguments. Copies never carry server-owned metadata (uid, resourceVersion, managedFields, ...) and
never carry the source's keys under crdsync.io/ (tenants cannot forge bookkeeping); our bookkeeping is added last, after
the spec's patches, so patches cannot break the way back either: the way back from a copy to its source is its
bookkeeping (bookkeeping.source_of), never a parse of the copy. Reference values of a host object imported by
to_virtual are kept as the host has them. Every translation first refuses objects beyond the shape limits
(tenancy.check_shape), before any recursive code touches them.

Failure modes: TranslationError (located at the rule, reference or patch; str() is one line) for objects without
metadata.name, namespaced objects without a namespace, a rule of the wrong direction or kind, and every reference,
path and patch error (see translate.references).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import Direction, FollowDirection, Rule, SyncConfig, SyncMode
from crdsync.translate import paths
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_GENERATION,
    ROLE_COPY,
    ROLE_FOLLOWER,
    SIDE_HOST,
    SIDE_VIRTUAL,
    bookkeeping_annotations,
    bookkeeping_labels,
)
from crdsync.translate.errors import TranslationError, located
from crdsync.translate.metadata import (
    check_kind,
    copied_metadata,
    generation_of,
    identity,
    metadata_of,
    stamp,
    strip_server_fields,
    uid_of,
    with_type,
)
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.patches import apply_patches_in_place
from crdsync.translate.references import (
    host_side,
    named,
    reference_target,
    rewrite_references_to_host,
    shared_host_namespace,
)
from crdsync.translate.reverse_paths import drop_reverse_paths, forward_view
from crdsync.translate.status import maps_generations
from crdsync.translate.tenancy import check_shape

__all__ = ["FollowRef", "SharedRef", "followers", "shared_references", "to_host", "to_virtual"]


def to_host(
    config: SyncConfig,
    rule: Rule,
    virtual_obj: Mapping[str, Any],
    tenant: Tenant,
    *,
    status_subresource: bool = True,
) -> dict[str, Any]:
    """The desired host copy of `virtual_obj` under toHost `rule` (see the module docstring).

    When the rule maps observedGeneration values back (status.maps_generations: status sync on,
    observedGenerationPaths not empty, mode all, and `status_subresource`: the kind has a status subresource on both
    sides), the copy records the virtual object's metadata.generation in the ANN_SOURCE_GENERATION annotation. With a
    status subresource the generation changes only when the virtual object's spec (anything but metadata and status)
    does, which rewrites the copy anyway, so recording it costs a write only when the spec change leaves the host
    copy's own fields unchanged (e.g. a field a patch removes); without that write the mapped values would stay one
    generation behind for good.
    """

    def build() -> dict[str, Any]:
        if rule.direction is not Direction.TO_HOST:
            raise TranslationError(f"to_host needs a toHost rule, got the {rule.direction.value} rule for {rule.gvk}")
        check_shape(virtual_obj)
        check_kind(rule, virtual_obj)
        namespace, name = identity(rule, virtual_obj)
        view = forward_view(rule, virtual_obj)  # the host owns the reverse paths: never read, never sent
        out = strip_server_fields(view)
        out["metadata"] = copied_metadata(metadata_of(view))
        out = rewrite_references_to_host(config, rule, view, out, tenant, namespace)
        apply_patches_in_place(rule.patches_to_host, out, vcluster=tenant.vcluster, other=view)
        drop_reverse_paths(rule, out)
        role = ROLE_FOLLOWER if rule.mode is SyncMode.REFERENCED else ROLE_COPY
        annotations = bookkeeping_annotations(SIDE_VIRTUAL, rule.gvk, namespace, name, uid_of(virtual_obj))
        generation = generation_of(virtual_obj)
        if generation is not None and maps_generations(rule, status_subresource):
            annotations[ANN_SOURCE_GENERATION] = str(generation)
        return with_type(
            rule,
            stamp(
                out,
                tenant.host_namespace if rule.namespaced else None,
                host_name(tenant, namespace, name, rule.naming),
                bookkeeping_labels(tenant.vcluster, role),
                annotations,
            ),
        )

    return located(rule, build)


def to_virtual(
    config: SyncConfig,
    rule: Rule,
    host_obj: Mapping[str, Any],
    tenant: Tenant,
    target: tuple[str | None, str] | None = None,
) -> dict[str, Any]:
    """The desired virtual copy of `host_obj` under fromHost `rule`.

    Mode all keeps the name; namespaced objects land in rule.host.virtual_namespace (or the same namespace name).
    Mode referenced (an imported follower) lands at `target` = (virtual namespace, name), which the engine takes from
    the reference. Status is included as the host has it; reference values are kept as the host has them.
    `config` is unused since references of imported objects stay as the host has them; it keeps the call shape of
    every other translation.
    """

    def build() -> dict[str, Any]:
        if rule.direction is not Direction.FROM_HOST:
            raise TranslationError(
                f"to_virtual needs a fromHost rule, got the {rule.direction.value} rule for {rule.gvk}"
            )
        check_shape(host_obj, "host object")
        check_kind(rule, host_obj)
        host_namespace, host_obj_name = identity(rule, host_obj)
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
        out["metadata"] = copied_metadata(metadata_of(host_obj))
        if "status" in host_obj:
            out["status"] = paths.clone(host_obj["status"])
        apply_patches_in_place(rule.patches_to_virtual, out, host_obj)
        return with_type(
            rule,
            stamp(
                out,
                namespace if rule.namespaced else None,
                name,
                bookkeeping_labels(tenant.vcluster, role),
                bookkeeping_annotations(SIDE_HOST, rule.gvk, host_namespace, host_obj_name, uid_of(host_obj)),
            ),
        )

    return located(rule, build)


@dataclass(frozen=True)
class FollowRef:
    """An object named by a reference that must move with its referrer: exported (toHost) or imported (fromHost)."""

    gvk: GroupVersionKind
    direction: FollowDirection
    virtual_namespace: str | None
    virtual_name: str
    host_namespace: str | None
    host_name: str


def followers(config: SyncConfig, rule: Rule, virtual_obj: Mapping[str, Any], tenant: Tenant) -> tuple[FollowRef, ...]:
    """The objects named by `virtual_obj`'s references with follow toHost / fromHost, deduplicated and sorted.

    Host names agree with what to_host writes into the copy's reference fields.
    """
    virtual_obj = forward_view(rule, virtual_obj)  # host-owned values are never read as names
    namespace, _ = located(rule, lambda: identity(rule, virtual_obj))
    found: set[FollowRef] = set()
    for ref in rule.references:
        if ref.follow is FollowDirection.NONE:
            continue
        try:
            target = reference_target(config, ref, rule.namespaced)  # `named` applies the reference's `when`
            for item in named(ref, target, virtual_obj, namespace):
                host_ns, host = host_side(target, tenant, item.namespace, item.name)
                found.add(FollowRef(ref.gvk, ref.follow, item.namespace, item.name, host_ns, host))
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    return tuple(sorted(found, key=lambda f: (f.direction.value, f.gvk, f.virtual_namespace or "", f.virtual_name)))


@dataclass(frozen=True)
class SharedRef:
    """A host object named by a reference whose kind keeps host names (shared by name, e.g. a ClusterIssuer)."""

    gvk: GroupVersionKind
    virtual_namespace: str | None
    host_namespace: str | None
    name: str
    shared_by: Rule  # the fromHost mode-all rule whose selection decides whether the object is shared


def shared_references(config: SyncConfig, rule: Rule, virtual_obj: Mapping[str, Any]) -> tuple[SharedRef, ...]:
    """Every object `virtual_obj` names whose kind keeps host names (a fromHost rule with mode all), whatever the
    reference's follow direction.

    Such a name crosses to the host unchanged, so it could point a host operator at *any* host object of that kind; the
    engine lets the copy through only when each named host object is one the sharing rule selects.
    """
    virtual_obj = forward_view(rule, virtual_obj)  # host-owned values are never read as names
    namespace, _ = located(rule, lambda: identity(rule, virtual_obj))
    found: set[SharedRef] = set()
    for ref in rule.references:
        try:
            target = reference_target(config, ref, rule.namespaced)  # `named` applies the reference's `when`
            if target.shared_by is None:
                continue
            for item in named(ref, target, virtual_obj, namespace):
                host_ns = shared_host_namespace(target.shared_by, item.namespace) if item.namespace else None
                found.add(SharedRef(ref.gvk, item.namespace, host_ns, item.name, target.shared_by))
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    return tuple(sorted(found, key=lambda f: (f.gvk, f.host_namespace or "", f.name)))
