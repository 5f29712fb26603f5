"""Kinds coming and going (crdsync/engine/activation.py): the informers a kind gets when both sides serve it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.engine import Engine
from tests.engine.kinds import WIDGETS
from tests.engine.test_engine import TENANT, World, make_config
from tests.fakeapi import FakeInformer


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
