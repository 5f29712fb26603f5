"""The write path's promises (crdsync/engine/writes.py), each pinned through the engine against in-memory clusters:
what a write leaves behind, and what a race between judging an object and writing it can never do.

Races are staged by wrapping one verb of the in-memory host: someone else's write lands between the engine's judgement
and its request, as it can against a real API server. tests/engine/named_mutations.json lists the one-line mutations
of the write path these (with the rest of tests/engine) must catch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.engine import Engine
from crdsync.spec.model import ConflictPolicy
from crdsync.translate.bookkeeping import LABEL_VCLUSTER
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import to_host
from tests.engine.kinds import SHAREDS, WIDGETS
from tests.engine.test_engine import TENANT, World, make_config, shared_thing, widget, widget_rule
from tests.fakeapi import FakeCluster, FakeInformer

OTHER = Tenant(vcluster="someone-else", host_namespace=TENANT.host_namespace)
COPY_NAME = host_name(TENANT, "default", "w1", widget_rule().naming)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    found: list[str] = []
    monkeypatch.setattr(
        reconcile_module, "record_event", lambda client, obj, reason, message, **kw: found.append(reason)
    )
    return found


@pytest.fixture
def world(events: list[str]) -> Iterator[World]:
    w = World(make_config())
    yield w
    w.stop()


def foreign(spec: dict[str, Any]) -> dict[str, Any]:
    """Somebody else's object standing where the copy of default/w1 goes."""
    meta = {"name": COPY_NAME, "namespace": TENANT.host_namespace}
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta, "spec": spec}


def other_tenants_copy() -> dict[str, Any]:
    """Another virtual cluster's copy (its bookkeeping), moved to where our copy of default/w1 goes."""
    obj = to_host(
        make_config(), widget_rule(), {**widget("w1"), "metadata": {"name": "w1", "namespace": "default"}}, OTHER
    )
    obj["metadata"]["name"] = COPY_NAME
    return obj


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def first_call_races(cluster: FakeCluster, verb: str, race: Callable[[], object]) -> list[str]:
    """Wrap `cluster.<verb>` so that `race` runs just before the first request reaches the server."""
    real = getattr(cluster, verb)
    calls: list[str] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not calls:
            race()
        calls.append(verb)
        return real(*args, **kwargs)

    setattr(cluster, verb, wrapped)
    return calls


def test_a_field_the_source_drops_leaves_a_copy_that_was_created_by_post(world: World) -> None:
    """The create's Update record is converted to our Apply record before the first apply, so the server removes a
    field we stop setting (an Update record would keep owning it)."""
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1, color="red"))
    world.settle()
    assert ("create", "Widget", TENANT.host_namespace, COPY_NAME) in world.host.writes
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    assert world.host_copy("default", "w1")["spec"] == {"size": 1}  # type: ignore[index]


def test_a_source_recreated_while_down_gets_a_new_host_object_not_the_old_one_updated(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    old = world.host_copy("default", "w1")
    assert old is not None
    world.stop()
    world.virtual.remove(WIDGETS, "default", "w1")
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.start()
    new = world.host_copy("default", "w1")
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]
    assert ("delete", "Widget", TENANT.host_namespace, COPY_NAME) in world.host.writes


def test_a_copy_the_cache_has_not_seen_is_updated_when_the_create_finds_it(world: World) -> None:
    """AlreadyExists on the create of a copy that is provably ours becomes an apply of it; a cache that is behind
    (here: a host informer whose first list missed the copy) must not stop the source from converging."""
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    world.stop()
    world.virtual.put(WIDGETS, widget("w1", size=2))

    class StaleHostInformer(FakeInformer):
        def start(self) -> FakeInformer:
            started = super().start()
            if self.client is world.host and self.res.kind == "Widget":
                self.store.clear()
            return started

    world.engine = Engine(
        world.config, TENANT, world.host, world.virtual, workers=2, informer_factory=StaleHostInformer
    )
    world.engine.start()
    assert world.engine.wait_initial_sync(5)
    world.settle()
    assert world.host_copy("default", "w1")["spec"] == {"size": 2}  # type: ignore[index]


def test_an_overwrite_never_lands_on_an_object_that_changed_after_it_was_judged(events: list[str]) -> None:
    """Conflict policy Overwrite replaces the object it judged, conditionally: if another tenant's copy took the place
    meanwhile, the PUT is refused and the fresh judgement leaves that copy alone (NameTaken)."""
    w = World(make_config(widget=widget_rule(conflict=ConflictPolicy.OVERWRITE)))
    try:
        w.host.put(WIDGETS, foreign({"mine": True}))
        first_call_races(w.host, "replace", lambda: w.host.put(WIDGETS, other_tenants_copy()))
        w.start()
        w.virtual.put(WIDGETS, widget("w1", size=1))
        w.settle()
        standing = w.host.get(WIDGETS, TENANT.host_namespace, COPY_NAME)
        assert standing is not None and standing["metadata"]["labels"][LABEL_VCLUSTER] == OTHER.vcluster
        assert "NameTaken" in events
        assert "SyncFailed" not in events  # the refusal was the precondition's 409, retried quietly
    finally:
        w.stop()


def test_a_delete_never_removes_an_object_that_took_the_copys_place_meanwhile(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()

    def replaced_by_someone_else() -> None:
        world.host.remove(WIDGETS, TENANT.host_namespace, COPY_NAME)
        world.host.put(WIDGETS, foreign({"theirs": True}))

    calls = first_call_races(world.host, "delete", replaced_by_someone_else)
    world.virtual.remove(WIDGETS, "default", "w1")
    world.settle()
    assert calls
    standing = world.host.get(WIDGETS, TENANT.host_namespace, COPY_NAME)
    assert standing is not None and standing["spec"] == {"theirs": True}


def test_the_finalizer_stays_while_a_host_finalizer_holds_the_deleted_copy(events: list[str]) -> None:
    """Our finalizer promises the copy is gone: the server, not the cache, must say so before it comes off."""
    w = World(make_config(widget=widget_rule(finalizer=True)))
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("w1", size=1))
        w.settle()
        held = w.host_copy("default", "w1")
        assert held is not None
        held["metadata"]["finalizers"] = ["operator.example.com/cleanup"]
        w.host.put(WIDGETS, held, manager="operator")
        w.settle()
        w.virtual.remove(WIDGETS, "default", "w1")
        assert eventually(lambda: any(wr[0] == "delete" for wr in w.host.writes))
        time.sleep(0.8)  # the engine keeps checking (requeued) while the host finalizer holds the copy
        deleting = w.host_copy("default", "w1")
        assert deleting is not None and deleting["metadata"].get("deletionTimestamp")
        source = w.virtual.get(WIDGETS, "default", "w1")
        assert source is not None and "crdsync.io/host-copy" in source["metadata"]["finalizers"]
        w.host.patch(WIDGETS, TENANT.host_namespace, COPY_NAME, {"metadata": {"finalizers": None}})  # the operator
        assert eventually(lambda: w.virtual.get(WIDGETS, "default", "w1") is None)
        assert w.host_copy("default", "w1") is None
    finally:
        w.stop()


def test_a_field_the_tenant_adds_to_a_read_only_import_is_removed(world: World) -> None:
    """Apply reverts the fields we own; a field someone else added is theirs until a patch removes it by path."""
    world.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    world.start()
    imported = world.virtual.get(SHAREDS, None, "issuer")
    assert imported is not None
    imported["spec"]["extra"] = "tenant"
    world.virtual.put(SHAREDS, imported, manager="tenant")
    world.settle()
    assert world.virtual.get(SHAREDS, None, "issuer")["spec"] == {"x": 1}  # type: ignore[index]
