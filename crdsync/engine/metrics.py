"""Every Prometheus metric crdsync exports, defined in one place, on a registry of its own.

Names follow controller-runtime and client-go where they mean the same thing, so dashboards and alerts written for
Go controllers work unchanged: workqueue_* (label `name`), controller_runtime_reconcile_total{controller,result},
controller_runtime_reconcile_errors_total{controller}, rest_client_requests_total{code,method,host}. crdsync's own
metrics start with `crdsync_`.

`Metrics` owns a `CollectorRegistry` (never the process-global default): tests build many engines in one process, and
a global registry would refuse the second set of names. One `Metrics` lives as long as the `crdsync run` process; an
engine restarted on regaining leadership re-binds the collect-time gauges (`bind_engine`) and the counters carry on.

Gauges whose value is a view of engine state (queue depth, objects in sync) are computed when scraped, from a callback
the engine registers, so they cannot drift from what they describe. Callbacks run on the HTTP server's thread and must
only take short locks; they never do IO.

Failure modes: none raised. A callback that fails is logged and its metric is left out of that scrape, so a bug in
one view never breaks /metrics as a whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

log = logging.getLogger("crdsync.metrics")

T = TypeVar("T")

QUEUE_NAME = "crdsync"  # the workqueue_* `name` label: crdsync has one queue for all kinds

# controller-runtime's result label values.
SUCCESS, ERROR, REQUEUE, REQUEUE_AFTER = "success", "error", "requeue", "requeue_after"

# client-go's workqueue buckets (1µs .. 10s, exponential by 10) for queue and work durations.
_QUEUE_BUCKETS = tuple(10.0**e for e in range(-8, 2))
# Sync lag spans a fast local write (~10 ms) to a backlog after a restart or an apiserver outage (minutes).
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

InSyncView = Callable[[], Mapping[tuple[str, str], int]]  # (kind, direction) -> objects in sync


class Metrics:
    """The metric objects of one crdsync process (or one test engine), on `self.registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._define_queue(self.registry)
        self._define_controller(self.registry)
        self._define_own(self.registry)
        self._in_sync = _InSyncCollector()
        self.registry.register(self._in_sync)
        self._reconciled: dict[tuple[str, str], tuple[Counter, Counter]] = {}  # reconciled()'s label children
        self.queue_depth.labels(name=QUEUE_NAME).set(0)
        self.queue_adds.labels(name=QUEUE_NAME)
        self.queue_retries.labels(name=QUEUE_NAME)
        self.queue_duration.labels(name=QUEUE_NAME)
        self.work_duration.labels(name=QUEUE_NAME)

    def _define_queue(self, r: CollectorRegistry) -> None:
        """The work queue's metrics, under client-go's names."""
        self.queue_depth = Gauge("workqueue_depth", "Current depth of the work queue", ["name"], registry=r)
        self.queue_adds = Counter("workqueue_adds_total", "Adds handled by the work queue", ["name"], registry=r)
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long a key waits in the work queue before it is handed to a worker",
            ["name"],
            buckets=_QUEUE_BUCKETS,
            registry=r,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long processing a key from the work queue takes",
            ["name"],
            buckets=_QUEUE_BUCKETS,
            registry=r,
        )
        self.queue_retries = Counter(
            "workqueue_retries_total", "Retries (rate-limited re-adds) handled by the work queue", ["name"], registry=r
        )

    def _define_controller(self, r: CollectorRegistry) -> None:
        """Reconciles (controller-runtime's names) and API requests (client-go's)."""
        self.reconciles = Counter(
            "controller_runtime_reconcile_total",
            "Reconciles per controller (synced kind) and result",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total", "Reconciles that ended in an error", ["controller"], registry=r
        )
        self.rest_requests = Counter(
            "rest_client_requests_total",
            "HTTP requests sent to an apiserver, by status code (<error> when none came back), method and host",
            ["code", "method", "host"],
            registry=r,
        )

    def _define_own(self, r: CollectorRegistry) -> None:
        """crdsync's own metrics."""
        self.writes = Counter(
            "crdsync_writes_total",
            "Writes the sync made, by side (host, virtual) and verb (create, apply, replace, patch, delete)",
            ["side", "verb"],
            registry=r,
        )
        self.sync_lag = Histogram(
            "crdsync_sync_lag_seconds",
            "From the informer delivering the change that triggered a reconcile to that reconcile's first write",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.relists = Counter(
            "crdsync_informer_relists_total",
            "Full relists of an informer after its first list (410 Gone, undecodable events, lost watches)",
            ["side", "kind"],
            registry=r,
        )
        self.leader = Gauge("crdsync_leader", "1 while this replica syncs (leads), 0 while it stands by", registry=r)
        self.initial_keys = Gauge(
            "crdsync_initial_sync_keys", "Keys queued by the first list of every kind at engine start", registry=r
        )
        self.initial_done = Gauge(
            "crdsync_initial_sync_keys_done", "Initial keys reconciled so far (equals _keys when done)", registry=r
        )
        self.initial_complete = Gauge(
            "crdsync_initial_sync_complete", "1 once every initial key was reconciled and the queue drained", registry=r
        )

    # -- binding ------------------------------------------------------------------------------------------------------
    def bind_engine(self, depth: Callable[[], int], in_sync: InSyncView) -> None:
        """Point the collect-time gauges at a (new) engine's state."""
        self.queue_depth.labels(name=QUEUE_NAME).set_function(lambda: float(_safe(depth, 0)))
        self._in_sync.view = in_sync

    def queue_observer(self) -> QueueObserver:
        return QueueObserver(self)

    def request_observer(self, url: str) -> Callable[[str, str], None]:
        """What a KubeClient calls after every HTTP attempt (method, code); `host` is the apiserver's host:port."""
        host = urlsplit(url).netloc or url
        counter = self.rest_requests

        def observe(method: str, code: str) -> None:
            counter.labels(code=code, method=method, host=host).inc()

        return observe

    # -- recording ----------------------------------------------------------------------------------------------------
    def reconciled(self, controller: str, result: str) -> None:
        counters = self._reconciled.get((controller, result))
        if counters is None:
            # Looked up once per (controller, result): labels() costs more than the inc, once per reconcile.
            errors = self.reconcile_errors.labels(controller=controller)  # exported at 0 too, so rate() alerts work
            counters = self.reconciles.labels(controller=controller, result=result), errors
            self._reconciled[(controller, result)] = counters
        counters[0].inc()
        if result == ERROR:
            counters[1].inc()

    def wrote(self, side: str, verb: str) -> None:
        self.writes.labels(side=side, verb=verb).inc()

    def relisted(self, side: str, kind: str) -> None:
        self.relists.labels(side=side, kind=kind).inc()

    def lag(self, seconds: float) -> None:
        self.sync_lag.observe(max(0.0, seconds))

    # -- exposition ---------------------------------------------------------------------------------------------------
    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric and its content type, as /metrics serves it."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class QueueObserver:
    """The work queue's hooks (see queue.WorkQueue): client-go's queue metrics for the one queue crdsync has."""

    def __init__(self, metrics: Metrics) -> None:
        self._adds = metrics.queue_adds.labels(name=QUEUE_NAME)
        self._retries = metrics.queue_retries.labels(name=QUEUE_NAME)
        self._queued = metrics.queue_duration.labels(name=QUEUE_NAME)
        self._worked = metrics.work_duration.labels(name=QUEUE_NAME)

    def added(self) -> None:
        self._adds.inc()

    def retried(self) -> None:
        self._retries.inc()

    def handed_out(self, waited: float) -> None:
        self._queued.observe(waited)

    def finished(self, worked: float) -> None:
        self._worked.observe(worked)


class _InSyncCollector(Collector):
    """crdsync_objects_in_sync{kind,direction}, computed from the engine's view at scrape time."""

    def __init__(self) -> None:
        self.view: InSyncView = dict

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "crdsync_objects_in_sync",
            "Source objects whose last reconcile converged (copy matches the desired state), by kind and direction",
            labels=["kind", "direction"],
        )
        empty: Mapping[tuple[str, str], int] = {}
        for (kind, direction), count in sorted(_safe(self.view, empty).items()):
            family.add_metric([kind, direction], float(count))
        yield family

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily("crdsync_objects_in_sync", "", labels=["kind", "direction"])]


def _safe(fn: Callable[[], T], default: T) -> T:
    try:
        return fn()
    except Exception:  # a scrape must never fail because of one view
        log.exception("metrics: collecting a value failed")
        return default


def controller_name(group: str, kind: str) -> str:
    """controller-runtime names a controller after its kind; ours also carry the group (kinds repeat across groups)."""
    return f"{kind.lower()}.{group}" if group else kind.lower()
