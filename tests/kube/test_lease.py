"""Leader election: one leader at a time, takeover only after expiry by the observer's clock, release hands over."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from crdsync.kube import errors
from crdsync.kube.lease import LEASES, LeaderElector
from tests.fakeapi import FakeCluster


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cluster() -> FakeCluster:
    return FakeCluster("host", [LEASES])


def elector(client: FakeCluster, identity: str, clock: Clock, **kwargs: float) -> LeaderElector:
    return LeaderElector(client, "tenant-a", "crdsync-a", identity, clock=clock, **kwargs)


def leading(candidate: LeaderElector, clock: Callable[[], float]) -> bool:
    """Whether `candidate` may write now, as the write fence judges it."""
    return clock() < candidate.valid_until()


def lease(client: FakeCluster) -> dict[str, object]:
    found = client.get(LEASES, "tenant-a", "crdsync-a")
    assert found is not None
    return found


def test_first_candidate_creates_the_lease() -> None:
    client, clock = cluster(), Clock()
    a = elector(client, "a", clock)
    assert a.try_acquire_or_renew() and leading(a, clock)
    spec = lease(client)["spec"]
    assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == 15  # type: ignore[index]
    assert spec["leaseTransitions"] == 0  # type: ignore[index]


def test_second_candidate_waits_for_expiry_by_its_own_clock() -> None:
    client, clock = cluster(), Clock()
    a, b = elector(client, "a", clock), elector(client, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.now += 10
    assert a.try_acquire_or_renew()  # a renews; b notices the changed record at its next look and counts from there
    clock.now += 14
    assert not b.try_acquire_or_renew()
    clock.now += 14
    assert not b.try_acquire_or_renew()  # 14s since b saw the renewal
    clock.now += 2  # 16s: expired
    assert b.try_acquire_or_renew() and leading(b, clock)
    spec = lease(client)["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1  # type: ignore[index]
    # a finds out at its next attempt.
    assert not a.try_acquire_or_renew() and not leading(a, clock)


def test_release_lets_the_next_candidate_in_at_once() -> None:
    client, clock = cluster(), Clock()
    a, b = elector(client, "a", clock), elector(client, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert not leading(a, clock)
    assert "holderIdentity" not in lease(client)["spec"]  # type: ignore[operator]
    assert b.try_acquire_or_renew()
    b.release()
    b.release()  # idempotent
    a.release()  # not leader: no write
    assert client.calls.count("replace") == 3


def test_racing_candidates_cannot_both_win() -> None:
    client = cluster()
    clocks = [Clock() for _ in range(8)]
    candidates = [elector(client, f"c{i}", clocks[i]) for i in range(8)]
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def campaign(c: LeaderElector) -> None:
        barrier.wait()
        results.append(c.try_acquire_or_renew())

    threads = [threading.Thread(target=campaign, args=(c,)) for c in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    winner = lease(client)["spec"]["holderIdentity"]  # type: ignore[index]
    assert [c.identity for c, clock in zip(candidates, clocks, strict=True) if leading(c, clock)] == [winner]


def test_stale_write_conflicts_instead_of_stealing() -> None:
    client, clock = cluster(), Clock()
    a, b = elector(client, "a", clock), elector(client, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b's first sight of the record starts its count
    # b reads the lease after it expired by b's clock, but a renews before b writes.
    original_get = client.get

    def get_then_renew(res, ns, name):  # type: ignore[no-untyped-def]
        found = original_get(res, ns, name)
        client.get = original_get  # type: ignore[method-assign]
        assert a.try_acquire_or_renew()
        return found

    clock.now += 100
    client.get = get_then_renew  # type: ignore[method-assign]
    assert not b.try_acquire_or_renew()
    assert lease(client)["spec"]["holderIdentity"] == "a"  # type: ignore[index]


def test_leader_survives_errors_until_renew_deadline() -> None:
    client, clock = cluster(), Clock()
    a = elector(client, "a", clock)
    assert a.try_acquire_or_renew()
    client.fail["get"] = errors.ServerError(503, "ServiceUnavailable", "apiserver restarting")
    clock.now += 5
    assert a.try_acquire_or_renew() and leading(a, clock)
    clock.now += 6  # 11s since the last renewal > renew_deadline 10s
    assert not a.try_acquire_or_renew() and not leading(a, clock)
    del client.fail["get"]
    assert a.try_acquire_or_renew()  # still our lease: take it back


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError):
        LeaderElector(cluster(), "ns", "n", "id", lease_duration=5, renew_deadline=10)


def test_leases_resource() -> None:
    assert LEASES.path("ns", "l") == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"


def test_valid_until_is_published_without_the_lock_and_ends_with_leadership() -> None:
    """The write fence reads valid_until() from every worker; a renewal stuck in a request (holding the lock) must
    not block it, and losing the lease must end the window at once."""
    clock = Clock()
    entered, release = threading.Event(), threading.Event()

    class Stuck(FakeCluster):
        def get(self, res: object, namespace: str | None, name: str) -> dict[str, object] | None:
            if entered.is_set():
                release.wait(5)
            return super().get(res, namespace, name)  # type: ignore[arg-type]

    client = Stuck("host", [LEASES])
    a = elector(client, "a", clock)
    assert a.try_acquire_or_renew()
    assert a.valid_until() == 1000 + a.renew_deadline
    entered.set()
    renewal = threading.Thread(target=a.try_acquire_or_renew)
    renewal.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert a.valid_until() == 1000 + a.renew_deadline  # answered while the renewal holds the lock
    assert time.monotonic() - started < 0.05
    release.set()
    renewal.join(5)
    entered.clear()
    b = elector(client, "b", clock)
    assert not b.try_acquire_or_renew()
    clock.now += 20
    assert b.try_acquire_or_renew()
    assert not a.try_acquire_or_renew() and a.valid_until() == float("-inf")


def test_a_renewal_counts_from_its_send_time() -> None:
    """Regression: the renewal time was taken after the answer, so a slow answer stretched the leader's write window
    beyond what rivals (who count from when they see the record) allow."""
    clock = Clock()

    class Slow(FakeCluster):
        def replace(self, res: object, obj: dict[str, object], *, subresource: str | None = None) -> dict[str, object]:
            written = super().replace(res, obj, subresource=subresource)  # type: ignore[arg-type]
            clock.now += 3  # the answer comes back 3s after the apiserver recorded the renewal
            return written

    a = elector(Slow("host", [LEASES]), "a", clock)
    assert a.try_acquire_or_renew()
    sent = clock.now
    assert a.try_acquire_or_renew()
    assert a.valid_until() == sent + a.renew_deadline
    clock.now = sent + a.renew_deadline
    assert not leading(a, clock)  # 10s after the send, though only 7s after the answer
