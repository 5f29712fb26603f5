"""In-memory stand-ins for one API server and its informers, for unit tests of the engine's logic only.

They model what the reconciler relies on and what the attacks in test_tenant_attacks need: resourceVersion/uid/
generation assignment; managedFields entries per field manager (Apply for apply, Update for create, patch and writes by
others, so ownership-based decisions see what a real apiserver records); server-side apply that removes fields the same
manager stopped setting; merge and JSON patches (with `test`), resourceVersion preconditions; AlreadyExists on create;
a status subresource that main writes do not touch; finalizers holding deletion; fields a kind declares immutable
(`immutable`), whose change an update (apply, replace, patch) gets refused with 422 Invalid as a CRD's
`self == oldSelf` rule or a webhook refuses it, while a create sets them freely; and informers that see writes either
synchronously or, with `delay`, later and in order on a delivery thread, so a reconcile can run on a stale cache the
way it does against a real watch. Real behaviour is proven by the e2e tests.
"""

from __future__ import annotations

import builtins
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from crdsync.kube.client import Resource
from crdsync.kube.errors import AlreadyExists, ApiError, Conflict, Invalid, NotFound
from crdsync.spec.model import GroupVersionKind

Obj = dict[str, Any]
Write = tuple[str, str, str | None, str]  # (verb, kind, namespace, name)
_rv_counter = itertools.count(1)


def _clone_object(obj: Obj) -> Obj:
    out: Obj = _clone(obj)
    return out


def _clone(value: Any) -> Any:
    """A deep copy of JSON data without recursion: a real apiserver stores objects of any depth (poison included)."""
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            copied = ({} if isinstance(item, dict) else []) if isinstance(item, dict | list) else item
            if isinstance(target, dict):
                target[key] = copied
            else:
                target.append(copied)
            if isinstance(item, dict | list):
                stack.append((item, copied))
    return root


def _leaves(fields: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for key, sub in (fields or {}).items():
        path = (*prefix, key[2:])
        if isinstance(sub, dict) and sub:
            out |= _leaves(sub, path)
        else:
            out.add(path)
    return out


def _shed(current: Obj, manager: str, fields: Obj, subresource: str | None) -> Obj:
    """Server-side apply's removal rule: a field `manager` applied before, leaves out now, and nobody else owns goes."""
    entries = current["metadata"].get("managedFields") or []

    def ours(e: Obj) -> bool:
        return e["manager"] == manager and e["operation"] == "Apply" and e.get("subresource") == subresource

    before = set().union(*(_leaves(e["fieldsV1"]) for e in entries if ours(e)))
    others = set().union(*(_leaves(e["fieldsV1"]) for e in entries if not ours(e)))
    for path in sorted(before - _leaves(fields), key=len, reverse=True):
        if any(o[: len(path)] == path or path[: len(o)] == o for o in others):
            continue
        parent: Any = current
        for step in path[:-1]:
            parent = parent.get(step) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return current


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = _merge(out.get(key), value) if key in out else _clone(value)
        return out
    return _clone(overlay)


def _fields(value: Any, depth: int = 0) -> Any:
    """fieldsV1 of a value as a real apiserver records it for maps (lists and scalars are leaves; below 50 levels,
    which no test compares, a map is a leaf too, so poison objects can be stored)."""
    if isinstance(value, dict) and depth < 50:
        return {f"f:{key}": _fields(item, depth + 1) for key, item in value.items()}
    return {}


def _owned_fields(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    body["metadata"] = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    return {k: v for k, v in _fields(body).items() if v != {} or k != "f:metadata"}


def _record(
    stored: Obj, manager: str, operation: str, fields: Obj, *, subresource: str | None = None, replace: bool = True
) -> None:
    """Add (or, for the same manager/operation/subresource, replace) a managedFields entry."""
    entries = [
        e
        for e in stored["metadata"].get("managedFields") or []
        if not (
            replace
            and e["manager"] == manager
            and e["operation"] == operation
            and e.get("subresource") == subresource
        )
    ]
    entry: Obj = {"manager": manager, "operation": operation, "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    entries.append(entry)
    stored["metadata"]["managedFields"] = entries


def _json_patch(target: Obj, ops: list[Obj]) -> Obj:
    """RFC 6902 over plain dicts: add, remove, replace, test (what the engine sends)."""
    out = _clone_object(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = out
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
        if op["op"] == "test":
            current = parent.get(last) if isinstance(parent, dict) else parent[last]
            if current != op["value"]:
                raise Invalid(422, "Invalid", f"test failed at {op['path']}", None)
        elif op["op"] == "remove":
            if isinstance(parent, dict) and last not in parent:
                raise Invalid(422, "Invalid", f"nothing to remove at {op['path']}", None)
            del parent[last]
        elif op["op"] in ("add", "replace"):
            parent[last] = _clone(op["value"])
        else:
            raise Invalid(422, "Invalid", f"unsupported op {op['op']}", None)
    return out


def resource(
    group: str, version: str, kind: str, plural: str, *, namespaced: bool = True, status: bool = True
) -> Resource:
    return Resource(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        has_status=status,
        verbs=frozenset({"get", "list", "watch", "create", "update", "patch", "delete"}),
    )


class FakeCluster:
    """One API server's objects; quacks like crdsync.kube.client.KubeClient for the calls the engine makes."""

    def __init__(self, name: str, resources: Iterable[Resource]) -> None:
        self.name = name
        self.resources = {(r.group, r.kind): r for r in resources}
        self.objects: dict[tuple[str, str, str | None, str], Obj] = {}
        self.writes: list[tuple[str, str, str | None, str]] = []  # (verb, kind, namespace, name)
        self.informers: list[FakeInformer] = []
        self.events: list[Obj] = []
        self.fail_apply: Callable[[Obj], ApiError | None] = lambda obj: None
        # (group, kind) -> field paths (map keys from the root) an update may not change: 422, nothing stored.
        self.immutable: dict[tuple[str, str], builtins.list[tuple[str, ...]]] = {}
        self.lock = threading.RLock()
        self.field_manager = "crdsync"
        # Watch delivery: synchronous with 0, else each event `delay` seconds after its write, in write order.
        self.delay = 0.0
        self._deliveries: list[tuple[float, Resource, str, Obj]] = []
        self._delivery_cv = threading.Condition()
        self._delivery_thread: threading.Thread | None = None

    # discovery
    def resource_for(self, gvk: GroupVersionKind) -> Resource | None:
        return self.resources.get((gvk.group, gvk.kind))

    def invalidate_discovery(self) -> None:
        pass

    def _refuse_immutable_change(self, res: Resource, current: Obj, updated: Obj) -> None:
        """422 Invalid, as the apiserver answers an update that changes a field its schema rule (or a webhook) makes
        immutable; status updates never touch these."""
        for path in self.immutable.get((res.group, res.kind), []):
            before: Any = current
            after: Any = updated
            for step in path:
                before = before.get(step) if isinstance(before, dict) else None
                after = after.get(step) if isinstance(after, dict) else None
            if before != after:
                name, field = current["metadata"]["name"], ".".join(path)
                message = f'{res.kind} "{name}" is invalid: {field}: Invalid value: field is immutable'
                raise Invalid(422, "Invalid", message, None)

    # reads
    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        with self.lock:
            obj = self.objects.get((res.group, res.kind, namespace, name))
            return _clone(obj) if obj is not None else None

    def list(self, res: Resource, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            return [
                _clone(o)
                for (g, k, ns, _), o in self.objects.items()
                if (g, k) == (res.group, res.kind) and (namespace is None or ns == namespace)
            ]

    # writes
    def _store(self, res: Resource, obj: Obj, event: str) -> Obj:
        meta = obj["metadata"]
        meta["resourceVersion"] = str(next(_rv_counter))
        self.objects[(res.group, res.kind, meta.get("namespace"), meta["name"])] = obj
        self._notify(res, event, obj)
        return _clone_object(obj)

    def _notify(self, res: Resource, event: str, obj: Obj) -> None:
        if self.delay <= 0:
            for informer in list(self.informers):
                informer.deliver(res, event, _clone(obj))
            return
        with self._delivery_cv:
            self._deliveries.append((time.monotonic() + self.delay, res, event, _clone(obj)))
            if self._delivery_thread is None:
                self._delivery_thread = threading.Thread(target=self._deliver_later, daemon=True)
                self._delivery_thread.start()
            self._delivery_cv.notify()

    def _deliver_later(self) -> None:
        while True:
            with self._delivery_cv:
                while not self._deliveries:
                    self._delivery_cv.wait()
                due, res, event, obj = self._deliveries[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._delivery_cv.wait(wait)
                    continue
                self._deliveries.pop(0)
            for informer in list(self.informers):
                informer.deliver(res, event, _clone(obj))

    def pending_deliveries(self) -> int:
        with self._delivery_cv:
            return len(self._deliveries)

    def create(self, res: Resource, obj: Obj, *, namespace: str | None = None) -> Obj:
        with self.lock:
            meta = obj["metadata"]
            if (res.group, res.kind, meta.get("namespace"), meta["name"]) in self.objects:
                raise AlreadyExists(409, "AlreadyExists", f"{meta['name']} exists", None)
            stored = _clone(obj)
            stored["metadata"].update(uid=str(uuid.uuid4()), generation=1, creationTimestamp="2026-01-01T00:00:00Z")
            _record(stored, self.field_manager, "Update", _owned_fields(obj))
            self.writes.append(("create", res.kind, meta.get("namespace"), meta["name"]))
            return self._store(res, stored, "ADDED")

    def apply(self, res: Resource, obj: Obj, *, force: bool = True, subresource: str | None = None) -> Obj:
        with self.lock:
            error = self.fail_apply(obj)
            if error is not None:
                raise error
            meta = obj["metadata"]
            slot = (res.group, res.kind, meta.get("namespace"), meta["name"])
            current = self.objects.get(slot)
            if current is not None and subresource is None:
                self._refuse_immutable_change(res, current, _merge(current, obj))
            self.writes.append(("apply" + (f"/{subresource}" if subresource else ""), res.kind, slot[2], slot[3]))
            config = _clone(obj)
            if subresource == "status":
                if current is None:
                    raise NotFound(404, "NotFound", f"{meta['name']} not found", None)
                config = {"status": config.get("status")}
            elif res.has_status:
                config.pop("status", None)
            fields = _owned_fields(config) if subresource is None else _fields({"status": config.get("status")})
            if current is None:
                stored = _merge({}, config)
                stored["metadata"].update(uid=str(uuid.uuid4()), generation=1, creationTimestamp="2026-01-01T00:00:00Z")
                _record(stored, self.field_manager, "Apply", fields)
                return self._store(res, stored, "ADDED")
            stored = _merge(_shed(_clone(current), self.field_manager, fields, subresource), config)
            stored["metadata"].update(
                {k: current["metadata"][k] for k in ("uid", "generation", "creationTimestamp", "managedFields")}
            )
            _record(stored, self.field_manager, "Apply", fields, subresource=subresource)
            return self._store(res, stored, "MODIFIED")

    def replace(self, res: Resource, obj: Obj, *, subresource: str | None = None) -> Obj:
        with self.lock:
            meta = obj["metadata"]
            slot = (res.group, res.kind, meta.get("namespace"), meta["name"])
            current = self.objects.get(slot)
            if current is None:
                raise NotFound(404, "NotFound", f"{meta['name']} not found", None)
            # As the apiserver: a resourceVersion makes the update conditional; without one it is unconditional.
            expected = meta.get("resourceVersion")
            if expected is not None and expected != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "resourceVersion changed", None)
            if subresource is None:
                self._refuse_immutable_change(res, current, obj)
            self.writes.append(("replace", res.kind, slot[2], slot[3]))
            stored = _clone(obj)
            if res.has_status:
                stored.pop("status", None)
                if "status" in current:
                    stored["status"] = _clone(current["status"])
            stored["metadata"].update({k: current["metadata"][k] for k in ("uid", "generation", "creationTimestamp")})
            stored["metadata"]["managedFields"] = []
            _record(stored, self.field_manager, "Update", _owned_fields(obj))
            return self._store(res, stored, "MODIFIED")

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        patch: Obj,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
    ) -> Obj:
        with self.lock:
            slot = (res.group, res.kind, namespace, name)
            current = self.objects.get(slot)
            if current is None:
                raise NotFound(404, "NotFound", f"{name} not found", None)
            if patch_type == "json":
                assert isinstance(patch, list), "a JSON patch is a list of operations"
                stored = _json_patch(current, patch)
                if subresource is None:
                    self._refuse_immutable_change(res, current, stored)
                self.writes.append(("patch", res.kind, namespace, name))
                if not any(op["path"] == "/metadata/managedFields" for op in patch):
                    _record(stored, self.field_manager, "Update", {}, replace=False)
            else:
                assert patch_type == "merge", f"unsupported patch type {patch_type}"
                expected = patch.get("metadata", {}).get("resourceVersion")
                if expected is not None and expected != current["metadata"]["resourceVersion"]:
                    raise Conflict(409, "Conflict", "resourceVersion changed", None)
                stored = _merge_patch(_clone_object(current), patch)
                if subresource is None:
                    self._refuse_immutable_change(res, current, stored)
                self.writes.append(("patch", res.kind, namespace, name))
                _record(stored, self.field_manager, "Update", _fields(patch.get("metadata") or {}), replace=False)
            stored = dict(stored)
            stored["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if stored["metadata"].get("deletionTimestamp") and not stored["metadata"].get("finalizers"):
                del self.objects[slot]
                self._notify(res, "DELETED", stored)
                return stored
            return self._store(res, stored, "MODIFIED")

    def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        with self.lock:
            slot = (res.group, res.kind, namespace, name)
            current = self.objects.get(slot)
            if current is None:
                return False
            if uid is not None and current["metadata"]["uid"] != uid:
                raise Conflict(409, "Conflict", "uid precondition failed", None)
            self.writes.append(("delete", res.kind, namespace, name))
            if current["metadata"].get("finalizers"):
                current = _clone(current)
                current["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
                self._store(res, current, "MODIFIED")
                return True
            del self.objects[slot]
            self._notify(res, "DELETED", current)
            return True

    # test helpers (not part of the client surface)
    def put(self, res: Resource, obj: Obj, *, manager: str = "someone-else") -> Obj:
        """A write by someone else (a tenant, an operator): a plain replace, recorded as `manager`'s Update of every
        field it sent (managedFields the object carried are kept, as a real update does)."""
        with self.lock:
            meta = obj["metadata"]
            slot = (res.group, res.kind, meta.get("namespace"), meta["name"])
            current = self.objects.get(slot)
            stored = _clone(obj)
            if current is None:
                stored["metadata"].update(uid=str(uuid.uuid4()), generation=1, creationTimestamp="2026-01-01T00:00:00Z")
                _record(stored, manager, "Update", _owned_fields(obj))
                return self._store(res, stored, "ADDED")
            stored["metadata"].update({k: current["metadata"][k] for k in ("uid", "generation", "creationTimestamp")})
            stored["metadata"].setdefault("managedFields", current["metadata"].get("managedFields") or [])
            _record(stored, manager, "Update", _owned_fields(obj))
            return self._store(res, stored, "MODIFIED")

    def remove(self, res: Resource, namespace: str | None, name: str) -> None:
        """A delete by someone else, honouring finalizers."""
        self.writes.append(("delete-by-user", res.kind, namespace, name))
        with self.lock:
            current = self.objects[(res.group, res.kind, namespace, name)]
            if current["metadata"].get("finalizers"):
                current = _clone(current)
                current["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
                self._store(res, current, "MODIFIED")
                return
            del self.objects[(res.group, res.kind, namespace, name)]
            self._notify(res, "DELETED", current)

    def our_writes(self) -> builtins.list[Write]:
        return [w for w in self.writes if w[0] != "delete-by-user"]


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return _clone(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


class FakeInformer:
    """Informer over a FakeCluster: lists on start, then receives every write synchronously."""

    def __init__(
        self,
        client: FakeCluster,
        res: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        on_event: Callable[[str, tuple[str | None, str], Obj | None], None],
        on_gone: Callable[[], None] | None = None,
        name: str = "",
    ) -> None:
        self.client = client
        self.res = res
        self.namespace = namespace
        self.on_event = on_event
        self.store: dict[tuple[str | None, str], Obj] = {}
        self.has_synced = threading.Event()

    def start(self) -> None:
        with self.client.lock:
            self.client.informers.append(self)
            items = self.client.list(self.res, self.namespace)
        for obj in items:
            key = (obj["metadata"].get("namespace"), obj["metadata"]["name"])
            self.store[key] = obj
        for obj in items:
            self.on_event("SYNC", (obj["metadata"].get("namespace"), obj["metadata"]["name"]), obj)
        self.has_synced.set()

    def stop(self) -> None:
        with self.client.lock:
            if self in self.client.informers:
                self.client.informers.remove(self)

    def deliver(self, res: Resource, event: str, obj: Obj) -> None:
        if (res.group, res.kind) != (self.res.group, self.res.kind):
            return
        namespace = obj["metadata"].get("namespace")
        if self.namespace is not None and namespace != self.namespace:
            return
        key = (namespace, obj["metadata"]["name"])
        if event == "DELETED":
            self.store.pop(key, None)
        else:
            self.store[key] = obj
        self.on_event(event, key, obj)

    def get(self, namespace: str | None, name: str) -> Obj | None:
        return self.store.get((namespace, name))

    def list(self) -> list[Obj]:
        return list(self.store.values())
