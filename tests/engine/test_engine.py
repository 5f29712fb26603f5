"""The engine's decisions against in-memory clusters: what is written where, and — as important — what is not.

These pin the logic (routing, ownership, references, deletion, restart, errors); the e2e suite proves the same
behaviour against real API servers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.context import Outcome
from crdsync.engine.engine import Engine
from crdsync.spec.model import (
    ConflictPolicy,
    DeletionPolicy,
    Direction,
    FollowDirection,
    HostSelection,
    LabelSelector,
    Patch,
    PatchOp,
    Reference,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.translate.bookkeeping import ANN_SOURCE_NAME, LABEL_ORPHANED, LABEL_VCLUSTER, source_of
from crdsync.translate.names import Tenant, host_name
from tests.engine.kinds import NAMESPACES, SECRET, SECRETS, SHARED, SHAREDS, WIDGET, WIDGETS
from tests.fakeapi import FakeCluster, FakeInformer
from tests.fakeapi.settle import settle

TENANT = Tenant(vcluster="vc1", host_namespace="tenant-a")


def widget_rule(**overrides: Any) -> Rule:
    fields: dict[str, Any] = {
        "direction": Direction.TO_HOST,
        "gvk": WIDGET,
        "references": (
            Reference(path="$.spec.secretName", kind="Secret", api_version="v1", follow=FollowDirection.FROM_HOST),
            Reference(path="$.spec.caSecret", kind="Secret", api_version="v1", follow=FollowDirection.TO_HOST),
        ),
    }
    fields.update(overrides)
    return Rule(**fields)


def make_config(*extra: Rule, widget: Rule | None = None) -> SyncConfig:
    rules = (
        widget or widget_rule(),
        Rule(direction=Direction.TO_HOST, gvk=SECRET, mode=SyncMode.REFERENCED),
        Rule(direction=Direction.FROM_HOST, gvk=SECRET, mode=SyncMode.REFERENCED),
        Rule(
            direction=Direction.FROM_HOST,
            gvk=SHARED,
            scope=Scope.CLUSTER,
            selector=LabelSelector(match_labels=(("shared", "true"),)),
            host=HostSelection(),
        ),
        *extra,
    )
    return SyncConfig(name="test", rules=rules)


class World:
    def __init__(self, config: SyncConfig) -> None:
        self.config = config
        self.host = FakeCluster("host", [WIDGETS, SECRETS, SHAREDS, NAMESPACES])
        self.virtual = FakeCluster("virtual", [WIDGETS, SECRETS, SHAREDS, NAMESPACES])
        self.engine: Engine | None = None
        self.events: list[tuple[str, str]] = []

    def start(self) -> Engine:
        self.engine = Engine(
            self.config,
            TENANT,
            self.host,
            self.virtual,
            workers=2,
            informer_factory=FakeInformer,
        )
        self.engine.start()
        assert self.engine.wait_initial_sync(5)
        self.settle()
        return self.engine

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def settle(self, timeout: float = 5.0) -> None:
        assert self.engine is not None
        settle([self.engine], [self.host, self.virtual], timeout=timeout)

    def host_copy(
        self, namespace: str, name: str, res: Any = WIDGETS, rule: Rule | None = None
    ) -> dict[str, Any] | None:
        naming = (rule or widget_rule()).naming
        return self.host.get(res, TENANT.host_namespace, host_name(TENANT, namespace, name, naming))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(make_config())
    monkeypatch.setattr(
        reconcile_module, "record_event", lambda client, obj, reason, message, **kw: w.events.append((reason, message))
    )
    yield w
    w.stop()


def widget(name: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": spec,
    }


def shared_thing(name: str, *, shared: bool, **spec: Any) -> dict[str, Any]:
    labels = {"shared": "true"} if shared else {}
    return {
        "apiVersion": "example.com/v1",
        "kind": "SharedThing",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def host_secret(name: str, certificate: str) -> dict[str, Any]:
    """A Secret as the host operator writes it in the tenant's host namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": TENANT.host_namespace},
        "data": {"tls.crt": certificate},
    }


def host_secret_issued_for(world: World, name: str = "w1") -> dict[str, Any]:
    """Widget `name` in namespace default referencing Secret tls, synced, and the host operator's Secret written at
    the name its copy references (so the engine imports it): the copy."""
    world.virtual.put(WIDGETS, widget(name, secretName="tls"))
    world.settle()
    copy = world.host_copy("default", name)
    assert copy is not None
    world.host.put(SECRETS, host_secret(copy["spec"]["secretName"], "djE="))
    world.settle()
    return copy


def test_virtual_object_is_copied_to_host_updated_and_deleted(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    copy = world.host_copy("default", "w1")
    assert copy is not None
    assert copy["spec"] == {"size": 1}
    assert copy["metadata"]["labels"]["app"] == "w1"
    source = source_of(copy)
    assert source is not None and source.name == "w1" and source.namespace == "default"
    world.virtual.put(WIDGETS, widget("w1", size=2))
    world.settle()
    assert world.host_copy("default", "w1")["spec"] == {"size": 2}  # type: ignore[index]
    world.virtual.remove(WIDGETS, "default", "w1")
    world.settle()
    assert world.host_copy("default", "w1") is None


def test_status_written_on_host_flows_back_without_ping_pong(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    copy = world.host_copy("default", "w1")
    assert copy is not None
    copy["status"] = {"ready": True}
    world.host.put(WIDGETS, copy)  # the host operator writes status
    world.settle()
    assert world.virtual.get(WIDGETS, "default", "w1")["status"] == {"ready": True}  # type: ignore[index]
    writes_before = len(world.host.our_writes()) + len(world.virtual.our_writes())
    time.sleep(0.3)
    world.settle()
    assert len(world.host.our_writes()) + len(world.virtual.our_writes()) == writes_before


def test_restart_of_a_converged_pair_writes_nothing(world: World) -> None:
    world.start()
    for i in range(5):
        world.virtual.put(WIDGETS, widget(f"w{i}", size=i, secretName=f"tls-{i}"))
    world.settle()
    world.stop()
    before = (len(world.host.our_writes()), len(world.virtual.our_writes()))
    world.start()
    assert (len(world.host.our_writes()), len(world.virtual.our_writes())) == before


def test_host_copy_of_a_source_deleted_while_down_is_collected_on_start(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("gone"))
    world.virtual.put(WIDGETS, widget("stays"))
    world.settle()
    world.stop()
    world.virtual.remove(WIDGETS, "default", "gone")
    world.start()
    assert world.host_copy("default", "gone") is None
    assert world.host_copy("default", "stays") is not None


def test_recreated_source_gets_a_fresh_host_copy(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1"))
    world.settle()
    world.stop()
    world.virtual.remove(WIDGETS, "default", "w1")
    recreated = world.virtual.put(WIDGETS, widget("w1", size=9))
    world.start()
    copy = world.host_copy("default", "w1")
    assert copy is not None
    assert source_of(copy).uid == recreated["metadata"]["uid"]  # type: ignore[union-attr]
    assert copy["spec"] == {"size": 9}


def test_host_written_secret_is_imported_under_the_tenant_name_rotated_and_dropped(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", secretName="tls"))
    world.settle()
    copy = world.host_copy("default", "w1")
    assert copy is not None
    host_secret_name = copy["spec"]["secretName"]
    assert host_secret_name != "tls"
    world.host.put(SECRETS, host_secret(host_secret_name, "djE="))
    world.settle()
    imported = world.virtual.get(SECRETS, "default", "tls")
    assert imported is not None and imported["data"] == {"tls.crt": "djE="}
    world.host.put(SECRETS, host_secret(host_secret_name, "djI="))  # the operator rotates it
    world.settle()
    assert world.virtual.get(SECRETS, "default", "tls")["data"] == {"tls.crt": "djI="}  # type: ignore[index]
    world.virtual.put(WIDGETS, widget("w1"))  # no longer references the secret
    world.settle()
    assert world.virtual.get(SECRETS, "default", "tls") is None


def test_tenant_secret_is_exported_while_referenced(world: World) -> None:
    world.start()
    world.virtual.put(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "ca", "namespace": "default"},
            "data": {"ca.key": "a2V5"},
        },
    )
    world.virtual.put(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "unrelated", "namespace": "default"},
            "data": {},
        },
    )
    world.virtual.put(WIDGETS, widget("w1", caSecret="ca"))
    world.settle()
    secret_rule = world.config.rule_for(Direction.TO_HOST, SECRET)
    exported = world.host_copy("default", "ca", SECRETS, secret_rule)
    assert exported is not None and exported["data"] == {"ca.key": "a2V5"}
    assert world.host_copy("default", "w1")["spec"]["caSecret"] == exported["metadata"]["name"]  # type: ignore[index]
    assert world.host_copy("default", "unrelated", SECRETS, secret_rule) is None
    world.virtual.remove(WIDGETS, "default", "w1")
    world.settle()
    assert world.host_copy("default", "ca", SECRETS, secret_rule) is None
    assert world.virtual.get(SECRETS, "default", "ca") is not None  # the tenant's own secret is untouched


def test_shared_host_object_appears_read_only_and_goes_with_its_source(world: World) -> None:
    world.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    world.host.put(SHAREDS, shared_thing("private", shared=False, x=2))
    world.start()
    imported = world.virtual.get(SHAREDS, None, "issuer")
    assert imported is not None and imported["spec"] == {"x": 1}
    assert world.virtual.get(SHAREDS, None, "private") is None
    imported["spec"] = {"x": 99}
    world.virtual.put(SHAREDS, imported)  # a tenant edit
    world.settle()
    assert world.virtual.get(SHAREDS, None, "issuer")["spec"] == {"x": 1}  # type: ignore[index]
    world.host.remove(SHAREDS, None, "issuer")
    world.settle()
    assert world.virtual.get(SHAREDS, None, "issuer") is None


def test_object_that_stops_matching_the_selector_loses_its_host_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(make_config(widget=widget_rule(selector=LabelSelector(match_labels=(("sync", "yes"),)))))
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    try:
        w.start()
        obj = widget("w1")
        obj["metadata"]["labels"]["sync"] = "yes"
        w.virtual.put(WIDGETS, obj)
        w.virtual.put(WIDGETS, widget("other"))
        w.settle()
        assert w.host_copy("default", "w1") is not None
        assert w.host_copy("default", "other") is None
        obj["metadata"]["labels"]["sync"] = "no"
        w.virtual.put(WIDGETS, obj)
        w.settle()
        assert w.host_copy("default", "w1") is None
    finally:
        w.stop()


def test_a_bad_object_becomes_an_event_and_others_keep_syncing(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = widget_rule(patches_to_host=(Patch(op=PatchOp.SET, path="$.spec.size.inner", value=1),))
    w = World(make_config(widget=rule))
    monkeypatch.setattr(
        reconcile_module, "record_event", lambda client, obj, reason, message, **kw: w.events.append((reason, message))
    )
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("bad", size=3))  # size is a number: .inner cannot be set
        w.virtual.put(WIDGETS, widget("good", size={"inner": 0}))
        w.settle()
        assert w.host_copy("default", "good") is not None
        assert w.host_copy("default", "bad") is None
        assert any(reason == "TranslationFailed" for reason, _ in w.events)
    finally:
        w.stop()


def test_unmanaged_host_object_is_left_alone_under_abort(world: World) -> None:
    name = host_name(TENANT, "default", "w1", widget_rule().naming)
    world.host.put(
        WIDGETS,
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": TENANT.host_namespace},
            "spec": {"mine": True},
        },
    )
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    assert world.host.get(WIDGETS, TENANT.host_namespace, name)["spec"] == {"mine": True}  # type: ignore[index]
    assert any(reason == "TargetExists" for reason, _ in world.events)


def test_orphan_policy_releases_the_host_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(make_config(widget=widget_rule(deletion=DeletionPolicy.ORPHAN, conflict=ConflictPolicy.ABORT)))
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("w1"))
        w.settle()
        w.virtual.remove(WIDGETS, "default", "w1")
        w.settle()
        copy = w.host_copy("default", "w1")
        assert copy is not None
        # Unmanaged, but marked: an admin can find it (crdsync gc), and nothing routes it as a live copy.
        labels = copy["metadata"]["labels"]
        assert source_of(copy) is None
        assert labels[LABEL_ORPHANED] == "true" and labels[LABEL_VCLUSTER] == TENANT.vcluster
        assert copy["metadata"]["annotations"][ANN_SOURCE_NAME] == "w1"
        # The same source, back again, takes its copy back instead of reporting TargetExists.
        w.virtual.put(WIDGETS, widget("w1", size=3))
        w.settle()
        copy = w.host_copy("default", "w1")
        assert copy is not None and copy["spec"] == {"size": 3}
        assert source_of(copy) is not None and LABEL_ORPHANED not in copy["metadata"]["labels"]
    finally:
        w.stop()


def test_finalizer_holds_the_virtual_object_until_the_host_copy_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(make_config(widget=widget_rule(finalizer=True)))
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("w1"))
        w.settle()
        assert "crdsync.io/host-copy" in w.virtual.get(WIDGETS, "default", "w1")["metadata"]["finalizers"]  # type: ignore[index]
        host_copy = w.host_copy("default", "w1")
        assert host_copy is not None
        w.virtual.remove(WIDGETS, "default", "w1")
        w.settle()
        assert w.host_copy("default", "w1") is None
        assert w.virtual.get(WIDGETS, "default", "w1") is None
        deletes = [i for i, wr in enumerate(w.host.writes) if wr[0] == "delete"]
        releases = [i for i, wr in enumerate(w.virtual.writes) if wr[0] == "patch"]
        assert deletes and releases
    finally:
        w.stop()


def test_a_name_of_an_unshared_host_object_never_reaches_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = widget_rule(references=(Reference(path="$.spec.issuer", kind="SharedThing", api_version="example.com/v1"),))
    w = World(make_config(widget=rule))
    monkeypatch.setattr(
        reconcile_module, "record_event", lambda client, obj, reason, message, **kw: w.events.append((reason, message))
    )
    w.host.put(SHAREDS, shared_thing("public", shared=True))
    w.host.put(SHAREDS, shared_thing("private", shared=False))
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("ok", issuer="public"))
        w.virtual.put(WIDGETS, widget("sneaky", issuer="private"))
        w.settle()
        copy = w.host_copy("default", "ok")
        assert copy is not None and copy["spec"]["issuer"] == "public"  # shared names cross unchanged
        assert w.host_copy("default", "sneaky") is None
        assert any(reason == "ReferenceNotShared" and "private" in message for reason, message in w.events)

        # Sharing it later lets the same object through, without any retry timer.
        private = w.host.get(SHAREDS, None, "private")
        assert private is not None
        private["metadata"]["labels"] = {"shared": "true"}
        w.host.put(SHAREDS, private)
        w.settle()
        assert w.host_copy("default", "sneaky") is not None
    finally:
        w.stop()


@pytest.mark.parametrize("policy", [ConflictPolicy.ADOPT, ConflictPolicy.OVERWRITE])
def test_unmanaged_host_object_is_taken_over_under_adopt_and_overwrite(
    policy: ConflictPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(make_config(widget=widget_rule(conflict=policy)))
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    name = host_name(TENANT, "default", "w1", widget_rule().naming)
    w.host.put(
        WIDGETS,
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": TENANT.host_namespace},
            "spec": {"mine": True},
        },
    )
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("w1", size=1))
        w.settle()
        copy = w.host.get(WIDGETS, TENANT.host_namespace, name)
        assert copy is not None
        assert source_of(copy) is not None and source_of(copy).name == "w1"  # type: ignore[union-attr]
        assert copy["spec"]["size"] == 1
        # Adopt keeps what others wrote next to our fields; Overwrite replaces the object with ours.
        assert ("mine" in copy["spec"]) is (policy is ConflictPolicy.ADOPT)
    finally:
        w.stop()


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def namespace_selecting_world() -> World:
    return World(make_config(widget=widget_rule(namespace_selector=LabelSelector(match_labels=(("sync", "yes"),)))))


def test_a_namespace_selector_syncs_the_sources_of_namespaces_whose_labels_match_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = namespace_selecting_world()
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    w.virtual.put(NAMESPACES, namespace("team", sync="yes"))
    w.virtual.put(NAMESPACES, namespace("other"))
    w.virtual.put(WIDGETS, widget("a", "team"))
    w.virtual.put(WIDGETS, widget("b", "other"))
    try:
        w.start()
        assert w.host_copy("team", "a") is not None
        assert w.host_copy("other", "b") is None
        w.virtual.put(NAMESPACES, namespace("other", sync="yes"))  # relabelled: its sources sync now
        w.virtual.put(NAMESPACES, namespace("team"))  # and these stop
        w.settle()
        assert w.host_copy("other", "b") is not None
        assert w.host_copy("team", "a") is None
    finally:
        w.stop()


def recording_informers() -> tuple[list[FakeInformer], Callable[..., FakeInformer]]:
    """An informer factory for Engine that keeps every informer it makes, in the list returned with it."""
    made: list[FakeInformer] = []

    def informers(*args: Any, **kwargs: Any) -> FakeInformer:
        made.append(FakeInformer(*args, **kwargs))
        return made[-1]

    return made, informers


def test_healthz_names_a_dead_namespace_informer(monkeypatch: pytest.MonkeyPatch) -> None:
    w = namespace_selecting_world()
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    made, informers = recording_informers()
    engine = Engine(w.config, TENANT, w.host, w.virtual, workers=1, informer_factory=informers)
    engine.start()
    try:
        assert engine.wait_initial_sync(5)
        assert engine.problems() == []
        (namespaces,) = [i for i in made if i.res == NAMESPACES]
        namespaces.running = False
        assert [p for p in engine.problems() if p.startswith("informer virtual namespaces") and "died" in p]
    finally:
        engine.stop()


def test_the_engines_threads_never_keep_the_process_alive(world: World) -> None:
    """A worker stuck in a request to an unresponsive apiserver must not block the exit after SIGTERM."""
    world.start()
    ours = [t for t in threading.enumerate() if t.name.startswith("crdsync-")]
    assert ours and all(t.daemon for t in ours)


def test_a_shared_object_counts_as_in_sync_while_the_host_has_it(world: World) -> None:
    world.host.put(SHAREDS, shared_thing("issuer", shared=True))
    engine = world.start()

    def in_sync() -> float:
        labels = {"kind": "SharedThing", "direction": "fromHost"}
        return engine.metrics.registry.get_sample_value("crdsync_objects_in_sync", labels) or 0.0

    assert in_sync() == 1
    world.host.remove(SHAREDS, None, "issuer")
    world.settle()
    assert in_sync() == 0


def test_stop_stops_every_informer_and_every_thread_of_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    w = namespace_selecting_world()
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    made, informers = recording_informers()
    before = set(threading.enumerate())
    engine = Engine(w.config, TENANT, w.host, w.virtual, workers=2, informer_factory=informers)
    engine.start()
    assert engine.wait_initial_sync(5)
    assert any(i.res == NAMESPACES for i in made) and all(not i.stopped for i in made)
    engine.stop()
    assert all(i.stopped for i in made)
    assert not [t for t in set(threading.enumerate()) - before if t.name.startswith("crdsync-")]
    assert engine.problems() == []  # stopping on purpose is not a liveness failure


def test_an_import_counts_as_in_sync_while_referenced_and_the_host_has_it(world: World) -> None:
    engine = world.start()

    def in_sync(kind: str, direction: str) -> float:
        labels = {"kind": kind, "direction": direction}
        return engine.metrics.registry.get_sample_value("crdsync_objects_in_sync", labels) or 0.0

    copy = host_secret_issued_for(world)
    assert world.virtual.get(SECRETS, "default", "tls") is not None
    assert in_sync("Secret", "fromHost") == 1
    assert in_sync("Widget", "toHost") == 1
    world.host.remove(SECRETS, TENANT.host_namespace, copy["spec"]["secretName"])
    world.settle()
    assert in_sync("Secret", "fromHost") == 0
    assert in_sync("Widget", "toHost") == 1


def test_a_worker_reconciles_again_what_asks_for_it_counts_each_result_and_survives_a_crashing_reconcile(
    world: World,
) -> None:
    """Per key: later(s) comes back after s, retry() after its backoff, a reconcile that raises is retried like an
    error, failed() waits for the next change; controller-runtime's reconcile counters see each result."""
    engine = world.start()
    script: dict[str, list[Outcome | Exception]] = {
        "later": [Outcome.later(0.05), Outcome.ok()],
        "retried": [Outcome.retry(), Outcome.ok()],
        "crashes": [RuntimeError("a bug"), Outcome.ok()],
        "fails": [Outcome.failed()],
    }
    seen: list[str] = []
    real = engine.reconciler.reconcile

    def scripted(key: Any) -> Outcome:
        name = key.identity.name
        if name not in script:
            return real(key)
        seen.append(name)
        step = script[name].pop(0) if len(script[name]) > 1 else script[name][0]
        if isinstance(step, Exception):
            raise step
        return step

    engine.reconciler.reconcile = scripted  # type: ignore[method-assign]
    for name in script:
        world.virtual.put(WIDGETS, widget(name))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sorted(seen) != [
        "crashes",
        "crashes",
        "fails",
        "later",
        "later",
        "retried",
        "retried",
    ]:
        time.sleep(0.02)
    world.settle()
    assert sorted(seen) == ["crashes", "crashes", "fails", "later", "later", "retried", "retried"]

    def reconciles(result: str) -> float:
        labels = {"controller": "widget.example.com", "result": result}
        return engine.metrics.registry.get_sample_value("controller_runtime_reconcile_total", labels) or 0.0

    assert reconciles("requeue_after") == 1
    assert reconciles("error") == 3  # retry(), the crash and failed()
    assert reconciles("success") >= 3
    errors = engine.metrics.registry.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": "widget.example.com"}
    )
    assert errors == 3
    assert engine.errors == 3 and engine.processed >= 7  # what `crdsync run` reports when it stops
    assert engine.problems() == []  # no worker died
