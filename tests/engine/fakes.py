"""In-memory stand-ins for one API server and its informers, for unit tests of the engine's logic only.

They mimic just what the reconciler relies on: resourceVersion/uid/generation assignment, server-side apply that
removes fields the same manager stopped setting, a status subresource that main writes do not touch, finalizers
holding deletion, and informers that see every write synchronously. Real behaviour is proven by the e2e tests.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from crdsync.kube.client import Resource
from crdsync.kube.errors import ApiError, Conflict, NotFound
from crdsync.spec.model import GroupVersionKind

Obj = dict[str, Any]
_rv_counter = itertools.count(1)


def _strip(base: Any, previous: Any) -> Any:
    """Remove from `base` the leaves that `previous` (an earlier applied config) set."""
    if isinstance(base, dict) and isinstance(previous, dict):
        out = dict(base)
        for key, value in previous.items():
            if key in out:
                if isinstance(value, dict) and isinstance(out[key], dict):
                    out[key] = _strip(out[key], value)
                    if not out[key]:
                        del out[key]
                else:
                    del out[key]
        return out
    return base


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = _merge(out.get(key), value) if key in out else copy.deepcopy(value)
        return out
    return copy.deepcopy(overlay)


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
        self.applied: dict[tuple[Any, ...], Obj] = {}
        self.writes: list[tuple[str, str, str | None, str]] = []  # (verb, kind, namespace, name)
        self.informers: list[FakeInformer] = []
        self.events: list[Obj] = []
        self.fail_apply: Callable[[Obj], ApiError | None] = lambda obj: None
        self.lock = threading.RLock()

    # discovery
    def resource_for(self, gvk: GroupVersionKind) -> Resource | None:
        return self.resources.get((gvk.group, gvk.kind))

    def invalidate_discovery(self) -> None:
        pass

    # reads
    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        with self.lock:
            obj = self.objects.get((res.group, res.kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, res: Resource, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (g, k, ns, _), o in self.objects.items()
                if (g, k) == (res.group, res.kind) and (namespace is None or ns == namespace)
            ]

    # writes
    def _store(self, res: Resource, obj: Obj, event: str) -> Obj:
        meta = obj["metadata"]
        meta["resourceVersion"] = str(next(_rv_counter))
        self.objects[(res.group, res.kind, meta.get("namespace"), meta["name"])] = obj
        self._notify(res, event, obj)
        return copy.deepcopy(obj)

    def _notify(self, res: Resource, event: str, obj: Obj) -> None:
        for informer in list(self.informers):
            informer.deliver(res, event, copy.deepcopy(obj))

    def create(self, res: Resource, obj: Obj, *, namespace: str | None = None) -> Obj:
        with self.lock:
            meta = obj["metadata"]
            if (res.group, res.kind, meta.get("namespace"), meta["name"]) in self.objects:
                raise Conflict(409, "AlreadyExists", f"{meta['name']} exists", None)
            stored = copy.deepcopy(obj)
            stored["metadata"].update(uid=str(uuid.uuid4()), generation=1, creationTimestamp="2026-01-01T00:00:00Z")
            self.writes.append(("create", res.kind, meta.get("namespace"), meta["name"]))
            return self._store(res, stored, "ADDED")

    def apply(self, res: Resource, obj: Obj, *, force: bool = True, subresource: str | None = None) -> Obj:
        with self.lock:
            error = self.fail_apply(obj)
            if error is not None:
                raise error
            meta = obj["metadata"]
            slot = (res.group, res.kind, meta.get("namespace"), meta["name"])
            self.writes.append(("apply" + (f"/{subresource}" if subresource else ""), res.kind, slot[2], slot[3]))
            current = self.objects.get(slot)
            config = copy.deepcopy(obj)
            if subresource == "status":
                if current is None:
                    raise NotFound(404, "NotFound", f"{meta['name']} not found", None)
                config = {"status": config.get("status")}
            elif res.has_status:
                config.pop("status", None)
            previous = self.applied.get((*slot, subresource), {})
            self.applied[(*slot, subresource)] = config
            if current is None:
                stored = _merge({}, config)
                stored["metadata"].update(uid=str(uuid.uuid4()), generation=1, creationTimestamp="2026-01-01T00:00:00Z")
                return self._store(res, stored, "ADDED")
            stored = _merge(_strip(copy.deepcopy(current), previous), config)
            stored["metadata"].update({k: current["metadata"][k] for k in ("uid", "generation", "creationTimestamp")})
            return self._store(res, stored, "MODIFIED")

    def replace(self, res: Resource, obj: Obj, *, subresource: str | None = None) -> Obj:
        with self.lock:
            meta = obj["metadata"]
            slot = (res.group, res.kind, meta.get("namespace"), meta["name"])
            current = self.objects.get(slot)
            if current is None:
                raise NotFound(404, "NotFound", f"{meta['name']} not found", None)
            if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "resourceVersion changed", None)
            self.writes.append(("replace", res.kind, slot[2], slot[3]))
            stored = copy.deepcopy(obj)
            if res.has_status:
                stored.pop("status", None)
                if "status" in current:
                    stored["status"] = copy.deepcopy(current["status"])
            stored["metadata"].update({k: current["metadata"][k] for k in ("uid", "generation", "creationTimestamp")})
            self.applied.pop((*slot, None), None)
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
            expected = patch.get("metadata", {}).get("resourceVersion")
            if expected is not None and expected != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "resourceVersion changed", None)
            self.writes.append(("patch", res.kind, namespace, name))
            stored = _merge_patch(copy.deepcopy(current), patch)
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
                current = copy.deepcopy(current)
                current["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
                self._store(res, current, "MODIFIED")
                return True
            del self.objects[slot]
            self._notify(res, "DELETED", current)
            return True

    # test helpers (not part of the client surface)
    def put(self, res: Resource, obj: Obj) -> Obj:
        """A write by someone else (a tenant, an operator): plain replace, no managed fields."""
        with self.lock:
            meta = obj["metadata"]
            slot = (res.group, res.kind, meta.get("namespace"), meta["name"])
            current = self.objects.get(slot)
            stored = copy.deepcopy(obj)
            if current is None:
                stored["metadata"].update(uid=str(uuid.uuid4()), generation=1, creationTimestamp="2026-01-01T00:00:00Z")
                return self._store(res, stored, "ADDED")
            stored["metadata"].update({k: current["metadata"][k] for k in ("uid", "generation", "creationTimestamp")})
            return self._store(res, stored, "MODIFIED")

    def remove(self, res: Resource, namespace: str | None, name: str) -> None:
        """A delete by someone else, honouring finalizers."""
        self.writes.append(("delete-by-user", res.kind, namespace, name))
        with self.lock:
            current = self.objects[(res.group, res.kind, namespace, name)]
            if current["metadata"].get("finalizers"):
                current = copy.deepcopy(current)
                current["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
                self._store(res, current, "MODIFIED")
                return
            del self.objects[(res.group, res.kind, namespace, name)]
            self._notify(res, "DELETED", current)

    def our_writes(self) -> list[tuple[str, str, str | None, str]]:
        return [w for w in self.writes if w[0] != "delete-by-user"]


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
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
