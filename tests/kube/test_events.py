"""Events: created once, repeats aggregated by name into count/lastTimestamp patches, failures never raised."""

from __future__ import annotations

import logging

import pytest

from crdsync.kube import errors
from crdsync.kube.events import EVENTS, event_name, record_event
from tests.fakeapi import FakeCluster

CERT = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "web", "namespace": "team-a", "uid": "u-1", "resourceVersion": "7"}}


def cluster() -> FakeCluster:
    return FakeCluster("virtual", [EVENTS])


def events(client: FakeCluster) -> list[dict[str, object]]:
    return client.list(EVENTS)


def test_first_event_is_created() -> None:
    client = cluster()
    record_event(client, CERT, "HostConflict", "host object exists")
    [event] = events(client)
    assert event["metadata"]["namespace"] == "team-a"  # type: ignore[index]
    assert event["involvedObject"] == {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": "web",
                                       "namespace": "team-a", "uid": "u-1", "resourceVersion": "7"}
    assert (event["reason"], event["type"], event["count"]) == ("HostConflict", "Warning", 1)
    assert event["source"] == {"component": "crdsync"}
    assert event["firstTimestamp"] == event["lastTimestamp"]


def test_repeats_are_aggregated_without_reads() -> None:
    client = cluster()
    for i in range(3):
        record_event(client, CERT, "HostConflict", f"attempt {i}")
    [event] = events(client)
    assert event["count"] == 3 and event["message"] == "attempt 2"
    assert client.calls == ["create", "patch", "patch"]


def test_other_reason_or_object_is_another_event() -> None:
    client = cluster()
    record_event(client, CERT, "HostConflict", "x")
    record_event(client, CERT, "Synced", "y", type_="Normal")
    other = {**CERT, "metadata": {**CERT["metadata"], "name": "api", "uid": "u-2"}}  # type: ignore[dict-item]
    record_event(client, other, "HostConflict", "x")
    assert len(events(client)) == 3


def test_count_read_back_when_another_process_created_it() -> None:
    first = cluster()
    record_event(first, CERT, "HostConflict", "x")
    second = first.with_write_gate(None)  # same cluster, another client: a new recorder without a remembered count
    before = len(first.calls)
    record_event(second, CERT, "HostConflict", "again")
    [event] = events(first)
    assert event["count"] == 2 and second.calls[before:] == ["create", "get", "patch"]


def test_expired_event_is_recreated() -> None:
    client = cluster()
    record_event(client, CERT, "HostConflict", "x")
    for expired in client.list(EVENTS):  # TTL passed
        client.remove(EVENTS, expired["metadata"]["namespace"], expired["metadata"]["name"])
    record_event(client, CERT, "HostConflict", "y")
    [event] = events(client)
    assert event["count"] == 1 and client.calls == ["create", "patch", "create"]


def test_cluster_scoped_objects_log_to_default_and_names_are_valid() -> None:
    client = cluster()
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "System:CA_1"}}
    record_event(client, issuer, "Imported", "ok", type_="Normal")
    [event] = events(client)
    name = event["metadata"]["name"]  # type: ignore[index]
    assert event["metadata"]["namespace"] == "default"  # type: ignore[index]
    assert name.startswith("system-ca-1.") and name == name.lower()
    assert event_name(issuer, "Imported", "Normal", "crdsync") == name


def test_long_messages_are_truncated() -> None:
    client = cluster()
    record_event(client, CERT, "R", "m" * 5000)
    assert len(events(client)[0]["message"]) == 1024  # type: ignore[arg-type]


@pytest.mark.parametrize("involved", [CERT, {"kind": "X"}, {"metadata": None}, None])
def test_failures_are_logged_not_raised(involved: object, caplog: pytest.LogCaptureFixture) -> None:
    client = cluster()
    client.fail["create"] = errors.Forbidden(403, "Forbidden", "cannot create events")
    with caplog.at_level(logging.WARNING, logger="crdsync.kube.events"):
        record_event(client, involved, "R", "m")  # type: ignore[arg-type]
    assert "could not record event R" in caplog.text
    assert events(client) == []


def test_events_resource_is_core_v1() -> None:
    assert EVENTS.path("ns", "e") == "/api/v1/namespaces/ns/events/e"
