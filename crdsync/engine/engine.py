"""The sync engine: kinds come and go, informers feed a work queue, workers reconcile keys from cached state.

Lifecycle of a kind: a rule's kind may not exist yet (its CRD is not installed). A background loop polls discovery,
logs the wait once, mirrors the host CRD into the virtual cluster when needed, and starts one informer per side as
soon as both sides serve the kind; when an informer reports the kind gone (CRD deleted), that kind stops cleanly and
the loop waits for it again. Nothing about a missing kind stops the others.

Workers start only after the first list of every kind available at startup, so references are fully indexed before
any follower is judged unreferenced: a restart therefore neither deletes nor rewrites anything that is in sync.

Observability: the engine feeds `crdsync.engine.metrics` (queue, reconcile results, writes, sync lag, relists,
initial sync progress, objects in sync) and answers the probes: `problems()` (liveness: a dead worker or kinds thread,
an informer thread that died or made no progress for `informer_stall_seconds`) and `synced()` (readiness: the initial
sync is complete). Sync lag runs from the moment an informer handed over the event that queued a key to the first
write of that key's next reconcile.

Leadership: with a `fence` (crdsync.engine.fence, one per leadership term) every write the engine makes — reconciles,
Events, the mirrored CRDs — goes through client views gated on it, so nothing is written once the term may be over.

Failure modes: per-object errors never stop a worker; they become Events and log lines (see reconcile.py). IO errors
in the kinds loop are logged and retried on the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crdsync.engine.crds import CRD_GROUP, CRD_KIND, CRD_VERSION, mirror_crd
from crdsync.engine.fence import WriteFence
from crdsync.engine.keys import Key, ReferenceIndex, SharedName, Task
from crdsync.engine.metrics import ERROR, REQUEUE, REQUEUE_AFTER, SUCCESS, Metrics, controller_name
from crdsync.engine.queue import WorkQueue
from crdsync.engine.reconcile import Outcome, Reconciler, Sides, Slot
from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ApiError, Forbidden
from crdsync.kube.informer import ADDED, MODIFIED, Informer
from crdsync.kube.resource import Resource
from crdsync.logs import key_fields
from crdsync.spec.model import Direction, Rule, SyncConfig, SyncMode
from crdsync.translate.bookkeeping import LABEL_ROLE, source_of
from crdsync.translate.compare import needs_write
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant
from crdsync.translate.objects import FollowRef, followers, shared_references
from crdsync.translate.references import shared_host_namespace
from crdsync.translate.selectors import selects_virtual
from crdsync.translate.tenancy import trusted_host_source

log = logging.getLogger("crdsync.engine")

Obj = dict[str, Any]
NAMESPACE_GVK = GroupVersionKind("", "v1", "Namespace")
CRD_GVK = GroupVersionKind(CRD_GROUP, CRD_VERSION, CRD_KIND)


@dataclass
class KindRuntime:
    """Everything the engine holds for one (group, kind): its rules, resources and informers."""

    gvk: GroupVersionKind
    rules: dict[Direction, Rule]
    host_res: Resource | None = None
    virtual_res: Resource | None = None
    host: Informer | None = None
    virtual: Informer | None = None
    waiting_reason: str = ""
    crd_checked_at: float = 0.0
    # The host's CRD of this kind, watched by name (no periodic GETs); crd_seen: the resourceVersion last mirrored.
    # crd_watch_refused: the watch was forbidden (RBAC from before it), so the CRD is re-read on a timer instead.
    crd: Informer | None = None
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


class Engine:
    def __init__(
        self,
        config: SyncConfig,
        tenant: Tenant,
        host: KubeClient,
        virtual: KubeClient,
        *,
        workers: int = 8,
        kinds_poll_seconds: float = 5.0,
        crd_refresh_seconds: float = 10.0,
        field_manager: str = "crdsync",
        informer_factory: Callable[..., Informer] = Informer,
        metrics: Metrics | None = None,
        informer_stall_seconds: float = 900.0,
        fence: WriteFence | None = None,
    ) -> None:
        """`metrics`: where to count (default: a registry of this engine's own). `informer_stall_seconds`: how long an
        informer thread may show no progress before liveness fails; a healthy idle one re-watches at least every
        8 minutes (the longest server-side watch timeout it asks for), so the default leaves room for one missed
        round. `fence`: the leadership term's write gate (None: write unconditionally, no leader election)."""
        self.fence = fence
        if fence is not None:
            # Views, not new clients: connections and discovery are shared; only the writes are gated.
            host, virtual = host.with_write_gate(fence.check), virtual.with_write_gate(fence.check)
        self.config = config
        self._informer_factory = informer_factory
        self.tenant = tenant
        self.host = host
        self.virtual = virtual
        self.metrics = metrics if metrics is not None else Metrics()
        self.queue: WorkQueue[Key] = WorkQueue(observer=self.metrics.queue_observer())
        self.index = ReferenceIndex()
        self._workers_count = workers
        self._kinds_poll = kinds_poll_seconds
        self._crd_refresh = crd_refresh_seconds
        self._stop = threading.Event()
        self._kinds_wake = threading.Event()  # a host CRD changed: the kinds loop mirrors it now, not on its next tick
        self._initial_sync_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self.kinds: dict[tuple[str, str], KindRuntime] = {}
        for rule in config.rules:
            slot = (rule.gvk.group, rule.gvk.kind)
            runtime = self.kinds.setdefault(slot, KindRuntime(gvk=rule.gvk, rules={}))
            runtime.rules[rule.direction] = rule
        self._needs_namespaces = any(r.namespace_selector is not None for r in config.rules)
        self._namespaces: Informer | None = None
        self.reconciler = Reconciler(
            config=config,
            tenant=tenant,
            sides=Sides(host=host, virtual=virtual),
            kinds=self.kinds,
            index=self.index,
            namespace_labels=self.namespace_labels,
            field_manager=field_manager,
        )
        self._counts_lock = threading.Lock()
        self.processed = 0  # reconciles run, and how many of them ended in an error (for the shutdown log line)
        self.errors = 0
        self._initial_lock = threading.Lock()
        self._initial_keys: set[Key] = set()
        self._initial_sync_complete = threading.Event()
        # When the event that queued a key was handed over, until a worker takes the key (sync lag). Written by
        # informer threads and workers; single dict operations (setdefault, pop) are atomic, so no lock.
        self._triggered_at: dict[Key, float] = {}
        self._reconciling = threading.local()  # per worker: the trigger time of the key being reconciled
        # Keys whose last reconcile converged (crdsync_objects_in_sync); pruned of vanished sources when scraped.
        self._converged_lock = threading.Lock()
        self._converged: set[Key] = set()
        self._stall_seconds = informer_stall_seconds
        # Echoes of our own writes (see _add): the event being routed on this informer thread, and the events held
        # back for keys a worker is reconciling right now, judged when that reconcile ends.
        self._routing = threading.local()
        self._held_lock = threading.Lock()
        self._held: dict[Key, list[tuple[Slot, int, float]]] = {}
        self._informer_progress: dict[int, tuple[tuple[Any, ...], float]] = {}
        self.reconciler.on_write = self._on_write
        self.metrics.bind_engine(depth=lambda: len(self.queue), in_sync=self.objects_in_sync)

    # -- public lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        for n in range(self._workers_count):
            self._spawn(self._worker, f"worker-{n}")
        self._spawn(self._kinds_loop, "kinds")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop informers and drain: workers finish their current key, then exit."""
        self._stop.set()
        self._kinds_wake.set()
        self.queue.shut_down()
        for runtime in self.kinds.values():
            self._stop_informers(runtime)
        if self._namespaces is not None:
            self._namespaces.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait_initial_sync(self, timeout: float | None = None) -> bool:
        """Wait until the workers start (every kind available at start listed once); not until they caught up."""
        return self._initial_sync_done.wait(timeout)

    def synced(self) -> bool:
        """Readiness: every key of the first lists was reconciled and the queue drained once."""
        return self._initial_sync_complete.is_set()

    def idle(self) -> bool:
        return self._initial_sync_done.is_set() and self.queue.pending() == 0

    def namespace_labels(self, namespace: str | None) -> Mapping[str, str] | None:
        if namespace is None or self._namespaces is None:
            return None
        obj = self._namespaces.get(None, namespace)
        if obj is None:
            return None
        labels: Mapping[str, str] = obj.get("metadata", {}).get("labels") or {}
        return labels

    # -- threads ----------------------------------------------------------------------------------------------
    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=f"crdsync-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _worker(self) -> None:
        while not self._initial_sync_done.wait(0.2):
            if self._stop.is_set():
                return
        while (key := self.queue.get()) is not None:
            self._reconciling.trigger = self._triggered_at.pop(key, None)
            with self._held_lock:
                self._held[key] = []
            try:
                outcome = self.reconciler.reconcile(key)
            except Exception:  # a bug in one key must not kill the worker
                log.exception("reconcile %s failed unexpectedly", key, extra=key_fields(key))
                outcome = Outcome.retry()
            finally:
                self._reconciling.trigger = None
                try:
                    self._release_held(key)
                finally:
                    self.queue.done(key)  # whatever happens, the key is never left marked as processing
            self._count(key, outcome)
            if self._initial_keys:
                with self._initial_lock:
                    self._initial_keys.discard(key)
            with self._counts_lock:
                self.processed += 1
                self.errors += outcome.error
            if outcome.backoff:
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if outcome.requeue_after is not None:
                    self.queue.add_after(key, outcome.requeue_after)

    def _kinds_loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                if self._needs_namespaces and self._namespaces is None:
                    self._start_namespace_informer()
                started = self._activate_kinds()
                if first:
                    self._await_synced(started)
            except Exception:
                log.exception("kinds loop tick failed; retrying")
            if first:
                first = False
                self._announce_initial_sync()
            self._kinds_wake.wait(self._kinds_poll)
            self._kinds_wake.clear()

    def _announce_initial_sync(self) -> None:
        with self._initial_lock:
            self._initial_keys = self.queue.waiting()
        total = len(self._initial_keys)
        active = sorted(str(r.gvk) for r in self.kinds.values() if r.active)
        waiting = sorted(f"{r.gvk} ({r.waiting_reason})" for r in self.kinds.values() if not r.active)
        log.info("syncing %s; waiting for %s", ", ".join(active) or "nothing", ", ".join(waiting) or "nothing")
        log.info("initial sync: %d keys", total)
        self.metrics.initial_keys.set(total)
        self.metrics.initial_done.set(0)
        self._initial_sync_done.set()
        self._spawn(lambda: self._report_progress(total), "progress")

    def _report_progress(self, total: int) -> None:
        """Log progress every 2 s and completion as soon as every initial key was reconciled and the queue is empty
        (checked often: the completion time is what a restart is measured by)."""
        start = last_report = time.monotonic()
        while not self._stop.wait(0.05):
            with self._initial_lock:
                remaining = len(self._initial_keys)
            self.metrics.initial_done.set(total - remaining)
            if remaining == 0 and self.queue.pending() == 0:
                self.metrics.initial_complete.set(1)
                self._initial_sync_complete.set()
                log.info("initial sync complete: %d keys in %.2fs", total, time.monotonic() - start)
                return
            if time.monotonic() - last_report >= 2.0:
                last_report = time.monotonic()
                log.info("initial sync: %d of %d keys done", total - remaining, total)

    def _await_synced(self, runtimes: list[KindRuntime]) -> None:
        deadline = time.monotonic() + 300
        for runtime in runtimes:
            for informer in (runtime.host, runtime.virtual):
                if informer is not None and not informer.has_synced.wait(max(0.0, deadline - time.monotonic())):
                    log.warning("%s: initial list not complete yet; starting workers anyway", runtime.gvk)

    # -- kinds --------------------------------------------------------------------------------------------------
    def _activate_kinds(self) -> list[KindRuntime]:
        started: list[KindRuntime] = []
        for runtime in self.kinds.values():
            if self._stop.is_set():
                break
            with runtime.lock:
                if runtime.gone:
                    self._stop_informers(runtime)
                    runtime.gone = False
                    # Discovery caches hits; without a refresh the vanished kind would look served again.
                    self.host.invalidate_discovery()
                    self.virtual.invalidate_discovery()
                if runtime.active:
                    self._refresh_crd(runtime)
                    continue
                try:
                    if self._try_activate(runtime):
                        started.append(runtime)
                        self._refresh_crd(runtime)  # starts the CRD watch with the kind's informers (one list, once)
                except ApiError as exc:
                    self._set_waiting(runtime, f"API error: {exc}")
        return started

    def _set_waiting(self, runtime: KindRuntime, reason: str) -> None:
        if reason != runtime.waiting_reason:
            log.warning("%s: waiting — %s", runtime.gvk, reason)
            runtime.waiting_reason = reason

    def _try_activate(self, runtime: KindRuntime) -> bool:
        gvk = runtime.gvk
        host_res = self.host.resource_for(gvk)
        if host_res is None:
            self._set_waiting(runtime, "the host does not serve this kind (CRD not installed?)")
            return False
        virtual_res = self.virtual.resource_for(gvk)
        if virtual_res is None:
            if not self._mirror_crd(runtime, host_res):
                self._set_waiting(runtime, "the virtual cluster does not serve this kind and it is not a host CRD")
                return False
            virtual_res = self._await_virtual_kind(gvk)
            if virtual_res is None:
                self._set_waiting(runtime, "CRD copied to the virtual cluster; waiting for it to be served")
                return False
        runtime.host_res, runtime.virtual_res = host_res, virtual_res
        host_namespace = self.tenant.host_namespace if host_res.namespaced and runtime.host_namespace_only else None
        runtime.host = self._informer_factory(
            self.host,
            host_res,
            namespace=host_namespace,
            on_event=lambda etype, key, obj, rt=runtime: self._on_host_event(rt, etype, obj),
            on_gone=lambda rt=runtime: self._on_gone(rt),
            name=f"host {gvk}",
        )
        runtime.virtual = self._informer_factory(
            self.virtual,
            virtual_res,
            on_event=lambda etype, key, obj, rt=runtime: self._on_virtual_event(rt, etype, obj),
            on_gone=lambda rt=runtime: self._on_gone(rt),
            name=f"virtual {gvk}",
        )
        runtime.host.on_relist = lambda kind=gvk.kind: self.metrics.relisted("host", kind)
        runtime.virtual.on_relist = lambda kind=gvk.kind: self.metrics.relisted("virtual", kind)
        runtime.host.start()
        runtime.virtual.start()
        if runtime.waiting_reason:
            log.info("%s: available now; syncing", gvk)
        runtime.waiting_reason = ""
        return True

    def _await_virtual_kind(self, gvk: GroupVersionKind, timeout: float = 10.0) -> Resource | None:
        """A freshly mirrored CRD is served within a second or two; waiting here saves a whole poll interval."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            self.virtual.invalidate_discovery()
            res = self.virtual.resource_for(gvk)
            if res is not None or time.monotonic() > deadline:
                return res
            self._stop.wait(0.25)
        return None

    def _on_gone(self, runtime: KindRuntime) -> None:
        log.warning("%s: no longer served on one side (CRD removed?); stopping this kind", runtime.gvk)
        runtime.gone = True

    def _stop_informers(self, runtime: KindRuntime) -> None:
        for informer in (runtime.host, runtime.virtual, runtime.crd):
            if informer is not None:
                informer.stop()
        runtime.host = runtime.virtual = runtime.crd = None
        runtime.crd_seen = ""

    def _mirror_crd(self, runtime: KindRuntime, host_res: Resource, crd: Obj | None = None) -> bool:
        """Copy the host's CRD for this kind (`crd`, else read now) into the virtual cluster; False when the kind is
        not a CRD."""
        crd_res = self.host.resource_for(CRD_GVK)
        if crd_res is None or not host_res.group:
            return False
        if crd is None:
            crd = self.host.get(crd_res, None, f"{host_res.plural}.{host_res.group}")
        if crd is None:
            return False
        desired, warnings = mirror_crd(crd)
        for warning in warnings:
            log.warning("%s", warning)
        virtual_crd_res = self.virtual.resource_for(CRD_GVK)
        if virtual_crd_res is None:
            return False
        current = self.virtual.get(virtual_crd_res, None, desired["metadata"]["name"])
        if needs_write(desired, current, self.reconciler.field_manager):
            self.virtual.apply(virtual_crd_res, desired, force=True)
            self.metrics.wrote("virtual", "apply")
            log.info("%s: CRD %s installed in the virtual cluster", runtime.gvk, desired["metadata"]["name"])
        runtime.crd_checked_at = time.monotonic()
        return True

    def _refresh_crd(self, runtime: KindRuntime) -> None:
        """Keep the mirrored CRD in step with the host's (new versions, schema changes).

        The host CRD is watched by name (a fieldSelector on metadata.name: one watch per kind, so a quiet host sees no
        requests for it but that watch), and mirrored when its resourceVersion changes; its events wake the kinds
        loop. Where the watch is forbidden (RBAC generated before it: it needs list/watch on that CRD by name), the CRD
        is re-read every `crd_refresh_seconds` instead, as before."""
        host_res = runtime.host_res
        if host_res is None or not host_res.group:
            return
        if runtime.crd is None and not runtime.crd_watch_refused:
            self._watch_crd(runtime, host_res)
        watch = runtime.crd
        if watch is not None and isinstance(getattr(watch, "last_error", None), Forbidden):
            log.warning(
                "%s: may not watch the host CRD (%s); re-reading it every %.0fs instead (regenerate the RBAC)",
                runtime.gvk,
                getattr(watch, "last_error", ""),
                self._crd_refresh,
            )
            watch.stop()
            runtime.crd, runtime.crd_watch_refused = None, True
            watch = None
        if watch is not None:
            if not watch.has_synced.is_set():
                return
            crd = watch.get(None, f"{host_res.plural}.{host_res.group}")
            version = str((crd or {}).get("metadata", {}).get("resourceVersion") or "")
            if crd is None or version == runtime.crd_seen:
                return
            try:
                if self._mirror_crd(runtime, host_res, crd):
                    runtime.crd_seen = version
            except ApiError as exc:
                log.warning("%s: could not refresh the virtual CRD: %s", runtime.gvk, exc)
            return
        if time.monotonic() - runtime.crd_checked_at < self._crd_refresh:
            return
        try:
            self._mirror_crd(runtime, host_res)
        except ApiError as exc:
            log.warning("%s: could not refresh the virtual CRD: %s", runtime.gvk, exc)
        runtime.crd_checked_at = time.monotonic()

    def _watch_crd(self, runtime: KindRuntime, host_res: Resource) -> None:
        crd_res = self.host.resource_for(CRD_GVK)
        if crd_res is None:
            runtime.crd_watch_refused = True  # not a CRD the host serves through the API: nothing to watch
            return
        name = f"{host_res.plural}.{host_res.group}"
        runtime.crd = self._informer_factory(
            self.host,
            crd_res,
            field_selector=f"metadata.name={name}",
            on_event=lambda etype, key, obj: self._kinds_wake.set(),
            name=f"host CRD {name}",
        )
        runtime.crd.start()

    def _start_namespace_informer(self) -> None:
        res = self.virtual.resource_for(NAMESPACE_GVK)
        if res is None:
            return
        self._namespaces = self._informer_factory(
            self.virtual, res, on_event=lambda etype, key, obj: self._on_namespace_event(obj), name="virtual ns"
        )
        self._namespaces.start()
        self._namespaces.has_synced.wait(60)

    # -- event routing (runs on informer threads: cheap, no IO) ----------------------------------------------------
    def _on_namespace_event(self, obj: Obj | None) -> None:
        if obj is None:
            return
        namespace = obj.get("metadata", {}).get("name")
        for runtime in self.kinds.values():
            rule = runtime.rules.get(Direction.TO_HOST)
            if rule is None or rule.namespace_selector is None or runtime.virtual is None:
                continue
            for item in runtime.virtual.list():
                if item.get("metadata", {}).get("namespace") == namespace:
                    self._route_virtual_source(runtime, rule, item, deleted=False)

    def _on_virtual_event(self, runtime: KindRuntime, etype: str, obj: Obj | None) -> None:
        """Route a virtual event by rule and side: whatever stands where a fromHost (mode all) rule puts its copies is
        judged by that rule; an object claiming to be an import goes to the import or fromHost key only, never to
        the toHost rule (which would export a copy of a host object); the tenant's own objects go to the toHost
        rule. A kind with both rules gets both routings for the tenant's own objects in landing namespaces."""
        if obj is None:
            return
        self._routing_event("virtual", runtime, etype, obj)
        try:
            self._route_virtual_event(runtime, etype, obj)
        finally:
            self._routing.event = None

    def _route_virtual_event(self, runtime: KindRuntime, etype: str, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        namespace, name = meta.get("namespace"), meta["name"]
        source = source_of(obj)
        claims_import = source is not None and source.side == "host"
        if claims_import and (meta.get("labels") or {}).get(LABEL_ROLE) == "follower":
            # An import, or what claims to be one: the tenant can write these labels, so the key is where the object
            # stands, never the source it names.
            self._add(Key(Task.IMPORT, runtime.gvk.group, runtime.gvk.kind, namespace, name))
            return
        from_host = runtime.rules.get(Direction.FROM_HOST)
        if from_host is not None and from_host.mode is SyncMode.ALL:
            # Whatever stands where a shared object's copy goes (our copy, a forged one, or the tenant's own object
            # replacing ours) is judged against the host object the sharing rule maps that place back to.
            try:
                host_ns = shared_host_namespace(from_host, namespace) if namespace else None
                self._add(Key(Task.FROM_HOST, runtime.gvk.group, runtime.gvk.kind, host_ns, name))
            except TranslationError:
                pass  # not a place this rule puts anything: the tenant's own object
        if claims_import:
            return
        to_host = runtime.rules.get(Direction.TO_HOST)
        if to_host is not None:
            if to_host.mode is SyncMode.ALL:
                self._route_virtual_source(runtime, to_host, obj, deleted=etype == "DELETED")
            else:
                key = Key(Task.EXPORT, runtime.gvk.group, runtime.gvk.kind, namespace, name)
                if self.index.referrers(key):
                    self._add(key)
        from_host = runtime.rules.get(Direction.FROM_HOST)
        if from_host is not None and from_host.mode is SyncMode.REFERENCED:
            key = Key(Task.IMPORT, runtime.gvk.group, runtime.gvk.kind, namespace, name)
            if self.index.referrers(key):
                self._add(key)

    def _route_virtual_source(self, runtime: KindRuntime, rule: Rule, obj: Obj, *, deleted: bool) -> None:
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace")
        key = Key(Task.TO_HOST, runtime.gvk.group, runtime.gvk.kind, namespace, meta["name"])
        self._add(key)
        wanted = (
            not deleted
            and meta.get("deletionTimestamp") is None
            and selects_virtual(rule, obj, self.namespace_labels(namespace))
        )
        refs: tuple[FollowRef, ...] = ()
        shared: list[SharedName] = []
        if wanted and rule.references:
            try:
                refs = followers(self.config, rule, obj, self.tenant)
                shared = [
                    (ref.gvk.group, ref.gvk.kind, ref.host_namespace, ref.name)
                    for ref in shared_references(self.config, rule, obj)
                ]
            except Exception as exc:  # reported by the reconcile of this key; index it as referencing nothing
                log.debug("%s: references not indexed: %s", key, exc)
        for changed in self.index.update(key, refs):
            self._add(changed)
        self.index.update_shared(key, shared)

    def _on_host_event(self, runtime: KindRuntime, etype: str, obj: Obj | None) -> None:
        """Route a host event by rule and side. A kind may have both rules (a toHost and a fromHost rule, mode all,
        with disjoint selections, spec.checks): a host object that is provably our toHost copy goes to its source's
        export key and nowhere else (the fromHost rule never selects a copy); any other host object goes to the
        fromHost rule (and to the imports and shared-name referrers that name it)."""
        if obj is None:
            return
        self._routing_event("host", runtime, etype, obj)
        try:
            self._route_host_event(runtime, obj)
        finally:
            self._routing.event = None

    def _route_host_event(self, runtime: KindRuntime, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        namespace, name = meta.get("namespace"), meta["name"]
        group, kind = runtime.gvk.group, runtime.gvk.kind
        to_host = runtime.rules.get(Direction.TO_HOST)
        if to_host is not None and runtime.host_res is not None:
            # Bookkeeping counts only when the object stands where this tenant's naming rule puts the source it claims
            # (another tenant's copy, or labels an operator copied from tenant input, never route here), and the task
            # comes from the rule's mode, not from a label.
            source = trusted_host_source(
                obj, self.tenant, runtime.gvk, namespaced=runtime.host_res.namespaced, naming=to_host.naming
            )
            if source is not None:
                task = Task.TO_HOST if to_host.mode is SyncMode.ALL else Task.EXPORT
                self._add(Key(task, group, kind, source.namespace, source.name))
                return
        from_host = runtime.rules.get(Direction.FROM_HOST)
        if from_host is not None and from_host.mode is SyncMode.ALL:
            self._add(Key(Task.FROM_HOST, group, kind, namespace, name))
            # Shared (or unshared) just now: whoever names it is judged again.
            for referrer in self.index.shared_referrers((group, kind, namespace, name)):
                self._add(referrer)
        imported = self.index.import_for_host(group, kind, namespace, name)
        if imported is not None:
            self._add(imported)

    def _routing_event(self, side: str, runtime: KindRuntime, etype: str, obj: Obj) -> None:
        """Before routing an event: note whether it is the echo of a key's own last write (reconciler.observed)."""
        echo_of = self.reconciler.observed(side, runtime, obj)
        if etype in (ADDED, MODIFIED):
            slot = self.reconciler.slot(side, runtime, obj)
            self._routing.event = (echo_of, slot, resource_version(obj))
        else:
            self._routing.event = None  # lists and deletions are always routed

    def _add(self, key: Key) -> None:
        """Queue `key` for the event being routed, unless that event is exactly `key`'s own last write coming back:
        that reconcile already judged this very state (a bulk sync would otherwise reconcile every object twice). An
        event for a key being reconciled right now is held back until that reconcile ends, since the write it may be
        the echo of can be remembered after its watch event arrives; any other version queues the key then."""
        event = getattr(self._routing, "event", None)
        if event is not None:
            echo_of, slot, version = event
            if key == echo_of:
                return
            with self._held_lock:
                held = self._held.get(key)
                if held is not None:
                    held.append((slot, version, time.monotonic()))
                    return
        self._triggered_at.setdefault(key, time.monotonic())
        self.queue.add(key)

    def _release_held(self, key: Key) -> None:
        """The reconcile of `key` ended: queue it again unless every event held back meanwhile was the echo of its own
        last write of that object."""
        with self._held_lock:
            held = self._held.pop(key, [])
        for slot, version, at in held:
            if not self.reconciler.wrote_exactly(slot, version, key):
                self._triggered_at.setdefault(key, at)
                self.queue.add(key)
                return

    # -- observability (metrics and probes; never decides anything) ----------------------------------------------
    def _count(self, key: Key, outcome: Outcome) -> None:
        result = outcome_result(outcome)
        self.metrics.reconciled(controller_name(key.group, key.kind), result)
        with self._converged_lock:
            if result == SUCCESS:
                self._converged.add(key)
            else:
                self._converged.discard(key)

    def _on_write(self, side: str, verb: str) -> None:
        """A reconcile wrote something: count it, and the first write of a reconcile ends that change's sync lag."""
        self.metrics.wrote(side, verb)
        trigger = getattr(self._reconciling, "trigger", None)
        if trigger is not None:
            self._reconciling.trigger = None
            self.metrics.lag(time.monotonic() - trigger)

    def objects_in_sync(self) -> dict[tuple[str, str], int]:
        """(kind, direction) -> sources whose last reconcile converged and that still exist (run at scrape time)."""
        with self._converged_lock:
            keys = list(self._converged)
        counts: dict[tuple[str, str], int] = {}
        vanished: list[Key] = []
        for key in keys:
            if self._source_exists(key):
                slot = (key.kind, key.task.direction.value)
                counts[slot] = counts.get(slot, 0) + 1
            else:
                vanished.append(key)
        if vanished:
            with self._converged_lock:
                self._converged.difference_update(vanished)
        return counts

    def _source_exists(self, key: Key) -> bool:
        runtime = self.kinds.get((key.group, key.kind))
        if runtime is None or runtime.host is None or runtime.virtual is None:
            return False
        if key.task in (Task.TO_HOST, Task.EXPORT):
            return runtime.virtual.get(key.namespace, key.name) is not None
        if key.task is Task.FROM_HOST:
            return runtime.host.get(key.namespace, key.name) is not None
        ref = self.index.ref(key)
        return (
            ref is not None
            and bool(self.index.referrers(key))
            and runtime.host.get(ref.host_namespace, ref.host_name) is not None
        )

    def problems(self, now: float | None = None) -> list[str]:
        """Why this engine is not alive, or [] (liveness). Cheap: thread flags and informer counters only."""
        if self._stop.is_set():
            return []
        now = time.monotonic() if now is None else now
        found = [
            f"thread {t.name} died"
            for t in self._threads
            if not t.is_alive() and (t.name.startswith("crdsync-worker-") or t.name == "crdsync-kinds")
        ]
        informers: list[tuple[str, Any]] = [("virtual namespaces", self._namespaces)]
        for runtime in list(self.kinds.values()):
            informers += [(f"host {runtime.gvk}", runtime.host), (f"virtual {runtime.gvk}", runtime.virtual)]
            informers.append((f"host CRD of {runtime.gvk}", runtime.crd))
        seen: set[int] = set()
        for what, informer in informers:
            if informer is None:
                continue
            seen.add(id(informer))
            problem = self._informer_problem(what, informer, now)
            if problem:
                found.append(problem)
        for gone in set(self._informer_progress) - seen:
            del self._informer_progress[gone]
        return found

    def _informer_problem(self, what: str, informer: Any, now: float) -> str:
        # Informers from a test factory may not expose these; what cannot be observed is not judged.
        running, stopped = getattr(informer, "running", None), getattr(informer, "stopped", None)
        if running is None or stopped is None or stopped:
            return ""
        if not running:
            return f"informer {what}: thread died"
        progress = tuple(
            getattr(informer, field, None) for field in ("resource_version", "list_count", "watch_count", "error_count")
        )
        verdict, since = informer_stalled(progress, self._informer_progress.get(id(informer)), now, self._stall_seconds)
        self._informer_progress[id(informer)] = (progress, since)
        return f"informer {what}: no progress for {now - since:.0f}s" if verdict else ""


def resource_version(obj: Mapping[str, Any]) -> int:
    """metadata.resourceVersion as a number (0 when absent or not a number)."""
    meta = obj.get("metadata")
    try:
        return int(meta.get("resourceVersion") or 0) if isinstance(meta, Mapping) else 0
    except (TypeError, ValueError):
        return 0


def outcome_result(outcome: Outcome) -> str:
    """controller-runtime's result label for a reconcile outcome."""
    if outcome.error:
        return ERROR
    if outcome.backoff:
        return REQUEUE
    if outcome.requeue_after is not None:
        return REQUEUE_AFTER
    return SUCCESS


def informer_stalled(
    progress: tuple[Any, ...], previous: tuple[tuple[Any, ...], float] | None, now: float, limit: float
) -> tuple[bool, float]:
    """(stalled?, since when the progress is unchanged). A list, a watch, an error or a new resourceVersion is
    progress; an informer thread blocked (in a handler, a read past every timeout) shows none."""
    if previous is None or previous[0] != progress:
        return False, now
    since = previous[1]
    return now - since > limit, since
