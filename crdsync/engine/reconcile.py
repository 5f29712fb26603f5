"""Reconcile one key: compute the desired state of its copy from cached state on both sides and write only the
difference.

Level-triggered: a key carries no event payload; every call reads the current source and copy from the informers'
caches (or from our own more recent write, so a stale cache does not trigger a second identical write), derives the
desired copy with the pure translation core, and converges. Writes are server-side apply with one field manager, so
fields the tenant or an operator owns are left alone and fields we stop setting are removed by the server. Back onto
a toHost source go its copy's status and the fields its rule's reverse paths give the host (one apply of the source's
own main resource; the forward translation never reads them, so the two directions cannot feed each other).

A kind may have a rule in each direction (spec.checks allows it where the selections are disjoint): copies are never
selected by the other rule, and where both want one place neither takes over the other's object (TargetExists).

Failure modes, per key and never fatal to the engine:
- a translation error (bad patch path, type mismatch) → Warning Event on the source object and a log line; no retry
  until the object changes;
- 409 Conflict → retried with backoff (the next attempt sees the fresher object);
- 422/403/400 from the API server → Event + log, retried with backoff (admission may change); except a 422 on the
  update of a copy this tenant provably owns under a rule with replaceOnConflict: the copy is deleted (uid
  precondition) and created again, with a Normal Event `Replaced`;
- anything else (network, 5xx) → log + retry with backoff;
- a write refused by the leadership fence (WriteFenced: the term is over) → retry later, no Event (an Event is a
  write too); the leader loop is stopping this engine anyway.

Observability only: every write that succeeds is reported to `on_write(side, verb)` (the engine counts it and
measures sync lag); Events are not counted as writes. Nothing here reads the metrics back, so they cannot change a
decision.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crdsync.engine.fence import WriteFenced
from crdsync.engine.keys import Key, ReferenceIndex, Task
from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import AlreadyExists, ApiError, Conflict, NotFound
from crdsync.kube.events import record_event
from crdsync.kube.resource import Resource
from crdsync.logs import key_fields
from crdsync.spec.model import ConflictPolicy, DeletionPolicy, Direction, NamingStyle, Rule, SyncConfig, SyncMode
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_DIGEST,
    ANN_SOURCE_NAME,
    ANN_SOURCE_NAMESPACE,
    LABEL_MANAGED_BY,
    LABEL_ORPHANED,
    LABEL_ROLE,
    LABEL_VCLUSTER,
    PREFIX,
    SIDE_HOST,
    SourceRef,
    annotations_of,
    carries_bookkeeping,
    labels_of,
    recorded_digest,
    source_of,
)
from crdsync.translate.compare import needs_write, stray_paths
from crdsync.translate.digest import source_digest, with_source_digest
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import shared_references, to_host, to_virtual
from crdsync.translate.reverse_paths import reverse_fields
from crdsync.translate.selectors import selects_host, selects_virtual
from crdsync.translate.status import virtual_status
from crdsync.translate.tenancy import (
    VCLUSTER_ANN_NAME,
    VCLUSTER_ANN_UID,
    claims_vcluster_copy,
    event_message,
    importable,
    is_orphan_of,
    is_vcluster_copy_of,
    trusted_host_source,
)

if TYPE_CHECKING:
    from crdsync.engine.engine import KindRuntime

log = logging.getLogger("crdsync.reconcile")

Obj = dict[str, Any]
Slot = tuple[str, str, str, str | None, str]  # (side, group, kind, namespace, name) of a remembered write
FINALIZER = "crdsync.io/host-copy"


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


@dataclass(frozen=True)
class Sides:
    host: KubeClient
    virtual: KubeClient


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def _rv(obj: Mapping[str, Any] | None) -> int:
    try:
        return int(_meta(obj or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _deleting(obj: Mapping[str, Any]) -> bool:
    return _meta(obj).get("deletionTimestamp") is not None


class Reconciler:
    def __init__(
        self,
        *,
        config: SyncConfig,
        tenant: Tenant,
        sides: Sides,
        kinds: Mapping[tuple[str, str], KindRuntime],
        index: ReferenceIndex,
        namespace_labels: Callable[[str | None], Mapping[str, str] | None],
        field_manager: str,
    ) -> None:
        self.config = config
        self.tenant = tenant
        self.sides = sides
        self.kinds = kinds
        self.index = index
        self.namespace_labels = namespace_labels
        self.field_manager = field_manager
        # Our own writes, newer than what the informer has shown us yet: (side, group, kind, ns, name) -> (object,
        # the key whose reconcile wrote it).
        self._written: dict[Slot, tuple[Obj, Key | None]] = {}
        self._reconciling = threading.local()  # per worker: the key being reconciled (who a write is remembered for)
        self._ensured_namespaces: set[str] = set()
        # (side, verb) of every successful write, for metrics; set by the engine.
        self.on_write: Callable[[str, str], None] = lambda side, verb: None

    def _wrote(self, client: KubeClient, verb: str) -> None:
        self.on_write("host" if client is self.sides.host else "virtual", verb)

    # -- cache -------------------------------------------------------------------------------------------------
    @staticmethod
    def slot(side: str, runtime: KindRuntime, obj: Mapping[str, Any]) -> Slot:
        """Where a write of `obj` is remembered: (side, group, kind, namespace, name)."""
        meta = _meta(obj)
        return side, runtime.gvk.group, runtime.gvk.kind, meta.get("namespace"), meta.get("name", "")

    def observed(self, side: str, runtime: KindRuntime, obj: Mapping[str, Any]) -> Key | None:
        """Informer saw `obj`: forget our remembered write once the cache has caught up with it.

        Returns the key whose reconcile made exactly this write (same resourceVersion): the event is that write's echo,
        a state that key has already judged, so the engine does not queue that key for it (other keys it routes to
        are queued as usual). Any other version (the host operator's status, a tenant's edit) returns None.
        """
        slot = self.slot(side, runtime, obj)
        written = self._written.get(slot)
        if written is None or _rv(written[0]) > _rv(obj):
            return None
        self._written.pop(slot, None)
        return written[1] if _rv(obj) > 0 and _rv(written[0]) == _rv(obj) else None

    def wrote_exactly(self, slot: Slot, resource_version: int, key: Key) -> bool:
        """Whether `key`'s reconcile wrote `slot` last, at exactly `resource_version`: an event the engine held back
        while that reconcile ran was its echo. The cache holds that version then, so the overlay entry goes."""
        written = self._written.get(slot)
        if written is None or written[1] != key or resource_version <= 0 or _rv(written[0]) != resource_version:
            return False
        self._written.pop(slot, None)
        return True

    def _current(self, side: str, runtime: KindRuntime, namespace: str | None, name: str) -> Obj | None:
        informer = runtime.host if side == "host" else runtime.virtual
        cached = informer.get(namespace, name) if informer is not None else None
        written = self._written.get((side, runtime.gvk.group, runtime.gvk.kind, namespace, name))
        if written is not None and _rv(written[0]) > _rv(cached):
            return written[0]
        return cached

    def _remember(self, side: str, runtime: KindRuntime, obj: Obj) -> Obj:
        self._written[self.slot(side, runtime, obj)] = (obj, getattr(self._reconciling, "key", None))
        return obj

    # -- entry -------------------------------------------------------------------------------------------------
    def reconcile(self, key: Key) -> Outcome:
        self._reconciling.key = key
        try:
            return self._reconcile(key)
        finally:
            self._reconciling.key = None

    def _reconcile(self, key: Key) -> Outcome:
        runtime = self.kinds.get((key.group, key.kind))
        if runtime is None or not runtime.active:
            return Outcome.ok()  # the kind stopped; it is re-listed (and re-queued) when it comes back
        rule = runtime.rules.get(key.task.direction)
        if rule is None:
            return Outcome.ok()
        try:
            if key.task is Task.TO_HOST:
                return self._to_host(key, rule, runtime, exported=False)
            if key.task is Task.EXPORT:
                return self._to_host(key, rule, runtime, exported=True)
            if key.task is Task.FROM_HOST:
                return self._from_host(key, rule, runtime)
            return self._import(key, rule, runtime)
        except TranslationError as exc:
            self._report(key, runtime, "TranslationFailed", str(exc))
            return Outcome(error=True)
        except WriteFenced:
            log.debug("%s: write fenced (leadership term over); retry later", key, extra=key_fields(key))
            return Outcome.retry(error=False)
        except Conflict as exc:
            log.info("%s: conflict, retrying with fresh state: %s", key, exc.message, extra=key_fields(key))
            return Outcome.retry(error=False)
        except ApiError as exc:
            self._report(key, runtime, "SyncFailed", f"{exc.status} {exc.reason}: {exc.message}")
            return Outcome.retry()
        except Exception as exc:  # poison input (RecursionError, MemoryError) or a bug: this key only, never the worker
            log.warning(
                "%s: unexpected %s",
                key,
                type(exc).__name__,
                exc_info=log.isEnabledFor(logging.DEBUG),
                extra=key_fields(key),
            )
            self._report(key, runtime, "SyncFailed", f"unexpected {type(exc).__name__} while syncing this object")
            return Outcome.retry()

    def _report(self, key: Key, runtime: KindRuntime, reason: str, message: str) -> None:
        """A Warning Event on the tenant's own virtual objects this key is about, and a log line.

        Never on the host: what a tenant provokes must not write into host namespaces (or onto host objects) it does
        not own, and messages are bounded (tenancy.event_message) since they may quote what the tenant wrote.
        """
        message = event_message(message)
        log.warning("%s: %s: %s", key, reason, message, extra=key_fields(key))
        for involved in self._virtual_objects_of(key, runtime):
            record_event(self.sides.virtual, involved, reason, message)

    def _virtual_objects_of(self, key: Key, runtime: KindRuntime) -> list[Obj]:
        """The virtual objects a key is about: its source, or where its copy goes, or (an import not yet made) whoever
        names it."""
        if key.task is Task.FROM_HOST:
            rule = runtime.rules.get(Direction.FROM_HOST)
            namespaced = runtime.virtual_res is not None and runtime.virtual_res.namespaced
            target_ns = ((rule.host.virtual_namespace if rule else None) or key.namespace) if namespaced else None
            standing = self._current("virtual", runtime, target_ns, key.name)  # our copy, or what stands in its way
            return [standing] if standing is not None else []
        own = self._current("virtual", runtime, key.namespace, key.name)
        if own is not None:
            return [own]
        found = []
        for referrer in sorted(self.index.referrers(key)):
            referrer_runtime = self.kinds.get((referrer.group, referrer.kind))
            if referrer_runtime is not None:
                obj = self._current("virtual", referrer_runtime, referrer.namespace, referrer.name)
                if obj is not None:
                    found.append(obj)
        return found

    # -- virtual -> host ----------------------------------------------------------------------------------------
    def _to_host(self, key: Key, rule: Rule, runtime: KindRuntime, *, exported: bool) -> Outcome:
        assert runtime.host_res is not None and runtime.virtual_res is not None
        virtual_obj = self._current("virtual", runtime, key.namespace, key.name)
        host_ns = self.tenant.host_namespace if runtime.host_res.namespaced else None
        name = host_name(self.tenant, key.namespace, key.name, rule.naming)
        host_obj = self._current("host", runtime, host_ns, name)

        if exported:
            if self.index.referrers(Key(Task.IMPORT, key.group, key.kind, key.namespace, key.name)):
                # A reference imports this very object from the host (an issued CA, say): it exists there under this
                # name, written by the host operator; exporting it back would fight the operator over its object.
                # Decided from the reference index, not from labels the tenant could write on its object.
                return Outcome.ok()
            wanted = virtual_obj is not None and not _deleting(virtual_obj) and bool(self.index.referrers(key))
        else:
            wanted = (
                virtual_obj is not None
                and not _deleting(virtual_obj)
                and selects_virtual(rule, virtual_obj, self.namespace_labels(key.namespace))
            )
        if not wanted:
            return self._retire_host_copy(key, rule, runtime, virtual_obj, host_obj)
        assert virtual_obj is not None

        unshared = self._unshared_references(rule, virtual_obj)
        if unshared:
            # Names of shared host objects cross unchanged: a name that was not shared with this tenant would hand it
            # a host object (say, a private ClusterIssuer). No copy until it is shared; sharing it re-queues this key
            # (engine's shared-name index), so no retry timer.
            self._report(
                key,
                runtime,
                "ReferenceNotShared",
                f"{unshared} is not shared with this virtual cluster; the object is not synced",
            )
            self._retire_host_copy(key, rule, runtime, None, host_obj)
            return Outcome(error=True)

        if rule.finalizer and not exported and FINALIZER not in (_meta(virtual_obj).get("finalizers") or []):
            self._set_finalizer(runtime, virtual_obj, present=True)

        if host_obj is not None and self._in_sync_as_recorded(key, rule, runtime, virtual_obj, host_obj):
            # Nothing to write (e.g. every key of a restart): the copy records it was translated from exactly these
            # inputs and holds what was written then. Status and reverse fields still flow back.
            if not exported and (rule.status.enabled or rule.reverse_paths):
                self._sync_back(runtime, rule, host_obj, virtual_obj)
            return Outcome.ok()
        status_both = self._status_both(runtime)
        desired = to_host(self.config, rule, virtual_obj, self.tenant, status_subresource=status_both)
        digest = source_digest(self.config, rule, virtual_obj, self.tenant, status_subresource=status_both)
        if digest is not None:
            with_source_digest(desired, digest)
        if host_obj is not None:
            source = self._host_source(runtime, rule, host_obj)
            orphan = source is None and is_orphan_of(
                host_obj, self.tenant, runtime.gvk, namespaced=runtime.host_res.namespaced, naming=rule.naming
            )
            claimed = self._claimed_source(host_obj, source, orphan)
            if claimed is not None and claimed != (key.namespace, key.name):
                # Proven ours, but another source's copy: a naming style that is not injective (vcluster's) gives
                # two sources one name. The first keeps it; this one is refused, never written over the other.
                held = f"{claimed[0]}/{claimed[1]}" if claimed[0] else claimed[1]
                self._report(key, runtime, "NameTaken", f"host object {name} is the copy of {held}")
                return Outcome(error=True)
            # Migration from vcluster's generic sync: its copy of this very source is taken over, whatever the
            # conflict policy says (tenancy.is_vcluster_copy_of proves it as trusted_host_source proves ours).
            vcluster_copy = (
                source is None
                and not orphan
                and is_vcluster_copy_of(
                    host_obj,
                    self.tenant,
                    runtime.gvk,
                    namespaced=runtime.host_res.namespaced,
                    source_namespace=key.namespace,
                    source_name=key.name,
                    naming=rule.naming,
                )
            )
            if source is None and not orphan and not vcluster_copy:
                if (
                    carries_bookkeeping(host_obj)
                    or LABEL_ORPHANED in labels_of(host_obj)
                    or (rule.naming.style is NamingStyle.VCLUSTER and claims_vcluster_copy(host_obj))
                ):
                    # Bookkeeping this tenant cannot prove: another tenant's copy, or labels an operator copied
                    # from tenant input, or vcluster's copy of another source or virtual cluster. Never ours to write.
                    self._report(key, runtime, "NameTaken", f"host object {name} is not this virtual cluster's copy")
                    return Outcome(error=True)
                what = f"host object {host_ns}/{name}" if host_ns else f"host object {name}"
                from_host = runtime.rules.get(Direction.FROM_HOST)
                if from_host is not None and selects_host(from_host, host_obj):
                    # A kind in both directions: the host object standing there is one the fromHost rule shares
                    # into this virtual cluster. An export never takes its place, whatever the conflict policy.
                    self._report(key, runtime, "TargetExists", f"{what} is imported by the fromHost rule; left alone")
                    return Outcome(error=True)
                verdict = self._resolve_conflict(key, rule, runtime, "virtual", what, host_obj, desired)
                if verdict is not None:
                    return verdict
                host_obj = self._current("host", runtime, host_ns, name)
            elif orphan:
                # Taken back: the mark goes first (conditional on the version judged), then the copy is written as
                # usual; apply alone would keep a label it does not own.
                version = _meta(host_obj).get("resourceVersion")
                unmark = {"metadata": {"labels": {LABEL_ORPHANED: None}, "resourceVersion": version}}
                unmarked = self.sides.host.patch(runtime.host_res, host_ns, name, unmark)
                self._wrote(self.sides.host, "patch")
                host_obj = self._remember("host", runtime, unmarked)
                log.info("%s: orphaned host copy %s taken back", key, name)
            elif vcluster_copy:
                recorded = annotations_of(host_obj).get(VCLUSTER_ANN_UID)
                if recorded and _meta(virtual_obj).get("uid") not in (None, recorded):
                    # vcluster copied an earlier object of this name: replaced, as our own copies are.
                    log.info("%s: vcluster's copy belongs to an earlier object (uid %s); replacing it", key, recorded)
                    self._delete(self.sides.host, runtime.host_res, host_obj)
                    return Outcome.later(0.2)
                # What vcluster's syncer owned becomes ours (as a create's record does), so the apply below adds our
                # bookkeeping and sheds what crdsync does not set: vcluster's keys and its owner reference to the
                # vcluster (whose uninstall would otherwise garbage-collect the copy). No delete, no recreate.
                adopted = self._adopt_created_fields(
                    self.sides.host, runtime.host_res, host_obj, also=_vcluster_managers(host_obj)
                )
                host_obj = self._remember("host", runtime, adopted) if adopted is not None else host_obj
                log.info("%s: vcluster's host copy %s adopted", key, name)
            elif source is not None and source.uid != _meta(virtual_obj).get("uid"):
                # The virtual object was deleted and recreated under the same name: the copy belongs to the old one.
                # (An orphan is taken back whatever its old uid: nothing else claims it.)
                log.info("%s: host copy belongs to an earlier object (uid %s); replacing it", key, source.uid)
                self._delete(self.sides.host, runtime.host_res, host_obj)
                return Outcome.later(0.2)

        if host_obj is not None and _deleting(host_obj) and self._is_host_copy_of(runtime, rule, host_obj, key):
            # Our copy is going (replaced below, or deleted by someone while a host finalizer holds it): writing to
            # it would be refused or lost; it is created again once it is gone (its DELETED event re-queues this).
            return Outcome.later(1.0)
        if host_obj is None:
            host_obj = self._remember(
                "host",
                runtime,
                self._create(
                    self.sides.host,
                    runtime.host_res,
                    desired,
                    lambda obj: self._is_host_copy_of(runtime, rule, obj, key),
                ),
            )
            log.debug("%s: host copy %s created", key, name)
        elif needs_write(_digest_as_recorded(desired, host_obj), host_obj, self.field_manager):
            self._adopt_created_fields(self.sides.host, runtime.host_res, host_obj)
            try:
                written = self.sides.host.apply(runtime.host_res, desired, force=True)
            except ApiError as exc:
                if (
                    exc.status != 422
                    or not rule.replace_on_conflict
                    or not self._is_host_copy_of(runtime, rule, host_obj, key)
                ):
                    raise
                return self._replace_host_copy(key, rule, runtime, host_obj, desired, virtual_obj, exc)
            host_obj = self._remember("host", runtime, written)
            self._wrote(self.sides.host, "apply")
            log.debug("%s: host copy %s written", key, name)

        if not exported and (rule.status.enabled or rule.reverse_paths) and host_obj is not None:
            self._sync_back(runtime, rule, host_obj, virtual_obj)
        return Outcome.ok()

    def _in_sync_as_recorded(self, key: Key, rule: Rule, runtime: KindRuntime, virtual_obj: Obj, host_obj: Obj) -> bool:
        """The no-op fast path: is `host_obj` provably what to_host of `virtual_obj` would write, without translating?

        Only when all of these hold (any doubt: False, and the full path decides):
        - the tenancy proof the full path makes: the copy is this tenant's copy of this very source (trusted_host_source
          names the key, same uid), not deleting, not an orphan;
        - its ANN_SOURCE_DIGEST equals the digest of to_host's inputs now (rules, tenant, the source as to_host reads
          it): the desired copy is the one written then;
        - nobody else wrote the main resource since (every managedFields entry outside subresources is ours), and the
          fields we own are as many as that write set (a field someone removed leaves our set too).
        """
        assert runtime.host_res is not None
        if _deleting(host_obj) or LABEL_ORPHANED in labels_of(host_obj):
            return False
        recorded = recorded_digest(host_obj)
        if recorded is None:
            return False
        source = self._host_source(runtime, rule, host_obj)
        if (
            source is None
            or (source.namespace, source.name) != (key.namespace, key.name)
            or not source.uid
            or source.uid != _meta(virtual_obj).get("uid")
        ):
            return False
        status_both = self._status_both(runtime)
        digest = source_digest(self.config, rule, virtual_obj, self.tenant, status_subresource=status_both)
        return digest == recorded[0] and _owned_field_count(host_obj, self.field_manager) == recorded[1]

    def _replace_host_copy(
        self,
        key: Key,
        rule: Rule,
        runtime: KindRuntime,
        host_obj: Obj,
        desired: Obj,
        virtual_obj: Obj,
        refusal: ApiError,
    ) -> Outcome:
        """replaceOnConflict: the host refused to update our copy as invalid (an immutable field, say), so the copy
        is deleted and created again from the virtual object.

        Only ever called for a copy tenancy proves is this tenant's copy of this very source (the caller checks), and
        the delete carries the uid we judged, so an object that took its place meanwhile is never deleted. A Normal
        Event `Replaced` on the virtual source each time, since whatever the host operator derived from the old copy
        (an issued certificate, an allocated address) starts over. When a host finalizer holds the old copy, the new
        one is created on a later reconcile, once the DELETED event arrives.
        """
        assert runtime.host_res is not None
        meta = _meta(host_obj)
        namespace, name = meta.get("namespace"), meta["name"]
        self._delete(self.sides.host, runtime.host_res, host_obj)
        self._written.pop(("host", runtime.gvk.group, runtime.gvk.kind, namespace, name), None)
        record_event(
            self.sides.virtual,
            virtual_obj,
            "Replaced",
            event_message(
                f"host copy {name} was deleted and created again: the host refused to update it "
                f"({refusal.status} {refusal.reason}: {refusal.message})"
            ),
            type_="Normal",
        )
        log.info(
            "%s: host refused the update (%s); host copy %s replaced", key, refusal.reason, name, extra=key_fields(key)
        )
        if self.sides.host.get(runtime.host_res, namespace, name) is not None:
            return Outcome.later(1.0)
        created = self._create(
            self.sides.host, runtime.host_res, desired, lambda obj: self._is_host_copy_of(runtime, rule, obj, key)
        )
        self._remember("host", runtime, created)
        return Outcome.ok()

    @staticmethod
    def _status_both(runtime: KindRuntime) -> bool:
        """Without a status subresource every status write bumps the generation, so generations cannot be mapped."""
        return bool(
            runtime.host_res and runtime.host_res.has_status and runtime.virtual_res and runtime.virtual_res.has_status
        )

    def _host_source(self, runtime: KindRuntime, rule: Rule, host_obj: Mapping[str, Any]) -> SourceRef | None:
        """The virtual source of a host object, when this tenant's engine can prove it made that copy (tenancy)."""
        assert runtime.host_res is not None
        return trusted_host_source(
            host_obj, self.tenant, runtime.gvk, namespaced=runtime.host_res.namespaced, naming=rule.naming
        )

    @staticmethod
    def _claimed_source(
        host_obj: Mapping[str, Any], source: SourceRef | None, orphan: bool
    ) -> tuple[str | None, str | None] | None:
        """(namespace, name) of the source a proven copy of ours (or our proven orphan) records, else None."""
        if source is not None:
            return source.namespace, source.name
        return _claimed_source_of_orphan(host_obj) if orphan else None

    def _unshared_references(self, rule: Rule, virtual_obj: Obj) -> str:
        """The first named shared-by-name object that the host does not share with this tenant, or "".

        Answered from the host object and the sharing rule's selection, never from the virtual cluster, where the
        tenant can create an object of that name carrying any labels it likes.
        """
        for ref in shared_references(self.config, rule, virtual_obj):
            runtime = self.kinds.get((ref.gvk.group, ref.gvk.kind))
            host_obj = (
                self._current("host", runtime, ref.host_namespace, ref.name) if runtime and runtime.active else None
            )
            if host_obj is None or _deleting(host_obj) or not selects_host(ref.shared_by, host_obj):
                where = f"{ref.virtual_namespace}/" if ref.virtual_namespace else ""
                return f"{ref.gvk.kind} {where}{ref.name}"
        return ""

    def _sync_back(self, runtime: KindRuntime, rule: Rule, host_obj: Obj, virtual_obj: Obj) -> None:
        """Status and the host-owned fields (rule.reverse_paths) of the host copy, onto the key's own virtual source
        (never onto an object the host copy names: the host decides values here, never where they go).

        The host-owned fields go by server-side apply of the main resource under our field manager, so a field the
        host drops is removed again; to_host never reads or sends them, so this cannot start a loop. Without a status
        subresource status is part of that same apply: two applies of one resource by one manager would each remove
        what the other set.
        """
        assert runtime.virtual_res is not None
        fields = reverse_fields(rule, host_obj) if rule.reverse_paths else None
        together = fields is not None and not runtime.virtual_res.has_status
        status: Obj | None = None
        # Nothing to carry either way is the common case (most copies in a bulk sync, before the operator acts).
        if rule.status.enabled and (host_obj.get("status") or virtual_obj.get("status") or together):
            status = virtual_status(rule, host_obj, virtual_obj, status_subresource=self._status_both(runtime))
        if together:
            assert fields is not None
            self._apply_virtual_fields(runtime, virtual_obj, {**fields, "status": status} if status else fields)
            return
        if status is not None and (status or virtual_obj.get("status")):
            self._apply_virtual_status(runtime, virtual_obj, virtual_obj, status)
        if fields is not None:
            meta = _meta(virtual_obj)
            current = self._current("virtual", runtime, meta.get("namespace"), meta["name"]) or virtual_obj
            self._apply_virtual_fields(runtime, current, fields)

    def _apply_virtual_fields(self, runtime: KindRuntime, current: Obj, fields: Obj) -> None:
        """Apply `fields` (a partial object: spec fields, annotations, status) onto the virtual object `current` when
        it differs from what we applied last."""
        assert runtime.virtual_res is not None
        meta = _meta(current)
        extra_meta: Mapping[str, Any] = fields.get("metadata") or {}
        body: Obj = {
            **{k: v for k, v in fields.items() if k != "metadata"},
            "apiVersion": current.get("apiVersion") or runtime.virtual_res.api_version,
            "kind": current.get("kind") or runtime.virtual_res.kind,
            "metadata": {**extra_meta, **{k: meta[k] for k in ("name", "namespace") if meta.get(k)}},
        }
        if needs_write(body, current, self.field_manager):
            written = self.sides.virtual.apply(runtime.virtual_res, body, force=True)
            self._wrote(self.sides.virtual, "apply")
            self._remember("virtual", runtime, written)

    def _apply_virtual_status(
        self, runtime: KindRuntime, identity: Mapping[str, Any], current: Obj, status: Obj
    ) -> None:
        """Write `status` onto the virtual object `current` (named like `identity`) when it differs: through the status
        subresource where the kind has one, else as part of the object."""
        assert runtime.virtual_res is not None
        meta = _meta(identity)
        body: Obj = {
            "apiVersion": identity.get("apiVersion") or runtime.virtual_res.api_version,
            "kind": identity.get("kind") or runtime.virtual_res.kind,
            "metadata": {k: meta[k] for k in ("name", "namespace") if meta.get(k)},
            "status": status,
        }
        subresource = "status" if runtime.virtual_res.has_status else None
        if needs_write(body, current, self.field_manager, subresource):
            written = self.sides.virtual.apply(runtime.virtual_res, body, force=True, subresource=subresource)
            self._wrote(self.sides.virtual, "apply")
            self._remember("virtual", runtime, written)

    def _retire_host_copy(
        self, key: Key, rule: Rule, runtime: KindRuntime, virtual_obj: Obj | None, host_obj: Obj | None
    ) -> Outcome:
        assert runtime.host_res is not None
        copy_exists = host_obj is not None and self._is_host_copy_of(runtime, rule, host_obj, key)
        if copy_exists:
            assert host_obj is not None
            self._release(self.sides.host, runtime.host_res, rule, host_obj)
        holds_finalizer = virtual_obj is not None and FINALIZER in (_meta(virtual_obj).get("finalizers") or [])
        if holds_finalizer:
            assert virtual_obj is not None
            if copy_exists and rule.deletion is DeletionPolicy.DELETE:
                # Confirm with the server, not the cache: the finalizer's promise is that the copy is really gone.
                meta = _meta(host_obj or {})
                if self.sides.host.get(runtime.host_res, meta.get("namespace"), meta["name"]) is not None:
                    return Outcome.later(0.5)
            self._set_finalizer(runtime, virtual_obj, present=False)
        return Outcome.ok()

    def _is_host_copy_of(self, runtime: KindRuntime, rule: Rule, host_obj: Mapping[str, Any], key: Key) -> bool:
        source = self._host_source(runtime, rule, host_obj)
        return source is not None and source.namespace == key.namespace and source.name == key.name

    def _set_finalizer(self, runtime: KindRuntime, virtual_obj: Obj, *, present: bool) -> None:
        assert runtime.virtual_res is not None
        meta = _meta(virtual_obj)
        finalizers = [f for f in (meta.get("finalizers") or []) if f != FINALIZER]
        if present:
            finalizers.append(FINALIZER)
        # resourceVersion in a merge patch makes it conditional: a concurrent finalizer change gives 409, not loss.
        patch = {"metadata": {"finalizers": finalizers or None, "resourceVersion": meta.get("resourceVersion")}}
        try:
            written = self.sides.virtual.patch(runtime.virtual_res, meta.get("namespace"), meta["name"], patch)
        except NotFound:
            return
        self._wrote(self.sides.virtual, "patch")
        self._remember("virtual", runtime, written)

    # -- host -> virtual ----------------------------------------------------------------------------------------
    def _from_host(self, key: Key, rule: Rule, runtime: KindRuntime) -> Outcome:
        assert runtime.virtual_res is not None
        host_obj = self._current("host", runtime, key.namespace, key.name)
        target_ns = (rule.host.virtual_namespace or key.namespace) if runtime.virtual_res.namespaced else None
        current = self._current("virtual", runtime, target_ns, key.name)
        if host_obj is None or _deleting(host_obj) or not selects_host(rule, host_obj):
            if current is not None and self._virtual_copy_is_ours(runtime, rule, current, key.namespace, key.name):
                self._release(self.sides.virtual, runtime.virtual_res, rule, current)
            return Outcome.ok()
        desired = to_virtual(self.config, rule, host_obj, self.tenant)
        return self._write_virtual_copy(key, rule, runtime, desired, current, key.namespace, key.name)

    def _import(self, key: Key, rule: Rule, runtime: KindRuntime) -> Outcome:
        assert runtime.virtual_res is not None
        current = self._current("virtual", runtime, key.namespace, key.name)
        ref = self.index.ref(key)
        referenced = ref is not None and bool(self.index.referrers(key))
        host_obj = self._current("host", runtime, ref.host_namespace, ref.host_name) if ref is not None else None
        refusal = ""
        if referenced and host_obj is not None and not _deleting(host_obj):
            assert ref is not None
            refusal = self._import_refusal(rule, runtime, ref.host_namespace, ref.host_name, host_obj)
        if not referenced or host_obj is None or _deleting(host_obj) or refusal:
            if current is not None and self._holds_import(current):
                self._release(self.sides.virtual, runtime.virtual_res, rule, current)
            if refusal:
                self._report(key, runtime, "ImportRefused", refusal)
                return Outcome(error=True)
            return Outcome.ok()
        assert ref is not None
        desired = to_virtual(self.config, rule, host_obj, self.tenant, target=(key.namespace, key.name))
        return self._write_virtual_copy(key, rule, runtime, desired, current, ref.host_namespace, ref.host_name)

    def _import_refusal(
        self, rule: Rule, runtime: KindRuntime, host_namespace: str | None, name: str, host_obj: Obj
    ) -> str:
        """Why the host object a reference names may not be imported into this virtual cluster, or ""."""
        assert runtime.host_res is not None
        what = f"host {runtime.gvk.kind} {host_namespace + '/' if host_namespace else ''}{name}"
        if rule.mode is SyncMode.ALL:
            # The reference named a kind shared by name: only what the rule shares may come in.
            return "" if selects_host(rule, host_obj) else f"{what} is not shared with this virtual cluster"
        namespaced = runtime.host_res.namespaced
        if namespaced and host_namespace != self.tenant.host_namespace:
            return f"{what} is outside this virtual cluster's host namespace"
        to_host_rule = runtime.rules.get(Direction.TO_HOST)
        naming = to_host_rule.naming if to_host_rule is not None else rule.naming
        if not importable(host_obj, self.tenant, runtime.gvk, namespaced=namespaced, naming=naming):
            return f"{what} carries bookkeeping of another owner; it is not imported"
        return ""

    def _write_virtual_copy(
        self,
        key: Key,
        rule: Rule,
        runtime: KindRuntime,
        desired: Obj,
        current: Obj | None,
        source_namespace: str | None,
        source_name: str,
    ) -> Outcome:
        assert runtime.virtual_res is not None
        if current is not None and not self._virtual_copy_is_ours(
            runtime, rule, current, source_namespace, source_name
        ):
            if source_of(current) is not None:
                self._report(key, runtime, "NameTaken", f"virtual object belongs to {source_of(current)}")
                return Outcome(error=True)
            to_host_rule = runtime.rules.get(Direction.TO_HOST)
            if to_host_rule is not None and selects_virtual(
                to_host_rule, current, self.namespace_labels(_meta(current).get("namespace"))
            ):
                # A kind in both directions: the tenant's own object stands here and the toHost rule exports it. An
                # import never takes its place (that would turn the tenant's object into a copy of a host object and
                # drop its export), whatever the conflict policy.
                self._report(
                    key, runtime, "TargetExists", "virtual object is the tenant's own, exported by the toHost rule"
                )
                return Outcome(error=True)
            verdict = self._resolve_conflict(key, rule, runtime, "host", "virtual object", current, desired)
            if verdict is not None:
                return verdict
            meta = _meta(current)
            current = self._current("virtual", runtime, meta.get("namespace"), meta["name"])
        namespace = _meta(desired).get("namespace")
        if namespace:
            self._ensure_virtual_namespace(namespace)
        # With a status subresource the main write ignores status, so it goes separately; without one it must go in
        # the same apply (a second apply by the same manager without the spec would remove the spec).
        status = desired.pop("status", None) if runtime.virtual_res.has_status else None
        if needs_write(desired, current, self.field_manager):
            current = self._remember(
                "virtual", runtime, self.sides.virtual.apply(runtime.virtual_res, desired, force=True)
            )
            self._wrote(self.sides.virtual, "apply")
        if rule.read_only and current is not None:
            current = self._shed_stray_fields(runtime, desired, current)
        if status is not None and current is not None:
            self._apply_virtual_status(runtime, desired, current, status)
        return Outcome.ok()

    def _shed_stray_fields(self, runtime: KindRuntime, desired: Obj, current: Obj) -> Obj:
        """Remove what a tenant added to a read-only import. Apply reverts changes to fields we own; a field the
        tenant added is theirs, so it goes by a precise JSON patch, conditional on the version we judged."""
        assert runtime.virtual_res is not None
        stray = stray_paths(desired, current, self.field_manager)
        if not stray:
            return current
        meta = _meta(current)
        patch: list[Obj] = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}]
        patch += [{"op": "remove", "path": _json_pointer(path)} for path in stray]
        written = self.sides.virtual.patch(
            runtime.virtual_res, meta.get("namespace"), meta["name"], patch, patch_type="json"
        )
        self._wrote(self.sides.virtual, "patch")
        return self._remember("virtual", runtime, written)

    @staticmethod
    def _holds_import(virtual_obj: Mapping[str, Any]) -> bool:
        source = source_of(virtual_obj)
        return source is not None and source.side == SIDE_HOST

    def _virtual_copy_is_ours(
        self, runtime: KindRuntime, rule: Rule, current: Mapping[str, Any], namespace: str | None, name: str
    ) -> bool:
        """Is `current` (standing where the copy of host (namespace, name) goes) our copy of it?

        The virtual cluster is the tenant's: its bookkeeping is a claim, checked against the host. A copy naming this
        source is ours; so is one whose claimed source the host does not back (forged, or left from an earlier
        source), which otherwise would sit there for good, never collected.
        """
        source = source_of(current)
        if source is None or source.side != SIDE_HOST:
            return False
        if (source.namespace, source.name) == (namespace, name) or rule.mode is SyncMode.REFERENCED:
            return True  # an import's virtual slot belongs to its key alone
        claimed = self._current("host", runtime, source.namespace, source.name)
        return claimed is None or _deleting(claimed) or not selects_host(rule, claimed)

    def _ensure_virtual_namespace(self, namespace: str) -> None:
        if namespace in self._ensured_namespaces:
            return
        res = self.sides.virtual.resource_for(GroupVersionKind("", "v1", "Namespace"))
        if res is not None and self.sides.virtual.get(res, None, namespace) is None:
            try:
                self.sides.virtual.create(
                    res, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                )
                self._wrote(self.sides.virtual, "create")
            except ApiError as exc:
                if exc.status != 409:
                    raise
        self._ensured_namespaces.add(namespace)

    # -- shared -------------------------------------------------------------------------------------------------
    def _resolve_conflict(
        self,
        key: Key,
        rule: Rule,
        runtime: KindRuntime,
        source_side: str,
        what: str,
        target: Obj,
        desired: Obj,
    ) -> Outcome | None:
        """An object that is not ours stands where the copy goes. None means: go ahead (Adopt: our apply takes over
        the fields we set; Overwrite: the object has just been replaced by ours); otherwise the outcome to return."""
        if rule.conflict is ConflictPolicy.ABORT:
            self._report(
                key,
                runtime,
                "TargetExists",
                f"{what} exists and is not managed by crdsync; conflict policy Abort leaves it alone",
            )
            return Outcome(error=True)
        if rule.conflict is ConflictPolicy.OVERWRITE:
            # A replace drops every field we do not set, whoever wrote it; its Update ownership record is converted
            # to Apply before our next apply, like a create's.
            side = "host" if source_side == "virtual" else "virtual"
            client = self.sides.host if side == "host" else self.sides.virtual
            res = runtime.host_res if side == "host" else runtime.virtual_res
            assert res is not None
            body = {
                **desired,
                "metadata": {**desired["metadata"], "resourceVersion": _meta(target).get("resourceVersion")},
            }
            self._remember(side, runtime, client.replace(res, body))
            self._wrote(client, "replace")
            log.info("%s: %s overwritten (conflict policy Overwrite)", key, what)
        return None

    def _release(self, client: KubeClient, res: Resource, rule: Rule, obj: Mapping[str, Any]) -> None:
        """Let go of a copy: delete it, or under DeletionPolicy Orphan leave it in place, unmanaged.

        A host copy left behind keeps crdsync.io/vcluster and its source annotations and gains crdsync.io/orphaned, so
        an admin can list and remove what a tenant left (`crdsync gc`) and the same source, selected again, takes it
        back (tenancy.is_orphan_of). A virtual copy (the tenant's own cluster) just loses all our keys.
        """
        meta = _meta(obj)
        if rule.deletion is DeletionPolicy.ORPHAN:
            patch: Obj
            if client is self.sides.host:
                marks = {LABEL_MANAGED_BY: None, LABEL_ROLE: None, LABEL_ORPHANED: "true"}
                patch = {"metadata": {"labels": {**marks, LABEL_VCLUSTER: self.tenant.vcluster}}}
            else:
                labels = {k: None for k in (meta.get("labels") or {}) if k.startswith(PREFIX)}
                annotations = {k: None for k in (meta.get("annotations") or {}) if k.startswith(PREFIX)}
                patch = {"metadata": {"labels": labels or None, "annotations": annotations or None}}
            with contextlib.suppress(NotFound):
                client.patch(res, meta.get("namespace"), meta["name"], patch)
                self._wrote(client, "patch")
            return
        self._delete(client, res, obj)

    def _create(self, client: KubeClient, res: Resource, desired: Obj, ours: Callable[[Obj], bool]) -> Obj:
        """A new copy by plain POST: the apiserver spends markedly less on a create than on an apply (measured by
        `crdsync bench`), and most writes of a bulk sync are creates.

        If it exists after all (our cache was behind), apply only when the object there is provably our copy; anything
        else goes back through the whole ownership decision (AlreadyExists is a Conflict: retried with fresh state),
        so a race can never turn into a forced apply over somebody else's object.
        """
        try:
            created = client.create(res, desired)
        except AlreadyExists:
            meta = desired["metadata"]
            existing = client.get(res, meta.get("namespace"), meta["name"])
            if existing is None or not ours(existing):
                raise
            applied = client.apply(res, desired, force=True)
            self._wrote(client, "apply")
            return applied
        self._wrote(client, "create")
        return created

    def _adopt_created_fields(
        self, client: KubeClient, res: Resource, obj: Mapping[str, Any], *, also: Collection[str] = ()
    ) -> Obj | None:
        """Turn the Update entry a POST left for our manager into an Apply entry before the first apply; with `also`,
        those managers' Update entries too (vcluster's syncer, whose copy is adopted). Returns the patched object, or
        None when there was nothing to convert.

        Server-side apply removes a field we stop setting only when no other entry owns it, and the create's Update
        entry would keep owning every field we set then (kubectl's csaupgrade does the same conversion). Only the
        managedFields change, so the apiserver records no new entry for this patch.
        """
        meta = _meta(obj)
        entries = meta.get("managedFields") or []
        ours = [
            e
            for e in entries
            if e.get("manager") in (self.field_manager, *also)
            and e.get("operation") == "Update"
            and not e.get("subresource")
        ]
        if not ours:
            return None
        applied = next(
            (
                e
                for e in entries
                if e.get("manager") == self.field_manager and e.get("operation") == "Apply" and not e.get("subresource")
            ),
            None,
        )
        if applied is None:
            # The first converted entry becomes our Apply entry; the others fold into it below (one per manager).
            applied = {**ours[0], "manager": self.field_manager, "operation": "Apply"}
            entries = [applied if e is ours[0] else e for e in entries]
            ours = ours[1:]
        upgraded: list[Obj] = []
        for entry in entries:
            if entry in ours:
                pass  # its fields are folded into our Apply entry below
            elif entry is applied:
                fields: dict[str, Any] = dict(applied.get("fieldsV1") or {})
                for extra in ours:
                    fields = _merge_fields(fields, extra.get("fieldsV1") or {})
                upgraded.append({**applied, "fieldsV1": fields})
            else:
                upgraded.append(entry)
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
            {"op": "replace", "path": "/metadata/managedFields", "value": upgraded},
        ]
        patched = client.patch(res, meta.get("namespace"), meta["name"], patch, patch_type="json")
        self._wrote(client, "patch")
        return patched

    def _delete(self, client: KubeClient, res: Resource, obj: Mapping[str, Any]) -> None:
        meta = _meta(obj)
        if client.delete(res, meta.get("namespace"), meta["name"], uid=meta.get("uid")):
            self._wrote(client, "delete")


def _digest_as_recorded(desired: Obj, host_obj: Mapping[str, Any]) -> Obj:
    """`desired` for the question "is there anything to write?": with the digest the copy records (none if it has
    none). A digest alone never costs a write (a copy written before digests, a new crdsync version); a copy takes the
    fresh one with its next real change, and until then the fast path simply does not apply to it."""
    recorded = annotations_of(host_obj).get(ANN_SOURCE_DIGEST)
    annotations = dict(_meta(desired).get("annotations") or {})
    if recorded is None:
        annotations.pop(ANN_SOURCE_DIGEST, None)
    else:
        annotations[ANN_SOURCE_DIGEST] = recorded
    return {**desired, "metadata": {**_meta(desired), "annotations": annotations}}


def _owned_field_count(obj: Mapping[str, Any], manager: str) -> int:
    """The leaves of `manager`'s managedFields entries for the main resource (fieldsV1; "." entries are the maps
    themselves), or -1 when another manager has one (someone else wrote the object) or they cannot be read."""
    count = 0
    for entry in _meta(obj).get("managedFields") or []:
        if not isinstance(entry, Mapping):
            return -1
        if entry.get("subresource"):
            continue
        if entry.get("manager") != manager:
            return -1
        stack: list[Any] = [entry.get("fieldsV1")]
        while stack:
            fields = stack.pop()
            if not isinstance(fields, Mapping):
                return -1
            for name, sub in fields.items():
                if name == ".":
                    continue
                if isinstance(sub, Mapping) and any(k != "." for k in sub):
                    stack.append(sub)
                else:
                    count += 1
    return count


def _json_pointer(path: tuple[str, ...]) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)


def _claimed_source_of_orphan(host_obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    ann = annotations_of(host_obj)
    return ann.get(ANN_SOURCE_NAMESPACE), ann.get(ANN_SOURCE_NAME)


def _vcluster_managers(host_obj: Mapping[str, Any]) -> frozenset[str]:
    """The field managers that wrote vcluster's object-name annotation with an update: vcluster's syncer, under
    whatever name its client sent."""
    owner_path = ("f:metadata", "f:annotations", f"f:{VCLUSTER_ANN_NAME}")
    found = set()
    for entry in _meta(host_obj).get("managedFields") or []:
        if not isinstance(entry, Mapping) or entry.get("operation") != "Update" or entry.get("subresource"):
            continue
        fields: Any = entry.get("fieldsV1")
        for step in owner_path:
            fields = fields.get(step) if isinstance(fields, Mapping) else None
        if fields is not None and isinstance(entry.get("manager"), str):
            found.add(entry["manager"])
    return frozenset(found)


def _merge_fields(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge_fields(out[key], value)
        else:
            out.setdefault(key, value)
    return out
