"""The engine's fast paths do less work, never different work: an echo of our own write is not reconciled again, and
everything else still is (host status, a tenant's edit, a restart).

Counted with the engine's `processed` counter (reconciles run) against the in-memory clusters of tests/fakeapi.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine import routing
from crdsync.engine import tohost as tohost_module
from crdsync.engine.context import Outcome
from crdsync.engine.engine import SETTLE_GIVE_UP, Engine
from crdsync.engine.reconcile import Reconciler
from crdsync.kube.errors import Forbidden
from crdsync.kube.resource import Resource
from crdsync.spec.model import Direction, Patch, PatchOp, Rule, StatusSync, SyncConfig
from crdsync.translate import objects
from crdsync.translate.names import Tenant, host_name
from tests.engine.kinds import CRDS, NAMESPACES, SECRETS, SHAREDS, WIDGET, WIDGETS, widget_crd
from tests.fakeapi import FakeCluster, FakeInformer
from tests.fakeapi.settle import settle

TENANT = Tenant(vcluster="vc1", host_namespace="tenant-a")
RULE = Rule(direction=Direction.TO_HOST, gvk=WIDGET, status=StatusSync(enabled=True))
CONFIG = SyncConfig(name="perf", rules=(RULE,))


class World:
    def __init__(self, *, delay: float = 0.0) -> None:
        self.host = FakeCluster("host", [WIDGETS, SECRETS, SHAREDS, NAMESPACES])
        self.virtual = FakeCluster("virtual", [WIDGETS, SECRETS, SHAREDS, NAMESPACES])
        # delay > 0: watch events arrive later than the write's response, as they usually do against an apiserver;
        # 0: during the write, before the reconciler has even seen the response (the race the engine must handle).
        self.host.delay = self.virtual.delay = delay
        self.engine: Engine | None = None
        self.config = CONFIG

    def start(self) -> Engine:
        while self.host.pending_deliveries() or self.virtual.pending_deliveries():
            time.sleep(0.01)  # writes made before the start are listed, not also seen as late events
        self.engine = Engine(self.config, TENANT, self.host, self.virtual, workers=2, informer_factory=FakeInformer)
        self.engine.start()
        assert self.engine.wait_initial_sync(5)
        self.settle()
        return self.engine

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def settle(self, timeout: float = 10.0) -> None:
        assert self.engine is not None
        settle([self.engine], [self.host, self.virtual], timeout=timeout)

    @property
    def processed(self) -> int:
        assert self.engine is not None
        return self.engine.processed

    def host_copy(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.host.get(WIDGETS, TENANT.host_namespace, host_name(TENANT, namespace, name, RULE.naming))

    def writes(self) -> int:
        return len(self.host.our_writes()) + len(self.virtual.our_writes())


def widget(name: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": spec,
    }


@pytest.fixture(params=[0.0, 0.02], ids=["echo-during-write", "echo-after-write"])
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(reconcile_module, "record_event", lambda *args, **kwargs: None)
    w = World(delay=request.param)
    yield w
    w.stop()


def test_a_bulk_sync_reconciles_each_object_once(world: World) -> None:
    n = 50
    for i in range(n):
        world.virtual.put(WIDGETS, widget(f"w{i}", size=i))
    world.start()
    world.settle()
    assert all(world.host_copy(f"w{i}") is not None for i in range(n))
    assert world.processed == n  # the echo of each new copy is not a second reconcile
    assert world.writes() == n  # one create each (puts by the test are not ours)


def test_live_creates_are_reconciled_once_each(world: World) -> None:
    world.start()
    for i in range(10):
        world.virtual.put(WIDGETS, widget(f"w{i}", size=i))
    world.settle()
    assert all(world.host_copy(f"w{i}") is not None for i in range(10))
    assert world.processed == 10


def test_status_the_host_operator_writes_is_still_reconciled_and_flows_back(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    before = world.processed
    copy = world.host_copy("w1")
    assert copy is not None
    copy["status"] = {"ready": True}
    world.host.put(WIDGETS, copy)  # another writer: a version crdsync never wrote
    world.settle()
    assert world.processed > before
    assert world.virtual.get(WIDGETS, "default", "w1")["status"] == {"ready": True}  # type: ignore[index]
    # ... and our status write back onto the source is not a reconcile of its own
    assert world.processed == before + 1


def test_a_tenant_edit_after_our_write_is_still_synced(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    world.virtual.put(WIDGETS, widget("w1", size=2))
    world.settle()
    copy = world.host_copy("w1")
    assert copy is not None and copy["spec"] == {"size": 2}


def test_a_restart_converges_without_writes_and_repairs_drift(world: World) -> None:
    for i in range(5):
        world.virtual.put(WIDGETS, widget(f"w{i}", size=i))
    world.start()
    world.stop()
    writes = world.writes()
    world.start()
    assert world.writes() == writes  # in sync: nothing written
    world.stop()
    # While crdsync is down, the tenant edits one source and someone edits another copy on the host.
    world.virtual.put(WIDGETS, widget("w1", size=100))
    drifted = world.host_copy("w2")
    assert drifted is not None
    drifted["spec"] = {"size": -1}
    world.host.put(WIDGETS, drifted)
    world.start()
    assert world.host_copy("w1")["spec"] == {"size": 100}  # type: ignore[index]
    assert world.host_copy("w2")["spec"] == {"size": 2}  # type: ignore[index]


# -- the mirrored CRD: watched, not polled ---------------------------------------------------------------------------



class CountingCluster(FakeCluster):
    """Counts GETs (the requests a quiet host should not see)."""

    def __init__(self, name: str, resources: Any) -> None:
        super().__init__(name, resources)
        self.gets: list[str] = []

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        self.gets.append(f"{res.kind}/{name}")
        return super().get(res, namespace, name)


def crd_informer(refuse: bool = False) -> Any:
    """FakeInformer (which honours the CRD watch's metadata.name field selector); with `refuse`, a watch RBAC
    forbids."""

    class Refused(FakeInformer):
        def start(self) -> FakeInformer:
            if refuse and self.field_selector is not None:
                self.last_error = Forbidden(403, "Forbidden", "cannot watch customresourcedefinitions", None)
                return self  # never synced, as a real informer retrying a refused list
            return super().start()

    return Refused


def crd_world(refuse: bool = False) -> tuple[Engine, CountingCluster, CountingCluster]:
    host = CountingCluster("host", [WIDGETS, CRDS, NAMESPACES])
    virtual = CountingCluster("virtual", [WIDGETS, CRDS, NAMESPACES])
    host.put(CRDS, widget_crd("v1"))
    virtual.put(CRDS, widget_crd("v1"))
    engine = Engine(
        CONFIG,
        TENANT,
        host,
        virtual,
        workers=1,
        kinds_poll_seconds=0.05,
        crd_refresh_seconds=0.1,
        informer_factory=crd_informer(refuse),
    )
    engine.start()
    assert engine.wait_initial_sync(5)
    return engine, host, virtual


def versions(cluster: FakeCluster) -> list[str]:
    crd = cluster.get(CRDS, None, "widgets.example.com")
    return [v["name"] for v in (crd or {}).get("spec", {}).get("versions", [])]


def eventually(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_quiet_host_sees_no_crd_reads_and_a_crd_change_is_still_mirrored() -> None:
    engine, host, virtual = crd_world()
    try:
        time.sleep(0.8)  # many kinds-loop ticks and CRD refresh intervals
        assert [g for g in host.gets if g.startswith("CustomResourceDefinition/")] == []
        virtual_reads = len(virtual.gets)
        time.sleep(0.5)
        assert len(virtual.gets) == virtual_reads  # nothing polled on the virtual side either
        host.put(CRDS, widget_crd("v1", "v2"))  # the host CRD gains a version
        eventually(lambda: versions(virtual) == ["v1", "v2"])
        assert [g for g in host.gets if g.startswith("CustomResourceDefinition/")] == []
    finally:
        engine.stop()


def test_a_crd_watch_rbac_forbids_falls_back_to_reading_the_crd() -> None:
    engine, host, virtual = crd_world(refuse=True)
    try:
        host.put(CRDS, widget_crd("v1", "v2"))
        eventually(lambda: versions(virtual) == ["v1", "v2"])
        assert "CustomResourceDefinition/widgets.example.com" in host.gets
    finally:
        engine.stop()


# -- restart: pairs in sync are decided from what the copy records, without translating --------------------------------


@pytest.fixture
def translations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = objects.to_host  # what reconcile imported, before the patch below

    def counting(config: Any, rule: Any, virtual_obj: Any, tenant: Any, **kwargs: Any) -> Any:
        calls.append(virtual_obj["metadata"]["name"])
        return real(config, rule, virtual_obj, tenant, **kwargs)

    monkeypatch.setattr(tohost_module, "to_host", counting)
    return calls


def synced_world(world: World, n: int = 5) -> None:
    for i in range(n):
        world.virtual.put(WIDGETS, widget(f"w{i}", size=i))
    world.start()
    world.stop()


def test_a_restart_in_sync_translates_nothing_and_writes_nothing(world: World, translations: list[str]) -> None:
    synced_world(world)
    translations.clear()
    writes = world.writes()
    world.start()
    assert translations == []
    assert world.writes() == writes
    assert world.processed == 5


def test_a_copy_changed_once_without_conversion_is_still_in_sync_at_the_next_restart(
    world: World, translations: list[str]
) -> None:
    """The change while down costs one write (our create's record stays, beside the apply's) and leaves a copy the
    next restart again decides from its digest alone."""
    synced_world(world)
    world.virtual.put(WIDGETS, widget("w1", size=100))
    writes = world.writes()
    world.start()
    world.stop()
    assert world.writes() == writes + 1
    records = sorted(e["operation"] for e in world.host_copy("w1")["metadata"]["managedFields"])  # type: ignore[index]
    assert records == ["Apply", "Update"]
    translations.clear()
    world.start()
    assert translations == []
    assert world.writes() == writes + 1


def test_a_restart_translates_what_changed_while_down(world: World, translations: list[str]) -> None:
    synced_world(world)
    world.virtual.put(WIDGETS, widget("w1", size=100))  # the tenant's edit
    labelled = widget("w3", size=3)
    labelled["metadata"]["labels"]["tier"] = "gold"  # a metadata-only edit (no generation change on a real server)
    world.virtual.put(WIDGETS, labelled)
    translations.clear()
    world.start()
    assert sorted(translations) == ["w1", "w3"]
    assert world.host_copy("w1")["spec"] == {"size": 100}  # type: ignore[index]
    assert world.host_copy("w3")["metadata"]["labels"]["tier"] == "gold"  # type: ignore[index]


def test_a_copy_someone_else_changed_or_removed_a_field_of_takes_the_full_path(
    world: World, translations: list[str]
) -> None:
    synced_world(world)
    edited = world.host_copy("w1")
    assert edited is not None
    edited["metadata"]["labels"]["app"] = "hijacked"
    world.host.put(WIDGETS, edited)  # another manager's entry
    # The only field we own under a map, removed by someone else's PUT: gone from the object and from our entry,
    # which keeps owning the map itself, and no entry of theirs (an update that only removes owns nothing).
    removed = world.host_copy("w2")
    assert removed is not None and removed["spec"] == {"size": 2}
    del removed["spec"]["size"], removed["metadata"]["managedFields"]
    world.host.put(WIDGETS, removed)
    stored = world.host_copy("w2")
    assert stored is not None and stored["spec"] == {}
    assert [entry["manager"] for entry in stored["metadata"]["managedFields"]] == ["crdsync"]
    assert "f:spec" in stored["metadata"]["managedFields"][0]["fieldsV1"]
    translations.clear()
    world.start()
    assert set(translations) == {"w1", "w2"}
    assert world.host_copy("w1")["metadata"]["labels"]["app"] == "w1"  # type: ignore[index]
    assert world.host_copy("w2")["spec"] == {"size": 2}  # type: ignore[index]


def test_a_copy_of_an_earlier_source_is_never_taken_as_in_sync(world: World, translations: list[str]) -> None:
    synced_world(world)
    # Deleted and recreated while crdsync was down: same name and content, another uid.
    world.virtual.remove(WIDGETS, "default", "w1")
    world.virtual.put(WIDGETS, widget("w1", size=1))
    old_uid = world.host_copy("w1")["metadata"]["annotations"]["crdsync.io/source-uid"]  # type: ignore[index]
    world.start()
    world.settle()
    new_uid = world.virtual.get(WIDGETS, "default", "w1")["metadata"]["uid"]  # type: ignore[index]
    assert new_uid != old_uid
    assert world.host_copy("w1")["metadata"]["annotations"]["crdsync.io/source-uid"] == new_uid  # type: ignore[index]


def test_a_mapping_change_is_never_taken_as_in_sync(world: World, translations: list[str]) -> None:
    synced_world(world)
    patched = Rule(
        direction=Direction.TO_HOST,
        gvk=WIDGET,
        status=StatusSync(enabled=True),
        patches_to_host=(Patch(op=PatchOp.SET, path="$.spec.zone", value="eu"),),
    )
    world.config = SyncConfig(name="perf", rules=(patched,))
    translations.clear()
    world.start()
    assert len(translations) == 5
    assert world.host_copy("w0")["spec"] == {"size": 0, "zone": "eu"}  # type: ignore[index]


def edited_name(world: World, name: str) -> str:
    return host_name(TENANT, "default", name, RULE.naming)


def test_a_copy_whose_bookkeeping_no_longer_proves_it_ours_is_never_taken_as_in_sync(
    world: World, translations: list[str]
) -> None:
    """Tenant boundary on the fast path: a host object at our copy's name, with our digest and our field ownership,
    but bookkeeping that names another virtual cluster (forged, or another tenant's) is not ours — the full path
    decides, and it refuses to write (NameTaken), even though nothing else about the copy changed."""
    synced_world(world)
    name = edited_name(world, "w1")
    with world.host.lock:  # changed behind the apiserver's back: no managedFields entry of another manager
        stored = world.host.objects[("example.com", "Widget", TENANT.host_namespace, name)]
        stored["metadata"]["labels"]["crdsync.io/vcluster"] = "another-tenant"
    writes = world.writes()
    translations.clear()
    world.start()
    assert "w1" in translations
    assert world.writes() == writes
    assert world.host_copy("w1")["metadata"]["labels"]["crdsync.io/vcluster"] == "another-tenant"  # type: ignore[index]


# -- restart: the keys that need no write are settled on one thread, dry, before the workers start --------------------


def unstarted_engine(world: World) -> Engine:
    """An engine with no workers: what the settle pass leaves queued stays queued, to be looked at."""
    engine = Engine(world.config, TENANT, world.host, world.virtual, workers=0, informer_factory=FakeInformer)
    world.engine = engine
    engine.start()
    assert engine.wait_initial_sync(5)
    return engine


def test_the_settle_pass_settles_exactly_the_keys_whose_reconcile_would_write_nothing(
    world: World, translations: list[str]
) -> None:
    synced_world(world, n=6)
    world.virtual.put(WIDGETS, widget("w1", size=100))  # the tenant's edit while down
    drifted = world.host_copy("w2")
    assert drifted is not None
    drifted["spec"] = {"size": -1}
    world.host.put(WIDGETS, drifted)  # someone else's edit of the copy
    world.host.remove(WIDGETS, TENANT.host_namespace, edited_name(world, "w3"))  # the copy deleted
    calls = (len(world.host.calls), len(world.virtual.calls))
    writes = world.writes()
    translations.clear()
    engine = unstarted_engine(world)
    assert world.host.calls[calls[0] :] + world.virtual.calls[calls[1] :] == []  # dry: not even a read
    assert world.writes() == writes
    assert translations == []  # a dry run stops before translating
    left = engine.queue.take_waiting()
    assert sorted(key.identity.name for key in left) == ["w1", "w2", "w3"]
    assert engine.processed == 3  # the settled ones count as reconciled
    assert not engine.synced()  # readiness waits for the workers' share
    for key in left:  # and each key left does write when reconciled for real
        before = world.writes()
        assert engine.reconciler.reconcile(key) == Outcome.ok()
        assert world.writes() > before


def test_an_event_for_a_key_being_settled_queues_it_again() -> None:
    """The pass hands out the keys it judges as the queue's `get` does: an event meanwhile is not lost."""
    world = World()
    try:
        synced_world(world, n=2)
        engine = Engine(world.config, TENANT, world.host, world.virtual, workers=0, informer_factory=FakeInformer)
        world.engine = engine
        settled = engine.reconciler.settled

        def edit_during(key: Any) -> bool:
            result = settled(key)
            if key.identity.name == "w0":
                engine.queue.add(key)  # what an informer event for w0 does right now
            return result

        engine.reconciler.settled = edit_during  # type: ignore[method-assign]
        engine.start()
        assert engine.wait_initial_sync(5)
        assert [key.identity.name for key in engine.queue.take_waiting()] == ["w0"]
    finally:
        world.stop()


def test_the_settle_pass_leaves_a_bulk_sync_to_the_workers_after_a_run_of_keys_that_need_writes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New sources (no copies yet) all need a create: the pass stops judging after SETTLE_GIVE_UP of them in a row
    and queues the rest unjudged, so the workers start on the creates at once; no key is lost."""
    n = SETTLE_GIVE_UP + 40
    for i in range(n):
        world.virtual.put(WIDGETS, widget(f"w{i:03d}", size=i))
    judged: list[str] = []
    real = Reconciler.settled

    def counting(self: Reconciler, key: Any) -> bool:
        judged.append(key.identity.name)
        return real(self, key)

    monkeypatch.setattr(Reconciler, "settled", counting)
    engine = unstarted_engine(world)
    assert len(judged) == SETTLE_GIVE_UP
    assert len({key.identity.name for key in engine.queue.take_waiting()}) == n
    assert engine.processed == 0 and world.writes() == 0


def test_an_object_whose_routing_fails_at_start_stops_neither_the_others_nor_the_engine(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first lists are routed on the kinds thread; a routing failure there is contained per object, as on an
    informer thread (a bug or a poison object must not kill the thread every worker waits for)."""
    for i in range(4):
        world.virtual.put(WIDGETS, widget(f"w{i}", size=i))
    real = routing.virtual_event

    def failing(view: Any, runtime: Any, etype: str, obj: Any) -> Any:
        if obj["metadata"]["name"] == "w2":
            raise RuntimeError("a routing bug")
        return real(view, runtime, etype, obj)

    monkeypatch.setattr(routing, "virtual_event", failing)
    engine = world.start()
    assert [name for name in ("w0", "w1", "w2", "w3") if world.host_copy(name) is not None] == ["w0", "w1", "w3"]
    assert engine.problems() == [] and "routing default/w2 failed" in caplog.text
    monkeypatch.setattr(routing, "virtual_event", real)
    world.virtual.put(WIDGETS, widget("w2", size=20))  # its next event is routed as usual
    world.settle()
    assert world.host_copy("w2") is not None
