"""Watch streams against a local scripted HTTP server: split lines, bookmarks, ERROR events, broken and silent streams,
close from another thread."""

from __future__ import annotations

import threading
import time

import pytest

from crdsync.kube import errors
from crdsync.kube.client import KubeClient
from crdsync.kube.decode import UndecodableEvent
from crdsync.kube.resource import Resource

from .stub import Reply, StubServer, event_line, status_body

CERTS = Resource("cert-manager.io", "v1", "Certificate", "certificates", True, True, frozenset({"list", "watch"}))
WATCH_PATH = "/apis/cert-manager.io/v1/namespaces/ns1/certificates"


def _obj(name: str, ns: str = "ns1", rv: str = "1") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


def _events(*pairs: tuple[str, dict[str, object]]) -> bytes:
    return b"".join(event_line(t, o) for t, o in pairs)


def test_watch_parses_split_lines_and_bookmarks(stub: StubServer, client: KubeClient) -> None:
    data = _events(("ADDED", _obj("a", rv="2")), ("MODIFIED", _obj("a", rv="3")),
                   ("BOOKMARK", {"kind": "Certificate", "metadata": {"resourceVersion": "9"}}),
                   ("DELETED", _obj("a", rv="10")))
    # Cut into odd pieces so events straddle chunk boundaries; blank keep-alive lines are ignored.
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)] + [b"\n"]
    stub.route("GET", WATCH_PATH, Reply(chunks=chunks, chunk_delay=0.001))
    stream = client.watch(CERTS, "ns1", resource_version="1", timeout_seconds=30, label_selector="a=b")
    got = [(t, o["metadata"]["resourceVersion"]) for t, o in stream]
    assert got == [("ADDED", "2"), ("MODIFIED", "3"), ("BOOKMARK", "9"), ("DELETED", "10")]
    q = stub.requests_to("GET", WATCH_PATH)[0].query
    assert q == {"watch": "true", "resourceVersion": "1", "allowWatchBookmarks": "true", "timeoutSeconds": "30",
                 "labelSelector": "a=b"}


def test_watch_fills_type_on_objects(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", WATCH_PATH, Reply(chunks=[_events(("ADDED", _obj("a")))]))
    [(_, obj)] = list(client.watch(CERTS, "ns1", resource_version="1"))
    assert obj["kind"] == "Certificate" and obj["apiVersion"] == "cert-manager.io/v1"


def test_watch_error_410_raises_gone(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", WATCH_PATH, Reply(chunks=[
        _events(("ADDED", _obj("a", rv="5")),
                ("ERROR", status_body(410, "Expired", "too old resource version: 1 (5)")))]))
    stream = client.watch(CERTS, "ns1", resource_version="1")
    assert next(stream)[0] == "ADDED"
    with pytest.raises(errors.Gone, match="too old"):
        next(stream)


def test_watch_other_error_event_and_request_errors(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", WATCH_PATH, Reply(chunks=[_events(("ERROR", status_body(500, "InternalError", "etcd")))]))
    with pytest.raises(errors.ServerError):
        list(client.watch(CERTS, "ns1", resource_version="1"))
    stub.route("GET", WATCH_PATH, Reply(410, status_body(410, "Expired", "too old")))
    with pytest.raises(errors.Gone):
        client.watch(CERTS, "ns1", resource_version="1")
    stub.route("GET", WATCH_PATH, Reply(404, status_body(404, "NotFound", "the server could not find")))
    with pytest.raises(errors.NotFound):
        client.watch(CERTS, "ns1", resource_version="1")


def test_watch_malformed_line(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", WATCH_PATH, Reply(chunks=[b'{"type": "ADDED", "object": \n']))
    with pytest.raises(UndecodableEvent, match="undecodable Certificate watch event") as caught:
        list(client.watch(CERTS, "ns1", resource_version="1"))
    assert isinstance(caught.value, errors.TransportError)  # callers that only know ApiErrors still catch it
    assert caught.value.kind == "Certificate" and caught.value.name is None


def test_watch_truncated_last_event_is_dropped(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", WATCH_PATH, Reply(chunks=[_events(("ADDED", _obj("a"))) + b'{"type": "MODIFIED", "obj']))
    assert [t for t, _ in client.watch(CERTS, "ns1", resource_version="1")] == ["ADDED"]


def test_watch_silent_stream_times_out(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", WATCH_PATH, Reply(chunks=[_events(("ADDED", _obj("a")))], hold=3))
    stream = client.watch(CERTS, "ns1", resource_version="1", read_timeout=0.3)
    assert next(stream)[0] == "ADDED"
    started = time.monotonic()
    with pytest.raises(errors.Timeout):
        next(stream)
    assert time.monotonic() - started < 2


def test_watch_close_from_another_thread_unblocks_reader(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", WATCH_PATH, Reply(chunks=[_events(("ADDED", _obj("a")))], hold=5))
    stream = client.watch(CERTS, "ns1", resource_version="1", read_timeout=30)
    seen: list[str] = []
    done = threading.Event()

    def consume() -> None:
        for event_type, _ in stream:
            seen.append(event_type)
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    time.sleep(0.3)
    started = time.monotonic()
    stream.close()
    assert done.wait(2), "reader still blocked after close()"
    assert time.monotonic() - started < 2 and seen == ["ADDED"]
    # The pool still works afterwards.
    stub.route("GET", "/version", Reply(body={"gitVersion": "v1"}))
    assert client.server_version() == {"gitVersion": "v1"}
