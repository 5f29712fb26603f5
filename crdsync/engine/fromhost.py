"""What the virtual copy of a host object should be (FROM_HOST and IMPORT keys).

Decisions only: whether the host object is shared with this virtual cluster (the fromHost rule's selection, or for an
import the reference and crdsync.translate.tenancy.importable), whether what stands at the copy's place is ours to
write (the virtual cluster is the tenant's: bookkeeping there is a claim, checked against the host), and the conflict
policy for an object that is not. Every request goes through crdsync.engine.writes.

Failure modes: TranslationError and ApiErrors propagate to crdsync.engine.reconcile; a refusal (import refused, name
taken, target exists) is reported here and ends the reconcile with an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from crdsync.engine.context import Context, Obj, Outcome, deleting, meta_of
from crdsync.engine.keys import Key, ObjectName
from crdsync.engine.kinds import KindRuntime
from crdsync.engine.syncback import partial
from crdsync.spec.model import ConflictPolicy, Direction, Rule, SyncMode
from crdsync.translate.bookkeeping import SIDE_HOST, source_of
from crdsync.translate.objects import to_virtual
from crdsync.translate.selectors import selects_host, selects_virtual
from crdsync.translate.tenancy import importable

log = logging.getLogger("crdsync.reconcile")


class VirtualCopies:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.writer = ctx.writer

    def from_host(self, key: Key, rule: Rule, runtime: KindRuntime) -> Outcome:
        """A FROM_HOST key: the host object (the key's source) shared by a mode-all rule, and its virtual copy."""
        assert runtime.virtual_res is not None
        source = key.identity
        host_obj = self.ctx.current("host", runtime, source.namespace, source.name)
        target_ns = (rule.host.virtual_namespace or source.namespace) if runtime.virtual_res.namespaced else None
        current = self.ctx.current("virtual", runtime, target_ns, source.name)
        if host_obj is None or deleting(host_obj) or not selects_host(rule, host_obj):
            if current is not None and self._copy_is_ours(runtime, rule, current, source):
                self.writer.release("virtual", runtime, rule.deletion, current, self.ctx.tenant.vcluster)
            return Outcome.ok()
        desired = to_virtual(self.ctx.config, rule, host_obj, self.ctx.tenant)
        return self._write(key, rule, runtime, desired, current, source)

    def imported(self, key: Key, rule: Rule, runtime: KindRuntime) -> Outcome:
        """An IMPORT key: the virtual place (the key's target) a reference fills from a host object; the host object
        comes from the reference index (what references name now), never from the key or the virtual object."""
        assert runtime.virtual_res is not None
        target = key.identity
        current = self.ctx.current("virtual", runtime, target.namespace, target.name)
        # The host object a reference names now (the index keeps a ref only while some referrer names it); None when
        # no reference names this place.
        ref = self.ctx.index.ref(key)
        source = ObjectName(ref.host_namespace, ref.host_name) if ref is not None else None
        host_obj = self.ctx.current("host", runtime, source.namespace, source.name) if source is not None else None
        if source is None or host_obj is None or deleting(host_obj):
            return self._let_go(key, rule, runtime, current, "")
        refusal = self._import_refusal(rule, runtime, source, host_obj)
        if refusal:
            return self._let_go(key, rule, runtime, current, refusal)
        desired = to_virtual(self.ctx.config, rule, host_obj, self.ctx.tenant, target=(target.namespace, target.name))
        return self._write(key, rule, runtime, desired, current, source)

    def _let_go(self, key: Key, rule: Rule, runtime: KindRuntime, current: Obj | None, refusal: str) -> Outcome:
        """Nothing is to be imported at this place: release the import standing there, if any; a `refusal` (why the
        host object a reference names may not come in) is reported."""
        if current is not None and _holds_import(current):
            self.writer.release("virtual", runtime, rule.deletion, current, self.ctx.tenant.vcluster)
        if refusal:
            self.ctx.report(key, runtime, "ImportRefused", refusal)
            return Outcome.failed()
        return Outcome.ok()

    def _import_refusal(self, rule: Rule, runtime: KindRuntime, source: ObjectName, host_obj: Obj) -> str:
        """Why the host object a reference names may not be imported into this virtual cluster, or ""."""
        assert runtime.host_res is not None
        what = f"host {runtime.gvk.kind} {source}"
        if rule.mode is SyncMode.ALL:
            # The reference named a kind shared by name: only what the rule shares may come in.
            return "" if selects_host(rule, host_obj) else f"{what} is not shared with this virtual cluster"
        namespaced = runtime.host_res.namespaced
        if namespaced and source.namespace != self.ctx.tenant.host_namespace:
            return f"{what} is outside this virtual cluster's host namespace"
        to_host_rule = runtime.rules.get(Direction.TO_HOST)
        naming = to_host_rule.naming if to_host_rule is not None else rule.naming
        if not importable(host_obj, self.ctx.tenant, runtime.gvk, namespaced=namespaced, naming=naming):
            return f"{what} carries bookkeeping of another owner; it is not imported"
        return ""

    def _write(
        self, key: Key, rule: Rule, runtime: KindRuntime, desired: Obj, current: Obj | None, source: ObjectName
    ) -> Outcome:
        """Write the virtual copy `desired` of host `source` over `current` (what stands at its place, if anything)."""
        assert runtime.virtual_res is not None
        if current is not None and not self._copy_is_ours(runtime, rule, current, source):
            verdict = self._foreign(key, rule, runtime, desired, current)
            if verdict is not None:
                return verdict
            meta = meta_of(current)
            current = self.ctx.current("virtual", runtime, meta.get("namespace"), meta["name"])
        namespace = meta_of(desired).get("namespace")
        if namespace:
            self.writer.ensure_virtual_namespace(namespace)
        # With a status subresource the main write ignores status, so it goes separately; without one it must go in
        # the same apply (a second apply by the same manager without the spec would remove the spec).
        status = desired.pop("status", None) if runtime.virtual_res.has_status else None
        current = self.writer.apply_virtual(runtime, desired, current)
        if rule.read_only:
            current = self.writer.shed_stray_fields(runtime, desired, current)
        if status is not None:
            body = partial(runtime, desired, {"status": status})
            self.writer.apply_virtual(runtime, body, current, "status")
        return Outcome.ok()

    def _foreign(self, key: Key, rule: Rule, runtime: KindRuntime, desired: Obj, current: Obj) -> Outcome | None:
        """Something not ours stands where the copy goes: the outcome to return, or None to go ahead (Adopt: our
        apply takes over the fields we set; Overwrite: it has just been replaced by ours)."""
        if source_of(current) is not None:
            self.ctx.report(key, runtime, "NameTaken", f"virtual object belongs to {source_of(current)}")
            return Outcome.failed()
        to_host_rule = runtime.rules.get(Direction.TO_HOST)
        if to_host_rule is not None and selects_virtual(
            to_host_rule, current, self.ctx.namespace_labels(meta_of(current).get("namespace"))
        ):
            # A kind in both directions: the tenant's own object stands here and the toHost rule exports it. An
            # import never takes its place (that would turn the tenant's object into a copy of a host object and
            # drop its export), whatever the conflict policy.
            message = "virtual object is the tenant's own, exported by the toHost rule"
            self.ctx.report(key, runtime, "TargetExists", message)
            return Outcome.failed()
        if rule.conflict is ConflictPolicy.ABORT:
            message = "virtual object exists and is not managed by crdsync; conflict policy Abort leaves it alone"
            self.ctx.report(key, runtime, "TargetExists", message)
            return Outcome.failed()
        if rule.conflict is ConflictPolicy.OVERWRITE:
            self.writer.overwrite("virtual", runtime, desired, current)
            log.info("%s: virtual object overwritten (conflict policy Overwrite)", key)
        return None

    def _copy_is_ours(self, runtime: KindRuntime, rule: Rule, current: Mapping[str, Any], source: ObjectName) -> bool:
        """Is `current` (standing where the copy of host `source` goes) our copy of it?

        The virtual cluster is the tenant's: its bookkeeping is a claim, checked against the host. A copy naming this
        source is ours; so is one whose claimed source the host does not back (forged, or left from an earlier
        source), which otherwise would sit there for good, never collected.
        """
        claimed = source_of(current)
        if claimed is None or claimed.side != SIDE_HOST:
            return False
        if (claimed.namespace, claimed.name) == (source.namespace, source.name) or rule.mode is SyncMode.REFERENCED:
            return True  # an import's virtual slot belongs to its key alone
        host_obj = self.ctx.current("host", runtime, claimed.namespace, claimed.name)
        return host_obj is None or deleting(host_obj) or not selects_host(rule, host_obj)


def _holds_import(virtual_obj: Mapping[str, Any]) -> bool:
    source = source_of(virtual_obj)
    return source is not None and source.side == SIDE_HOST
