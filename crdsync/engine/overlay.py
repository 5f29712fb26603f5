"""The write overlay: our own writes, remembered until the informer cache shows them.

A reconcile reads both sides from informer caches, which lag the API server. Right after a write the cache may still
hold the version before it; a reconcile reading that would write the same thing again. So each write is remembered
here (per slot: side, group, kind, namespace, name) with the key whose reconcile made it, and reads prefer it while
the cache provably has not caught up. The informer's echo of the write ends the entry, and tells the engine that the
event is a state its key already judged (no second reconcile).

resourceVersion policy: resourceVersions are opaque strings (the API's rule), never parsed or ordered; only equality
is used. An entry records the version the cache showed when we first wrote the slot (`base`), every version we wrote
since (`ours`) and the last one. The cache is behind us exactly while it shows `base` or one of ours that is not the
last; it has caught up when it shows the last. Any other version cannot be ordered against ours, so the cache wins
and the entry goes: the safe error is a redundant (idempotent, or conditional and refused) write, never a reconcile
that misses a change someone else made after us. A relist that skipped our echo lands in that case too.

Thread-safety: informer threads (observed) and workers (current, remember) share it; every operation holds one lock.
Failure modes: none raised.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crdsync.engine.keys import Key

Obj = dict[str, Any]
Slot = tuple[str, str, str, str | None, str]  # (side, group, kind, namespace, name) of a remembered write


def resource_version(obj: Mapping[str, Any] | None) -> str:
    """metadata.resourceVersion as the opaque string it is ("" when absent)."""
    meta = (obj or {}).get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
    return version if isinstance(version, str) else ""


@dataclass
class _Entry:
    obj: Obj  # our last write of the slot, as the server answered it
    key: Key | None  # whose reconcile wrote it
    base: str  # the version the cache showed before our first write of the slot
    earlier: set[str] = field(default_factory=set)  # versions we wrote before the last one

    @property
    def last(self) -> str:
        return resource_version(self.obj)

    def behind(self, version: str) -> bool:
        """Does a cache showing `version` provably lag our last write?"""
        return version == self.base or (version in self.earlier and version != self.last)


class WriteOverlay:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Slot, _Entry] = {}

    def remember(self, slot: Slot, written: Obj, key: Key | None, cached: Mapping[str, Any] | None) -> Obj:
        """Remember `written` (the server's answer to our write of `slot`); `cached` is what the informer holds now."""
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None:
                self._entries[slot] = _Entry(written, key, resource_version(cached))
            else:
                entry.earlier.add(entry.last)
                entry.obj, entry.key = written, key
        return written

    def current(self, slot: Slot, cached: Obj | None) -> Obj | None:
        """The newest state of `slot` we can prove: our write while the cache is behind it, else the cache."""
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None:
                return cached
            if entry.behind(resource_version(cached)):
                return entry.obj
            del self._entries[slot]  # caught up, or a version we cannot order: the cache is the truth now
            return cached

    def observed(self, slot: Slot, obj: Mapping[str, Any]) -> Key | None:
        """The informer shows `obj` for `slot`. Returns the key whose reconcile wrote exactly this version (the event
        is that write's echo), else None; the entry goes unless the event is an older state on its way through."""
        version = resource_version(obj)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None or entry.behind(version):
                return None
            del self._entries[slot]
            return entry.key if version and version == entry.last else None

    def wrote_exactly(self, slot: Slot, version: str, key: Key) -> bool:
        """Whether `key`'s reconcile wrote `slot` last, at exactly `version`: an event held back while that reconcile
        ran was its echo. The cache holds that version then, so the entry goes."""
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None or entry.key != key or not version or entry.last != version:
                return False
            del self._entries[slot]
            return True

    def forget(self, slot: Slot) -> None:
        """The object of `slot` was deleted by us: nothing of ours stands there any more."""
        with self._lock:
            self._entries.pop(slot, None)
