"""A list+watch cache of one resource, kept current by a background thread, with secondary indexes.

The informer lists the resource (all pages), replaces its store, reports every object once as "SYNC" (and objects that
vanished since the previous list as "DELETED"), then watches from the list's resourceVersion with bookmarks, resuming
from the last seen resourceVersion whenever a stream ends. Handlers run on the informer thread after the store has been
updated, so a handler that looks something up sees the state the event describes.

Failure modes, none of which escape the thread:
- 410 Gone (the resourceVersion was compacted away): relist at once.
- a silent stream (client-side read timeout) or a stream the server ended: watch again from the last resourceVersion.
- a watch event that cannot be decoded (`UndecodableEvent`: broken JSON, a wrong shape, anything unexpected): log it
  with the kind and the object's name when known, and relist from scratch. Re-watching from the last resourceVersion
  would replay the same event forever and freeze the kind (deletions included); the list moves past it. The first
  such relist is immediate, further ones in a row back off exponentially (a tenant who keeps rewriting a poison
  object must not turn into a relist per write).
- any other error (apiserver down, 403, 5xx): log, wait with exponential backoff and jitter, then retry the step that
  failed (a failed list is retried as a list).
- 404 on list or watch (the CRD was deleted, the group is no longer served): call `on_gone()` and stop, instead
  of spinning against a resource that does not exist. The store keeps its last content.
- a handler or index function that raises is logged and skipped; the informer keeps running.

The store holds the decoded dicts as they came from the server; they are shared with every reader and must be treated
as read-only (copy before changing). They may be nested thousands of levels deep (the apiserver accepts ~10,000), so
nothing here walks them recursively (no deepcopy, ==, repr or json.dumps of whole objects) and neither may handlers
and index functions that want to survive a hostile tenant.
"""

from __future__ import annotations

import builtins
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from crdsync.kube.client import Resource
from crdsync.kube.decode import UndecodableEvent
from crdsync.kube.errors import ApiError, Gone, NotFound, Timeout

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects
EventHandler = Callable[[str, Key, JSONDict], None]
GoneHandler = Callable[[], None]  # the informer's `resource` says which kind; bind more with a closure
IndexFunc = Callable[[JSONDict], Iterable[str]]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
SYNC = "SYNC"


class ListWatcher(Protocol):
    """What the informer needs from a client: KubeClient, or an in-memory fake in tests."""

    def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> tuple[list[JSONDict], str]: ...

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None,
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
        read_timeout: float | None = None,
    ) -> Iterator[tuple[str, JSONDict]]: ...


def object_key(obj: JSONDict) -> Key:
    """The store key of an object: (metadata.namespace or "", metadata.name)."""
    metadata = _metadata(obj)
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return (namespace if isinstance(namespace, str) else "", name if isinstance(name, str) else "")


def _metadata(obj: JSONDict) -> JSONDict:
    # A shape the apiserver never sends must not raise in the loop: an exception there re-watches the same event.
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


class Informer:
    """Cache and event source for one resource (optionally one namespace and a label/field selector)."""

    def __init__(
        self,
        client: ListWatcher,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        on_event: EventHandler | None = None,
        on_gone: GoneHandler | None = None,
        name: str | None = None,
        page_size: int = 500,
        watch_timeout: tuple[int, int] = (240, 480),
        read_timeout: float = 90.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        """`watch_timeout` is the (min, max) server-side timeoutSeconds, picked at random per watch so informers
        started together do not reconnect together. `read_timeout` bounds the silence on a stream; the apiserver sends a
        bookmark about every 60s while idle (measured on v1.36), so 90s of silence means a dead connection (and a false
        alarm only costs a cheap re-watch from the last resourceVersion).
        """
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.name = name or f"informer-{resource}" + (f"-{namespace}" if namespace else "")
        self._on_event = on_event
        self._on_gone = on_gone
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._read_timeout = read_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max

        self.has_synced = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._store: dict[Key, JSONDict] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[Key]]] = {}
        self._index_values: dict[str, dict[Key, frozenset[str]]] = {}
        self._resource_version = ""
        self._stream: Iterator[tuple[str, JSONDict]] | None = None
        self._thread: threading.Thread | None = None
        self.gone = False
        self.list_count = 0
        self.watch_count = 0
        self.error_count = 0
        self.last_error: BaseException | None = None
        # Called (on the informer thread) after every successful list but the first: a relist means a lost watch
        # position, and a kind that keeps relisting costs the apiserver a full list each time. Set before start().
        self.on_relist: Callable[[], None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------------

    def start(self) -> Informer:
        """Start the list+watch thread (once); returns self."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"{self.name}: already started")
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the thread: interrupts a blocked watch read and joins. No handler is called after this returns
        (unless the join timed out, which is logged)."""
        self._stop.set()
        with self._lock:
            stream = self._stream
        _close(stream)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s: thread did not stop within %ss", self.name, timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self.has_synced.wait(timeout)

    @property
    def resource_version(self) -> str:
        """The last resourceVersion seen (from a list, an event or a bookmark): where the next watch resumes."""
        with self._lock:
            return self._resource_version

    # -- reads --------------------------------------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> JSONDict | None:
        with self._lock:
            return self._store.get((namespace or "", name))

    def list(self) -> list[JSONDict]:
        with self._lock:
            return [*self._store.values()]

    def keys(self) -> builtins.list[Key]:
        with self._lock:
            return [*self._store]

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Maintain an index: `fn(obj)` gives the values an object is found under by `by_index(name, value)`.
        May be added before or after start; it is built from the current store at once."""
        with self._lock:
            if name in self._indexers:
                raise ValueError(f"{self.name}: index {name!r} already exists")
            self._indexers[name] = fn
            self._indices[name] = {}
            self._index_values[name] = {}
            for key, obj in self._store.items():
                self._index_one(name, key, obj)

    def by_index(self, name: str, value: str) -> builtins.list[JSONDict]:
        """The objects indexed under `value`, in key order. KeyError for an index that was never added."""
        with self._lock:
            try:
                keys = self._indices[name].get(value, ())
            except KeyError:
                raise KeyError(f"{self.name}: no index {name!r}") from None
            return [self._store[k] for k in sorted(keys)]

    def index_values(self, name: str) -> builtins.list[str]:
        """The values an index currently holds objects under."""
        with self._lock:
            return sorted(self._indices[name])

    # -- store and indexes (caller holds the lock) ---------------------------------------------------------------------

    def _index_one(self, name: str, key: Key, obj: JSONDict | None) -> None:
        new: frozenset[str] = frozenset()
        if obj is not None:
            try:
                new = frozenset(self._indexers[name](obj))
            except Exception:
                log.exception("%s: index %r failed on %s/%s", self.name, name, key[0], key[1])
        per_key = self._index_values[name]
        old = per_key.get(key, frozenset())
        if old == new:
            return
        index = self._indices[name]
        for value in old - new:
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]
        for value in new - old:
            index.setdefault(value, set()).add(key)
        if new:
            per_key[key] = new
        else:
            per_key.pop(key, None)

    def _reindex(self, key: Key, obj: JSONDict | None) -> None:
        for name in self._indexers:
            self._index_one(name, key, obj)

    # -- the loop -----------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self._backoff_initial
        need_list = True
        gone_streak = 0
        # Undecodable events in a row, with their own backoff: the relist in between resets `backoff`.
        undecodable_streak = 0
        undecodable_backoff = self._backoff_initial
        while not self._stop.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                    backoff = self._backoff_initial
                started = time.monotonic()
                events = self._watch_once()
                gone_streak = 0
                undecodable_streak = 0
                undecodable_backoff = self._backoff_initial
                if events or time.monotonic() - started > 5.0:
                    backoff = self._backoff_initial
                    continue
                # A stream the server closes at once, again and again, must not become a hot loop.
                self._sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)
            except Gone as exc:
                log.info("%s: resourceVersion %s expired (%s); relisting", self.name, self.resource_version, exc)
                need_list = True
                gone_streak += 1
                if gone_streak > 1:
                    # Expired again right after a fresh list: relisting in a tight loop would only add load.
                    self._sleep(backoff)
                    backoff = min(backoff * 2, self._backoff_max)
            except NotFound as exc:
                if self._stop.is_set():
                    break
                log.warning("%s: resource no longer served (%s); stopping", self.name, exc)
                self.gone = True
                self.last_error = exc
                self._stop.set()
                if self._on_gone is not None:
                    try:
                        self._on_gone()
                    except Exception:
                        log.exception("%s: on_gone handler failed", self.name)
                break
            except Timeout as exc:
                # A silent stream: nothing was lost (we resume from the last resourceVersion), just reconnect.
                log.debug("%s: %s; watching again", self.name, exc.message)
            except UndecodableEvent as exc:
                if self._stop.is_set():
                    break
                self.error_count += 1
                self.last_error = exc
                undecodable_streak += 1
                log.warning("%s: cannot decode a watch event of %s %s (%s); relisting from scratch", self.name,
                            exc.kind, exc.object_ref, exc.message)
                need_list = True
                if undecodable_streak > 1:
                    self._sleep(undecodable_backoff)
                    undecodable_backoff = min(undecodable_backoff * 2, self._backoff_max)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self.error_count += 1
                self.last_error = exc
                level = logging.WARNING if isinstance(exc, ApiError) else logging.ERROR
                log.log(level, "%s: %s failed: %s; retrying in ~%.1fs", self.name,
                        "list" if need_list else "watch", exc, backoff, exc_info=not isinstance(exc, ApiError))
                self._sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)
        log.debug("%s: stopped", self.name)

    def _sleep(self, backoff: float) -> None:
        # Jitter spreads informers that failed together (apiserver restart) over the interval.
        self._stop.wait(backoff * random.uniform(0.5, 1.5))

    def _relist(self) -> None:
        items, resource_version = self.client.list(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            limit=self._page_size,
        )
        fresh = {object_key(obj): obj for obj in items}
        with self._lock:
            previous = self._store
            self._store = fresh
            for name in self._indexers:
                self._indices[name] = {}
                self._index_values[name] = {}
                for key, obj in fresh.items():
                    self._index_one(name, key, obj)
            self._resource_version = resource_version
            self.list_count += 1
            relisted = self.list_count > 1
        if relisted and self.on_relist is not None:
            try:
                self.on_relist()
            except Exception:
                log.exception("%s: relist handler failed", self.name)
        for key, obj in previous.items():
            if key not in fresh:
                self._emit(DELETED, key, obj)
        for key, obj in fresh.items():
            self._emit(SYNC, key, obj)
        self.has_synced.set()

    def _watch_once(self) -> int:
        low, high = self._watch_timeout
        stream = self.client.watch(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            resource_version=self.resource_version,
            timeout_seconds=random.randint(low, max(low, high)),
            allow_bookmarks=True,
            read_timeout=self._read_timeout,
        )
        with self._lock:
            self._stream = stream
            self.watch_count += 1
        events = 0
        try:
            if self._stop.is_set():
                return 0
            for event_type, obj in stream:
                if self._stop.is_set():
                    break
                events += 1
                self._apply(event_type, obj)
        finally:
            with self._lock:
                self._stream = None
            _close(stream)
        return events

    def _apply(self, event_type: str, obj: JSONDict) -> None:
        resource_version = _metadata(obj).get("resourceVersion")
        if not isinstance(resource_version, str):
            resource_version = ""
        if event_type == "BOOKMARK":
            if resource_version:
                with self._lock:
                    self._resource_version = resource_version
            return
        key = object_key(obj)
        with self._lock:
            if event_type in (ADDED, MODIFIED):
                self._store[key] = obj
                self._reindex(key, obj)
            elif event_type == DELETED:
                self._store.pop(key, None)
                self._reindex(key, None)
            else:
                log.warning("%s: ignoring watch event of unknown type %r", self.name, event_type)
                return
            if resource_version:
                self._resource_version = resource_version
        self._emit(event_type, key, obj)

    def _emit(self, event_type: str, key: Key, obj: JSONDict) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event_type, key, obj)
        except Exception:
            log.exception("%s: handler failed on %s %s/%s", self.name, event_type, key[0], key[1])


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.debug("closing a watch stream failed", exc_info=True)
