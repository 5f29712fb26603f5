"""Object translation: the desired copy of an object on the other side, and the way back.

- to_host: a virtual object -> its desired host copy (toHost rules, and exported followers of mode-referenced rules);
  the copy records the virtual generation it was written from, for observedGeneration.
- virtual_status: a host copy's status -> the desired status of its virtual source, observedGeneration values mapped
  from host generations to virtual ones.
- to_virtual: a host object -> its desired virtual copy (fromHost rules; mode-referenced ones need the engine's target).
- reverse: a host copy made by to_host -> the synced fields of its virtual source (the round-trip law).
- followers: the objects named by references of a virtual object that must be exported or imported with it.
- reverse_fields: the host-owned fields of a host copy (rule.reverse_paths) to write back onto its virtual source;
  forward_view: the virtual object as every forward translation reads it, without those fields.

Reverse paths (toHost rules): fields the host owns on the copy (an operator assigns a port, an address). Every
forward translation (to_host, followers, shared_references) reads the virtual object through forward_view, which
drops each reverse path and every map along its chain left empty, and to_host drops them from the copy too; so
whatever reverse_fields writes onto the virtual object, the desired copy is the same (the no-ping-pong law:
to_host(v with any values at reverse paths) == to_host(v), for the same metadata.generation), crdsync never applies
those fields to the host (the operator's stay its own), and a host value is never read as a reference (it would be a
host name naming a host object the tenant could not name; the loader also refuses a reference or toHost patch that
overlaps a reverse path). reverse_fields only projects the host copy's values at those chains: it never names the
virtual object it goes to (the engine writes onto the key's own source) and never writes crdsync.io/ annotations.

Every function takes plain dicts and returns new plain dicts: inputs are never mutated, nothing does IO, and the result
depends only on the arguments. Copies never carry server-owned metadata (uid, resourceVersion, managedFields, ...) and
never carry the source's keys under crdsync.io/ (tenants cannot forge bookkeeping); our bookkeeping is added last, after
the spec's patches, so patches cannot break the way back either.

References are rewritten by the naming rule of the referenced kind: tenant naming (names.host_name in the tenant's host
namespace) when the referenced kind's rule in the follow direction (any rule of the kind for follow none) is toHost or
mode referenced, and also when no rule covers the kind at all (the hashed name cannot point at a host object the tenant
does not own); identity when it is a fromHost mode-all rule. A reference applies when every condition of its `when`
holds (an empty `when` always does); where several references match the same field, the first that applies wins, and
a field no applicable reference matches is copied unchanged. With wildcards, each name pairs with the namespace field
in the same list item. Namespace fields (namespacePath) never cross as written: a paired one becomes the named
object's host namespace, every other one the tenant's host namespace, name or no name, reference applying or not.
Names of kinds shared by name (fromHost mode all) cross unchanged; shared_references lists them, with the host
namespace the sharing rule maps them to, so the engine can check them against the host (translate.tenancy).

References with `namePath` (vcluster's rewriteName namePath/namespacePath): `path` matches items (a list match stands
for each of its items), the name is at namePath inside each item and pairs with the namespace at namespacePath inside
the same item (several non-empty ones are an error, as in vcluster). References with a `format` (vcluster's
rewriteName `regex`): the field holds the name inside literal text, `$NAME` and at most one `$NAMESPACE`
(parse_format / render_format; anchored, literal, `$NAME` a Kubernetes name, `$NAMESPACE` a DNS label); the value is
written back in its format with the host name and the named object's host namespace (the tenant's, or the sharing
rule's). A value of an applying reference that does not have the format is an error, never copied (it could name
anything on the host); the $NAMESPACE part of a value whose reference does not apply still becomes the tenant's host
namespace. `when` conditions with subPath are tested per name field (on the item with namePath). followers and
shared_references read names through the same _named, so they agree with what to_host writes, formats included.

Every translation first refuses objects beyond the shape limits (tenancy.check_shape), before any recursive code
touches them.

Failure modes: TranslationError (located at the rule, reference or patch; str() is one line) for objects without
metadata.name, namespaced objects without a namespace, a rule of the wrong direction or kind, reference fields that
are not strings, references to namespaced kinds from cluster-scoped objects without namespacePath, and every path /
patch error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from crdsync.spec.checks.references import format_problem
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
from crdsync.spec.paths import field_chain
from crdsync.translate import paths
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_DIGEST,
    ANN_SOURCE_GENERATION,
    LAST_APPLIED,
    PREFIX,
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
from crdsync.translate.patches import apply_patches_in_place, conditions_hold, has_relative
from crdsync.translate.tenancy import check_shape

__all__ = [
    "SERVER_OWNED_METADATA",
    "FollowRef",
    "Resolver",
    "SharedRef",
    "TranslationError",
    "followers",
    "forward_view",
    "reverse",
    "reverse_fields",
    "shared_host_namespace",
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
    # Identity-named kinds only: the fromHost mode-all rule that shares them (its selection says what is shared).
    shared_by: Rule | None = None


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
    tenant_naming = _tenant_named(best)
    return _Target(tenant_naming, best.namespaced, best.naming, None if tenant_naming else best)


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


# A formatted value's parts (Reference.format): $NAME a Kubernetes name (DNS-1123 subdomain), $NAMESPACE a namespace
# (DNS-1123 label: no dot, so `$NAME.$NAMESPACE` splits one way). The spec checks the format (checks.format_problem).
_FORMAT_TOKEN = re.compile(r"\$(NAMESPACE|NAME)")
_FORMAT_PARTS = {
    "NAME": r"(?P<name>[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)",
    "NAMESPACE": r"(?P<namespace>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)",
}
_MAX_NAME, _MAX_NAMESPACE = 253, 63


@lru_cache(maxsize=256)
def _format_regex(fmt: str) -> re.Pattern[str]:
    problem = format_problem(fmt)
    if problem is not None:
        raise TranslationError(f"format {fmt!r}: {problem}")
    pieces = _FORMAT_TOKEN.split(fmt)  # literal, token, literal, ...
    return re.compile("".join(_FORMAT_PARTS[piece] if i % 2 else re.escape(piece) for i, piece in enumerate(pieces)))


def parse_format(fmt: str, value: str) -> tuple[str, str | None] | None:
    """(name, namespace or None) of a value of the whole format `fmt`, or None when it does not have it.

    Values longer than any valid one are refused before the regular expression sees them (its backtracking is
    quadratic in the length, and a tenant writes the value)."""
    if len(value) > len(fmt) + _MAX_NAME + _MAX_NAMESPACE:
        return None
    match = _format_regex(fmt).fullmatch(value)
    if match is None:
        return None
    name, namespace = match.group("name"), match.groupdict().get("namespace")
    if len(name) > _MAX_NAME or (namespace is not None and len(namespace) > _MAX_NAMESPACE):
        return None
    return name, namespace


def render_format(fmt: str, name: str, namespace: str | None) -> str:
    """`fmt` with $NAME and $NAMESPACE replaced (the inverse of parse_format)."""
    return _FORMAT_TOKEN.sub(lambda m: name if m.group(1) == "NAME" else namespace or "", fmt)


def _has_namespace_part(ref: Reference) -> bool:
    return ref.format is not None and "$NAMESPACE" in ref.format


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
            out.append(
                _Field((*location, *inner), _string(value, ref.name_path), item, namespace_location, namespace)
            )
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
class _Named:
    """One object a reference names, as written on the virtual side."""

    location: paths.Location  # of the name (or of the formatted value holding it)
    name: str
    namespace: str | None  # virtual namespace of the named object (None: cluster-scoped)
    namespace_location: paths.Location | None  # of the namespace field paired with the name, if any


def _named(ref: Reference, target: _Target, obj: Mapping[str, Any], referrer_namespace: str | None) -> list[_Named]:
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
            out.append(_Named(item.location, name, None, item.namespace_location))
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
        out.append(_Named(item.location, name, namespace, item.namespace_location))
    return out


def _host_side(target: _Target, tenant: Tenant, namespace: str | None, name: str) -> tuple[str | None, str]:
    if not target.tenant_naming:
        if namespace is None or not target.namespaced:
            return None, name
        assert target.shared_by is not None
        return shared_host_namespace(target.shared_by, namespace), name
    host_ns = tenant.host_namespace if target.namespaced else None
    return host_ns, host_name(tenant, namespace, name, target.naming)


def _shared_virtual_namespace(rule: Rule, host_namespace: str) -> str | None:
    """The inverse of shared_host_namespace, or None when `host_namespace` is not one the rule shares into one."""
    landing = rule.host.virtual_namespace
    if landing is None:
        return host_namespace
    return landing if rule.host.namespaces == (host_namespace,) else None


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
            target = _target(config, ref, rule.namespaced)
            for item in _named(ref, target, source, referrer_namespace):
                if item.location in writes:
                    continue
                host_ns, host = _host_side(target, tenant, item.namespace, item.name)
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
            if _has_namespace_part(ref):
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


def _rewrite_references_back(
    config: SyncConfig,
    rule: Rule,
    obj: dict[str, Any],
    tenant: Tenant,
    resolve: Resolver | None,
) -> dict[str, Any]:
    """Map tenant-named reference values in a host-side object back to virtual names (where `resolve` knows them),
    formatted values in their format; each paired namespace field goes back with its own name."""
    if resolve is None:
        return obj
    writes: dict[paths.Location, Any] = {}
    for ref in rule.references:
        try:
            found = _applying(ref, obj)
            if not found:
                continue
            target = _target(config, ref, rule.namespaced)
            if not target.tenant_naming and not _has_namespace_part(ref):
                continue  # identity is its own inverse
            host_ns = tenant.host_namespace if target.namespaced else None
            for item in found:
                if item.location in writes:
                    continue
                name, written_namespace = item.value, None
                if ref.format is not None:
                    parsed = parse_format(ref.format, item.value)
                    if parsed is None:
                        continue  # not a value to_host wrote: kept as the host has it
                    name, written_namespace = parsed
                if not target.tenant_naming:
                    # A shared object keeps its name; its namespace goes back through the sharing rule.
                    assert target.shared_by is not None and written_namespace is not None
                    back_ns = _shared_virtual_namespace(target.shared_by, written_namespace)
                    if back_ns is not None:
                        writes[item.location] = render_format(ref.format or "$NAME", name, back_ns)
                    continue
                if written_namespace is not None and written_namespace != host_ns:
                    continue  # not in the tenant's host namespace: not a name to_host wrote
                resolved = resolve(ref.gvk, host_ns, name)
                if resolved is None:
                    continue
                back_ns, back_name = resolved
                writes[item.location] = (
                    render_format(ref.format, back_name, back_ns) if ref.format is not None else back_name
                )
                if back_ns is not None and target.namespaced and item.namespace_location is not None:
                    writes.setdefault(item.namespace_location, back_ns)
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    paths.write_in_place(obj, writes)
    return obj


# --- reverse paths ---------------------------------------------------------------------------------------------------


def _reverse_chain(path: str) -> tuple[str, ...]:
    try:
        chain = field_chain(path)
    except ValueError:
        chain = None
    if chain is None:  # the loader refuses these; a rule built in code gets a located error instead of a guess
        raise TranslationError("a reverse path must be a plain chain of field names", path)
    return chain


def _drop_chain(root: dict[str, Any], chain: tuple[str, ...]) -> None:
    """Remove the field at `chain` from `root` and every map along the chain that is left empty, copying (never
    mutating) the maps it changes: `root` is a fresh top-level dict whose values may be the caller's."""
    parents: list[tuple[dict[str, Any], str]] = []
    node = root
    for step in chain[:-1]:
        child = node.get(step)
        if not isinstance(child, Mapping):
            break
        copied = dict(child)
        node[step] = copied
        parents.append((node, step))
        node = copied
    else:
        node.pop(chain[-1], None)
    # A map along the chain holding nothing else goes too: writing a reverse field may have created it, and the
    # desired copy must not depend on whether it did.
    for parent, step in reversed(parents):
        value = parent.get(step)
        if isinstance(value, Mapping) and not value and not (parent is root and step == "metadata"):
            del parent[step]
        else:
            break


def forward_view(rule: Rule, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """`obj` as the forward translations of toHost `rule` read it: without the fields at rule.reverse_paths (and maps
    along their chains left empty). Copies only the maps it changes; `obj` is returned as is without reverse paths."""
    if not rule.reverse_paths:
        return obj
    out = dict(obj)
    for path in rule.reverse_paths:
        _drop_chain(out, _reverse_chain(path))
    return out


def _writable_back(chain: tuple[str, ...]) -> bool:
    """Reverse paths write spec fields and annotations crdsync and kubectl do not own, nothing else (as the loader
    checks): a crdsync.io/ key on the virtual source would make it look like a copy."""
    if chain[0] == "spec":
        return len(chain) >= 2
    return (
        len(chain) == 3
        and chain[:2] == ("metadata", "annotations")
        and not chain[2].startswith(PREFIX)
        and chain[2] != LAST_APPLIED
    )


def reverse_fields(rule: Rule, host_obj: Mapping[str, Any]) -> dict[str, Any]:
    """The host-owned fields of `host_obj` (a copy made by to_host under toHost `rule`) to write onto its virtual
    source: the values at rule.reverse_paths that exist and are not null, with their ancestors (maps), e.g.
    {"spec": {"assignedPort": 30080}}; {} when there are none. Values are copied as the host has them (like status).
    """

    def build() -> dict[str, Any]:
        if rule.direction is not Direction.TO_HOST:
            raise TranslationError(f"reverse paths need a toHost rule, got the {rule.direction.value} rule")
        check_shape(host_obj, "host object")
        selected: list[paths.Location] = []
        for path in rule.reverse_paths:
            chain = _reverse_chain(path)
            if not _writable_back(chain):
                raise TranslationError("reverse paths write only spec fields and annotations not crdsync's", path)
            if paths.value_at(host_obj, chain) is not None:
                selected.append(chain)
        projected = paths.project(host_obj, selected) if selected else {}
        return projected if isinstance(projected, dict) else {}

    return _located(rule, build)


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
        check_shape(virtual_obj)
        _check_kind(rule, virtual_obj)
        namespace, name = _identity(rule, virtual_obj)
        view = forward_view(rule, virtual_obj)  # the host owns the reverse paths: never read, never sent
        out = strip_server_fields(view)
        out["metadata"] = _copied_metadata(_metadata(view))
        out = _rewrite_references_to_host(config, rule, view, out, tenant, namespace)
        apply_patches_in_place(rule.patches_to_host, out, vcluster=tenant.vcluster, other=view)
        for path in rule.reverse_paths:
            _drop_chain(out, _reverse_chain(path))
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


_LOCATION = re.compile(r"location=Location\(file=.*?, line=\d+, column=\d+\)")


# (id(config), id(tenant), status_subresource) -> (config, tenant, fingerprint): by identity, since hashing a whole
# config per object costs more than the digest saves; the objects are held so their ids stay theirs.
_FINGERPRINTS: dict[tuple[int, int, bool], tuple[SyncConfig, Tenant, bytes]] = {}


def _rules_fingerprint(config: SyncConfig, tenant: Tenant, status_subresource: bool) -> bytes:
    """What to_host's result depends on besides the source: the rules (without where they were written, so editing a
    comment in a mapping rewrites nothing), the tenant and crdsync's version (translation may change between them)."""
    slot = (id(config), id(tenant), status_subresource)
    cached = _FINGERPRINTS.get(slot)
    if cached is not None and cached[0] is config and cached[1] is tenant:
        return cached[2]
    from crdsync import __version__

    rules = _LOCATION.sub("", repr(config.rules))
    text = f"{__version__}|{tenant!r}|{status_subresource}|{rules}"
    fingerprint = hashlib.blake2b(text.encode(), digest_size=16).digest()
    if len(_FINGERPRINTS) > 64:
        _FINGERPRINTS.clear()
    _FINGERPRINTS[slot] = (config, tenant, fingerprint)
    return fingerprint


def source_digest(
    config: SyncConfig, rule: Rule, virtual_obj: Mapping[str, Any], tenant: Tenant, *, status_subresource: bool
) -> str | None:
    """A digest of every input of to_host(config, rule, virtual_obj, tenant, status_subresource): the rules, the
    tenant and the source as to_host reads it (forward_view, without status and server metadata other than uid and,
    when it is recorded, generation). Equal digests mean equal desired copies (to_host is pure). None when the source
    cannot be digested (the full path then decides)."""
    view = forward_view(rule, virtual_obj)
    meta = _metadata(view)
    read = {k: meta.get(k) for k in ("name", "namespace", "labels", "annotations", "uid")}
    if _maps_generations(rule, status_subresource):
        read["generation"] = meta.get("generation")
    body = {k: v for k, v in view.items() if k not in ("status", "metadata")}
    try:
        encoded = json.dumps([read, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None
    fingerprint = _rules_fingerprint(config, tenant, status_subresource)
    return hashlib.blake2b(fingerprint + encoded.encode(), digest_size=16).hexdigest()


def with_source_digest(copy: dict[str, Any], digest: str) -> dict[str, Any]:
    """`copy` (a to_host result, changed in place and returned) stamped with ANN_SOURCE_DIGEST: "<digest>.<fields>",
    the number of fields an apply of the stamped copy owns."""
    meta = copy["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}), ANN_SOURCE_DIGEST: digest}
    meta["annotations"][ANN_SOURCE_DIGEST] = f"{digest}.{applied_field_count(copy)}"
    return copy


def applied_field_count(obj: Mapping[str, Any]) -> int:
    """How many fields an apply (or create) of `obj` owns, counted as the apiserver's managedFields list them: every
    leaf (scalar, list, empty map), without apiVersion, kind, metadata.name/namespace and status. Iterative."""
    meta = obj.get("metadata")
    body: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    if isinstance(meta, Mapping):
        owned = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
        if owned:
            body["metadata"] = owned
    count = 0
    stack: list[Any] = [body]
    while stack:
        value = stack.pop()
        for item in value.values():
            if isinstance(item, Mapping) and item:
                stack.append(item)
            else:
                count += 1
    return count


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
        check_shape(host_obj, "host object")
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
        check_shape(host_obj, "host object")
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
    virtual_obj = forward_view(rule, virtual_obj)  # host-owned values are never read as names
    try:
        namespace, _ = _identity(rule, virtual_obj)
    except TranslationError as exc:
        raise exc.located(rule.location) from None
    found: set[FollowRef] = set()
    for ref in rule.references:
        if ref.follow is FollowDirection.NONE:
            continue
        try:
            target = _target(config, ref, rule.namespaced)  # _named applies the reference's `when`
            for item in _named(ref, target, virtual_obj, namespace):
                host_ns, host = _host_side(target, tenant, item.namespace, item.name)
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
    try:
        namespace, _ = _identity(rule, virtual_obj)
    except TranslationError as exc:
        raise exc.located(rule.location) from None
    found: set[SharedRef] = set()
    for ref in rule.references:
        try:
            target = _target(config, ref, rule.namespaced)  # _named applies the reference's `when`
            if target.shared_by is None:
                continue
            for item in _named(ref, target, virtual_obj, namespace):
                host_ns = shared_host_namespace(target.shared_by, item.namespace) if item.namespace else None
                found.add(SharedRef(ref.gvk, item.namespace, host_ns, item.name, target.shared_by))
        except TranslationError as exc:
            raise exc.located(ref.location) from None
    return tuple(sorted(found, key=lambda f: (f.gvk, f.host_namespace or "", f.name)))
