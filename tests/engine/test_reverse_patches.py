"""Reverse paths in the engine: fields the host owns on a copy (an operator assigns a port, an endpoint) flow back onto
the tenant's virtual object by server-side apply under crdsync's field manager, and never forward again.

Against the in-memory clusters: the value arrives, a tenant edit of it is reverted, the host dropping it drops it,
the host copy is never written for it, a converged pair (and a restart) makes zero writes, kinds without a status
subresource carry status and reverse fields in one apply, and a host value is never read as a reference (so it cannot
make crdsync import or name a host object).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.spec.model import FollowDirection, Reference, Rule
from tests.engine.kinds import SECRETS, WIDGETS
from tests.engine.test_engine import TENANT, World, host_secret, make_config, widget, widget_rule
from tests.fakeapi import resource

ENDPOINT = "example.com/endpoint"
REVERSE = ("$.spec.assignedPort", f"$.metadata.annotations['{ENDPOINT}']")


def reverse_rule(**overrides: Any) -> Rule:
    return widget_rule(reverse_paths=REVERSE, **overrides)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(make_config(widget=reverse_rule()))
    monkeypatch.setattr(
        reconcile_module, "record_event", lambda client, obj, reason, message, **kw: w.events.append((reason, message))
    )
    yield w
    w.stop()


def operator_assigns(world: World, port: int | None, endpoint: str | None, *, rule: Rule | None = None) -> None:
    """The host operator writes the host-owned fields (and a status) onto the host copy of default/w1."""
    copy = world.host_copy("default", "w1", rule=rule or reverse_rule())
    assert copy is not None
    copy["spec"].pop("assignedPort", None)
    if port is not None:
        copy["spec"]["assignedPort"] = port
    annotations = copy["metadata"].setdefault("annotations", {})
    annotations.pop(ENDPOINT, None)
    if endpoint is not None:
        annotations[ENDPOINT] = endpoint
    copy["status"] = {"ready": port is not None}
    world.host.put(WIDGETS, copy, manager="operator")


def writes(world: World) -> tuple[int, int]:
    return len(world.host.our_writes()), len(world.virtual.our_writes())


def virtual_w1(world: World) -> dict[str, Any]:
    obj = world.virtual.get(WIDGETS, "default", "w1")
    assert obj is not None
    return obj


def test_host_owned_fields_flow_back_and_a_converged_pair_writes_nothing(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1, assignedPort=1))  # the tenant's own value: never sent
    world.settle()
    copy = world.host_copy("default", "w1")
    assert copy is not None and copy["spec"] == {"size": 1}
    operator_assigns(world, 30080, "10.0.0.7:30080")
    world.settle()

    back = virtual_w1(world)
    assert back["spec"] == {"size": 1, "assignedPort": 30080}
    assert back["metadata"]["annotations"][ENDPOINT] == "10.0.0.7:30080"
    assert back["status"] == {"ready": True}
    copy = world.host_copy("default", "w1")
    assert copy is not None and copy["spec"]["assignedPort"] == 30080  # the operator's value stays its own
    # Written by apply under crdsync's field manager: the virtual object records our ownership of exactly these.
    ours = [e for e in back["metadata"]["managedFields"] if e["manager"] == "crdsync" and not e.get("subresource")]
    assert ours and ours[-1]["operation"] == "Apply"
    assert ours[-1]["fieldsV1"]["f:spec"] == {"f:assignedPort": {}}

    # Converged: no write on either side, now or after a restart.
    before = writes(world)
    time.sleep(0.3)
    world.settle()
    assert writes(world) == before
    world.stop()
    world.start()
    assert writes(world) == before


def test_the_host_copy_is_never_written_for_a_host_owned_field(world: World) -> None:
    world.start()
    world.virtual.put(WIDGETS, widget("w1", size=1))
    world.settle()
    operator_assigns(world, 30080, None)
    world.settle()
    host_writes = len(world.host.our_writes())
    assert virtual_w1(world)["spec"]["assignedPort"] == 30080

    # The host drops the value: it goes from the virtual object too (we applied it, nobody else holds it).
    operator_assigns(world, None, None)
    world.settle()
    assert "assignedPort" not in virtual_w1(world)["spec"]

    # The operator assigns again and the tenant edits it: the tenant's value is never sent, the host's wins.
    operator_assigns(world, 30081, None)
    world.settle()
    edited = virtual_w1(world)
    edited["spec"]["assignedPort"] = 1
    edited["spec"]["size"] = 2
    world.virtual.put(WIDGETS, edited)
    world.settle()
    assert virtual_w1(world)["spec"] == {"size": 2, "assignedPort": 30081}
    copy = world.host_copy("default", "w1")
    assert copy is not None and copy["spec"] == {"size": 2, "assignedPort": 30081}
    # No host write since the first assignment carries a host-owned value. (There are some: each value that flows
    # back changes the virtual spec and so its generation, which the copy records, as against a real apiserver.)
    sent = world.host.sent[host_writes:]
    assert sent and all("assignedPort" not in json.dumps(body) for _, body in sent), sent
    assert [body["spec"] for (verb, *_), body in sent if verb == "apply"][-1] == {"size": 2}


def test_without_a_status_subresource_status_and_reverse_fields_go_in_one_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gadgets = resource("example.com", "v1", "Widget", "widgets", status=False)
    w = World(make_config(widget=reverse_rule()))
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    for cluster in (w.host, w.virtual):
        cluster.resources[(gadgets.group, gadgets.kind)] = gadgets
    try:
        w.start()
        w.virtual.put(gadgets, widget("w1", size=1))
        w.settle()
        operator_assigns(w, 30080, "e")
        w.settle()
        back = w.virtual.get(gadgets, "default", "w1")
        assert back is not None
        assert back["spec"]["assignedPort"] == 30080 and back["status"] == {"ready": True}
        before = writes(w)
        time.sleep(0.3)
        w.settle()
        assert writes(w) == before  # the two never remove each other's fields
    finally:
        w.stop()


def test_a_host_owned_value_is_never_read_as_a_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # A rule built in code (the loader refuses this overlap): the host-owned field is also a follow: fromHost
    # reference. A host value there must not make crdsync import the Secret it names.
    rule = widget_rule(
        reverse_paths=("$.spec.secretName",),
        references=(
            Reference(path="$.spec.secretName", kind="Secret", api_version="v1", follow=FollowDirection.FROM_HOST),
        ),
    )
    w = World(make_config(widget=rule))
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    try:
        w.start()
        w.virtual.put(WIDGETS, widget("w1", size=1))
        w.settle()
        copy = w.host_copy("default", "w1", rule=rule)
        assert copy is not None
        copy["spec"]["secretName"] = "victim"
        w.host.put(WIDGETS, copy, manager="operator")
        w.host.put(SECRETS, host_secret("victim", "c2VjcmV0"))
        w.settle()
        assert w.virtual.get(WIDGETS, "default", "w1")["spec"]["secretName"] == "victim"  # type: ignore[index]
        assert w.virtual.get(SECRETS, "default", "victim") is None
        assert [obj["metadata"]["name"] for obj in w.virtual.list(SECRETS)] == []
        assert TENANT.host_namespace not in {obj["metadata"].get("namespace") for obj in w.virtual.list(SECRETS)}
    finally:
        w.stop()
