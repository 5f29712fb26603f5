"""A minimal in-memory object store with the KubeClient write semantics events and leases rely on:
create fails with AlreadyExists, replace checks resourceVersion (Conflict), merge patch needs the object (NotFound)."""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any

from crdsync.kube import errors
from crdsync.kube.resource import Resource

Obj = dict[str, Any]


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


class MemClient:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.calls: list[str] = []
        self.fail: dict[str, errors.ApiError] = {}  # verb -> error raised on every call of that verb
        self._rv = itertools.count(1)
        self._lock = threading.Lock()

    def _key(self, res: Resource, namespace: str | None, name: str) -> tuple[str, str, str]:
        return (res.plural, namespace or "", name)

    def _check(self, verb: str) -> None:
        self.calls.append(verb)
        if verb in self.fail:
            raise self.fail[verb]

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        with self._lock:
            self._check("get")
            found = self.objects.get(self._key(res, namespace, name))
            return copy.deepcopy(found)

    def create(self, res: Resource, obj: Obj, *, namespace: str | None = None) -> Obj:
        with self._lock:
            self._check("create")
            meta = obj["metadata"]
            key = self._key(res, namespace or meta.get("namespace"), meta["name"])
            if key in self.objects:
                raise errors.AlreadyExists(409, "AlreadyExists", f"{meta['name']} already exists")
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(next(self._rv))
            self.objects[key] = stored
            return copy.deepcopy(stored)

    def replace(self, res: Resource, obj: Obj, *, subresource: str | None = None) -> Obj:
        with self._lock:
            self._check("replace")
            meta = obj["metadata"]
            key = self._key(res, meta.get("namespace"), meta["name"])
            current = self.objects.get(key)
            if current is None:
                raise errors.NotFound(404, "NotFound", "not found")
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise errors.Conflict(409, "Conflict", "the object has been modified")
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(next(self._rv))
            self.objects[key] = stored
            return copy.deepcopy(stored)

    def patch(self, res: Resource, namespace: str | None, name: str, patch: Any, *, patch_type: str = "merge",
              subresource: str | None = None) -> Obj:
        with self._lock:
            self._check("patch")
            key = self._key(res, namespace, name)
            if key not in self.objects:
                raise errors.NotFound(404, "NotFound", "not found")
            stored = _merge(self.objects[key], patch)
            stored["metadata"]["resourceVersion"] = str(next(self._rv))
            self.objects[key] = stored
            return copy.deepcopy(stored)

    def delete_all(self, plural: str) -> None:
        with self._lock:
            for key in [k for k in self.objects if k[0] == plural]:
                del self.objects[key]
