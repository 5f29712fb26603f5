"""Kubernetes Events about objects (core/v1), so a tenant sees with `kubectl describe` why their object did not sync.

Repeats of the same event (same object, reason, type and component) are aggregated into one Event object whose name is
derived from those fields: the first occurrence is created with count 1, later ones patch count, lastTimestamp and
message. Counts are remembered per client to save a read; after a restart (or when another process holds the count)
the Event is read back once.

Rate-limited per involved object like client-go's EventSourceObjectSpamFilter: a burst of SPAM_BURST events, then one
per SPAM_REFILL_SECONDS; the rest are dropped (logged at debug). An object that fails on every retry (a refusing
admission webhook, say) therefore costs the apiserver a handful of Event writes, not one per retry. Messages are cut
to 1 KiB.

Failure modes: recording an event is best effort and never raises — any failure (RBAC, apiserver down, a fake client
without Event support) is logged at warning level and dropped, so an event can never break a reconcile.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crdsync.kube.errors import AlreadyExists, NotFound
from crdsync.kube.protocols import EventClient
from crdsync.kube.resource import Resource

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

EVENTS = Resource(
    group="",
    version="v1",
    kind="Event",
    plural="events",
    namespaced=True,
    has_status=False,
    verbs=frozenset({"create", "delete", "get", "list", "patch", "update", "watch"}),
)

_MAX_MESSAGE = 1024  # events.k8s.io caps the note at 1 KiB; core/v1 does not, but long messages help nobody
_CACHE_SIZE = 4096
SPAM_BURST = 5
SPAM_REFILL_SECONDS = 60.0
_NAME_INVALID = re.compile(r"[^a-z0-9.-]+")


def record_event(
    client: EventClient,
    involved: JSONDict,
    reason: str,
    message: str,
    type_: str = "Warning",
    component: str = "crdsync",
) -> None:
    """Record (or count again) an Event about `involved`. Never raises."""
    try:
        _recorder(client).record(involved, reason, message, type_, component)
    except Exception as exc:
        metadata = involved.get("metadata") or {} if isinstance(involved, dict) else {}
        log.warning(
            "could not record event %s on %s %s/%s: %s",
            reason,
            involved.get("kind") if isinstance(involved, dict) else "?",
            metadata.get("namespace") or "",
            metadata.get("name"),
            exc,
        )


def event_name(involved: JSONDict, reason: str, type_: str, component: str) -> str:
    """The deterministic Event name that aggregates repeats: the object's name, then a hash of what identifies it."""
    metadata = involved.get("metadata") or {}
    identity = "|".join(
        str(part or "")
        for part in (
            involved.get("apiVersion"),
            involved.get("kind"),
            metadata.get("namespace"),
            metadata.get("name"),
            metadata.get("uid"),
            reason,
            type_,
            component,
        )
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    # Object names of some kinds allow characters Event names do not (e.g. "system:foo"); the hash keeps it unique.
    readable = _NAME_INVALID.sub("-", str(metadata.get("name") or "object").lower()).strip(".-")[:200] or "object"
    return f"{readable}.{digest}"


class _Recorder:
    def __init__(self, client: EventClient, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._tokens: OrderedDict[tuple[str, ...], tuple[float, float]] = OrderedDict()  # object -> (tokens, at)

    def _allowed(self, involved: JSONDict, component: str) -> bool:
        metadata = involved.get("metadata") or {}
        key = tuple(
            str(part or "")
            for part in (
                component,
                involved.get("kind"),
                metadata.get("namespace"),
                metadata.get("name"),
                metadata.get("uid"),
            )
        )
        now = self._clock()
        with self._lock:
            tokens, at = self._tokens.get(key, (float(SPAM_BURST), now))
            tokens = min(float(SPAM_BURST), tokens + (now - at) / SPAM_REFILL_SECONDS)
            allowed = tokens >= 1.0
            self._tokens[key] = (tokens - 1.0 if allowed else tokens, now)
            self._tokens.move_to_end(key)
            while len(self._tokens) > _CACHE_SIZE:
                self._tokens.popitem(last=False)
        return allowed

    def record(self, involved: JSONDict, reason: str, message: str, type_: str, component: str) -> None:
        metadata = involved.get("metadata") or {}
        if not metadata.get("name"):
            raise ValueError("the involved object has no metadata.name")
        if not self._allowed(involved, component):
            log.debug("event %s on %s %s dropped: rate limited", reason, involved.get("kind"), metadata.get("name"))
            return
        # Events of cluster-scoped objects live in "default", where `kubectl describe` looks for them.
        namespace = metadata.get("namespace") or "default"
        name = event_name(involved, reason, type_, component)
        now = _now()
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        with self._lock:
            known = self._counts.get((namespace, name))
        if known is not None:
            try:
                self._bump(namespace, name, known + 1, message, now)
                return
            except NotFound:
                pass  # expired (events have a TTL) or deleted: create it anew
        event: JSONDict = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                k: v
                for k, v in (
                    ("apiVersion", involved.get("apiVersion")),
                    ("kind", involved.get("kind")),
                    ("name", metadata.get("name")),
                    ("namespace", metadata.get("namespace")),
                    ("uid", metadata.get("uid")),
                    ("resourceVersion", metadata.get("resourceVersion")),
                )
                if v
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self._client.create(EVENTS, event, namespace=namespace)
            self._remember(namespace, name, 1)
        except AlreadyExists:
            current = self._client.get(EVENTS, namespace, name) or {}
            count = current.get("count")
            self._bump(namespace, name, (count if isinstance(count, int) else 1) + 1, message, now)

    def _bump(self, namespace: str, name: str, count: int, message: str, now: str) -> None:
        self._client.patch(
            EVENTS, namespace, name, {"count": count, "lastTimestamp": now, "message": message}, patch_type="merge"
        )
        self._remember(namespace, name, count)

    def _remember(self, namespace: str, name: str, count: int) -> None:
        with self._lock:
            self._counts[(namespace, name)] = count
            self._counts.move_to_end((namespace, name))
            while len(self._counts) > _CACHE_SIZE:
                self._counts.popitem(last=False)


_recorders: weakref.WeakKeyDictionary[EventClient, _Recorder] = weakref.WeakKeyDictionary()
_recorders_lock = threading.Lock()


def _recorder(client: EventClient) -> _Recorder:
    with _recorders_lock:
        recorder = _recorders.get(client)
        if recorder is None:
            recorder = _recorders[client] = _Recorder(client)
        return recorder


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
