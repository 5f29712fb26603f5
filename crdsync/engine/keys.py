"""Work-queue keys and the in-memory index of which objects reference which followers.

A key names one unit of reconciliation by the *source* identity, so every event about a pair (source changed, copy
changed, copy deleted) lands on the same key and the queue serialises them:
- TO_HOST / EXPORT: the virtual object (namespace, name); its host copy is derived by the naming rule.
- FROM_HOST: the host object (namespace, name); its virtual copy keeps the name.
- IMPORT: the virtual (namespace, name) a reference asks for; the host object comes from the reference.

The reference index is rebuilt from cached virtual objects on every start (nothing is persisted), which is what makes
follower garbage collection restart-safe. It is thread-safe; it never does IO.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from crdsync.spec.model import Direction, FollowDirection
from crdsync.translate.objects import FollowRef


class Task(enum.Enum):
    TO_HOST = "toHost"  # a toHost (mode all) source in virtual
    FROM_HOST = "fromHost"  # a fromHost (mode all) source in host
    EXPORT = "export"  # a virtual object referenced with follow toHost
    IMPORT = "import"  # a virtual name referenced with follow fromHost, filled from a host object

    @property
    def direction(self) -> Direction:
        return Direction.TO_HOST if self in (Task.TO_HOST, Task.EXPORT) else Direction.FROM_HOST


@dataclass(frozen=True, order=True)
class Key:
    task: Task
    group: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.task.value} {self.kind}.{self.group or 'core'} {where}"


def follower_key(ref: FollowRef) -> Key:
    task = Task.EXPORT if ref.direction is FollowDirection.TO_HOST else Task.IMPORT
    return Key(task, ref.gvk.group, ref.gvk.kind, ref.virtual_namespace, ref.virtual_name)


SharedName = tuple[str, str, str | None, str]  # (group, kind, host namespace, name) of an object shared by name


class ReferenceIndex:
    """referrer key -> the followers it names, and the reverse maps the event handlers need."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_referrer: dict[Key, frozenset[FollowRef]] = {}
        self._referrers: dict[Key, set[Key]] = {}
        self._refs: dict[Key, FollowRef] = {}
        # (group, kind, host namespace, host name) -> import follower key, to route host events of objects we
        # do not label (a Secret written by the host operator carries no bookkeeping of ours).
        self._imports_by_host: dict[tuple[str, str, str | None, str], Key] = {}
        # (group, kind, host namespace, name) of an object shared by name -> the keys naming it, and back.
        self._shared_referrers: dict[SharedName, set[Key]] = {}
        self._shared_by_referrer: dict[Key, frozenset[SharedName]] = {}

    def update(self, referrer: Key, refs: Iterable[FollowRef]) -> set[Key]:
        """Record what `referrer` names now; returns the follower keys whose referrer set changed."""
        new = frozenset(refs)
        with self._lock:
            old = self._by_referrer.get(referrer, frozenset())
            if new == old:
                return set()
            if new:
                self._by_referrer[referrer] = new
            else:
                self._by_referrer.pop(referrer, None)
            changed: set[Key] = set()
            for ref in old - new:
                key = follower_key(ref)
                changed.add(key)
                holders = self._referrers.get(key)
                if holders is not None:
                    holders.discard(referrer)
                    if not holders:
                        del self._referrers[key]
                        self._refs.pop(key, None)
                        self._imports_by_host.pop(_host_slot(ref), None)
            for ref in new - old:
                key = follower_key(ref)
                changed.add(key)
                self._referrers.setdefault(key, set()).add(referrer)
                self._refs[key] = ref
                if key.task is Task.IMPORT:
                    self._imports_by_host[_host_slot(ref)] = key
            return changed

    def referrers(self, follower: Key) -> frozenset[Key]:
        with self._lock:
            return frozenset(self._referrers.get(follower, ()))

    def ref(self, follower: Key) -> FollowRef | None:
        with self._lock:
            return self._refs.get(follower)

    def import_for_host(self, group: str, kind: str, namespace: str | None, name: str) -> Key | None:
        with self._lock:
            return self._imports_by_host.get((group, kind, namespace, name))

    def update_shared(self, referrer: Key, names: Iterable[SharedName]) -> None:
        """Record which objects shared by name (e.g. ClusterIssuers) `referrer` names, so that sharing or unsharing
        one re-queues exactly its referrers instead of leaving them to a retry timer."""
        new = frozenset(names)
        with self._lock:
            old = self._shared_by_referrer.get(referrer, frozenset())
            if new == old:
                return
            for name in old - new:
                holders = self._shared_referrers.get(name)
                if holders is not None:
                    holders.discard(referrer)
                    if not holders:
                        del self._shared_referrers[name]
            for name in new - old:
                self._shared_referrers.setdefault(name, set()).add(referrer)
            if new:
                self._shared_by_referrer[referrer] = new
            else:
                self._shared_by_referrer.pop(referrer, None)

    def shared_referrers(self, name: SharedName) -> frozenset[Key]:
        with self._lock:
            return frozenset(self._shared_referrers.get(name, ()))


def _host_slot(ref: FollowRef) -> tuple[str, str, str | None, str]:
    return (ref.gvk.group, ref.gvk.kind, ref.host_namespace, ref.host_name)
