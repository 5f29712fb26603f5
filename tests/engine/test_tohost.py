"""What the host copy of a virtual source should be (crdsync/engine/tohost.py), through the engine against the
in-memory clusters of tests/fakeapi (test_engine's harness)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.engine import Engine
from crdsync.spec.model import DeletionPolicy, Reference
from crdsync.translate.bookkeeping import LABEL_ORPHANED
from tests.engine.kinds import SHAREDS, WIDGETS
from tests.engine.test_engine import TENANT, World, make_config, shared_thing, widget, widget_rule
from tests.fakeapi import FakeInformer


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    rule = widget_rule(references=(Reference(path="$.spec.issuer", kind="SharedThing", api_version="example.com/v1"),))
    w = World(make_config(widget=rule))
    monkeypatch.setattr(
        reconcile_module, "record_event", lambda client, obj, reason, message, **kw: w.events.append((reason, message))
    )
    yield w
    w.stop()


def test_the_tenant_is_told_which_cluster_scoped_object_is_not_shared_with_it(world: World) -> None:
    """The Warning names the object as the tenant wrote it, kind and name (a cluster-scoped one has no namespace)."""
    world.host.put(SHAREDS, shared_thing("private", shared=False))
    world.start()
    world.virtual.put(WIDGETS, widget("w1", issuer="private"))
    world.settle()
    assert world.host_copy("default", "w1") is None
    messages = [message for reason, message in world.events if reason == "ReferenceNotShared"]
    assert messages and all(message.startswith("SharedThing private ") for message in messages)


def test_a_source_with_our_finalizer_under_orphan_is_released_and_its_copy_left_orphaned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DeletionPolicy Orphan: the copy stays on the host on purpose, so our finalizer must not wait for it to go."""
    w = World(make_config(widget=widget_rule(finalizer=True, deletion=DeletionPolicy.ORPHAN)))
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("w1", size=1))
        w.settle()
        w.virtual.remove(WIDGETS, "default", "w1")
        w.settle()
        assert w.virtual.get(WIDGETS, "default", "w1") is None
        copy = w.host_copy("default", "w1")
        assert copy is not None and copy["metadata"]["labels"][LABEL_ORPHANED] == "true"
    finally:
        w.stop()


def test_settling_a_key_that_would_report_records_no_event_and_leaves_it_to_the_workers(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The restart's dry pass (Reconciler.settled) stops at the Event it would record: no Event, no log line, no
    request; a worker reconciles the key and reports once."""
    world.host.put(SHAREDS, shared_thing("private", shared=False))
    world.virtual.put(WIDGETS, widget("w1", issuer="private"))
    calls = (len(world.host.calls), len(world.virtual.calls))
    engine = Engine(world.config, TENANT, world.host, world.virtual, workers=0, informer_factory=FakeInformer)
    world.engine = engine
    with caplog.at_level(logging.DEBUG, logger="crdsync.reconcile"):
        engine.start()
        assert engine.wait_initial_sync(5)
    assert world.events == [] and "ReferenceNotShared" not in caplog.text
    assert world.host.calls[calls[0] :] + world.virtual.calls[calls[1] :] == []
    (key,) = engine.queue.take_waiting()
    engine.reconciler.reconcile(key)
    assert [reason for reason, _ in world.events] == ["ReferenceNotShared"]
