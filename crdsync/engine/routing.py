"""Event routing: which keys an informer event queues (controller-runtime's event handlers and mappers).

Pure functions of the event and a read-only view of the engine (configuration, tenant, reference index, namespace
labels): they return the keys to queue and, for a virtual source, the references to record in the index; the engine
applies both. They run on informer threads, so they are cheap and do no IO.

The tenant boundary here: an event is routed by where the object stands and what this tenant's naming rule proves,
never by bookkeeping the tenant could write. A host object goes to a toHost key only when tenancy proves it is this
tenant's copy of that source; a virtual object claiming to be an import goes to the import key of the place it stands
in (never to the source it names) and never to the toHost rule (which would export a copy of a host object).
Failure modes: none raised; a source whose references cannot be read is indexed as naming nothing (its reconcile
reports why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from crdsync.engine.keys import Key, ObjectName, SharedName, Task
from crdsync.engine.kinds import KindRuntime
from crdsync.spec.model import Direction, Rule, SyncConfig, SyncMode
from crdsync.translate.bookkeeping import LABEL_ROLE, SIDE_HOST, source_of
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import FollowRef, followers, shared_references
from crdsync.translate.references import shared_host_namespace
from crdsync.translate.selectors import selects_virtual
from crdsync.translate.tenancy import trusted_host_source

log = logging.getLogger("crdsync.routing")

Obj = dict[str, Any]
DELETED = "DELETED"


class IndexView(Protocol):
    """What routing reads from the reference index (crdsync.engine.keys.ReferenceIndex)."""

    def referrers(self, follower: Key) -> frozenset[Key]: ...
    def import_key(self, group: str, kind: str, target: ObjectName) -> Key: ...
    def import_for_host(self, group: str, kind: str, namespace: str | None, name: str) -> Key | None: ...
    def shared_referrers(self, name: SharedName) -> frozenset[Key]: ...


@dataclass(frozen=True)
class View:
    config: SyncConfig
    tenant: Tenant
    index: IndexView
    namespace_labels: Callable[[str | None], Mapping[str, str] | None]


@dataclass(frozen=True)
class References:
    """What a virtual source names now, for the reference index: followers, and objects shared by name."""

    referrer: Key
    follows: tuple[FollowRef, ...]
    shared: tuple[SharedName, ...]


@dataclass(frozen=True)
class Routes:
    keys: tuple[Key, ...] = ()
    references: References | None = None  # to record in the index (after queueing `keys`)

    def __add__(self, other: Routes) -> Routes:
        assert self.references is None or other.references is None
        return Routes(self.keys + other.keys, self.references or other.references)


def _name_of(obj: Mapping[str, Any]) -> ObjectName:
    meta = obj.get("metadata") or {}
    return ObjectName(meta.get("namespace"), meta["name"])


def virtual_event(view: View, runtime: KindRuntime, etype: str, obj: Obj) -> Routes:
    """A virtual object changed. Whatever stands where a fromHost (mode all) rule puts its copies is judged by that
    rule; an object claiming to be an import goes to the import or fromHost key only; the tenant's own objects go to
    the toHost rule (a kind with both rules gets both routings for the tenant's own objects in landing namespaces)."""
    group, kind = runtime.gvk.group, runtime.gvk.kind
    here = _name_of(obj)
    source = source_of(obj)
    claims_import = source is not None and source.side == SIDE_HOST
    meta = obj.get("metadata") or {}
    if claims_import and (meta.get("labels") or {}).get(LABEL_ROLE) == "follower":
        # An import, or what claims to be one: the tenant can write these labels, so the key is where the object
        # stands, never the source it names.
        return Routes((view.index.import_key(group, kind, here),))
    routes = Routes()
    from_host = runtime.rules.get(Direction.FROM_HOST)
    if from_host is not None and from_host.mode is SyncMode.ALL:
        # Whatever stands where a shared object's copy goes (our copy, a forged one, or the tenant's own object
        # replacing ours) is judged against the host object the sharing rule maps that place back to.
        try:
            host_ns = shared_host_namespace(from_host, here.namespace) if here.namespace else None
            routes += Routes((Key(Task.FROM_HOST, group, kind, ObjectName(host_ns, here.name), here),))
        except TranslationError:
            pass  # not a place this rule puts anything: the tenant's own object
    if claims_import:
        return routes
    to_host = runtime.rules.get(Direction.TO_HOST)
    if to_host is not None and to_host.mode is SyncMode.ALL:
        routes += virtual_source(view, runtime, to_host, obj, deleted=etype == DELETED)
    elif to_host is not None:
        routes += _if_referenced(view, Key(Task.EXPORT, group, kind, here, host_target(view, runtime, to_host, here)))
    if from_host is not None and from_host.mode is SyncMode.REFERENCED:
        routes += _if_referenced(view, view.index.import_key(group, kind, here))
    return routes


def _if_referenced(view: View, key: Key) -> Routes:
    return Routes((key,)) if view.index.referrers(key) else Routes()


def virtual_source(view: View, runtime: KindRuntime, rule: Rule, obj: Obj, *, deleted: bool) -> Routes:
    """A toHost (mode all) source: its own key, and what it references now (for the index: the followers whose
    referrers change are queued by the engine when it records them)."""
    here = _name_of(obj)
    key = Key(Task.TO_HOST, runtime.gvk.group, runtime.gvk.kind, here, host_target(view, runtime, rule, here))
    wanted = (
        not deleted
        and (obj.get("metadata") or {}).get("deletionTimestamp") is None
        and selects_virtual(rule, obj, view.namespace_labels(here.namespace))
    )
    follows: tuple[FollowRef, ...] = ()
    shared: tuple[SharedName, ...] = ()
    if wanted and rule.references:
        try:
            follows = followers(view.config, rule, obj, view.tenant)
            shared = tuple(
                (ref.gvk.group, ref.gvk.kind, ref.host_namespace, ref.name)
                for ref in shared_references(view.config, rule, obj)
            )
        except Exception as exc:  # reported by the reconcile of this key; index it as referencing nothing
            log.debug("%s: references not indexed: %s", key, exc)
    return Routes((key,), References(key, follows, shared))


def host_event(view: View, runtime: KindRuntime, obj: Obj) -> Routes:
    """A host object changed. One that is provably this tenant's toHost copy goes to its source's key and nowhere else
    (the fromHost rule never selects a copy); any other goes to the fromHost rule, and to the imports and shared-name
    referrers that name it."""
    group, kind = runtime.gvk.group, runtime.gvk.kind
    here = _name_of(obj)
    to_host = runtime.rules.get(Direction.TO_HOST)
    if to_host is not None and runtime.host_res is not None:
        # Bookkeeping counts only when the object stands where this tenant's naming rule puts the source it claims
        # (another tenant's copy, or labels an operator copied from tenant input, never route here), and the task
        # comes from the rule's mode, not from a label.
        source = trusted_host_source(
            obj, view.tenant, runtime.gvk, namespaced=runtime.host_res.namespaced, naming=to_host.naming
        )
        if source is not None:
            task = Task.TO_HOST if to_host.mode is SyncMode.ALL else Task.EXPORT
            return Routes((Key(task, group, kind, ObjectName(source.namespace, source.name), here),))
    keys: list[Key] = []
    from_host = runtime.rules.get(Direction.FROM_HOST)
    if from_host is not None and from_host.mode is SyncMode.ALL:
        keys.append(Key(Task.FROM_HOST, group, kind, here, virtual_target(runtime, from_host, here)))
        # Shared (or unshared) just now: whoever names it is judged again.
        keys += sorted(view.index.shared_referrers((group, kind, here.namespace, here.name)))
    imported = view.index.import_for_host(group, kind, here.namespace, here.name)
    if imported is not None:
        keys.append(imported)
    return Routes(tuple(keys))


def namespace_event(view: View, kinds: Iterable[KindRuntime], obj: Obj) -> list[Routes]:
    """A virtual namespace changed (its labels may select or unselect sources): every toHost source in it whose rule
    has a namespace selector is routed again."""
    namespace = (obj.get("metadata") or {}).get("name")
    found: list[Routes] = []
    for runtime in kinds:
        rule = runtime.rules.get(Direction.TO_HOST)
        if rule is None or rule.namespace_selector is None or runtime.virtual is None:
            continue
        for item in runtime.virtual.list():
            if (item.get("metadata") or {}).get("namespace") == namespace:
                found.append(virtual_source(view, runtime, rule, item, deleted=False))
    return found


def host_target(view: View, runtime: KindRuntime, rule: Rule, source: ObjectName) -> ObjectName | None:
    """Where the toHost rule puts the copy of virtual `source` (None before the host serves the kind)."""
    if runtime.host_res is None:
        return None
    namespace = view.tenant.host_namespace if runtime.host_res.namespaced else None
    return ObjectName(namespace, host_name(view.tenant, source.namespace, source.name, rule.naming))


def virtual_target(runtime: KindRuntime, rule: Rule, source: ObjectName) -> ObjectName | None:
    """Where the fromHost rule puts the copy of host `source` (None before the virtual cluster serves the kind)."""
    if runtime.virtual_res is None:
        return None
    namespace = (rule.host.virtual_namespace or source.namespace) if runtime.virtual_res.namespaced else None
    return ObjectName(namespace, source.name)
