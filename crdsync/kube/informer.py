"""A list+watch cache of one resource, kept current by a background thread.

The informer lists the resource (all pages), replaces its store, reports every object once as "SYNC" (and objects that
vanished since the previous list as "DELETED"), then watches from the list's resourceVersion with bookmarks, resuming
from the last seen resourceVersion whenever a stream ends. Handlers run on the informer thread after the store has been
updated, so a handler that looks something up sees the state the event describes. The store is keyed by `CacheKey`,
(namespace, name) as the apiserver names the object; the engine's work-queue keys are a different thing.

One concept, one module: the store and the loop that keeps it are not split, because the store's consistency (replaced
whole on a relist, changed event by event under one lock, read by handlers the loop calls) is the loop's contract.

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
- a handler that raises is logged and skipped; the informer keeps running.

The store holds the decoded dicts as they came from the server; they are shared with every reader and must be treated
as read-only (copy before changing). They may be nested thousands of levels deep (the apiserver accepts ~10,000), so
nothing here walks them recursively (no deepcopy, ==, repr or json.dumps of whole objects) and neither may handlers
that want to survive a hostile tenant.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from crdsync.kube.decode import UndecodableEvent
from crdsync.kube.errors import ApiError, Gone, NotFound, Timeout
from crdsync.kube.resource import Resource

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
CacheKey = tuple[str, str]  # (namespace, name) of an object in the store; namespace is "" for cluster-scoped objects
EventHandler = Callable[[str, CacheKey, JSONDict], None]
GoneHandler = Callable[[], None]  # the informer's `resource` says which kind; bind more with a closure

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
        resource_version: str | None = None,
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


def cache_key(obj: JSONDict) -> CacheKey:
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
        self._store: dict[CacheKey, JSONDict] = {}
        self._resource_version = ""
        self._stream: Iterator[tuple[str, JSONDict]] | None = None
        self._thread: threading.Thread | None = None
        self.list_count = 0
        self.watch_count = 0
        self.error_count = 0
        # The last failure, for callers that react to its kind (the engine falls back from a CRD watch RBAC forbids).
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

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

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
            # The first list from the watch cache, as client-go's reflector: a restart of crdsync (or of all its
            # tenants at once) reads no etcd; its watch then brings anything newer. A relist reads the latest.
            resource_version="0" if self.list_count == 0 else None,
        )
        fresh = {cache_key(obj): obj for obj in items}
        with self._lock:
            previous = self._store
            self._store = fresh
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
        key = cache_key(obj)
        with self._lock:
            if event_type in (ADDED, MODIFIED):
                self._store[key] = obj
            elif event_type == DELETED:
                self._store.pop(key, None)
            else:
                log.warning("%s: ignoring watch event of unknown type %r", self.name, event_type)
                return
            if resource_version:
                self._resource_version = resource_version
        self._emit(event_type, key, obj)

    def _emit(self, event_type: str, key: CacheKey, obj: JSONDict) -> None:
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
