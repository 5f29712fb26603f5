"""Events are rate-limited per involved object (client-go's spam filter): an object failing on every retry costs a
burst of Event writes and then one per refill period, not one per retry (tenant isolation, break 4)."""

from __future__ import annotations

from typing import Any

from crdsync.kube.events import EVENTS, SPAM_BURST, SPAM_REFILL_SECONDS, _Recorder
from tests.fakeapi import FakeCluster

CERT: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "web", "namespace": "team-a", "uid": "u-1"},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_refusing_webhook_cannot_make_crdsync_write_an_event_per_retry() -> None:
    client, clock = FakeCluster("virtual", [EVENTS]), Clock()
    recorder = _Recorder(client, clock)
    for attempt in range(50):  # 50 retries within a few seconds
        recorder.record(CERT, "SyncFailed", f"denied by webhook, attempt {attempt}", "Warning", "crdsync")
        clock.now += 0.08
    assert len(client.calls) == SPAM_BURST
    clock.now += SPAM_REFILL_SECONDS
    recorder.record(CERT, "SyncFailed", "still denied", "Warning", "crdsync")
    assert len(client.calls) == SPAM_BURST + 1


def test_the_limit_is_per_object() -> None:
    client, clock = FakeCluster("virtual", [EVENTS]), Clock()
    recorder = _Recorder(client, clock)
    other = {**CERT, "metadata": {**CERT["metadata"], "name": "api", "uid": "u-2"}}
    for _ in range(SPAM_BURST + 3):
        recorder.record(CERT, "SyncFailed", "x", "Warning", "crdsync")
    recorder.record(other, "SyncFailed", "x", "Warning", "crdsync")
    assert client.calls.count("create") == 2
