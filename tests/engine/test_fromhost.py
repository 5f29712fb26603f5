"""fromHost copies (crdsync/engine/fromhost.py): what a tenant sees of host objects shared with it or imported into it.

The engine runs against the in-memory clusters of tests/fakeapi, with test_engine's harness.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.engine import Engine
from crdsync.spec.model import (
    DeletionPolicy,
    Direction,
    HostSelection,
    LabelSelector,
    Rule,
    Scope,
    SyncConfig,
)
from crdsync.translate.bookkeeping import PREFIX, source_of
from crdsync.translate.objects import to_virtual
from tests.engine.kinds import NAMESPACES, SECRETS, SHARED, SHAREDS, WIDGET, WIDGETS
from tests.engine.test_engine import TENANT, World, host_secret, make_config, shared_thing, widget


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The Events the engine records, as (reason, message)."""
    recorded: list[tuple[str, str]] = []
    monkeypatch.setattr(
        reconcile_module, "record_event", lambda client, obj, reason, message, **kw: recorded.append((reason, message))
    )
    return recorded


@pytest.fixture
def worlds() -> Iterator[list[World]]:
    made: list[World] = []
    yield made
    for w in made:
        w.stop()


def shared_rule(**overrides: Any) -> Rule:
    fields: dict[str, Any] = {
        "direction": Direction.FROM_HOST,
        "gvk": SHARED,
        "scope": Scope.CLUSTER,
        "selector": LabelSelector(match_labels=(("shared", "true"),)),
        "host": HostSelection(),
    }
    fields.update(overrides)
    return Rule(**fields)


def writes(engine: Engine, side: str, verb: str) -> float:
    """crdsync_writes_total{side, verb}: what an operator reads to see which cluster the sync writes to."""
    return engine.metrics.registry.get_sample_value("crdsync_writes_total", {"side": side, "verb": verb}) or 0.0


def test_a_shared_objects_status_reaches_its_virtual_copy(worlds: list[World], events: list[tuple[str, str]]) -> None:
    """SharedThing has a status subresource on both sides: the copy's status goes in a write of its own."""
    w = World(SyncConfig(name="shared", rules=(shared_rule(),)))
    worlds.append(w)
    host_obj = shared_thing("issuer", shared=True, x=1)
    host_obj["status"] = {"phase": "Ready"}
    w.host.put(SHAREDS, host_obj)
    w.start()
    copy = w.virtual.get(SHAREDS, None, "issuer")
    assert copy is not None
    assert copy["spec"] == {"x": 1}
    assert copy["status"] == {"phase": "Ready"}


def test_a_shared_object_unshared_has_its_virtual_copy_deleted_counted_as_a_virtual_write(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    w = World(SyncConfig(name="shared", rules=(shared_rule(),)))
    worlds.append(w)
    w.host.put(SHAREDS, shared_thing("issuer", shared=True))
    engine = w.start()
    assert w.virtual.get(SHAREDS, None, "issuer") is not None
    w.host.put(SHAREDS, shared_thing("issuer", shared=False))
    w.settle()
    assert w.virtual.get(SHAREDS, None, "issuer") is None
    assert writes(engine, "virtual", "delete") == 1
    assert writes(engine, "host", "delete") == 0


def test_under_orphan_an_unshared_objects_virtual_copy_stays_as_the_tenants_own_without_our_bookkeeping(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    w = World(SyncConfig(name="shared", rules=(shared_rule(deletion=DeletionPolicy.ORPHAN),)))
    worlds.append(w)
    w.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    engine = w.start()
    assert source_of(w.virtual.get(SHAREDS, None, "issuer") or {}) is not None
    w.host.put(SHAREDS, shared_thing("issuer", shared=False, x=1))
    w.settle()
    left = w.virtual.get(SHAREDS, None, "issuer")
    assert left is not None and left["spec"] == {"x": 1}
    assert source_of(left) is None
    meta = left["metadata"]
    assert not [k for k in {**meta.get("labels", {}), **meta.get("annotations", {})} if k.startswith(PREFIX)]
    assert writes(engine, "virtual", "patch") == 1
    assert writes(engine, "host", "patch") == 0


def test_a_virtual_object_claiming_a_host_source_the_host_does_not_have_gives_way_to_the_real_copy(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    """A forged (or stale) claim to a host source that does not exist holds no place: the shared object's copy
    replaces it."""
    config = SyncConfig(name="shared", rules=(shared_rule(),))
    w = World(config)
    worlds.append(w)
    forged = to_virtual(config, config.rules[0], shared_thing("nowhere", shared=True, x=666), TENANT)
    forged["metadata"]["name"] = "issuer"
    w.virtual.put(SHAREDS, forged)
    w.host.put(SHAREDS, shared_thing("issuer", shared=True, x=1))
    w.start()
    copy = w.virtual.get(SHAREDS, None, "issuer")
    assert copy is not None and copy["spec"] == {"x": 1}
    claimed = source_of(copy)
    assert claimed is not None and claimed.name == "issuer"
    assert not [reason for reason, _ in events if reason in ("NameTaken", "TargetExists")]


def test_a_namespaced_shared_object_lands_in_a_virtual_namespace_created_for_it(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    rule = Rule(
        direction=Direction.FROM_HOST,
        gvk=WIDGET,
        host=HostSelection(namespaces=("platform",), virtual_namespace="platform-shared"),
    )
    w = World(SyncConfig(name="landing", rules=(rule,)))
    worlds.append(w)
    host_widget = widget("w1", "platform", size=3)
    w.host.put(WIDGETS, host_widget)
    w.start()
    assert w.virtual.get(NAMESPACES, None, "platform-shared") is not None
    copy = w.virtual.get(WIDGETS, "platform-shared", "w1")
    assert copy is not None and copy["spec"] == {"size": 3}


def test_an_import_no_longer_referenced_is_deleted_counted_as_a_virtual_write(
    worlds: list[World], events: list[tuple[str, str]]
) -> None:
    w = World(make_config())
    worlds.append(w)
    engine = w.start()
    w.virtual.put(WIDGETS, widget("w1", secretName="tls"))
    w.settle()
    copy = w.host_copy("default", "w1")
    assert copy is not None
    w.host.put(SECRETS, host_secret(copy["spec"]["secretName"], "djE="))
    w.settle()
    assert w.virtual.get(SECRETS, "default", "tls") is not None
    w.virtual.put(WIDGETS, widget("w1"))
    w.settle()
    assert w.virtual.get(SECRETS, "default", "tls") is None
    assert writes(engine, "virtual", "delete") == 1
