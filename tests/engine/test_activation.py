"""Kinds coming and going (crdsync/engine/activation.py): the informers a kind gets when both sides serve it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.engine import Engine
from crdsync.gvk import GroupVersionKind
from crdsync.kube.resource import Resource
from crdsync.translate.names import host_name
from tests.engine.kinds import CRDS, NAMESPACES, SECRETS, SHAREDS, WIDGETS, widget_crd
from tests.engine.test_engine import TENANT, World, make_config, widget, widget_rule
from tests.fakeapi import FakeCluster, FakeInformer


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, Engine, list[FakeInformer]]]:
    """An engine over test_engine's two clusters, and every informer it made."""
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    w = World(make_config())
    informers: list[FakeInformer] = []

    def factory(*args: Any, **kwargs: Any) -> FakeInformer:
        informers.append(FakeInformer(*args, **kwargs))
        return informers[-1]

    engine = Engine(w.config, TENANT, w.host, w.virtual, workers=1, informer_factory=factory)
    engine.start()
    assert engine.wait_initial_sync(5)
    yield w, engine, informers
    engine.stop()


def relists(engine: Engine, side: str, kind: str) -> float:
    labels = {"side": side, "kind": kind}
    return engine.metrics.registry.get_sample_value("crdsync_informer_relists_total", labels) or 0.0


def test_a_relist_of_either_sides_informer_is_counted_under_its_side_and_kind(
    made: tuple[World, Engine, list[FakeInformer]],
) -> None:
    w, engine, informers = made
    (host,) = [i for i in informers if i.res == WIDGETS and i.client is w.host]
    (virtual,) = [i for i in informers if i.res == WIDGETS and i.client is w.virtual]
    assert host.on_relist is not None and virtual.on_relist is not None
    virtual.on_relist()
    virtual.on_relist()
    host.on_relist()
    assert relists(engine, "virtual", "Widget") == 2
    assert relists(engine, "host", "Widget") == 1


def test_the_host_informer_of_a_kind_only_referenced_from_the_host_watches_only_the_tenants_namespace(
    made: tuple[World, Engine, list[FakeInformer]],
) -> None:
    """Widgets (toHost only) and Secrets (fromHost referenced) come from the tenant's host namespace alone; the
    cluster-scoped SharedThing is watched cluster-wide, and the virtual side everywhere."""
    w, _, informers = made
    by_side = {
        (i.res.kind, "host" if i.client is w.host else "virtual"): i
        for i in informers
        if i.res.kind != "CustomResourceDefinition"
    }
    assert by_side[("Widget", "host")].namespace == TENANT.host_namespace
    assert by_side[("Secret", "host")].namespace == TENANT.host_namespace
    assert by_side[("SharedThing", "host")].namespace is None
    assert by_side[("Widget", "virtual")].namespace is None




class ServingCluster(FakeCluster):
    """An apiserver that serves a custom kind as soon as its CRD is written (as a real one does, shortly after)."""

    def apply(self, res: Resource, obj: dict[str, Any], *, force: bool = True, subresource: str | None = None) -> Any:
        written = super().apply(res, obj, force=force, subresource=subresource)
        if res.kind == "CustomResourceDefinition" and obj["spec"]["names"]["kind"] == "Widget":
            with self.lock:
                self.resources[("example.com", "Widget")] = WIDGETS
        return written


class CachingDiscovery(FakeCluster):
    """Discovery as crdsync.kube.discovery caches it: a kind found is remembered until invalidate_discovery()."""

    def __init__(self, name: str, resources: Any) -> None:
        super().__init__(name, resources)
        self.cached: dict[tuple[str, str], Resource] = {}

    def resource_for(self, gvk: GroupVersionKind) -> Resource | None:
        found = self.cached.get((gvk.group, gvk.kind)) or super().resource_for(gvk)
        if found is not None:
            self.cached[(gvk.group, gvk.kind)] = found
        return found

    def invalidate_discovery(self) -> None:
        self.cached.clear()


def eventually(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def stopping() -> Iterator[list[Engine]]:
    engines: list[Engine] = []
    yield engines
    for engine in engines:
        engine.stop()


def test_a_kind_the_virtual_cluster_lacks_gets_the_hosts_crd_and_syncs(
    stopping: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    host = FakeCluster("host", [WIDGETS, SECRETS, SHAREDS, NAMESPACES, CRDS])
    virtual = ServingCluster("virtual", [SECRETS, SHAREDS, NAMESPACES, CRDS])
    host.put(CRDS, widget_crd())
    engine = Engine(
        make_config(), TENANT, host, virtual, workers=1, kinds_poll_seconds=0.05, informer_factory=FakeInformer
    )
    stopping.append(engine)
    engine.start()
    assert engine.wait_initial_sync(5)
    mirrored = virtual.get(CRDS, None, "widgets.example.com")
    assert mirrored is not None and mirrored["spec"]["names"]["kind"] == "Widget"
    runtime = engine.kinds[("example.com", "Widget")]
    assert runtime.active and runtime.waiting_reason == ""
    virtual.put(WIDGETS, widget("w1", size=1))
    eventually(
        lambda: (
            host.get(WIDGETS, TENANT.host_namespace, host_name(TENANT, "default", "w1", widget_rule().naming))
            is not None
        )
    )


def test_a_kind_the_host_does_not_serve_waits_and_the_others_sync_meanwhile_then_it_starts(
    stopping: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    host = FakeCluster("host", [SECRETS, SHAREDS, NAMESPACES])
    virtual = FakeCluster("virtual", [WIDGETS, SECRETS, SHAREDS, NAMESPACES])
    host.put(
        SHAREDS,
        {
            "apiVersion": "example.com/v1",
            "kind": "SharedThing",
            "metadata": {"name": "ca", "labels": {"shared": "true"}},
        },
    )
    virtual.put(WIDGETS, widget("w1", size=1))
    engine = Engine(
        make_config(), TENANT, host, virtual, workers=1, kinds_poll_seconds=0.05, informer_factory=FakeInformer
    )
    stopping.append(engine)
    engine.start()
    assert engine.wait_initial_sync(5)
    eventually(lambda: virtual.get(SHAREDS, None, "ca") is not None)
    widgets = engine.kinds[("example.com", "Widget")]
    assert not widgets.active and widgets.waiting_reason  # says why it waits
    with host.lock:
        host.resources[("example.com", "Widget")] = WIDGETS  # the host's CRD is installed
    copy_name = host_name(TENANT, "default", "w1", widget_rule().naming)
    eventually(lambda: host.get(WIDGETS, TENANT.host_namespace, copy_name) is not None)
    assert widgets.active and widgets.waiting_reason == ""


def test_a_kind_whose_crd_is_removed_stops_and_syncs_again_once_it_is_back(
    stopping: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    host = CachingDiscovery("host", [WIDGETS, SECRETS, SHAREDS, NAMESPACES])
    virtual = CachingDiscovery("virtual", [WIDGETS, SECRETS, SHAREDS, NAMESPACES])
    engine = Engine(
        make_config(), TENANT, host, virtual, workers=1, kinds_poll_seconds=0.05, informer_factory=FakeInformer
    )
    stopping.append(engine)
    engine.start()
    assert engine.wait_initial_sync(5)
    widgets = engine.kinds[("example.com", "Widget")]
    assert widgets.active
    virtual.put(WIDGETS, widget("w1", size=1))
    eventually(lambda: engine.objects_in_sync().get(("Widget", "toHost")) == 1)
    host.remove_resource(WIDGETS)
    eventually(lambda: not widgets.active and widgets.waiting_reason != "")  # waits, however discovery cached it
    assert engine.problems() == []  # a kind gone is not a liveness failure
    assert engine.objects_in_sync().get(("Widget", "toHost"), 0) == 0  # nothing of a kind not served is in sync
    with host.lock:
        host.resources[("example.com", "Widget")] = WIDGETS
    eventually(lambda: widgets.active)
    virtual.put(WIDGETS, widget("w2", size=2))
    copy_name = host_name(TENANT, "default", "w2", widget_rule().naming)
    eventually(lambda: host.get(WIDGETS, TENANT.host_namespace, copy_name) is not None)
