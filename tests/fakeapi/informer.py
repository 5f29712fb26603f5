"""FakeInformer: crdsync.kube.informer.Informer's surface over a FakeCluster.

It lists on start (SYNC events on the caller's thread, then has_synced), then receives the cluster's watch events as
the cluster delivers them (delivery.py), keeping a store keyed like the real one ((namespace or "", name)). Namespace,
field selector (metadata.name= / metadata.namespace=) and equality label selectors narrow what it sees; an object that
stops matching a selector is a DELETED event, one that starts matching an ADDED event, as on a real watch. When the
cluster stops serving the kind (`FakeCluster.remove_resource`) it calls on_gone after the events before it, and stops.
A handler that raises is logged and skipped, as by the real informer.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable
from typing import Any

from crdsync.kube.errors import NotFound
from crdsync.kube.informer import CacheKey, cache_key
from crdsync.kube.protocols import ClusterInformer
from crdsync.kube.resource import Resource
from tests.fakeapi.cluster import FakeCluster
from tests.fakeapi.fields import Obj

log = logging.getLogger(__name__)


def _selector(text: str | None) -> list[tuple[str, str, str | None]]:
    """(key, op, value) terms of an equality-based selector: k=v, k==v, k!=v, k (exists), !k (absent)."""
    terms: list[tuple[str, str, str | None]] = []
    for term in (text or "").split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            terms.append((key.strip(), "!=", value.strip()))
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            terms.append((key.strip(), "=", value.strip()))
        elif term.startswith("!"):
            terms.append((term[1:].strip(), "absent", None))
        else:
            terms.append((term, "exists", None))
    return terms


def _matches(terms: list[tuple[str, str, str | None]], values: dict[str, Any]) -> bool:
    for key, op, value in terms:
        present = key in values
        if op == "=" and (not present or values[key] != value):
            return False
        if op == "!=" and present and values[key] == value:
            return False
        if (op == "exists" and not present) or (op == "absent" and present):
            return False
    return True


class FakeInformer:
    def __init__(
        self,
        client: FakeCluster,
        res: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        on_event: Callable[[str, CacheKey, Obj], None] | None = None,
        on_gone: Callable[[], None] | None = None,
        name: str = "",
    ) -> None:
        self.client = client
        self.res = self.resource = res
        self.namespace = namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.name = name or f"fake informer {res}"
        self.on_event = on_event
        self.on_gone = on_gone
        self.on_relist: Callable[[], None] | None = None
        self._labels = _selector(label_selector)
        self._fields = _selector(field_selector)
        self._lock = threading.RLock()
        self.store: dict[CacheKey, Obj] = {}
        self.has_synced = threading.Event()
        # What the engine's liveness check reads from a real informer.
        self.running = False
        self.stopped = False
        self.gone = False
        self.resource_version = ""
        self.list_count = 0
        self.watch_count = 0
        self.error_count = 0
        self.last_error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------------
    def start(self) -> FakeInformer:
        with self.client.lock:
            if (self.res.group, self.res.kind) not in self.client.resources:
                self.lose_resource()
                return self
            self.client.informers.append(self)
            items = [o for o in self.client.list(self.res, self.namespace) if self._selects(o)]
        with self._lock:
            self.store = {cache_key(o): o for o in items}
            self.list_count += 1
            self.watch_count += 1
            self.running = True
        for obj in items:
            self._emit("SYNC", cache_key(obj), obj)
        self.has_synced.set()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        with self.client.lock:
            if self in self.client.informers:
                self.client.informers.remove(self)
        self.running, self.stopped = False, True

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self.has_synced.wait(timeout)

    def lose_resource(self) -> None:
        """The kind is no longer served: as a real informer's 404 on relist, call on_gone and stop."""
        if self.stopped:
            return
        self.gone = True
        self.last_error = NotFound(404, "NotFound", f"{self.res} is not served", None)
        self.stop()
        if self.on_gone is not None:
            try:
                self.on_gone()
            except Exception:
                log.exception("%s: on_gone handler failed", self.name)

    # -- events from the cluster ------------------------------------------------------------------------------------
    def deliver(self, res: Resource, event: str, obj: Obj) -> None:
        if self.stopped or (res.group, res.kind) != (self.res.group, self.res.kind):
            return
        namespace = obj["metadata"].get("namespace")
        if self.namespace is not None and namespace != self.namespace:
            return
        key = cache_key(obj)
        with self._lock:
            known = key in self.store
            if event != "DELETED" and not self._selects(obj):
                if not known:
                    return
                event = "DELETED"  # it left the selection: a real watch says so
            elif event == "MODIFIED" and not known:
                event = "ADDED"
            elif event == "DELETED" and not known:
                return
            if event == "DELETED":
                self.store.pop(key, None)
            else:
                self.store[key] = obj
            self.resource_version = str(obj["metadata"].get("resourceVersion") or self.resource_version)
        self._emit(event, key, obj)

    def _selects(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        fields = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace") or ""}
        return _matches(self._labels, meta.get("labels") or {}) and _matches(self._fields, fields)

    def _emit(self, event: str, key: CacheKey, obj: Obj) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event, key, obj)
        except Exception:
            log.exception("%s: handler failed on %s %s/%s", self.name, event, *key)

    # -- reads ------------------------------------------------------------------------------------------------------
    def get(self, namespace: str | None, name: str) -> Obj | None:
        with self._lock:
            return self.store.get((namespace or "", name))

    def list(self) -> builtins.list[Obj]:
        with self._lock:
            return [*self.store.values()]

    def keys(self) -> builtins.list[CacheKey]:
        with self._lock:
            return [*self.store]

    def __len__(self) -> int:
        with self._lock:
            return len(self.store)


def _(informer: FakeInformer) -> ClusterInformer:
    return informer  # mypy proves the fake has the informer surface the engine types against
