"""Watch delivery and informers of the in-memory apiserver: synchronous, delayed, reordered across informers but
never within one, selectors as a real watch applies them, and CRD removal ending in on_gone."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.fakeapi import FakeCluster, FakeInformer, resource

WIDGETS = resource("example.com", "v1", "Widget", "widgets")
GADGETS = resource("example.com", "v1", "Gadget", "gadgets")


def obj(kind: str, name: str, **labels: str) -> dict[str, Any]:
    metadata = {"name": name, "namespace": "ns", "labels": labels}
    return {"apiVersion": "example.com/v1", "kind": kind, "metadata": metadata}


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, event: str, key: tuple[str, str], body: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((event, key[1]))


def settle(cluster: FakeCluster) -> None:
    deadline = time.monotonic() + 5
    while cluster.pending_deliveries():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_synchronous_delivery_is_seen_before_the_write_returns() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    cluster.put(WIDGETS, obj("Widget", "before"))
    seen = Seen()
    informer = FakeInformer(cluster, WIDGETS, on_event=seen).start()
    assert informer.has_synced.is_set() and seen.events == [("SYNC", "before")]
    cluster.put(WIDGETS, obj("Widget", "w"))
    assert seen.events[-1] == ("ADDED", "w") and informer.get("ns", "w") is not None


def test_delayed_delivery_reorders_across_informers_but_never_within_one() -> None:
    cluster = FakeCluster("c", [WIDGETS, GADGETS], seed=7)
    cluster.delay, cluster.jitter = 0.001, 0.05
    arrivals: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(kind: str) -> Any:
        def handler(event: str, key: tuple[str, str], body: dict[str, Any]) -> None:
            with lock:
                arrivals.append((kind, key[1]))

        return handler

    FakeInformer(cluster, WIDGETS, on_event=record("Widget")).start()
    FakeInformer(cluster, GADGETS, on_event=record("Gadget")).start()
    written: list[tuple[str, str]] = []
    for i in range(30):
        for kind, res in (("Widget", WIDGETS), ("Gadget", GADGETS)):
            cluster.put(res, obj(kind, f"{kind.lower()}-{i}"))
            written.append((kind, f"{kind.lower()}-{i}"))
    assert len(arrivals) < len(written)  # not synchronous
    settle(cluster)
    for kind in ("Widget", "Gadget"):
        assert [a for a in arrivals if a[0] == kind] == [w for w in written if w[0] == kind]  # one watch: in order
    assert arrivals != written  # across watches: reordered


def test_a_selector_change_is_an_added_or_deleted_event() -> None:
    cluster = FakeCluster("c", [WIDGETS])
    seen = Seen()
    informer = FakeInformer(cluster, WIDGETS, label_selector="tier=gold", on_event=seen).start()
    cluster.put(WIDGETS, obj("Widget", "w", tier="silver"))
    cluster.put(WIDGETS, obj("Widget", "w", tier="gold"))
    cluster.put(WIDGETS, obj("Widget", "w", tier="bronze"))
    assert seen.events == [("ADDED", "w"), ("DELETED", "w")] and len(informer) == 0
    named = Seen()
    FakeInformer(cluster, WIDGETS, field_selector="metadata.name=x", on_event=named).start()
    cluster.put(WIDGETS, obj("Widget", "x"))
    cluster.put(WIDGETS, obj("Widget", "y"))
    assert named.events == [("ADDED", "x")]


def test_removing_a_crd_deletes_its_objects_then_tells_its_informers_it_is_gone() -> None:
    cluster = FakeCluster("c", [WIDGETS, GADGETS])
    cluster.put(WIDGETS, obj("Widget", "w"))
    cluster.delay = 0.01
    seen, gone = Seen(), threading.Event()
    widgets = FakeInformer(cluster, WIDGETS, on_event=seen, on_gone=lambda: seen("GONE", ("", ""), {})).start()
    gadgets = FakeInformer(cluster, GADGETS, on_gone=gone.set).start()
    cluster.remove_resource(WIDGETS)
    settle(cluster)
    assert seen.events == [("SYNC", "w"), ("DELETED", "w"), ("GONE", "")]
    assert widgets.gone and widgets.stopped and not gadgets.gone and not gone.is_set()
    assert cluster.resource_for(WIDGETS.gvk) is None
    late = FakeInformer(cluster, WIDGETS, on_gone=gone.set).start()  # a kind not served: gone at once
    assert late.gone and gone.is_set()
