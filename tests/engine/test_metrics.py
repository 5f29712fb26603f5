"""Metrics: the names and labels crdsync exports, and that each counter moves with the work actually done.

The engine runs against the in-memory clusters of tests/fakeapi (see test_engine.py); the request counter against a
local HTTP stub and the relist counter against a real Informer over a stub list/watch.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.metrics import ERROR, REQUEUE, SUCCESS, Metrics, controller_name
from crdsync.engine.queue import WorkQueue
from crdsync.kube.errors import Gone, Invalid
from crdsync.kube.informer import Informer
from crdsync.kube.resource import Resource
from tests.engine.kinds import WIDGETS
from tests.engine.test_engine import TENANT, World, make_config, widget
from tests.fakeapi import resource
from tests.kube.stub import client_for


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """test_engine's harness, Events recorded in memory."""
    w = World(make_config())
    monkeypatch.setattr(reconcile_module, "record_event", lambda *args, **kwargs: None)
    yield w
    w.stop()


WIDGET_CONTROLLER = controller_name("example.com", "Widget")

CONTROLLER_RUNTIME_NAMES = {
    "workqueue_depth": {"name"},
    "workqueue_adds": {"name"},
    "workqueue_queue_duration_seconds": {"name"},
    "workqueue_work_duration_seconds": {"name"},
    "workqueue_retries": {"name"},
    "controller_runtime_reconcile": {"controller", "result"},
    "controller_runtime_reconcile_errors": {"controller"},
    "rest_client_requests": {"code", "method", "host"},
}
CRDSYNC_NAMES = {
    "crdsync_objects_in_sync": {"kind", "direction"},
    "crdsync_writes": {"side", "verb"},
    "crdsync_sync_lag_seconds": set(),
    "crdsync_informer_relists": {"side", "kind"},
    "crdsync_leader": set(),
    "crdsync_initial_sync_keys": set(),
    "crdsync_initial_sync_keys_done": set(),
    "crdsync_initial_sync_complete": set(),
}


def value(metrics: Metrics, metric: str, /, **labels: str) -> float:
    found = metrics.registry.get_sample_value(metric, labels)
    return 0.0 if found is None else found


def families(metrics: Metrics) -> dict[str, Any]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_every_metric_has_its_controller_runtime_or_crdsync_name_and_labels(world: World) -> None:
    engine = world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    engine.metrics.rest_requests.labels(code="200", method="GET", host="h:1").inc()
    engine.metrics.relisted("host", "Widget")
    exported = families(engine.metrics)
    for name, labels in {**CONTROLLER_RUNTIME_NAMES, **CRDSYNC_NAMES}.items():
        assert name in exported, f"{name} missing from /metrics"
        samples = [s for s in exported[name].samples if not s.name.endswith(("_created", "_bucket"))]
        assert samples, name
        for sample in samples:
            assert set(sample.labels) == labels, (name, sample.labels)


def test_each_engine_has_a_registry_of_its_own() -> None:
    first, second = Metrics(), Metrics()  # the global default registry would refuse the second set of names
    first.wrote("host", "create")
    assert value(first, "crdsync_writes_total", side="host", verb="create") == 1
    assert value(second, "crdsync_writes_total", side="host", verb="create") == 0


def test_counters_follow_creates_updates_deletes_and_objects_in_sync(world: World) -> None:
    world.virtual.put(WIDGETS, widget("before"))
    engine = world.start()
    m = engine.metrics
    assert value(m, "crdsync_initial_sync_keys") >= 1
    wait_until(engine.synced)
    assert value(m, "crdsync_initial_sync_complete") == 1
    assert value(m, "crdsync_initial_sync_keys_done") == value(m, "crdsync_initial_sync_keys")

    for i in range(3):
        world.virtual.put(WIDGETS, widget(f"w{i}", size=i))
    world.settle()
    creates = [w for w in world.host.our_writes() if w[0] == "create" and w[1] == "Widget"]
    assert len(creates) == 4
    assert value(m, "crdsync_writes_total", side="host", verb="create") == 4
    assert value(m, "controller_runtime_reconcile_total", controller=WIDGET_CONTROLLER, result="success") >= 4
    assert value(m, "controller_runtime_reconcile_errors_total", controller=WIDGET_CONTROLLER) == 0
    assert value(m, "crdsync_objects_in_sync", kind="Widget", direction="toHost") == 4
    assert value(m, "crdsync_sync_lag_seconds_count") >= 4
    assert value(m, "workqueue_adds_total", name="crdsync") >= 4
    assert value(m, "workqueue_work_duration_seconds_count", name="crdsync") >= 4
    assert value(m, "workqueue_queue_duration_seconds_count", name="crdsync") >= 4
    assert value(m, "workqueue_depth", name="crdsync") == 0

    world.virtual.put(WIDGETS, widget("w0", size=10))
    world.virtual.remove(WIDGETS, "default", "w1")
    world.settle()
    applies = [w for w in world.host.our_writes() if w[0] == "apply" and w[1] == "Widget"]
    assert value(m, "crdsync_writes_total", side="host", verb="apply") == len(applies) >= 1
    assert value(m, "crdsync_writes_total", side="host", verb="delete") == 1
    assert value(m, "crdsync_objects_in_sync", kind="Widget", direction="toHost") == 3

    # A converged pair makes no writes, and the counters say so too.
    before = value(m, "crdsync_writes_total", side="host", verb="apply")
    world.virtual.put(WIDGETS, widget("w2", size=2))  # same spec again
    world.settle()
    assert value(m, "crdsync_writes_total", side="host", verb="apply") == before


def test_rejected_writes_count_as_errors_and_leave_objects_out_of_sync(world: World) -> None:
    engine = world.start()
    m = engine.metrics
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    assert value(m, "crdsync_objects_in_sync", kind="Widget", direction="toHost") == 1
    world.host.fail_apply = lambda obj: Invalid(422, "Invalid", "admission says no", None)
    world.virtual.put(WIDGETS, widget("w1", size=2))
    wait_until(lambda: value(m, "controller_runtime_reconcile_errors_total", controller=WIDGET_CONTROLLER) >= 2)
    assert value(m, "controller_runtime_reconcile_total", controller=WIDGET_CONTROLLER, result="error") >= 2
    assert value(m, "workqueue_retries_total", name="crdsync") >= 2
    assert value(m, "crdsync_objects_in_sync", kind="Widget", direction="toHost") == 0
    world.host.fail_apply = lambda obj: None
    wait_until(lambda: value(m, "crdsync_objects_in_sync", kind="Widget", direction="toHost") == 1, 10)


def test_queue_reports_adds_once_per_enqueue_waits_work_and_retries() -> None:
    seen: list[tuple[str, float]] = []

    class Recorder:
        def added(self) -> None:
            seen.append(("added", 0.0))

        def retried(self) -> None:
            seen.append(("retried", 0.0))

        def handed_out(self, waited: float) -> None:
            seen.append(("handed_out", waited))

        def finished(self, worked: float) -> None:
            seen.append(("finished", worked))

    queue: WorkQueue[str] = WorkQueue(observer=Recorder())
    queue.add("a")
    queue.add("a")  # deduplicated: not an add
    time.sleep(0.02)
    assert queue.get(1) == "a"
    time.sleep(0.02)
    queue.done("a")
    queue.add_rate_limited("a")
    assert queue.get(1) == "a"
    queue.done("a")
    queue.add("b")
    assert queue.take_waiting() == ["b"]
    queue.done("b")
    kinds = [k for k, _ in seen]
    once = ["added", "handed_out", "finished"]
    assert kinds == [*once, "retried", *once, *once]  # the last three: take_waiting, as get
    assert seen[1][1] >= 0.02 and seen[2][1] >= 0.02


class _Stub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/version" else 404
        body = json.dumps({"gitVersion": "v1"} if status == 200 else {"kind": "Status", "code": 404}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stub_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rest_client_requests_are_counted_by_code_method_and_host(stub_url: str) -> None:
    metrics = Metrics()
    client = client_for(stub_url, max_retries=0)
    client.observe_requests(metrics.request_observer(client.host))
    host = stub_url.removeprefix("http://")
    client.server_version()
    client.server_version()
    assert client.get(resource("example.com", "v1", "Widget", "widgets"), "ns", "missing") is None
    assert value(metrics, "rest_client_requests_total", code="200", method="GET", host=host) == 2
    assert value(metrics, "rest_client_requests_total", code="404", method="GET", host=host) == 1

    closed = client_for("http://127.0.0.1:9", max_retries=0)  # discard port: nothing listens
    closed.observe_requests(metrics.request_observer(closed.host))
    with pytest.raises(Exception):  # noqa: B017 (TransportError; which subclass does not matter here)
        closed.server_version()
    assert value(metrics, "rest_client_requests_total", code="<error>", method="GET", host="127.0.0.1:9") == 1


class _GoneOnce:
    """A list/watch source whose first watch answers 410 Gone, so the informer relists once, then stays quiet."""

    def __init__(self) -> None:
        self.watches = 0
        self.quiet = threading.Event()

    def list(self, res: Resource, namespace: str | None = None, **_: Any) -> tuple[list[dict[str, Any]], str]:
        return [], "1"

    def watch(self, res: Resource, namespace: str | None = None, **_: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        self.watches += 1
        if self.watches == 1:
            raise Gone(410, "Expired", "too old", None)
        self.quiet.wait(5)
        return iter(())


def test_informer_relists_are_counted_but_not_its_first_list() -> None:
    metrics = Metrics()
    source = _GoneOnce()
    informer = Informer(source, resource("example.com", "v1", "Widget", "widgets"), backoff_initial=0.01)
    informer.on_relist = lambda: metrics.relisted("host", "Widget")
    informer.start()
    try:
        wait_until(lambda: informer.list_count == 2)
        assert value(metrics, "crdsync_informer_relists_total", side="host", kind="Widget") == 1
    finally:
        source.quiet.set()
        informer.stop()


def test_leader_gauge_and_controller_names() -> None:
    metrics = Metrics()
    metrics.leader.set(1)
    assert value(metrics, "crdsync_leader") == 1
    assert controller_name("", "Secret") == "secret"
    assert controller_name("cert-manager.io", "Certificate") == "certificate.cert-manager.io"
    assert TENANT.vcluster == "vc1" and make_config().rules  # the shared harness is the one test_engine uses


def test_a_fresh_process_exports_the_queue_series_at_zero() -> None:
    """Dashboards and rate() alerts see the work queue's series from the first scrape, before any key was queued."""
    exported = families(Metrics())
    for name, sample_name in (
        ("workqueue_depth", "workqueue_depth"),
        ("workqueue_adds", "workqueue_adds_total"),
        ("workqueue_retries", "workqueue_retries_total"),
        ("workqueue_queue_duration_seconds", "workqueue_queue_duration_seconds_count"),
        ("workqueue_work_duration_seconds", "workqueue_work_duration_seconds_count"),
    ):
        samples = [s for s in exported[name].samples if s.name == sample_name]
        assert [(s.labels, s.value) for s in samples] == [({"name": "crdsync"}, 0.0)], name


def test_the_histograms_have_client_gos_queue_buckets_and_a_lag_range_up_to_ten_minutes() -> None:
    exported = families(Metrics())

    def bounds(name: str) -> list[float]:
        return [float(s.labels["le"]) for s in exported[name].samples if s.name == f"{name}_bucket"]

    expected = [10.0**e for e in range(-8, 2)] + [float("inf")]
    assert bounds("workqueue_queue_duration_seconds") == pytest.approx(expected)
    assert bounds("workqueue_work_duration_seconds") == pytest.approx(expected)
    lag = bounds("crdsync_sync_lag_seconds")
    assert (lag[0], lag[-2], lag[-1]) == (0.01, 600.0, float("inf"))
    assert lag == sorted(lag) and len(lag) == 16


def test_reconcile_errors_are_exported_at_zero_and_count_only_errors() -> None:
    metrics = Metrics()
    metrics.reconciled("widget.example.com", SUCCESS)
    metrics.reconciled("widget.example.com", REQUEUE)
    errors = metrics.registry.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": "widget.example.com"}
    )
    assert errors == 0  # exported (not absent) before the first error
    metrics.reconciled("widget.example.com", ERROR)
    assert value(metrics, "controller_runtime_reconcile_errors_total", controller="widget.example.com") == 1
    assert value(metrics, "controller_runtime_reconcile_total", controller="widget.example.com", result="error") == 1
    assert value(metrics, "controller_runtime_reconcile_total", controller="widget.example.com", result="success") == 1


def test_a_lag_measured_below_zero_counts_as_zero() -> None:
    """A lag is never recorded below zero: the histogram sum stays a sum of real waits."""
    metrics = Metrics()
    metrics.lag(-3.0)
    metrics.lag(0.2)
    assert value(metrics, "crdsync_sync_lag_seconds_count") == 2
    assert value(metrics, "crdsync_sync_lag_seconds_sum") == pytest.approx(0.2)
    assert value(metrics, "crdsync_sync_lag_seconds_bucket", le="0.01") == 1


def test_collect_time_gauges_follow_the_bound_engine_and_survive_a_failing_view() -> None:
    metrics = Metrics()
    metrics.bind_engine(lambda: 7, lambda: {("Widget", "toHost"): 3, ("Secret", "fromHost"): 1})
    exported = families(metrics)
    assert value(metrics, "workqueue_depth", name="crdsync") == 7
    assert [(s.labels, s.value) for s in exported["crdsync_objects_in_sync"].samples] == [
        ({"kind": "Secret", "direction": "fromHost"}, 1.0),
        ({"kind": "Widget", "direction": "toHost"}, 3.0),
    ]

    def broken() -> Any:
        raise RuntimeError("engine view broke")

    metrics.bind_engine(broken, broken)
    exported = families(metrics)  # the scrape still succeeds
    assert value(metrics, "workqueue_depth", name="crdsync") == 0
    assert exported["crdsync_objects_in_sync"].samples == []
    assert "crdsync_writes" in exported


@pytest.mark.parametrize(
    ("url", "host"),
    [("https://10.0.0.1:6443/", "10.0.0.1:6443"), ("https://[::1]:6443", "[::1]:6443"), ("apiserver", "apiserver")],
)
def test_requests_are_labelled_with_the_apiservers_host_and_port(url: str, host: str) -> None:
    metrics = Metrics()
    observe = metrics.request_observer(url)
    observe("GET", "200")
    observe("GET", "200")
    observe("PATCH", "<error>")
    assert value(metrics, "rest_client_requests_total", code="200", method="GET", host=host) == 2
    assert value(metrics, "rest_client_requests_total", code="<error>", method="PATCH", host=host) == 1
