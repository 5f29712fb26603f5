"""Probes and the /metrics endpoint over real HTTP: /readyz 503 until the initial sync is complete and 200 after (a
standby is ready), /healthz 500 naming a dead worker, a dead or stalled informer thread; bind addresses as
controller-runtime spells them."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from crdsync.commands.run import start_endpoints
from crdsync.commands.run_settings import Settings
from crdsync.engine import health
from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.engine import Engine
from crdsync.engine.leadership import RunState
from crdsync.engine.probes import informer_stalled
from tests.engine.kinds import WIDGETS
from tests.engine.test_engine import TENANT, World, make_config, widget
from tests.fakeapi import FakeInformer


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """test_engine's harness, Events recorded in memory."""
    w = World(make_config())
    monkeypatch.setattr(reconcile_module, "record_event", lambda *args, **kwargs: None)
    yield w
    w.stop()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def probes() -> Iterator[tuple[RunState, str]]:
    state = RunState(leader_elect=False)
    endpoint = health.serve(
        ("127.0.0.1", 0), {"/healthz": health.healthz(state.problems), "/readyz": health.readyz(state.ready)}, "test"
    )
    host, port = endpoint.address
    yield state, f"http://{host}:{port}"
    endpoint.stop()


class ProbedInformer(FakeInformer):
    """A fake informer that also shows what the liveness check reads from a real one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.running = True
        self.stopped = False
        self.resource_version = "1"
        self.list_count = 1
        self.watch_count = 1
        self.error_count = 0


def engine_of(w: World, **kwargs: Any) -> Engine:
    w.engine = Engine(w.config, TENANT, w.host, w.virtual, workers=2, informer_factory=ProbedInformer, **kwargs)
    return w.engine


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":8080", ("", 8080)),
        ("0", None),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:8081", ("::1", 8081)),
        ("0.0.0.0:9443", ("0.0.0.0", 9443)),
    ],
)
def test_bind_addresses(text: str, expected: tuple[str, int] | None) -> None:
    assert health.parse_bind_address(text) == expected


@pytest.mark.parametrize("text", ["8080", ":http", ":70000", ""])
def test_bad_bind_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        health.parse_bind_address(text)


def test_readyz_is_503_until_the_initial_sync_is_complete_then_200(world: World, probes: tuple[RunState, str]) -> None:
    state, url = probes
    assert get(url + "/readyz")[0] == 503  # no engine yet
    for i in range(3):
        world.virtual.put(WIDGETS, widget(f"w{i}"))
    engine = engine_of(world)
    gate = threading.Event()
    reconcile = engine.reconciler.reconcile

    def gated(key: Any) -> Any:
        gate.wait(10)
        return reconcile(key)

    engine.reconciler.reconcile = gated  # type: ignore[method-assign]
    engine.reconciler.settled = lambda key: False  # type: ignore[method-assign]  # every key goes to the workers
    state.engine = engine
    engine.start()
    assert engine.wait_initial_sync(5)
    status, body = get(url + "/readyz")
    assert (status, body.strip()) == (503, "initial sync in progress")
    assert get(url + "/healthz")[0] == 200  # busy is alive
    gate.set()
    world.settle()
    deadline = threading.Event()
    for _ in range(100):
        if get(url + "/readyz")[0] == 200:
            break
        deadline.wait(0.05)
    assert get(url + "/readyz") == (200, "ok\n")


def test_a_standby_replica_is_ready() -> None:
    state = RunState(leader_elect=True)
    assert state.ready() == (True, "standby: not leading")
    assert state.problems() == []


def test_healthz_is_500_when_a_worker_thread_died(
    world: World, probes: tuple[RunState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = probes
    engine = engine_of(world)

    class Fatal(BaseException):  # not an Exception: the worker's own guard does not catch it
        pass

    def explode(key: Any) -> Any:
        raise Fatal

    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the dying thread's traceback is expected
    engine.reconciler.reconcile = explode  # type: ignore[method-assign]
    state.engine = engine
    engine.start()
    assert get(url + "/healthz") == (200, "ok\n")
    world.virtual.put(WIDGETS, widget("w1"))
    for _ in range(100):
        status, body = get(url + "/healthz")
        if status == 500:
            break
        threading.Event().wait(0.05)
    assert status == 500
    assert "thread crdsync-worker-" in body and "died" in body


def test_healthz_names_a_dead_or_stalled_informer(world: World) -> None:
    engine = engine_of(world, informer_stall_seconds=60)
    engine.start()
    assert engine.wait_initial_sync(5)
    runtime = next(r for r in engine.kinds.values() if r.gvk.kind == "Widget")
    host: Any = runtime.host
    assert engine.problems(now=1000.0) == []
    assert engine.problems(now=1050.0) == []  # unchanged for 50 s: still within the limit
    stalled = engine.problems(now=1061.0)
    assert "informer host Widget.example.com/v1: no progress for 61s" in stalled, stalled
    host.watch_count += 1  # progress: the informer re-watched
    assert not [p for p in engine.problems(now=1062.0) if p.startswith("informer host Widget")]
    host.running = False
    assert any(p.startswith("informer host Widget") and "thread died" in p for p in engine.problems(now=1063.0))
    host.stopped = True  # stopped on purpose (its CRD went away): not a liveness problem
    assert not [p for p in engine.problems(now=1064.0) if p.startswith("informer host Widget")]


def test_stall_judgement() -> None:
    one, two = ("1", 1, 1, 0), ("2", 1, 1, 0)
    assert informer_stalled(one, None, 10.0, 5.0) == (False, 10.0)
    assert informer_stalled(one, (one, 10.0), 14.0, 5.0) == (False, 10.0)
    assert informer_stalled(one, (one, 10.0), 16.0, 5.0) == (True, 10.0)
    assert informer_stalled(two, (one, 10.0), 16.0, 5.0) == (False, 16.0)
    assert informer_stalled(("1", 1, 2, 0), (one, 10.0), 16.0, 5.0) == (False, 16.0)  # a re-watch is progress


def test_metrics_and_probes_share_one_port_when_given_the_same_address() -> None:
    from crdsync.engine.metrics import Metrics

    settings = Settings(
        mapping=("m.yaml",),
        host_kubeconfig="h",
        host_context=None,
        virtual_kubeconfig="v",
        virtual_context=None,
        host_namespace="ns",
        vcluster="vc",
        workers=1,
        field_manager="crdsync",
        leader_elect=True,
        metrics_bind_address="127.0.0.1:0",
        health_probe_bind_address="127.0.0.1:0",
    )
    metrics = Metrics()
    metrics.leader.set(0)
    endpoints = start_endpoints(settings, metrics, RunState(leader_elect=True))
    try:
        assert len(endpoints) == 1
        host, port = endpoints[0].address
        status, text = get(f"http://{host}:{port}/metrics")
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"crdsync_leader", "workqueue_depth", "crdsync_writes"} <= names
        assert get(f"http://{host}:{port}/readyz") == (200, "standby: not leading\n")
        assert get(f"http://{host}:{port}/nothing")[0] == 404
    finally:
        for endpoint in endpoints:
            endpoint.stop()


def test_disabled_endpoints_bind_nothing() -> None:
    from crdsync.engine.metrics import Metrics

    settings = Settings(
        mapping=("m.yaml",),
        host_kubeconfig="h",
        host_context=None,
        virtual_kubeconfig="v",
        virtual_context=None,
        host_namespace="ns",
        vcluster="vc",
        workers=1,
        field_manager="crdsync",
        leader_elect=False,
        metrics_bind_address="0",
        health_probe_bind_address="0",
    )
    assert start_endpoints(settings, Metrics(), RunState(leader_elect=False)) == []


def test_a_taken_default_address_is_skipped_but_a_named_one_fails_the_run() -> None:
    from crdsync.engine.metrics import Metrics

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        base: dict[str, Any] = {
            "mapping": ("m.yaml",),
            "host_kubeconfig": "h",
            "host_context": None,
            "virtual_kubeconfig": "v",
            "virtual_context": None,
            "host_namespace": "ns",
            "vcluster": "vc",
            "workers": 1,
            "field_manager": "crdsync",
            "leader_elect": False,
            "metrics_bind_address": address,
            "health_probe_bind_address": "0",
        }
        state = RunState(leader_elect=False)
        with pytest.raises(OSError):
            start_endpoints(Settings(**base), Metrics(), state)
        defaulted = Settings(**base, default_addresses=frozenset({"metrics_bind_address"}))
        assert start_endpoints(defaulted, Metrics(), state) == []
