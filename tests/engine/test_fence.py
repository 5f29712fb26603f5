"""The write fence: no write leaves a replica whose lease may have lapsed, and the leader loop ends such a term.

Everything runs on a fake monotonic clock: a "freeze" is the clock jumping while nothing runs, which is exactly what
SIGSTOP looks like from inside the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile
from crdsync.engine.engine import Engine
from crdsync.engine.fence import WriteFence, WriteFenced
from crdsync.engine.leadership import RunState, run_as_leader
from crdsync.engine.metrics import Metrics
from crdsync.kube.errors import ApiError
from crdsync.kube.lease import LEASES, LeaderElector
from crdsync.kube.resource import Resource
from tests.fakeapi import FakeCluster, FakeInformer
from tests.kube.stub import Reply, StubServer, client_for

WIDGETS = Resource("example.io", "v1", "Widget", "widgets", True, False, frozenset())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_open_until_the_deadline_then_closed_for_good() -> None:
    clock = Clock()
    until = [1010.0]
    reasons: list[str] = []
    fence = WriteFence(lambda: until[0], clock=clock, on_close=reasons.append)
    fence.check("PATCH", "/x")
    clock.now = 1009.99
    assert fence.is_open()
    clock.now = 1010.0  # the renew deadline passed without a renewal: a rival may take over soon
    with pytest.raises(WriteFenced) as refused:
        fence.check("PATCH", "/x")
    assert isinstance(refused.value, ApiError) and refused.value.status == 0
    assert "renew deadline" in refused.value.message and refused.value.path == "/x"
    until[0] = 2000.0  # a later renewal does not reopen this term: its engine may hold state from before the gap
    assert not fence.is_open()
    with pytest.raises(WriteFenced):
        fence.check("DELETE", "/y")
    assert len(reasons) == 1 and fence.fenced == 2 and fence.closed.is_set()


def test_not_holding_the_lease_closes_at_once() -> None:
    fence = WriteFence(lambda: float("-inf"), clock=Clock())
    with pytest.raises(WriteFenced, match="not held"):
        fence.check("POST", "/x")


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def test_gated_client_view_sends_no_write_once_closed_and_still_reads(stub: StubServer) -> None:
    obj = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "ns"}}
    stub.route("PATCH", "/apis/example.io/v1/namespaces/ns/widgets/w", lambda _r: Reply(body=obj))
    stub.route("GET", "/apis/example.io/v1/namespaces/ns/widgets/w", lambda _r: Reply(body=obj))
    stub.route("DELETE", "/apis/example.io/v1/namespaces/ns/widgets/w", lambda _r: Reply(body={}))
    stub.route("POST", "/apis/example.io/v1/namespaces/ns/widgets", lambda _r: Reply(status=201, body=obj))
    raw = client_for(stub.url, max_retries=1, request_timeout=5, user_agent="crdsync/test (replica-a)")
    clock = Clock()
    fence = WriteFence(lambda: 1010.0, clock=clock)
    gated = raw.with_write_gate(fence.check)
    gated.apply(WIDGETS, obj)
    clock.now = 1011.0  # frozen past the renew deadline
    for write in (
        lambda: gated.apply(WIDGETS, obj),
        lambda: gated.create(WIDGETS, obj),
        lambda: gated.replace(WIDGETS, obj),
        lambda: gated.patch(WIDGETS, "ns", "w", {"spec": {}}),
        lambda: gated.delete(WIDGETS, "ns", "w"),
    ):
        with pytest.raises(WriteFenced):
            write()
    assert gated.get(WIDGETS, "ns", "w") == obj  # reads (and so informers) carry on
    writes = [r for r in stub.requests if r.method != "GET"]
    assert len(writes) == 1 and gated.write_count == 1
    assert writes[0].headers.get("user-agent") == "crdsync/test (replica-a)"
    raw.apply(WIDGETS, obj)  # the ungated client (the lease's) is not affected
    assert len([r for r in stub.requests if r.method != "GET"]) == 2


def test_a_retry_after_a_connection_failure_is_judged_again() -> None:
    # Nothing listens on this port: every attempt fails to connect and is retried after a backoff. A term that
    # lapses during the backoff must stop the retry, not send it.
    clock = Clock()
    attempts: list[float] = []

    def gate(method: str, path: str) -> None:
        attempts.append(clock.now)
        clock.now += 6  # each attempt's backoff "takes" 6s on the fake clock
        if clock.now > 1010:
            raise WriteFenced("term over", method=method, path=path)

    client = client_for("http://127.0.0.1:9", max_retries=5).with_write_gate(gate)
    with pytest.raises(WriteFenced):
        client.delete(WIDGETS, "ns", "w")
    assert len(attempts) == 2


def test_renewal_counts_from_when_it_was_sent_not_when_it_came_back() -> None:
    """Regression: the elector stamped a renewal with the time its answer arrived, so a slow answer (a stalled
    connection, a freeze between send and receive) stretched the write window past what rivals see."""
    clock = Clock()

    class Slow(FakeCluster):
        def replace(self, res: Resource, obj: dict[str, Any], *, subresource: str | None = None) -> dict[str, Any]:
            written = super().replace(res, obj, subresource=subresource)
            clock.now += 8  # the answer takes 8s to come back
            return written

    elector = LeaderElector(Slow("host", [LEASES]), "ns", "crdsync-a", "a", clock=clock)
    assert elector.try_acquire_or_renew()  # create: immediate
    sent = clock.now
    assert elector.try_acquire_or_renew()
    assert elector.valid_until() == sent + 10  # renew deadline counted from the send, 8s before the answer
    fence = WriteFence(elector.valid_until, clock=clock)
    clock.now = sent + 9.5
    assert fence.is_open()
    clock.now = sent + 10
    assert not fence.is_open()


class FakeEngine:
    def __init__(self, fence: WriteFence) -> None:
        self.fence = fence
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped = True

    def synced(self) -> bool:
        return True

    def problems(self) -> list[str]:
        return []


def test_leader_loop_ends_a_term_that_lapsed_during_a_freeze_and_starts_a_new_one() -> None:
    """A leader frozen past the renew deadline but not past the lease duration (nobody took over) wakes up: the
    loop must not renew over the gap and keep the old engine; it ends the term first, then leads with a new one."""
    clock = Clock()
    client = FakeCluster("host", [LEASES])
    elector = LeaderElector(client, "ns", "crdsync-a", "a", clock=clock)
    engines: list[FakeEngine] = []
    stop, wake = threading.Event(), threading.Event()
    ticks = [0]

    def new_engine(fence: WriteFence) -> FakeEngine:
        engines.append(FakeEngine(fence))
        return engines[-1]

    real_wait = wake.wait

    def tick(timeout: float | None = None) -> bool:
        ticks[0] += 1
        if ticks[0] == 1:
            clock.now += 12  # frozen 12s: past the renew deadline (10s), within the lease duration (15s)
        elif ticks[0] == 2:
            stop.set()
        else:
            clock.now += 2
        return real_wait(0)

    wake.wait = tick  # type: ignore[method-assign]
    state, metrics = RunState(leader_elect=True), Metrics()
    assert run_as_leader(new_engine, elector, stop, wake, metrics, state, clock=clock) == 0
    # stopped while leading: the gauge and the run state say so, for a scrape during the shutdown's last moments
    assert metrics.registry.get_sample_value("crdsync_leader") == 0
    assert state.engine is None and not state.leading
    assert len(engines) == 2
    first, second = engines
    assert first.started and first.stopped and first.fence.closed.is_set()
    with pytest.raises(WriteFenced):
        first.fence.check("PATCH", "/x")
    assert second.started and second.stopped  # stopped at shutdown
    assert "renew deadline" in first.fence.reason


def test_leader_loop_stops_the_engine_when_a_rival_holds_the_lease() -> None:
    clock = Clock()
    client = FakeCluster("host", [LEASES])
    a = LeaderElector(client, "ns", "crdsync-a", "a", clock=clock)
    b = LeaderElector(client, "ns", "crdsync-a", "b", clock=clock)
    engines: list[FakeEngine] = []
    stop, wake = threading.Event(), threading.Event()
    ticks = [0]
    real_wait = wake.wait

    def tick(timeout: float | None = None) -> bool:
        ticks[0] += 1
        if ticks[0] == 1:
            assert not b.try_acquire_or_renew()  # b sees the record now and counts from here
            clock.now += 20  # a frozen past the lease duration: b takes over meanwhile
            assert b.try_acquire_or_renew()
        elif ticks[0] >= 3:
            stop.set()
        return real_wait(0)

    wake.wait = tick  # type: ignore[method-assign]

    def new_engine(fence: WriteFence) -> FakeEngine:
        engines.append(FakeEngine(fence))
        return engines[-1]

    metrics = Metrics()
    run_as_leader(new_engine, a, stop, wake, metrics, RunState(leader_elect=True), clock=clock)
    assert len(engines) == 1 and engines[0].stopped and engines[0].fence.closed.is_set()
    assert metrics.registry.get_sample_value("crdsync_leader") == 0
    assert (client.get(LEASES, "ns", "crdsync-a") or {})["spec"]["holderIdentity"] == "b"


def test_engine_behind_a_closed_fence_writes_nothing_and_records_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.engine.kinds import NAMESPACES, SECRETS, SHAREDS
    from tests.engine.kinds import WIDGETS as ENGINE_WIDGETS
    from tests.engine.test_engine import TENANT, make_config, widget

    events: list[str] = []
    monkeypatch.setattr(reconcile, "record_event", lambda client, obj, reason, message, **kw: events.append(reason))
    kinds = [ENGINE_WIDGETS, SECRETS, SHAREDS, NAMESPACES]
    # FakeCluster.with_write_gate gates a view's writes as KubeClient's does; the views share the objects and logs.
    host = FakeCluster("host", kinds)
    virtual = FakeCluster("virtual", kinds)
    clock = Clock()
    fence = WriteFence(lambda: 1010.0, clock=clock)
    engine = Engine(
        make_config(),
        TENANT,
        host,
        virtual,
        workers=2,
        informer_factory=FakeInformer,
        fence=fence,
    )
    engine.start()
    try:
        assert engine.wait_initial_sync(5)
        virtual.put(ENGINE_WIDGETS, widget("w1", size=1))
        deadline = time.monotonic() + 5
        while not host.our_writes() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert host.our_writes(), "the open fence lets writes through"
        time.sleep(0.2)
        written = (list(host.our_writes()), list(virtual.our_writes()))
        clock.now = 1011.0  # the term lapsed (frozen past the renew deadline)
        virtual.put(ENGINE_WIDGETS, widget("w1", size=2))
        virtual.put(ENGINE_WIDGETS, widget("w2", size=1))
        time.sleep(0.5)
        assert (host.our_writes(), virtual.our_writes()) == written
        assert events == [] and engine.errors == 0 and fence.fenced >= 1
    finally:
        engine.stop()


def test_lease_timing_flags_default_like_client_go_and_must_leave_the_fence_a_margin(tmp_path: Any) -> None:
    import argparse

    from crdsync.commands.run import add_arguments
    from crdsync.commands.run_settings import SettingsError, resolve_settings

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--mapping", "m.yaml", "--virtual-kubeconfig", "v", "--host-kubeconfig", "h", "--host-namespace", "ns"]
    base += ["--vcluster", "a"]

    def settings(*flags: str, env: dict[str, str] | None = None) -> Any:
        return resolve_settings(parser.parse_args([*base, *flags]), env or {}, tmp_path)

    default = settings()
    assert (default.lease_duration, default.renew_deadline, default.retry_period) == (15.0, 10.0, 2.0)
    short = settings("--lease-duration", "4", "--renew-deadline", "2.5", env={"CRDSYNC_RETRY_PERIOD": "0.5"})
    assert (short.lease_duration, short.renew_deadline, short.retry_period) == (4.0, 2.5, 0.5)
    with pytest.raises(SettingsError, match="lease-duration > --renew-deadline"):
        settings("--lease-duration", "5", "--renew-deadline", "5")
    with pytest.raises(SettingsError, match="not a number"):
        settings("--retry-period", "soon")
