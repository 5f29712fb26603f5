"""What the host copy of a virtual source should be (TO_HOST and EXPORT keys), and what flows back onto the source.

Decisions only: whether the source is wanted on the host, whether what stands at its copy's place may be written
(tenancy proofs from crdsync.translate.tenancy: our copy of this very source, our orphan, vcluster's copy of it, or
somebody else's object under the conflict policy), the no-op fast path, and the status and host-owned fields that
go back (crdsync.engine.syncback). Every request goes through crdsync.engine.writes.

Failure modes: TranslationError and ApiErrors propagate to crdsync.engine.reconcile, which maps them to Events and
retries; a refusal (not shared, name taken, target exists) is reported here and ends the reconcile with an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from crdsync.engine.context import Context, Obj, Outcome, deleting, meta_of
from crdsync.engine.keys import Key, ObjectName, ReferenceIndex, Task
from crdsync.engine.kinds import KindRuntime
from crdsync.engine.syncback import sync_back
from crdsync.engine.writes import FINALIZER, UpdateRefused
from crdsync.kube.errors import ApiError
from crdsync.spec.model import ConflictPolicy, DeletionPolicy, Direction, NamingStyle, Rule
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_NAME,
    ANN_SOURCE_NAMESPACE,
    LABEL_ORPHANED,
    SourceRef,
    annotations_of,
    carries_bookkeeping,
    labels_of,
    recorded_digest,
)
from crdsync.translate.digest import owned_field_count, source_digest, with_source_digest
from crdsync.translate.names import host_name
from crdsync.translate.objects import shared_references, to_host
from crdsync.translate.selectors import selects_host, selects_virtual
from crdsync.translate.tenancy import (
    VCLUSTER_ANN_UID,
    claims_vcluster_copy,
    is_orphan_of,
    is_vcluster_copy_of,
)

log = logging.getLogger("crdsync.reconcile")


class HostCopies:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.writer = ctx.writer

    def reconcile(self, key: Key, rule: Rule, runtime: KindRuntime) -> Outcome:
        assert runtime.host_res is not None and runtime.virtual_res is not None
        source = key.identity
        virtual_obj = self.ctx.current("virtual", runtime, source.namespace, source.name)
        host_ns = self.ctx.tenant.host_namespace if runtime.host_res.namespaced else None
        target = ObjectName(host_ns, host_name(self.ctx.tenant, source.namespace, source.name, rule.naming))
        host_obj = self.ctx.current("host", runtime, target.namespace, target.name)
        exported = key.task is Task.EXPORT
        if exported and _imported_here(self.ctx.index, key):
            # A reference imports this very object from the host (an issued CA, say): it exists there under this
            # name, written by the host operator; exporting it back would fight the operator over its object.
            # Decided from the reference index, not from labels the tenant could write on its object.
            return Outcome.ok()
        if virtual_obj is None or not self._wanted(key, rule, virtual_obj):
            return self._retire(key, rule, runtime, virtual_obj, host_obj)
        unshared = self._unshared_references(rule, virtual_obj)
        if unshared:
            # Names of shared host objects cross unchanged: a name that was not shared with this tenant would hand it
            # a host object (say, a private ClusterIssuer). No copy until it is shared; sharing it re-queues this key
            # (the index of shared names), so no retry timer.
            message = f"{unshared} is not shared with this virtual cluster; the object is not synced"
            self.ctx.report(key, runtime, "ReferenceNotShared", message)
            self._retire(key, rule, runtime, None, host_obj)
            return Outcome.failed()
        if rule.finalizer and not exported and FINALIZER not in (meta_of(virtual_obj).get("finalizers") or []):
            self.writer.set_finalizer(runtime, virtual_obj, present=True)
        if host_obj is not None and self._in_sync_as_recorded(key, rule, runtime, virtual_obj, host_obj):
            # Nothing to write (e.g. every key of a restart): the copy records it was translated from exactly these
            # inputs and holds what was written then. Status and reverse fields still flow back.
            sync_back(self.ctx, key, rule, runtime, host_obj, virtual_obj)
            return Outcome.ok()
        return self._write(key, rule, runtime, virtual_obj, host_obj, target)

    def _wanted(self, key: Key, rule: Rule, virtual_obj: Obj) -> bool:
        if deleting(virtual_obj):
            return False
        if key.task is Task.EXPORT:
            return bool(self.ctx.index.referrers(key))
        return selects_virtual(rule, virtual_obj, self.ctx.namespace_labels(key.identity.namespace))

    def _write(
        self, key: Key, rule: Rule, runtime: KindRuntime, virtual_obj: Obj, host_obj: Obj | None, target: ObjectName
    ) -> Outcome:
        self.writer.begin_write()  # the fast path did not hold: a dry run (Reconciler.settled) need not translate
        desired = to_host(self.ctx.config, rule, virtual_obj, self.ctx.tenant, status_subresource=runtime.status_both)
        digest = source_digest(
            self.ctx.config, rule, virtual_obj, self.ctx.tenant, status_subresource=runtime.status_both
        )
        if digest is not None:
            with_source_digest(desired, digest)
        if host_obj is not None:
            claim = self._claim(key, rule, runtime, virtual_obj, host_obj, desired, target)
            if isinstance(claim, Outcome):
                return claim
            host_obj = claim
        if host_obj is not None and deleting(host_obj) and self._is_copy(runtime, rule, host_obj, key):
            # Our copy is going (replaced below, or deleted by someone while a host finalizer holds it): writing to
            # it would be refused or lost; it is created again once it is gone (its DELETED event re-queues this).
            return Outcome.later(1.0)
        if host_obj is None:
            host_obj = self.writer.create("host", runtime, desired, lambda obj: self._is_copy(runtime, rule, obj, key))
            log.debug("%s: host copy %s created", key, target)
        else:
            try:
                written = self.writer.update_host_copy(runtime, desired, host_obj)
            except UpdateRefused as refused:
                if not rule.replace_on_conflict or not self._is_copy(runtime, rule, host_obj, key):
                    raise refused.error from None
                return self._replace_refused(key, rule, runtime, host_obj, desired, virtual_obj, refused.error)
            host_obj = written if written is not None else host_obj
        sync_back(self.ctx, key, rule, runtime, host_obj, virtual_obj)
        return Outcome.ok()

    def _claim(
        self,
        key: Key,
        rule: Rule,
        runtime: KindRuntime,
        virtual_obj: Obj,
        host_obj: Obj,
        desired: Obj,
        target: ObjectName,
    ) -> Obj | Outcome | None:
        """May the copy be written over `host_obj`? The object to write over (None: it is being replaced, create), or
        the outcome to return."""
        assert runtime.host_res is not None
        namespaced = runtime.host_res.namespaced
        source = self.ctx.host_source(runtime, rule, host_obj)
        tenant = self.ctx.tenant
        orphan = source is None and is_orphan_of(
            host_obj, tenant, runtime.gvk, namespaced=namespaced, naming=rule.naming
        )
        claimed = _claimed_source(host_obj, source, orphan)
        ours = key.identity
        if claimed is not None and claimed != (ours.namespace, ours.name):
            # Proven ours, but another source's copy: a naming style that is not injective (vcluster's) gives
            # two sources one name. The first keeps it; this one is refused, never written over the other.
            held = f"{claimed[0]}/{claimed[1]}" if claimed[0] else claimed[1]
            self.ctx.report(key, runtime, "NameTaken", f"host object {target.name} is the copy of {held}")
            return Outcome.failed()
        if source is not None:
            if self.writer.renew_earlier_copy(runtime, host_obj, source.uid, meta_of(virtual_obj).get("uid")):
                return Outcome.later(0.2)  # the virtual object was deleted and created again under the same name
            return host_obj
        if orphan:
            log.info("%s: orphaned host copy %s taken back", key, target)
            return self.writer.take_back_orphan(runtime, host_obj)
        # Migration from vcluster's generic sync: its copy of this very source is taken over, whatever the conflict
        # policy says (tenancy.is_vcluster_copy_of proves it as trusted_host_source proves ours).
        if is_vcluster_copy_of(
            host_obj,
            tenant,
            runtime.gvk,
            namespaced=namespaced,
            source_namespace=ours.namespace,
            source_name=ours.name,
            naming=rule.naming,
        ):
            return self._adopt_vcluster_copy(key, runtime, virtual_obj, host_obj)
        return self._foreign(key, rule, runtime, host_obj, desired, target)

    def _adopt_vcluster_copy(self, key: Key, runtime: KindRuntime, virtual_obj: Obj, host_obj: Obj) -> Obj | Outcome:
        recorded = annotations_of(host_obj).get(VCLUSTER_ANN_UID)
        uid = meta_of(virtual_obj).get("uid")
        # vcluster copied an earlier object of this name: replaced, as our own copies are.
        if recorded and uid is not None and self.writer.renew_earlier_copy(runtime, host_obj, recorded, uid):
            return Outcome.later(0.2)
        # No delete, no recreate: vcluster's fields become ours, so the apply adds our bookkeeping and sheds
        # vcluster's keys and its owner reference to the vcluster (whose uninstall would otherwise collect the copy).
        adopted = self.writer.adopt_vcluster_copy(runtime, host_obj)
        log.info("%s: vcluster's host copy %s adopted", key, meta_of(host_obj).get("name"))
        return adopted

    def _foreign(
        self, key: Key, rule: Rule, runtime: KindRuntime, host_obj: Obj, desired: Obj, target: ObjectName
    ) -> Obj | Outcome | None:
        """An object this tenant cannot prove its own stands where the copy goes."""
        if (
            carries_bookkeeping(host_obj)
            or LABEL_ORPHANED in labels_of(host_obj)
            or (rule.naming.style is NamingStyle.VCLUSTER and claims_vcluster_copy(host_obj))
        ):
            # Bookkeeping this tenant cannot prove: another tenant's copy, or labels an operator copied from tenant
            # input, or vcluster's copy of another source or virtual cluster. Never ours to write.
            self.ctx.report(key, runtime, "NameTaken", f"host object {target.name} is not this virtual cluster's copy")
            return Outcome.failed()
        what = f"host object {target}"
        from_host = runtime.rules.get(Direction.FROM_HOST)
        if from_host is not None and selects_host(from_host, host_obj):
            # A kind in both directions: the host object standing there is one the fromHost rule shares into this
            # virtual cluster. An export never takes its place, whatever the conflict policy.
            self.ctx.report(key, runtime, "TargetExists", f"{what} is imported by the fromHost rule; left alone")
            return Outcome.failed()
        if rule.conflict is ConflictPolicy.ABORT:
            message = f"{what} exists and is not managed by crdsync; conflict policy Abort leaves it alone"
            self.ctx.report(key, runtime, "TargetExists", message)
            return Outcome.failed()
        if rule.conflict is ConflictPolicy.OVERWRITE:
            self.writer.overwrite("host", runtime, desired, host_obj)
            log.info("%s: %s overwritten (conflict policy Overwrite)", key, what)
        # Adopt: our apply takes over the fields we set. Overwrite: the object there is ours now.
        return self.ctx.current("host", runtime, target.namespace, target.name)

    def _in_sync_as_recorded(self, key: Key, rule: Rule, runtime: KindRuntime, virtual_obj: Obj, host_obj: Obj) -> bool:
        """The no-op fast path: is `host_obj` provably what to_host of `virtual_obj` would write, without translating?

        Only when all of these hold (any doubt: False, and the full path decides):
        - the tenancy proof the full path makes: the copy is this tenant's copy of this very source (trusted_host_source
          names the key, same uid), not deleting, not an orphan;
        - its ANN_SOURCE_DIGEST equals the digest of to_host's inputs now (rules, tenant, the source as to_host reads
          it): the desired copy is the one written then;
        - nobody else wrote the main resource since (every managedFields entry outside subresources is ours), and the
          field paths we own are as many as that write set (crdsync.translate.digest.owned_field_count: a field
          someone removed leaves our set, even where the map it was the only field of stays owned).
        """
        if deleting(host_obj) or LABEL_ORPHANED in labels_of(host_obj):
            return False
        recorded = recorded_digest(host_obj)
        if recorded is None:
            return False
        source = self.ctx.host_source(runtime, rule, host_obj)
        if (
            source is None
            or (source.namespace, source.name) != (key.identity.namespace, key.identity.name)
            or not source.uid
            or source.uid != meta_of(virtual_obj).get("uid")
        ):
            return False
        digest = source_digest(
            self.ctx.config, rule, virtual_obj, self.ctx.tenant, status_subresource=runtime.status_both
        )
        return digest == recorded[0] and owned_field_count(host_obj, self.ctx.field_manager) == recorded[1]

    def _replace_refused(
        self,
        key: Key,
        rule: Rule,
        runtime: KindRuntime,
        host_obj: Obj,
        desired: Obj,
        virtual_obj: Obj,
        refusal: ApiError,
    ) -> Outcome:
        """replaceOnConflict: the host refused to update our copy as invalid (an immutable field, say), so the copy is
        deleted and created again from the virtual object.

        Only for a copy tenancy proves is this tenant's copy of this very source (the caller checks); the delete carries
        the uid judged. A Normal Event `Replaced` on the virtual source each time, since whatever the host operator
        derived from the old copy (an issued certificate, an allocated address) starts over.
        """
        name = meta_of(host_obj).get("name")
        recreated = self.writer.replace_refused_copy(
            runtime, host_obj, desired, lambda obj: self._is_copy(runtime, rule, obj, key)
        )
        self.ctx.notify(
            virtual_obj,
            "Replaced",
            f"host copy {name} was deleted and created again: the host refused to update it "
            f"({refusal.status} {refusal.reason}: {refusal.message})",
        )
        log.info("%s: host refused the update (%s); host copy %s replaced", key, refusal.reason, name)
        return Outcome.ok() if recreated else Outcome.later(1.0)

    def _is_copy(self, runtime: KindRuntime, rule: Rule, host_obj: Mapping[str, Any], key: Key) -> bool:
        return self.ctx.is_host_copy_of(runtime, rule, host_obj, key.identity.namespace, key.identity.name)

    def _unshared_references(self, rule: Rule, virtual_obj: Obj) -> str:
        """The first named shared-by-name object that the host does not share with this tenant, or "".

        Answered from the host object and the sharing rule's selection, never from the virtual cluster, where the
        tenant can create an object of that name carrying any labels it likes.
        """
        for ref in shared_references(self.ctx.config, rule, virtual_obj):
            runtime = self.ctx.kinds.get((ref.gvk.group, ref.gvk.kind))
            host_obj = (
                self.ctx.current("host", runtime, ref.host_namespace, ref.name) if runtime and runtime.active else None
            )
            if host_obj is None or deleting(host_obj) or not selects_host(ref.shared_by, host_obj):
                where = f"{ref.virtual_namespace}/" if ref.virtual_namespace else ""
                return f"{ref.gvk.kind} {where}{ref.name}"
        return ""

    def _retire(
        self, key: Key, rule: Rule, runtime: KindRuntime, virtual_obj: Obj | None, host_obj: Obj | None
    ) -> Outcome:
        """The source is not wanted on the host (gone, deleting, unselected): let go of its copy, then of our
        finalizer on it."""
        copy_exists = host_obj is not None and self._is_copy(runtime, rule, host_obj, key)
        if copy_exists:
            assert host_obj is not None
            self.writer.release("host", runtime, rule.deletion, host_obj, self.ctx.tenant.vcluster)
        if virtual_obj is not None and FINALIZER in (meta_of(virtual_obj).get("finalizers") or []):
            deleted_copy = host_obj if copy_exists and rule.deletion is DeletionPolicy.DELETE else None
            if not self.writer.release_finalizer(runtime, virtual_obj, deleted_copy):
                return Outcome.later(0.5)
        return Outcome.ok()


def _imported_here(index: ReferenceIndex, key: Key) -> bool:
    return bool(index.referrers(Key.imported(key.group, key.kind, key.identity)))


def _claimed_source(
    host_obj: Mapping[str, Any], source: SourceRef | None, orphan: bool
) -> tuple[str | None, str | None] | None:
    """(namespace, name) of the source a proven copy of ours (or our proven orphan) records, else None."""
    if source is not None:
        return source.namespace, source.name
    if not orphan:
        return None
    ann = annotations_of(host_obj)
    return ann.get(ANN_SOURCE_NAMESPACE), ann.get(ANN_SOURCE_NAME)
