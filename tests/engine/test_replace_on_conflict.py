"""replaceOnConflict in the engine: when the host refuses to update a copy as invalid (422, here a field the kind makes
immutable, modelled by the in-memory apiserver as a CRD's `self == oldSelf` rule answers), the copy is deleted with a
uid precondition and created again, with a Normal Event `Replaced` on the tenant's virtual object each time.

Never without the opt-in (a Warning and a retry instead), never for a host object crdsync cannot prove is this
tenant's copy (translate.tenancy), and no repeated replace while a host finalizer holds the old copy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.spec.model import ConflictPolicy
from crdsync.translate.bookkeeping import source_of
from crdsync.translate.names import host_name
from crdsync.translate.objects import to_host
from tests.engine.kinds import WIDGETS
from tests.engine.test_engine import TENANT, World, make_config, widget, widget_rule
from tests.engine.test_write_path import first_call_races

IMMUTABLE: list[tuple[str, ...]] = [("spec", "size")]

Event = tuple[str, str, str, str]  # (involved name, type, reason, message)


class Replacing(World):
    def __init__(self, monkeypatch: pytest.MonkeyPatch, **rule: Any) -> None:
        super().__init__(make_config(widget=widget_rule(**rule)))
        self.host.immutable[(WIDGETS.group, WIDGETS.kind)] = IMMUTABLE
        self.recorded: list[Event] = []

        def record(
            client: Any, obj: dict[str, Any], reason: str, message: str, type_: str = "Warning", **_: Any
        ) -> None:
            assert client is self.virtual, "Events only ever go to the tenant's virtual objects"
            self.recorded.append((obj["metadata"]["name"], type_, reason, message))

        monkeypatch.setattr(reconcile_module, "record_event", record)

    def reasons(self) -> list[tuple[str, str]]:
        return [(type_, reason) for _, type_, reason, _ in self.recorded]

    def wait_for_reason(self, reason: str, timeout: float = 5.0) -> None:
        """A refused write is retried with backoff, so the engine never goes idle: wait for its Event instead."""
        deadline = time.monotonic() + timeout
        while not any(r == reason for _, r in self.reasons()):
            assert time.monotonic() < deadline, f"no {reason} Event: {self.recorded}"
            time.sleep(0.02)
        time.sleep(0.2)  # room for a wrong write to happen, were there one

    def resize(self, size: int) -> None:
        obj = self.virtual.get(WIDGETS, "default", "w1")
        assert obj is not None
        obj["spec"]["size"] = size
        self.virtual.put(WIDGETS, obj)


@pytest.fixture
def replacing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replacing]:
    w = Replacing(monkeypatch, replace_on_conflict=True)
    yield w
    w.stop()


def test_an_update_the_host_refuses_replaces_the_copy_with_an_event(replacing: Replacing) -> None:
    replacing.start()
    source = replacing.virtual.put(WIDGETS, widget("w1", size=1))
    replacing.settle()
    first = replacing.host_copy("default", "w1")
    assert first is not None

    replacing.resize(2)
    replacing.settle()
    second = replacing.host_copy("default", "w1")
    assert second is not None and second["spec"]["size"] == 2
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    recorded = source_of(second)
    assert recorded is not None and recorded.uid == source["metadata"]["uid"]
    name = first["metadata"]["name"]
    verbs = [(verb, n) for verb, kind, _, n in replacing.host.our_writes() if kind == "Widget"]
    assert verbs[-2:] == [("delete", name), ("create", name)]
    assert replacing.reasons() == [("Normal", "Replaced")]
    involved, _, _, message = replacing.recorded[0]
    assert involved == "w1" and "422" in message and "immutable" in message

    # Each time: a second refused update is a second replace, and a converged pair writes nothing.
    replacing.resize(3)
    replacing.settle()
    assert replacing.host_copy("default", "w1")["spec"]["size"] == 3  # type: ignore[index]
    assert replacing.reasons() == [("Normal", "Replaced")] * 2
    before = len(replacing.host.our_writes())
    replacing.settle()
    assert len(replacing.host.our_writes()) == before


def test_without_the_opt_in_the_refusal_is_a_warning_and_the_copy_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    w = Replacing(monkeypatch)
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("w1", size=1))
        w.settle()
        first = w.host_copy("default", "w1")
        assert first is not None
        w.resize(2)
        w.wait_for_reason("SyncFailed")
        copy = w.host_copy("default", "w1")
        assert copy is not None and copy["metadata"]["uid"] == first["metadata"]["uid"]
        assert copy["spec"]["size"] == 1
        assert ("Warning", "SyncFailed") in w.reasons() and ("Normal", "Replaced") not in w.reasons()
        assert not [verb for verb, *_ in w.host.our_writes() if verb == "delete"]
    finally:
        w.stop()


def test_a_host_object_crdsync_cannot_prove_is_its_copy_is_never_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Adopt takes over an unmanaged object at the copy's name; the host refuses the update: that object is not
    # provably ours (no bookkeeping of this tenant yet), so it is left alone whatever replaceOnConflict says.
    w = Replacing(monkeypatch, replace_on_conflict=True, conflict=ConflictPolicy.ADOPT)
    name = host_name(TENANT, "default", "w1", widget_rule().naming)
    w.host.put(
        WIDGETS,
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": TENANT.host_namespace},
            "spec": {"size": 1, "mine": True},
        },
    )
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("w1", size=2))
        w.wait_for_reason("SyncFailed")
        kept = w.host.get(WIDGETS, TENANT.host_namespace, name)
        assert kept is not None and kept["spec"] == {"size": 1, "mine": True}
        assert not [verb for verb, *_ in w.host.our_writes() if verb == "delete"]
        assert ("Normal", "Replaced") not in w.reasons() and ("Warning", "SyncFailed") in w.reasons()
    finally:
        w.stop()


def test_while_a_host_finalizer_holds_the_old_copy_it_is_replaced_once(replacing: Replacing) -> None:
    replacing.start()
    replacing.virtual.put(WIDGETS, widget("w1", size=1))
    replacing.settle()
    held = replacing.host_copy("default", "w1")
    assert held is not None
    held["metadata"]["finalizers"] = ["operator.example.com/cleanup"]  # the host operator holds its object
    replacing.host.put(WIDGETS, held, manager="operator")
    replacing.settle()

    replacing.resize(2)
    replacing.wait_for_reason("Replaced")  # then it polls (no writes) until the old copy is gone: never idle
    time.sleep(1.2)  # past one poll
    going = replacing.host_copy("default", "w1")
    assert going is not None and going["metadata"].get("deletionTimestamp") is not None
    assert going["spec"]["size"] == 1
    writes_while_held = len(replacing.host.our_writes())
    source = replacing.virtual.get(WIDGETS, "default", "w1")
    assert source is not None
    replacing.virtual.put(WIDGETS, source)  # any event: still waiting
    time.sleep(0.5)
    assert len(replacing.host.our_writes()) == writes_while_held
    assert replacing.reasons() == [("Normal", "Replaced")]

    # The operator lets go: the old copy disappears and the new one is created.
    going["metadata"]["finalizers"] = []
    replacing.host.patch(
        WIDGETS, going["metadata"]["namespace"], going["metadata"]["name"], {"metadata": {"finalizers": None}}
    )
    replacing.settle()
    copy = replacing.host_copy("default", "w1")
    assert copy is not None and copy["spec"]["size"] == 2 and copy["metadata"].get("deletionTimestamp") is None
    assert replacing.reasons() == [("Normal", "Replaced")]


def test_a_replacement_whose_create_finds_the_copy_made_again_meanwhile_updates_it(replacing: Replacing) -> None:
    """Between the delete and the create, our copy of this very source appears again (a cache that was behind, a
    replica whose term just ended): the create's AlreadyExists becomes an apply of it, with no error for the tenant."""
    replacing.start()
    replacing.virtual.put(WIDGETS, widget("w1", size=1))
    replacing.settle()

    def made_again() -> None:
        source = replacing.virtual.get(WIDGETS, "default", "w1")
        assert source is not None
        ours = to_host(replacing.config, replacing.config.rules[0], source, TENANT)
        replacing.host.put(WIDGETS, ours, manager="crdsync")

    calls = first_call_races(replacing.host, "create", made_again)
    replacing.resize(2)
    replacing.settle()
    assert calls
    copy = replacing.host_copy("default", "w1")
    assert copy is not None and copy["spec"]["size"] == 2
    assert replacing.reasons() == [("Normal", "Replaced")]
