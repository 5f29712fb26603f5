"""The sync engine: kinds come and go, informers feed a work queue, workers reconcile keys from cached state.

Lifecycle of a kind: a rule's kind may not exist yet (its CRD is not installed). A background loop polls discovery,
logs the wait once, mirrors the host CRD into the virtual cluster when needed (crdsync.engine.crds), and starts one
informer per side as soon as both sides serve the kind; when an informer reports the kind gone (CRD deleted), that
kind stops cleanly and the loop waits for it again. Nothing about a missing kind stops the others.

Workers start only after the first list of every kind available at startup, so references are fully indexed before
any follower is judged unreferenced: a restart therefore neither deletes nor rewrites anything that is in sync. The
first lists' objects are routed on the kinds thread once all are in, and their keys judged there too, dry
(Reconciler.settled): a key whose reconcile would send nothing is done without a worker (every key of a restart in
sync), the rest go to the workers. One thread, because thousands of cheap keys cost 32 workers more in lock and GIL
hand-offs than in the keys themselves, and routing on the informer threads while they list slowed the other list.

Events: informer threads hand each event to crdsync.engine.routing (event → keys, pure) and queue what it returns,
except the echo of a key's own last write (crdsync.engine.overlay: same resourceVersion as the write remembered for
that key), which is a state that key already judged. An event for a key being reconciled is held until that reconcile
ends and judged then, since the write it may echo can be remembered after its watch event arrives.

Observability: the engine feeds `crdsync.engine.metrics` (queue, reconcile results, writes, sync lag, relists,
initial sync progress, objects in sync) and answers the probes (crdsync.engine.probes): `problems()` (liveness: a
dead worker or kinds thread, an informer thread that died or made no progress for `informer_stall_seconds`) and
`synced()` (readiness: the initial sync is complete). Sync lag runs from the moment an informer handed over the event
that queued a key to the first write of that key's next reconcile.

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
from typing import Any

from crdsync.engine import routing
from crdsync.engine.activation import KindActivator
from crdsync.engine.context import Outcome, meta_of
from crdsync.engine.crds import CrdMirror
from crdsync.engine.fence import WriteFence
from crdsync.engine.keys import Key, ReferenceIndex, Task
from crdsync.engine.kinds import KindRuntime, kinds_of
from crdsync.engine.metrics import Metrics, controller_name
from crdsync.engine.overlay import Slot, resource_version
from crdsync.engine.probes import InformerWatch, InitialSync, InSync, outcome_result
from crdsync.engine.queue import WorkQueue
from crdsync.engine.reconcile import Reconciler
from crdsync.engine.writes import Sides, slot_of
from crdsync.gvk import GroupVersionKind
from crdsync.kube.informer import ADDED, MODIFIED, SYNC, Informer
from crdsync.kube.protocols import ClusterClient, ClusterInformer
from crdsync.logs import key_fields
from crdsync.spec.model import SyncConfig
from crdsync.translate.names import Tenant

log = logging.getLogger("crdsync.engine")

Obj = dict[str, Any]
NAMESPACE_GVK = GroupVersionKind("", "v1", "Namespace")
Held = tuple[Slot, str, float]  # an event held back for a key being reconciled: (slot, resourceVersion, when)
SETTLE_GIVE_UP = 64  # keys in a row that need a write, after which the start-up pass leaves the rest to the workers
Echo = tuple[Key | None, Slot, str]  # the event being routed: (whose write it echoes, its slot, its resourceVersion)


class Engine:
    def __init__(
        self,
        config: SyncConfig,
        tenant: Tenant,
        host: ClusterClient,
        virtual: ClusterClient,
        *,
        workers: int = 8,
        kinds_poll_seconds: float = 5.0,
        crd_refresh_seconds: float = 10.0,
        field_manager: str = "crdsync",
        informer_factory: Callable[..., ClusterInformer] = Informer,
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
        self.tenant = tenant
        self.host = host
        self.virtual = virtual
        self._informer_factory = informer_factory
        self.metrics = metrics if metrics is not None else Metrics()
        self.queue: WorkQueue[Key] = WorkQueue(observer=self.metrics.queue_observer())
        self.index = ReferenceIndex()
        self.kinds = kinds_of(config)
        self._workers_count = workers
        self._kinds_poll = kinds_poll_seconds
        self._stop = threading.Event()
        self._kinds_wake = threading.Event()  # a host CRD changed: the kinds loop mirrors it now, not on its next tick
        self.reconciler = Reconciler(
            config=config,
            tenant=tenant,
            sides=Sides(host=host, virtual=virtual),
            kinds=self.kinds,
            index=self.index,
            namespace_labels=self.namespace_labels,
            field_manager=field_manager,
        )
        self.overlay = self.reconciler.writer.overlay
        self.crds = CrdMirror(
            host,
            self.reconciler.writer,
            informer_factory,
            refresh_seconds=crd_refresh_seconds,
            wake=self._kinds_wake.set,
        )
        self.activator = self._activator(informer_factory)
        self._routing_view = routing.View(config, tenant, self.index, self.namespace_labels)
        self._init_bookkeeping(informer_stall_seconds)
        self.reconciler.on_write = self._on_write
        self.metrics.bind_engine(depth=lambda: len(self.queue), in_sync=self.objects_in_sync)

    def _init_bookkeeping(self, informer_stall_seconds: float) -> None:
        """Threads, counters, initial-sync progress, sync-lag triggers, probes and the echo hold-back."""
        self._threads: list[threading.Thread] = []
        self._initial_sync_done = threading.Event()
        self._needs_namespaces = any(r.namespace_selector is not None for r in self.config.rules)
        self._namespaces: ClusterInformer | None = None
        self._counts_lock = threading.Lock()
        self.processed = 0  # reconciles run, and how many of them ended in an error (for the shutdown log line)
        self.errors = 0
        self._initial = InitialSync(self.metrics)
        self._routing_deferred = True  # the first lists' objects are routed at once when all are in (_route_listed)
        # When the event that queued a key was handed over, until a worker takes the key (sync lag). Written by
        # informer threads and workers; single dict operations (setdefault, pop) are atomic, so no lock.
        self._triggered_at: dict[Key, float] = {}
        self._reconciling = threading.local()  # per worker: the trigger time of the key being reconciled
        self._in_sync = InSync(self._source_exists)
        self._informer_watch = InformerWatch(informer_stall_seconds)
        # Echoes of our own writes (see _add): the event being routed on this informer thread, and the events held
        # back for keys a worker is reconciling right now, judged when that reconcile ends.
        self._routing = threading.local()
        self._held_lock = threading.Lock()
        self._held: dict[Key, list[Held]] = {}

    def _activator(self, informer_factory: Callable[..., ClusterInformer]) -> KindActivator:
        return KindActivator(
            kinds=self.kinds,
            host=self.host,
            virtual=self.virtual,
            tenant=self.tenant,
            crds=self.crds,
            informer_factory=informer_factory,
            metrics=self.metrics,
            stop=self._stop,
            on_host_event=self._on_host_event,
            on_virtual_event=self._on_virtual_event,
        )

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
            self.activator.stop_informers(runtime)
        if self._namespaces is not None:
            self._namespaces.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait_initial_sync(self, timeout: float | None = None) -> bool:
        """Wait until the workers start (every kind available at start listed once, and the keys settled that need no
        write); not until they caught up."""
        return self._initial_sync_done.wait(timeout)

    def synced(self) -> bool:
        """Readiness: every key of the first lists was reconciled and the queue drained once."""
        return self._initial.complete.is_set()

    def idle(self) -> bool:
        return self._initial_sync_done.is_set() and self.queue.pending() == 0

    def namespace_labels(self, namespace: str | None) -> Mapping[str, str] | None:
        if namespace is None or self._namespaces is None:
            return None
        obj = self._namespaces.get(None, namespace)
        if obj is None:
            return None
        labels: Mapping[str, str] = meta_of(obj).get("labels") or {}
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
            outcome = self._work(key)
            self._count(key, outcome)
            self._initial.done(key)
            with self._counts_lock:
                self.processed += 1
                self.errors += outcome.error
            if outcome.backoff:
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if outcome.requeue_after is not None:
                    self.queue.add_after(key, outcome.requeue_after)

    def _work(self, key: Key) -> Outcome:
        """Reconcile one key handed out by the queue; whatever happens, the key is marked done."""
        self._reconciling.trigger = self._triggered_at.pop(key, None)
        with self._held_lock:
            self._held[key] = []
        try:
            return self.reconciler.reconcile(key)
        except Exception:  # a bug in one key must not kill the worker
            log.exception("reconcile %s failed unexpectedly", key, extra=key_fields(key.logged))
            return Outcome.retry()
        finally:
            self._reconciling.trigger = None
            try:
                self._release_held(key)
            finally:
                self.queue.done(key)  # whatever happens, the key is never left marked as processing

    def _kinds_loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                if self._needs_namespaces and self._namespaces is None:
                    self._start_namespace_informer()
                started = self.activator.activate()
                if first:
                    self._await_synced(started)
            except Exception:
                log.exception("kinds loop tick failed; retrying")
            if first:
                first = False
                self._announce_initial_sync()
            self._kinds_wake.wait(self._kinds_poll)
            self._kinds_wake.clear()

    def _route_listed(self) -> None:
        """Route every object the first lists cached, on this thread, now that all of them are in: routed on the
        informer threads while they list, each object's routing held the GIL the other side's list needed to read its
        socket. Sources first, so the references they index are in place when their copies are routed. From here on
        every list (a relist after 410, a kind that comes later) is routed as it is listed; an object listed meanwhile
        is simply routed twice (the queue holds a key once)."""
        self._routing_deferred = False
        runtimes = [r for r in self.kinds.values() if r.active]
        for side, handler in (("virtual", self._on_virtual_event), ("host", self._on_host_event)):
            for runtime in runtimes:
                informer = runtime.informer(side)
                for obj in informer.list() if informer is not None else []:
                    try:
                        handler(runtime, SYNC, obj)
                    except Exception:  # as on the informer thread: one object never stops the others
                        meta = meta_of(obj)
                        log.exception("%s %s: routing %s/%s failed", side, runtime.gvk, meta.get("namespace"),
                                      meta.get("name"))

    def _announce_initial_sync(self) -> None:
        self._route_listed()
        keys = self.queue.take_waiting()
        total = self._initial.begin(set(keys))
        active = sorted(str(r.gvk) for r in self.kinds.values() if r.active)
        waiting = sorted(f"{r.gvk} ({r.waiting_reason})" for r in self.kinds.values() if not r.active)
        log.info("syncing %s; waiting for %s", ", ".join(active) or "nothing", ", ".join(waiting) or "nothing")
        log.info("initial sync: %d keys", total)
        settled = self._settle(keys)
        log.info("initial sync: %d keys in sync as they stand, %d for the workers", settled, total - settled)
        self._initial_sync_done.set()
        self._spawn(lambda: self._initial.report_until_complete(self._stop, self.queue.pending), "progress")

    def _settle(self, keys: list[Key]) -> int:
        """Judge the first lists' keys on this thread before any worker starts: a key whose reconcile would write
        nothing (Reconciler.settled: every key of a restart in sync) is done here, counted as a reconcile; the others
        go back to the queue. 32 workers taking thousands of such keys one by one spend more on the queue's lock and
        the GIL than on the keys. An event meanwhile re-queues its key (it was handed out: `done` re-queues it).

        After SETTLE_GIVE_UP keys in a row that need a write (a bulk sync, a mapping change), the rest go to the
        workers unjudged: such keys cost far more than a hand-off, and the workers should start on them now."""
        settled = in_a_row = 0
        for index, key in enumerate(keys):
            if in_a_row >= SETTLE_GIVE_UP:
                for rest in keys[index:]:
                    self.queue.done(rest)
                    self.queue.add(rest)
                break
            try:
                in_sync = self.reconciler.settled(key)
            except Exception:  # a worker reconciles it and reports what goes wrong
                log.debug("settling %s failed; left to the workers", key, exc_info=True)
                in_sync = False
            self.queue.done(key)
            if in_sync:
                settled += 1
                in_a_row = 0
                self._triggered_at.pop(key, None)  # no write follows: no sync lag to measure
                self._count(key, Outcome.ok())
                self._initial.done(key)
            else:
                in_a_row += 1
                self.queue.add(key)
        with self._counts_lock:
            self.processed += settled
        return settled

    def _await_synced(self, runtimes: list[KindRuntime]) -> None:
        deadline = time.monotonic() + 300
        for runtime in runtimes:
            for informer in (runtime.host, runtime.virtual):
                if informer is not None and not informer.has_synced.wait(max(0.0, deadline - time.monotonic())):
                    log.warning("%s: initial list not complete yet; starting workers anyway", runtime.gvk)

    def _start_namespace_informer(self) -> None:
        res = self.virtual.resource_for(NAMESPACE_GVK)
        if res is None:
            return
        self._namespaces = self._informer_factory(
            self.virtual, res, on_event=lambda etype, key, obj: self._on_namespace_event(obj), name="virtual ns"
        )
        self._namespaces.start()
        self._namespaces.has_synced.wait(60)

    # -- events (on informer threads: cheap, no IO; which keys is crdsync.engine.routing's decision) ---------------
    def _on_namespace_event(self, obj: Obj | None) -> None:
        if obj is not None:
            for routes in routing.namespace_event(self._routing_view, self.kinds.values(), obj):
                self._queue_routes(routes)

    def _on_virtual_event(self, runtime: KindRuntime, etype: str, obj: Obj | None) -> None:
        if obj is not None and not (etype == SYNC and self._routing_deferred):
            self._on_event(
                "virtual", runtime, etype, obj, routing.virtual_event(self._routing_view, runtime, etype, obj)
            )

    def _on_host_event(self, runtime: KindRuntime, etype: str, obj: Obj | None) -> None:
        if obj is not None and not (etype == SYNC and self._routing_deferred):
            self._on_event("host", runtime, etype, obj, routing.host_event(self._routing_view, runtime, obj))

    def _on_event(self, side: str, runtime: KindRuntime, etype: str, obj: Obj, routes: routing.Routes) -> None:
        """Queue the keys an event routes to, noting first whether it is the echo of a key's own last write."""
        meta = obj.get("metadata") or {}
        slot = slot_of(side, runtime, meta.get("namespace"), meta.get("name", ""))
        echo_of = self.overlay.observed(slot, obj)
        # Lists and deletions are always routed; only a change can be our write's echo.
        self._routing.event = (echo_of, slot, resource_version(obj)) if etype in (ADDED, MODIFIED) else None
        try:
            self._queue_routes(routes)
        finally:
            self._routing.event = None

    def _queue_routes(self, routes: routing.Routes) -> None:
        for key in routes.keys:
            self._add(key)
        if routes.references is not None:
            refs = routes.references
            for changed in self.index.update(refs.referrer, refs.follows):
                self._add(changed)
            self.index.update_shared(refs.referrer, refs.shared)

    def _add(self, key: Key) -> None:
        """Queue `key` for the event being routed, unless that event is exactly `key`'s own last write coming back:
        that reconcile already judged this very state (a bulk sync would otherwise reconcile every object twice). An
        event for a key being reconciled right now is held back until that reconcile ends, since the write it may be
        the echo of can be remembered after its watch event arrives; any other version queues the key then."""
        event: Echo | None = getattr(self._routing, "event", None)
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
            if not self.overlay.wrote_exactly(slot, version, key):
                self._triggered_at.setdefault(key, at)
                self.queue.add(key)
                return

    # -- observability (metrics and probes; never decides anything) ----------------------------------------------
    def _count(self, key: Key, outcome: Outcome) -> None:
        result = outcome_result(outcome)
        self.metrics.reconciled(controller_name(key.group, key.kind), result)
        self._in_sync.record(key, result)

    def _on_write(self, side: str, verb: str) -> None:
        """A reconcile wrote something: count it, and the first write of a reconcile ends that change's sync lag."""
        self.metrics.wrote(side, verb)
        trigger = getattr(self._reconciling, "trigger", None)
        if trigger is not None:
            self._reconciling.trigger = None
            self.metrics.lag(time.monotonic() - trigger)

    def objects_in_sync(self) -> dict[tuple[str, str], int]:
        """(kind, direction) -> sources whose last reconcile converged and that still exist (run at scrape time)."""
        return self._in_sync.counts()

    def _source_exists(self, key: Key) -> bool:
        runtime = self.kinds.get((key.group, key.kind))
        if runtime is None or runtime.host is None or runtime.virtual is None:
            return False
        if key.task in (Task.TO_HOST, Task.EXPORT):
            return runtime.virtual.get(key.identity.namespace, key.identity.name) is not None
        if key.task is Task.FROM_HOST:
            return runtime.host.get(key.identity.namespace, key.identity.name) is not None
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
        informers: list[tuple[str, ClusterInformer | None]] = [("virtual namespaces", self._namespaces)]
        for runtime in list(self.kinds.values()):
            informers += [(f"host {runtime.gvk}", runtime.host), (f"virtual {runtime.gvk}", runtime.virtual)]
            informers.append((f"host CRD of {runtime.gvk}", runtime.crd))
        return found + self._informer_watch.problems(informers, now)
