"""FakeCluster: one in-memory apiserver with the write semantics the engine, events and leases rely on.

What it models, each as the apiserver does it:
- identity: uid and creationTimestamp on create; resourceVersions are opaque strings, per cluster (two clusters hand
  out the same values), compared only for equality: numeric but not monotonic, so code that orders them as integers
  gets caught (`opaque_versions=False` hands out 1, 2, 3, ... for a test that wants to read them).
- generation: 1 on create; bumped when anything outside metadata (and status, with a status subresource) changes,
  and when a deletion is held by finalizers; never by metadata or status writes.
- managedFields per (manager, operation, subresource), fieldmanager style (fields.py): an Update owns what it
  changed and takes it from the others; an Apply owns exactly its configuration, removes fields its manager applied
  before, left out now and nobody else owns, and conflicts (409) with other owners of values it changes unless forced
  (forced: the others lose them). A write that carries managedFields replaces them (how ownership is converted).
- verbs: create (AlreadyExists), apply (resourceVersion in the body is a precondition), replace (resourceVersion
  precondition, required for custom resources), merge and JSON patches (a resourceVersion they leave differing from
  the stored one is a Conflict; `test` ops), delete (uid/resourceVersion preconditions); NotFound for a missing
  object or a kind this cluster does not serve (get answers None, as KubeClient.get does).
- status subresource: main writes leave status alone, /status writes leave everything else alone.
- finalizers hold a deletion (deletionTimestamp); a terminating object accepts no new finalizers; the last one
  removed deletes it.
- immutable fields (`immutable`): an update that changes one is refused with 422, as a CRD rule or webhook does.
- defaults (`defaults`): a per-kind function the server runs on every stored object (not owned by an applier).
- watch delivery (delivery.py): synchronous, delayed, or delayed and reordered across informers.
- CRD removal (`remove_resource`): instances deleted, the kind leaves discovery, its informers get on_gone.
- objects of any depth are stored and compared without recursion.

Not modelled: strategic merge patch, associative lists (every list is atomic), label selectors on reads, namespace
existence, garbage collection by ownerReferences, managers capped at 10.

The test-side helpers (`put`, `remove`, `writes`, `our_writes`, `calls`, `fail`, `fail_apply`) are not part of the
client surface; everything else matches crdsync.kube.protocols.ClusterClient.
"""

from __future__ import annotations

import builtins
import copy
import functools
import itertools
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Self

from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import PatchType
from crdsync.kube.errors import AlreadyExists, ApiError, BadRequest, Conflict, Invalid, NotFound
from crdsync.kube.protocols import ClusterClient
from crdsync.kube.resource import Resource
from tests.fakeapi.delivery import Delivery
from tests.fakeapi.fields import (
    Obj,
    Path,
    apply_merge,
    clone,
    clone_object,
    diff,
    equal,
    from_fields_v1,
    get_path,
    json_patch,
    leaves,
    merge_patch,
    owned_within,
    remove_path,
    strip,
    to_fields_v1,
)

Write = tuple[str, str, str | None, str]  # (verb, kind, namespace, name)
Slot = tuple[str, str, str | None, str]  # (group, kind, namespace, name)
Owner = tuple[str, str, str | None]  # (manager, operation, subresource)
Gate = Callable[[str, str], None]
CREATED_AT = "2026-01-01T00:00:00Z"
DELETED_AT = "2026-01-01T00:00:01Z"
ALL_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete"})


def resource(
    group: str, version: str, kind: str, plural: str, *, namespaced: bool = True, status: bool = True
) -> Resource:
    return Resource(group, version, kind, plural, namespaced=namespaced, has_status=status, verbs=ALL_VERBS)


def is_custom(res: Resource) -> bool:
    """Custom resources require a resourceVersion on PUT; built-in kinds (core, *.k8s.io) allow unconditional ones."""
    return "." in res.group and not res.group.endswith(".k8s.io")


class _Settings:
    """What every view of one cluster shares, even when a test reassigns it after making the view."""

    def __init__(self) -> None:
        self.fail_apply: Callable[[Obj], ApiError | None] = lambda obj: None


class FakeCluster:
    """One API server's objects; satisfies crdsync.kube.protocols.ClusterClient."""

    def __init__(
        self, name: str, resources: Iterable[Resource], *, opaque_versions: bool = True, seed: int = 0
    ) -> None:
        self.name = name
        self.resources: dict[tuple[str, str], Resource] = {(r.group, r.kind): r for r in resources}
        self.objects: dict[Slot, Obj] = {}
        self.writes: list[Write] = []  # our writes, and "delete-by-user" for remove()
        self.sent: list[tuple[Write, Any]] = []  # our writes with the body each sent (None for a delete)
        self.calls: list[str] = []  # every client verb called (get included), in order
        self.fail: dict[str, ApiError] = {}  # verb -> raised by every call of it
        self.informers: list[Any] = []  # FakeInformer (typed loosely: informer.py imports this module)
        # (group, kind) -> field paths (map keys from the root) an update may not change: 422, nothing stored.
        self.immutable: dict[tuple[str, str], builtins.list[tuple[str, ...]]] = {}
        self.defaults: dict[tuple[str, str], Callable[[Obj], None]] = {}
        self.lock = threading.RLock()
        self.field_manager = "crdsync"
        self.delivery = Delivery(seed)
        self._settings = _Settings()
        self._gate: Gate | None = None
        self._opaque = opaque_versions
        self._versions = itertools.count(1)

    # -- settings shared by every view ------------------------------------------------------------------------------
    @property
    def delay(self) -> float:
        return self.delivery.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.delivery.delay = seconds

    @property
    def jitter(self) -> float:
        return self.delivery.jitter

    @jitter.setter
    def jitter(self, seconds: float) -> None:
        self.delivery.jitter = seconds

    @property
    def fail_apply(self) -> Callable[[Obj], ApiError | None]:
        return self._settings.fail_apply

    @fail_apply.setter
    def fail_apply(self, check: Callable[[Obj], ApiError | None]) -> None:
        self._settings.fail_apply = check

    def pending_deliveries(self) -> int:
        return self.delivery.pending()

    def with_write_gate(self, gate: Gate | None) -> Self:
        """A view sharing everything, whose writes first pass `gate(method, path)` (KubeClient.with_write_gate)."""
        view = copy.copy(self)
        view._gate = gate
        return view

    # -- discovery --------------------------------------------------------------------------------------------------
    def resource_for(self, gvk: GroupVersionKind) -> Resource | None:
        self._called("discovery")
        return self.resources.get((gvk.group, gvk.kind))

    def invalidate_discovery(self) -> None:
        pass

    def remove_resource(self, res: Resource) -> None:
        """The kind's CRD is deleted: its objects go (DELETED events), it leaves discovery, its informers are gone."""
        with self.lock:
            for slot in [s for s in self.objects if s[:2] == (res.group, res.kind)]:
                obj = self.objects.pop(slot)
                obj["metadata"]["resourceVersion"] = self._next_version()
                self._notify(res, "DELETED", obj)
            self.resources.pop((res.group, res.kind), None)
            for informer in list(self.informers):
                if (informer.res.group, informer.res.kind) == (res.group, res.kind):
                    self.delivery.send(id(informer), informer.lose_resource)

    # -- reads ------------------------------------------------------------------------------------------------------
    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        with self.lock:
            self._called("get")
            obj = self.objects.get(self._slot(res, namespace, name))
            return clone_object(obj) if obj is not None else None

    def list(self, res: Resource, namespace: str | None = None) -> builtins.list[Obj]:
        """Every object of the kind (in `namespace`); a test helper, and what informers list on start."""
        with self.lock:
            return [
                clone_object(o)
                for (g, k, ns, _), o in self.objects.items()
                if (g, k) == (res.group, res.kind) and (namespace is None or ns == namespace)
            ]

    # -- writes -----------------------------------------------------------------------------------------------------
    def create(self, res: Resource, obj: Obj, *, namespace: str | None = None) -> Obj:
        with self.lock:
            meta = obj.get("metadata") or {}
            ns = namespace or meta.get("namespace")
            self._called("create", res, ns, None, "POST")
            if meta.get("resourceVersion"):
                raise BadRequest(400, "BadRequest", "resourceVersion should not be set on objects to be created", None)
            stored = clone_object(obj)
            stored["metadata"] = {**stored.get("metadata", {})}
            if not stored["metadata"].get("name") and meta.get("generateName"):
                stored["metadata"]["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            slot = self._slot(res, ns, stored["metadata"].get("name", ""))
            if slot in self.objects:
                raise AlreadyExists(409, "AlreadyExists", f'{res.plural} "{slot[3]}" already exists', None)
            self._wrote(("create", res.kind, slot[2], slot[3]), obj)
            return self._create(res, slot, stored, self.field_manager, "Update")

    def apply(self, res: Resource, obj: Obj, *, force: bool = True, subresource: str | None = None) -> Obj:
        with self.lock:
            meta = obj.get("metadata") or {}
            slot = self._slot(res, meta.get("namespace"), meta.get("name", ""))
            self._called("apply", res, slot[2], slot[3], "PATCH")
            error = self.fail_apply(obj)
            if error is not None:
                raise error
            current = self.objects.get(slot)
            if subresource == "status" and current is None:
                raise NotFound(404, "NotFound", f'{res.plural} "{slot[3]}" not found', None)
            version = meta.get("resourceVersion")
            if current is not None and version not in (None, current["metadata"]["resourceVersion"]):
                raise Conflict(409, "Conflict", "the object has been modified; please apply your changes", None)
            config = clone_object(obj)
            config["metadata"] = {k: v for k, v in config.get("metadata", {}).items() if k != "resourceVersion"}
            if subresource == "status":
                config = {"status": config.get("status")}
            elif res.has_status:
                config.pop("status", None)
            self._wrote(("apply" + (f"/{subresource}" if subresource else ""), res.kind, slot[2], slot[3]), obj)
            if current is None:
                return self._create(res, slot, config, self.field_manager, "Apply")
            return self._apply(res, slot, current, config, force, subresource)

    def replace(self, res: Resource, obj: Obj, *, subresource: str | None = None) -> Obj:
        with self.lock:
            meta = obj.get("metadata") or {}
            slot = self._slot(res, meta.get("namespace"), meta.get("name", ""))
            self._called("replace", res, slot[2], slot[3], "PUT")
            current = self._existing(res, slot)
            version = meta.get("resourceVersion")
            if not version and is_custom(res):
                message = "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
                raise Invalid(422, "Invalid", message, None)
            if version and version != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "the object has been modified; please apply your changes", None)
            self._wrote(("replace", res.kind, slot[2], slot[3]), obj)
            return self._update(res, slot, current, clone_object(obj), subresource, self.field_manager)

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> Obj:
        with self.lock:
            slot = self._slot(res, namespace, name)
            self._called("patch", res, slot[2], name, "PATCH")
            current = self._existing(res, slot)
            if patch_type == "json":
                if not isinstance(patch, list):
                    raise BadRequest(400, "BadRequest", "a JSON patch is a list of operations", None)
                patched = json_patch(current, patch)
            elif patch_type == "merge":
                if not isinstance(patch, dict):
                    raise BadRequest(400, "BadRequest", "a merge patch is an object", None)
                patched = merge_patch(clone_object(current), patch)
            else:
                raise BadRequest(400, "BadRequest", f"the fake does not model {patch_type} patches", None)
            version = (patched.get("metadata") or {}).get("resourceVersion")
            if version is not None and version != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "the object has been modified; please apply your changes", None)
            self._wrote(("patch", res.kind, slot[2], name), patch)
            return self._update(res, slot, current, patched, subresource, self.field_manager)

    def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation: str | None = "Background",
    ) -> bool:
        with self.lock:
            slot = self._slot(res, namespace, name)
            self._called("delete", res, slot[2], name, "DELETE")
            self._served(res)
            current = self.objects.get(slot)
            if current is None:
                return False
            meta = current["metadata"]
            if (uid is not None and meta["uid"] != uid) or (
                resource_version is not None and meta["resourceVersion"] != resource_version
            ):
                raise Conflict(409, "Conflict", "Precondition failed", None)
            self._wrote(("delete", res.kind, slot[2], name), None)
            self._delete(res, slot, current)
            return True

    # -- test helpers (not part of the client surface) ---------------------------------------------------------------
    def put(self, res: Resource, obj: Obj, *, manager: str = "someone-else") -> Obj:
        """A write by someone else (a tenant, an operator): creates, or updates main part and status (as that
        manager's PUT and PUT /status in one event), unconditionally and with no immutability check."""
        with self.lock:
            meta = obj["metadata"]
            slot = self._slot(res, meta.get("namespace"), meta["name"])
            current = self.objects.get(slot)
            if current is None:
                return self._create(res, slot, clone_object(obj), manager, "Update", status_too=True)
            return self._update(res, slot, current, clone_object(obj), None, manager, status_too=True)

    def remove(self, res: Resource, namespace: str | None, name: str) -> None:
        """A delete by someone else, honouring finalizers."""
        with self.lock:
            slot = self._slot(res, namespace, name)
            self.writes.append(("delete-by-user", res.kind, slot[2], name))
            self._delete(res, slot, self.objects[slot])

    def our_writes(self) -> builtins.list[Write]:
        return [w for w in self.writes if w[0] != "delete-by-user"]

    def _wrote(self, write: Write, body: Any) -> None:
        self.writes.append(write)
        self.sent.append((write, clone(body)))

    # -- the server -------------------------------------------------------------------------------------------------
    def _next_version(self) -> str:
        n = next(self._versions)
        # An odd multiplier mod 2**32 is a bijection: unique, numeric, and unordered.
        return str((n * 2654435761) % 2**32 if self._opaque else n)

    def _called(
        self, verb: str, res: Resource | None = None, namespace: str | None = None, name: Any = None, method: str = ""
    ) -> None:
        if verb != "discovery":
            self.calls.append(verb)
        if method and self._gate is not None and res is not None:
            self._gate(method, res.path(namespace if res.namespaced else None, name or None))
        if verb in self.fail:
            raise self.fail[verb]

    def _slot(self, res: Resource, namespace: str | None, name: str) -> Slot:
        if res.namespaced and not namespace:
            raise ValueError(f"{res.kind} {name!r}: a namespaced object needs a namespace")
        return (res.group, res.kind, namespace if res.namespaced else None, name)

    def _served(self, res: Resource) -> None:
        if (res.group, res.kind) not in self.resources:
            raise NotFound(404, "NotFound", f"the server could not find the requested resource ({res})", None)

    def _existing(self, res: Resource, slot: Slot) -> Obj:
        self._served(res)
        current = self.objects.get(slot)
        if current is None:
            raise NotFound(404, "NotFound", f'{res.plural} "{slot[3]}" not found', None)
        return current

    def _create(
        self, res: Resource, slot: Slot, obj: Obj, manager: str, operation: str, *, status_too: bool = False
    ) -> Obj:
        self._served(res)
        meta = obj.setdefault("metadata", {})
        for server_owned in ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"):
            meta.pop(server_owned, None)
        meta.pop("managedFields", None)
        meta["name"] = slot[3]
        if slot[2] is not None:
            meta["namespace"] = slot[2]
        else:
            meta.pop("namespace", None)
        if res.has_status and not status_too:
            obj.pop("status", None)
        applied = leaves(obj)  # an applier owns its configuration, not the server's defaults
        self._default(res, obj)
        created = diff({}, obj)[0]  # an Update owns everything it added, defaults included
        managed: dict[Owner, set[Path]] = {}
        for subresource in (None, "status") if res.has_status else (None,):
            owned = applied if operation == "Apply" else created
            managed[(manager, operation, subresource)] = strip(
                owned, status_subresource=res.has_status, subresource=subresource
            )
        meta.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=CREATED_AT)
        self._encode(res, obj, managed)
        return self._store(res, slot, obj, "ADDED")

    def _apply(self, res: Resource, slot: Slot, current: Obj, config: Obj, force: bool, subresource: str | None) -> Obj:
        managed = _decode(current)
        me: Owner = (self.field_manager, "Apply", subresource)
        last = managed.get(me, set())
        mine = strip(leaves(config), status_subresource=res.has_status, subresource=subresource)
        managed[me] = mine
        merged = apply_merge(clone_object(current), config)
        owned_by_anyone = set().union(*managed.values())
        for path in sorted(last - mine, key=len, reverse=True):
            if not owned_within(path, owned_by_anyone):
                remove_path(merged, path)
        self._immutable(res, current, merged, subresource)
        self._default(res, merged)
        changed, removed = self._changes(res, current, merged, subresource)
        conflicts = {owner: owned & changed for owner, owned in managed.items() if owner != me and owned & changed}
        if conflicts and not force:
            described = "; ".join(
                f'conflict with "{owner[0]}"' + (f" ({owner[1]})" if owner[1] != "Apply" else "")
                + ": " + ", ".join("." + ".".join(s[2:] for s in p) for p in sorted(paths))
                for owner, paths in conflicts.items()
            )
            raise Conflict(409, "Conflict", f"Apply failed with {len(conflicts)} conflicts: {described}", None)
        for owner in managed:
            if owner != me:
                managed[owner] = managed[owner] - changed - removed
        return self._commit(res, slot, current, merged, managed, subresource)

    def _update(
        self,
        res: Resource,
        slot: Slot,
        current: Obj,
        new: Obj,
        subresource: str | None,
        manager: str,
        *,
        status_too: bool = False,
    ) -> Obj:
        """PUT or patch: the manager owns what it changed, taken from everyone else."""
        given = (new.get("metadata") or {}).get("managedFields")
        managed = _decode(new) if given and subresource is None else _decode(current)
        new.setdefault("metadata", {})
        if subresource == "status":
            body = clone_object(current)
            if "status" in new:
                body["status"] = new["status"]
            else:
                body.pop("status", None)
            new = body
        elif res.has_status and not status_too:
            new.pop("status", None)
            if "status" in current:
                new["status"] = clone(current["status"])
        self._immutable(res, current, new, subresource)
        self._default(res, new)
        parts = (None, "status") if status_too and res.has_status else (subresource,)
        for part in parts:
            changed, removed = self._changes(res, current, new, part)
            for owner in managed:
                managed[owner] = managed[owner] - changed - removed
            me: Owner = (manager, "Update", part)
            managed[me] = managed.get(me, set()) | changed
        return self._commit(res, slot, current, new, managed, subresource)

    def _changes(self, res: Resource, before: Obj, after: Obj, subresource: str | None) -> tuple[set[Path], set[Path]]:
        changed, removed = diff(before, after)
        return (
            strip(changed, status_subresource=res.has_status, subresource=subresource),
            strip(removed, status_subresource=res.has_status, subresource=subresource),
        )

    def _commit(
        self, res: Resource, slot: Slot, current: Obj, new: Obj, managed: dict[Owner, set[Path]], sub: str | None
    ) -> Obj:
        old_meta, meta = current["metadata"], new["metadata"]
        for kept in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "name"):
            if kept in old_meta:
                meta[kept] = old_meta[kept]
            else:
                meta.pop(kept, None)
        if slot[2] is not None:
            meta["namespace"] = slot[2]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                message = (
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)}"
                )
                raise Invalid(422, "Invalid", message, None)
        if not equal(_body(res, current), _body(res, new)):
            meta["generation"] = old_meta.get("generation", 0) + 1
        self._encode(res, new, managed)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self.objects[slot]
            meta["resourceVersion"] = self._next_version()
            self._notify(res, "DELETED", new)
            return clone_object(new)
        return self._store(res, slot, new, "MODIFIED")

    def _delete(self, res: Resource, slot: Slot, current: Obj) -> None:
        if current["metadata"].get("finalizers"):
            if current["metadata"].get("deletionTimestamp"):
                return  # already terminating: nothing changes
            held = clone_object(current)
            held["metadata"]["deletionTimestamp"] = DELETED_AT
            held["metadata"]["deletionGracePeriodSeconds"] = 0
            held["metadata"]["generation"] = current["metadata"].get("generation", 0) + 1
            self._store(res, slot, held, "MODIFIED")
            return
        del self.objects[slot]
        gone = clone_object(current)
        gone["metadata"]["resourceVersion"] = self._next_version()
        self._notify(res, "DELETED", gone)

    def _immutable(self, res: Resource, current: Obj, updated: Obj, subresource: str | None) -> None:
        if subresource is not None:
            return
        for path in self.immutable.get((res.group, res.kind), []):
            before = get_path(current, tuple(f"f:{p}" for p in path))
            after = get_path(updated, tuple(f"f:{p}" for p in path))
            if not equal(before, after):
                name, field = current["metadata"]["name"], ".".join(path)
                message = f'{res.kind} "{name}" is invalid: {field}: Invalid value: field is immutable'
                raise Invalid(422, "Invalid", message, None)

    def _default(self, res: Resource, obj: Obj) -> None:
        defaulting = self.defaults.get((res.group, res.kind))
        if defaulting is not None:
            defaulting(obj)

    def _encode(self, res: Resource, obj: Obj, managed: dict[Owner, set[Path]]) -> None:
        entries: builtins.list[Obj] = []
        for (manager, operation, subresource), paths in managed.items():
            if not paths:
                continue
            entry: Obj = {
                "manager": manager,
                "operation": operation,
                "apiVersion": res.api_version,
                "time": CREATED_AT,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(paths),
            }
            if subresource:
                entry["subresource"] = subresource
            entries.append(entry)
        obj["metadata"]["managedFields"] = entries

    def _store(self, res: Resource, slot: Slot, obj: Obj, event: str) -> Obj:
        obj["metadata"]["resourceVersion"] = self._next_version()
        self.objects[slot] = obj
        self._notify(res, event, obj)
        return clone_object(obj)

    def _notify(self, res: Resource, event: str, obj: Obj) -> None:
        for informer in list(self.informers):
            self.delivery.send(id(informer), functools.partial(informer.deliver, res, event, clone_object(obj)))


def _body(res: Resource, obj: Obj) -> Obj:
    """What generation counts: everything but metadata (and status, when it is a subresource)."""
    skipped = ("metadata", "status") if res.has_status else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skipped}


def _decode(obj: Obj) -> dict[Owner, set[Path]]:
    managed: dict[Owner, set[Path]] = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or not entry.get("manager"):
            continue
        owner: Owner = (entry["manager"], entry.get("operation", "Update"), entry.get("subresource") or None)
        managed[owner] = managed.get(owner, set()) | from_fields_v1(entry.get("fieldsV1"))
    return managed


def _(cluster: FakeCluster) -> ClusterClient:
    return cluster  # mypy proves the fake has the client surface the engine types against
