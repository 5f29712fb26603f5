"""Work-queue keys and the in-memory index of which objects reference which followers.

A key names one unit of reconciliation: its task, its kind, and both ends of the pair, each by side:
- TO_HOST / EXPORT: source is the virtual object, target its host copy (where the naming rule puts it).
- FROM_HOST: source is the host object, target its virtual copy.
- IMPORT: target is the virtual name a reference asks for, source the host object that reference names (None when no
  reference names that place now: what stands there is judged, and let go of if it is an import).
A key's identity is the end it is reconciled for, the one every event about the pair maps to, so the queue serialises
them: the source, except for IMPORT, whose identity is its target (a host object may be imported under several
virtual names, and a virtual place is filled from one host object at a time). The other end is what routing knew; the
reconcile derives it again from the rule and the reference index, which decide. Nothing reads `key.source` of an
import as a virtual object, or its target as a host object: the sides are in the types.

The reference index is rebuilt from cached virtual objects on every start (nothing is persisted), which is what makes
follower garbage collection restart-safe. It is thread-safe; it never does IO.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

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
class ObjectName:
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class LoggedKey:
    """What log lines carry about a key (crdsync.logs.key_fields): its text and its identity."""

    text: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, eq=False)
class Key:
    task: Task
    group: str
    kind: str
    source: ObjectName | None  # virtual for TO_HOST/EXPORT, host for FROM_HOST/IMPORT
    target: ObjectName | None = None  # the other side

    _compared_as: tuple[str, str, str, str, str] = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        end = "target" if self.task is Task.IMPORT else "source"
        if getattr(self, end) is None:
            raise ValueError(f"a {self.task.value} key needs its {end}")
        # Computed once: a key is hashed and compared at every queue, index and cache step of its reconcile.
        identity = self.identity
        compared = (self.task.value, self.group, self.kind, identity.namespace or "", identity.name)
        object.__setattr__(self, "_compared_as", compared)
        object.__setattr__(self, "_hash", hash(compared))

    @classmethod
    def imported(cls, group: str, kind: str, target: ObjectName, source: ObjectName | None = None) -> Key:
        return cls(Task.IMPORT, group, kind, source, target)

    @property
    def identity(self) -> ObjectName:
        """The end this key is reconciled for (see the module docstring)."""
        name = self.target if self.task is Task.IMPORT else self.source
        assert name is not None
        return name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and self._compared_as == other._compared_as

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: Key) -> bool:
        return self._compared_as < other._compared_as

    def __str__(self) -> str:
        return f"{self.task.value} {self.kind}.{self.group or 'core'} {self.identity}"

    @property
    def logged(self) -> LoggedKey:
        return LoggedKey(str(self), self.kind, self.identity.namespace, self.identity.name)


def follower_key(ref: FollowRef) -> Key:
    virtual = ObjectName(ref.virtual_namespace, ref.virtual_name)
    host = ObjectName(ref.host_namespace, ref.host_name)
    if ref.direction is FollowDirection.TO_HOST:
        return Key(Task.EXPORT, ref.gvk.group, ref.gvk.kind, virtual, host)
    return Key(Task.IMPORT, ref.gvk.group, ref.gvk.kind, host, virtual)


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
                del self._by_referrer[referrer]  # new != old: old was not empty
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

    def import_key(self, group: str, kind: str, target: ObjectName) -> Key:
        """The IMPORT key of a virtual place: with the host object a reference names there, or without a source when
        no reference names that place now."""
        probe = Key.imported(group, kind, target)
        with self._lock:
            ref = self._refs.get(probe)
        return follower_key(ref) if ref is not None else probe

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
                del self._shared_by_referrer[referrer]  # new != old: old was not empty

    def shared_referrers(self, name: SharedName) -> frozenset[Key]:
        with self._lock:
            return frozenset(self._shared_referrers.get(name, ()))


def _host_slot(ref: FollowRef) -> tuple[str, str, str | None, str]:
    return (ref.gvk.group, ref.gvk.kind, ref.host_namespace, ref.host_name)
