"""The kind registry: one KindRuntime per (group, kind) a rule syncs, with its rules, served resources and informers.

The engine owns the registry and is the only writer of a runtime's resources and informers (its kinds loop, under
`runtime.lock`); the reconciler and the routing functions only read them. A kind is `active` while both sides serve it
and both informers run; a kind that is not active is skipped by the reconciler (re-listed, and so re-queued, once it
comes back). Failure modes: none; this module does no IO.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from crdsync.gvk import GroupVersionKind
from crdsync.kube.protocols import ClusterInformer
from crdsync.kube.resource import Resource
from crdsync.spec.model import Direction, Rule, SyncConfig, SyncMode


@dataclass
class KindRuntime:
    """Everything the engine holds for one (group, kind): its rules, resources and informers."""

    gvk: GroupVersionKind
    rules: dict[Direction, Rule]
    host_res: Resource | None = None
    virtual_res: Resource | None = None
    host: ClusterInformer | None = None
    virtual: ClusterInformer | None = None
    waiting_reason: str = ""
    crd_checked_at: float = 0.0
    # The host's CRD of this kind, watched by name (no periodic GETs); crd_seen: the resourceVersion last mirrored.
    # crd_watch_refused: the watch was forbidden (RBAC from before it), so the CRD is re-read on a timer instead.
    crd: ClusterInformer | None = None
    crd_seen: str = ""
    crd_watch_refused: bool = False
    gone: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def active(self) -> bool:
        return self.host is not None and self.virtual is not None

    @property
    def host_namespace_only(self) -> bool:
        """Host objects we care about all live in the tenant's host namespace, unless a fromHost rule picks others."""
        rule = self.rules.get(Direction.FROM_HOST)
        return rule is None or rule.mode is SyncMode.REFERENCED

    @property
    def status_both(self) -> bool:
        """Both sides have a status subresource. Without one every status write bumps the generation, so generations
        cannot be mapped."""
        return bool(self.host_res and self.host_res.has_status and self.virtual_res and self.virtual_res.has_status)

    def informer(self, side: str) -> ClusterInformer | None:
        return self.host if side == "host" else self.virtual


Kinds = dict[tuple[str, str], KindRuntime]  # (group, kind) -> its runtime


def kinds_of(config: SyncConfig) -> Kinds:
    """The registry for `config`: one runtime per kind, holding that kind's rule in each direction."""
    kinds: Kinds = {}
    for rule in config.rules:
        runtime = kinds.setdefault((rule.gvk.group, rule.gvk.kind), KindRuntime(gvk=rule.gvk, rules={}))
        runtime.rules[rule.direction] = rule
    return kinds
