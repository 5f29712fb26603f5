"""References: the names a rule's references point at inside an object, and how each is named on the host.

The naming rule of the referenced kind decides: tenant naming (names.host_name in the tenant's host namespace) when
the referenced kind's rule in the follow direction (any rule of the kind for follow none) is toHost or mode
referenced, and also when no rule covers the kind at all (the hashed name cannot point at a host object the tenant
does not own); identity when it is a fromHost mode-all rule (reference_target). A reference applies when every
condition of its `when` holds (an empty `when` always does); where several references match the same field, the
first that applies wins, and a field no applicable reference matches is copied unchanged. With wildcards, each name
pairs with the namespace field in the same list item. Namespace fields (namespacePath) never cross as written: a
paired one becomes the named object's host namespace, every other one the tenant's host namespace, name or no name,
reference applying or not. Names of kinds shared by name (fromHost mode all) cross unchanged, with the host namespace
the sharing rule maps them to (shared_host_namespace); objects.shared_references lists them so the engine can check
them against the host (translate.tenancy).

References with `namePath` (vcluster's rewriteName namePath/namespacePath): `path` matches items (a list match stands
for each of its items), the name is at namePath inside each item and pairs with the namespace at namespacePath inside
the same item (several non-empty ones are an error, as in vcluster). References with a `format` (translate.formats):
the value is written back in its format with the host name and the named object's host namespace (the tenant's, or
the sharing rule's). A value of an applying reference that does not have the format is an error, never copied (it
could name anything on the host); the $NAMESPACE part of a value whose reference does not apply still becomes the
tenant's host namespace. `when` conditions with subPath are tested per name field (on the item with namePath).
objects.followers and objects.shared_references read names through the same `named`, so they agree with what
rewrite_references_to_host writes, formats included.

Pure; inputs are never mutated (rewrite_references_to_host writes only into the caller's own copy `out`). Failure
modes: TranslationError for reference fields that are not strings, namespaces that are not strings, values without
their reference's format, references to namespaced kinds from cluster-scoped objects without namespacePath, and
every path error; rewrite_references_to_host locates them at the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crdsync.spec.model import Direction, FollowDirection, Naming, Reference, Rule, SyncConfig, SyncMode
from crdsync.translate import paths
from crdsync.translate.errors import TranslationError, json_type
from crdsync.translate.formats import has_namespace_part, parse_format, render_format
from crdsync.translate.memo import config_cache
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.patches import conditions_hold, has_relative


@dataclass(frozen=True)
class Target:
    """How the kind a reference names is named on the host."""

    tenant_naming: bool
    namespaced: bool
    naming: Naming
    # Identity-named kinds only: the fromHost mode-all rule that shares them (its selection says what is shared).
    shared_by: Rule | None = None


def tenantnamed(rule: Rule) -> bool:
    return rule.direction is Direction.TO_HOST or rule.mode is SyncMode.REFERENCED


# The target of a reference only depends on the config and these parts of the reference; finding it is a scan over all
# rules, and translations ask for every reference of every object (see translate.memo for why the cache is on the
# config).
_TargetKey = tuple[str, str, FollowDirection, bool, bool]


def reference_target(config: SyncConfig, ref: Reference, referrer_namespaced: bool) -> Target:
    """How the kind `ref` names is named on the host, under `config`."""
    cache: dict[_TargetKey, Target] = config_cache(config, "reference_targets")
    key = (ref.api_version, ref.kind, ref.follow, ref.namespace_path is not None, referrer_namespaced)
    found = cache.get(key)
    if found is None:
        found = cache.setdefault(key, _find_target(config, ref, referrer_namespaced))
    return found


def _find_target(config: SyncConfig, ref: Reference, referrer_namespaced: bool) -> Target:
    gvk = ref.gvk
    candidates = list(config.rules_for_kind(gvk.group, gvk.kind))
    if ref.follow is FollowDirection.TO_HOST:
        candidates = [r for r in candidates if r.direction is Direction.TO_HOST]
    elif ref.follow is FollowDirection.FROM_HOST:
        candidates = [r for r in candidates if r.direction is Direction.FROM_HOST]
    if not candidates:
        return Target(True, referrer_namespaced or ref.namespace_path is not None, Naming())
    # Tenant naming first (the safe reading when a kind flows both ways), then the exact version.
    best = min(candidates, key=lambda r: (not tenantnamed(r), r.gvk != gvk))
    tenant_naming = tenantnamed(best)
    return Target(tenant_naming, best.namespaced, best.naming, None if tenant_naming else best)


def shared_host_namespace(rule: Rule, virtual_namespace: str) -> str:
    """The host namespace of objects that fromHost mode-all `rule` imports into `virtual_namespace`.

    Without host.virtualNamespace a shared object keeps its namespace name. With it, every shared object lands in that
    one virtual namespace, so the way back is known only when the rule shares from exactly one host namespace.
    """
    landing = rule.host.virtual_namespace
    if landing is None:
        return virtual_namespace
    if virtual_namespace != landing:
        raise TranslationError(f"{rule.gvk.kind} objects are shared only in virtual namespace {landing!r}")
    if len(rule.host.namespaces) != 1:
        raise TranslationError(
            f"{rule.gvk.kind} objects are shared from several host namespaces into {landing!r}: a name alone does "
            "not say which host object is meant"
        )
    return rule.host.namespaces[0]


@dataclass(frozen=True)
class _Field:
    """One non-empty name field of a reference, with the namespace field that goes with it."""

    location: paths.Location
    value: str
    match: Any  # what the reference's subPath conditions are tested on: the item (namePath) or the field's value
    namespace_location: paths.Location | None
    namespace: Any  # the paired namespace field's value (None when there is none)


def _items(obj: Mapping[str, Any], ref: Reference) -> list[tuple[paths.Location, Any]]:
    """(location, value) of each item ref.path matches (namePath references): a list match stands for its items."""
    out: list[tuple[paths.Location, Any]] = []
    for location in paths.locations(obj, ref.path):
        value = paths.value_at(obj, location)
        if isinstance(value, list):
            out.extend(((*location, i), item) for i, item in enumerate(value))
        else:
            out.append((location, value))
    return out


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise TranslationError(f"a reference must be a string name, found {json_type(value)}", path)
    return value


def _item_namespace(
    ref: Reference, location: paths.Location, item: Mapping[str, Any]
) -> tuple[paths.Location | None, Any]:
    """The namespace field of one item (namespacePath rooted at the item); vcluster refuses several."""
    if ref.namespace_path is None:
        return None, None
    found = [
        (loc, paths.value_at(item, loc))
        for loc in paths.locations(item, ref.namespace_path)
        if paths.value_at(item, loc) not in (None, "")
    ]
    if len(found) > 1:
        raise TranslationError("an item has several namespaces for one name", ref.namespace_path)
    if not found:
        return None, None
    return (*location, *found[0][0]), found[0][1]


def _fields(obj: Mapping[str, Any], ref: Reference) -> list[_Field]:
    """Every non-empty name field `ref` points at, each paired with its namespace field; null/empty values name
    nothing and are skipped."""
    out: list[_Field] = []
    if ref.name_path is None:
        namespaces = _namespace_locations(obj, ref)
        for location in paths.locations(obj, ref.path):
            value = paths.value_at(obj, location)
            if value is None or value == "":
                continue
            paired = _paired(location, namespaces)
            out.append(
                _Field(
                    location,
                    _string(value, ref.path),
                    value,
                    paired[0] if paired is not None else None,
                    paired[1] if paired is not None else None,
                )
            )
        return out
    for location, item in _items(obj, ref):
        if isinstance(item, str):  # a string where an item was expected is itself a name (as in vcluster)
            if item:
                out.append(_Field(location, item, item, None, None))
            continue
        if item is None:
            continue
        if not isinstance(item, Mapping):
            raise TranslationError(f"a namePath reference needs maps (or names), found {json_type(item)}", ref.path)
        namespace_location, namespace = _item_namespace(ref, location, item)
        for inner in paths.locations(item, ref.name_path):
            value = paths.value_at(item, inner)
            if value is None or value == "":
                continue
            out.append(_Field((*location, *inner), _string(value, ref.name_path), item, namespace_location, namespace))
    return out


def _applying(ref: Reference, obj: Mapping[str, Any]) -> list[_Field] | None:
    """The name fields of `ref` in `obj` whose conditions hold (subPath conditions: per field), or None when the
    reference does not apply at all."""
    relative = has_relative(ref.when)
    if not relative and not conditions_hold(ref.when, obj):
        return None
    found = _fields(obj, ref)
    if relative:
        found = [f for f in found if conditions_hold(ref.when, obj, f.match)]
    return found


def _namespace_locations(obj: Mapping[str, Any], ref: Reference) -> list[tuple[paths.Location, Any]]:
    """(location, value) of every non-empty namespace field of `ref` (none without namespacePath)."""
    if ref.namespace_path is None:
        return []
    if ref.name_path is not None:
        out = []
        for location, item in _items(obj, ref):
            if isinstance(item, Mapping):
                for inner in paths.locations(item, ref.namespace_path):
                    value = paths.value_at(item, inner)
                    if value not in (None, ""):
                        out.append(((*location, *inner), value))
        return out
    found = ((loc, paths.value_at(obj, loc)) for loc in paths.locations(obj, ref.namespace_path))
    return [(loc, value) for loc, value in found if value not in (None, "")]


def _indices(location: paths.Location) -> tuple[int, ...]:
    return tuple(step for step in location if isinstance(step, int))


def _paired(
    name_location: paths.Location, namespaces: list[tuple[paths.Location, Any]]
) -> tuple[paths.Location, Any] | None:
    """The namespace field that goes with the name at `name_location`: the one in the same list items.

    With wildcards (`$.spec.refs[*].name` / `$.spec.refs[*].namespace`) each item pairs its own name and namespace; a
    namespace path without list indices applies to every name.
    """
    indices = _indices(name_location)
    best: tuple[paths.Location, Any] | None = None
    for location, value in namespaces:
        own = _indices(location)
        if own == indices[: len(own)] and (best is None or len(own) > len(_indices(best[0]))):
            best = (location, value)
    return best


@dataclass(frozen=True)
class Named:
    """One object a reference names, as written on the virtual side."""

    location: paths.Location  # of the name (or of the formatted value holding it)
    name: str
    namespace: str | None  # virtual namespace of the named object (None: cluster-scoped)
    namespace_location: paths.Location | None  # of the namespace field paired with the name, if any


def named(ref: Reference, target: Target, obj: Mapping[str, Any], referrer_namespace: str | None) -> list[Named]:
    """Every object `ref` names in `obj` (where it applies), each with its own namespace: the formatted value's
    $NAMESPACE, else the paired namespace field, else the referrer's (or the sharing rule's landing namespace)."""
    found = _applying(ref, obj)
    if not found:
        return []
    default = referrer_namespace
    if target.shared_by is not None and target.shared_by.host.virtual_namespace is not None:
        default = target.shared_by.host.virtual_namespace  # where every shared object of the kind is
    out = []
    for item in found:
        name, written_namespace = item.value, None
        if ref.format is not None:
            parsed = parse_format(ref.format, item.value)
            if parsed is None:
                # Copied as written, the value could name anything on the host (another tenant's Service, say).
                raise TranslationError(
                    f"value {item.value[:80]!r} does not have the reference's format {ref.format!r}",
                    ref.name_path or ref.path,
                )
            name, written_namespace = parsed
        if not target.namespaced:
            if written_namespace is not None:
                raise TranslationError(f"{ref.kind} is cluster-scoped: its format cannot hold $NAMESPACE", ref.path)
            out.append(Named(item.location, name, None, item.namespace_location))
            continue
        if item.namespace is not None and not isinstance(item.namespace, str):
            raise TranslationError(
                f"a namespace must be a string, found {json_type(item.namespace)}", ref.namespace_path or ""
            )
        namespace = written_namespace or item.namespace or default
        if namespace is None:
            raise TranslationError(
                f"{ref.kind} is namespaced but the referring object is cluster-scoped; set namespacePath", ref.path
            )
        out.append(Named(item.location, name, namespace, item.namespace_location))
    return out


def host_side(target: Target, tenant: Tenant, namespace: str | None, name: str) -> tuple[str | None, str]:
    if not target.tenant_naming:
        if namespace is None or not target.namespaced:
            return None, name
        assert target.shared_by is not None
        return shared_host_namespace(target.shared_by, namespace), name
    host_ns = tenant.host_namespace if target.namespaced else None
    return host_ns, host_name(tenant, namespace, name, target.naming)


def rewrite_references_to_host(
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
            target = reference_target(config, ref, rule.namespaced)
            for item in named(ref, target, source, referrer_namespace):
                if item.location in writes:
                    continue
                host_ns, host = host_side(target, tenant, item.namespace, item.name)
                writes[item.location] = render_format(ref.format, host, host_ns) if ref.format is not None else host
                if item.namespace_location is not None and item.namespace_location not in writes:
                    writes[item.namespace_location] = host_ns
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    # A namespace never crosses as the tenant wrote it, whether or not a name goes with it and whether or not its
    # reference applies: left alone, `{namespace: kube-system}` (or `db.kube-system.svc`) would point a host operator
    # into another namespace. The tenant's own host namespace is always a safe value.
    for ref in rule.references:
        try:
            for location, _ in _namespace_locations(source, ref):
                writes.setdefault(location, tenant.host_namespace)
            if has_namespace_part(ref):
                assert ref.format is not None
                for field_ in _fields(source, ref):
                    parsed = parse_format(ref.format, field_.value) if field_.location not in writes else None
                    if parsed is not None:
                        writes[field_.location] = render_format(ref.format, parsed[0], tenant.host_namespace)
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    # Locations outside what was copied (status, server metadata) have nothing to rewrite.
    kept = {loc: value for loc, value in writes.items() if paths.value_at(out, loc, _ABSENT) is not _ABSENT}
    paths.write_in_place(out, kept)
    return out


_ABSENT = object()
