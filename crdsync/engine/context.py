"""What every reconcile decision reads, shared by the toHost and fromHost halves of the reconciler.

`Context` holds the engine's state as the decisions see it (configuration, tenant, kind registry, reference index, the
writer and its overlay) and the tenancy questions both halves ask about host objects. It does no IO but the reads of
informer caches (through the writer's overlay); reporting (Events) is injected by crdsync.engine.reconcile, the one
place Events are recorded. `Outcome` is what a reconcile tells the worker. Failure modes: none raised here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crdsync.engine.keys import Key, ReferenceIndex
from crdsync.engine.kinds import KindRuntime, Kinds
from crdsync.engine.writes import Writer
from crdsync.spec.model import Rule, SyncConfig
from crdsync.translate.bookkeeping import SourceRef
from crdsync.translate.names import Tenant
from crdsync.translate.tenancy import trusted_host_source

Obj = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    requeue_after: float | None = None
    backoff: bool = False
    error: bool = False

    @staticmethod
    def ok() -> Outcome:
        return Outcome()

    @staticmethod
    def retry(error: bool = True) -> Outcome:
        return Outcome(backoff=True, error=error)

    @staticmethod
    def later(seconds: float) -> Outcome:
        return Outcome(requeue_after=seconds)

    @staticmethod
    def failed() -> Outcome:
        """Reported (an Event says why); no retry until something changes."""
        return Outcome(error=True)


def meta_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def deleting(obj: Mapping[str, Any]) -> bool:
    return meta_of(obj).get("deletionTimestamp") is not None


Report = Callable[[Key, KindRuntime, str, str], None]  # (key, runtime, reason, message): a Warning Event and a log
Notify = Callable[[Obj, str, str], None]  # (virtual object, reason, message): a Normal Event


@dataclass
class Context:
    config: SyncConfig
    tenant: Tenant
    kinds: Kinds
    index: ReferenceIndex
    writer: Writer
    namespace_labels: Callable[[str | None], Mapping[str, str] | None]
    report: Report
    notify: Notify

    @property
    def field_manager(self) -> str:
        return self.writer.field_manager

    def current(self, side: str, runtime: KindRuntime, namespace: str | None, name: str) -> Obj | None:
        return self.writer.current(side, runtime, namespace, name)

    def host_source(self, runtime: KindRuntime, rule: Rule, host_obj: Mapping[str, Any]) -> SourceRef | None:
        """The virtual source of a host object, when this tenant's engine can prove it made that copy (tenancy)."""
        assert runtime.host_res is not None
        return trusted_host_source(
            host_obj, self.tenant, runtime.gvk, namespaced=runtime.host_res.namespaced, naming=rule.naming
        )

    def is_host_copy_of(
        self, runtime: KindRuntime, rule: Rule, host_obj: Mapping[str, Any], namespace: str | None, name: str
    ) -> bool:
        """Is `host_obj` provably this tenant's copy of the virtual source (namespace, name)?"""
        source = self.host_source(runtime, rule, host_obj)
        return source is not None and source.namespace == namespace and source.name == name
