"""Reconcile one key (crdsync/engine/reconcile.py): how each kind of failure reaches the tenant, through the engine
against the in-memory clusters of tests/fakeapi (test_engine's harness)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from tests.engine.kinds import SECRETS, SHAREDS, WIDGETS
from tests.engine.test_engine import World, host_secret, make_config, shared_thing, widget
from tests.engine.test_tenant_attacks import forged_bookkeeping
from tests.engine.test_write_path import eventually

Event = tuple[str, str, str]  # (involved object's name, reason, message)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    found: list[Event] = []

    def record(client: Any, obj: dict[str, Any], reason: str, message: str, **_: Any) -> None:
        found.append((obj["metadata"]["name"], reason, message))

    monkeypatch.setattr(reconcile_module, "record_event", record)
    return found


@pytest.fixture
def world(events: list[Event]) -> Iterator[World]:
    w = World(make_config())
    yield w
    w.stop()


def test_an_unexpected_failure_is_reported_on_the_source_and_retried_until_it_syncs(
    world: World, events: list[Event]
) -> None:
    """A bug or a poison object (here a RecursionError from the host client) costs that key a SyncFailed Warning on
    the tenant's object naming what went wrong, never the worker: the key is retried and syncs once the fault goes."""
    real_create = world.host.create
    failures: list[int] = []

    def create(*args: Any, **kwargs: Any) -> Any:
        if len(failures) < 2:
            failures.append(1)
            raise RecursionError("maximum recursion depth exceeded")
        return real_create(*args, **kwargs)

    world.host.create = create  # type: ignore[method-assign]
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    assert eventually(lambda: world.host_copy("default", "w1") is not None)
    failed = [(name, message) for name, reason, message in events if reason == "SyncFailed"]
    assert failed and all(name == "w1" and "RecursionError" in message for name, message in failed)


def test_an_import_refused_is_reported_on_the_tenant_objects_that_reference_it(
    world: World, events: list[Event]
) -> None:
    """Nothing stands at the import's place yet: the Warning goes to whoever names it, so `kubectl describe` on the
    tenant's Widget says why its Secret never arrived."""
    world.start()
    world.virtual.put(WIDGETS, widget("w1", secretName="tls"))
    world.settle()
    copy = world.host_copy("default", "w1")
    assert copy is not None
    forged = host_secret(copy["spec"]["secretName"], "djE=")
    forged["metadata"].update(forged_bookkeeping(side="virtual", kind="v1/Secret", name="x", vcluster="someone-else"))
    world.host.put(SECRETS, forged)
    world.settle()
    assert world.virtual.get(SECRETS, "default", "tls") is None
    refused = [name for name, reason, _ in events if reason == "ImportRefused"]
    assert refused and set(refused) == {"w1"}


def test_a_shared_host_object_whose_place_the_tenant_holds_is_reported_on_the_tenants_object(
    world: World, events: list[Event]
) -> None:
    world.virtual.put(SHAREDS, shared_thing("issuer", shared=False, mine=True))
    world.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    world.start()
    assert world.virtual.get(SHAREDS, None, "issuer")["spec"] == {"mine": True}  # type: ignore[index]
    assert [name for name, reason, _ in events if reason == "TargetExists"][:1] == ["issuer"]
