"""The transport: retries of throttled and unreachable requests, request counting, the client-side rate limit."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from crdsync.kube import errors
from crdsync.kube.client import KubeClient
from crdsync.kube.resource import Resource

from .stub import Reply, Request, StubServer, client_for, status_body

SECRETS = Resource("", "v1", "Secret", "secrets", True, False, frozenset())


def test_throttled_requests_are_retried(stub: StubServer, client: KubeClient) -> None:
    calls: list[int] = []

    def respond(req: Request) -> Reply:
        calls.append(1)
        if len(calls) == 1:
            return Reply(429, status_body(429, "TooManyRequests", "slow down"), headers={"Retry-After": "0"})
        return Reply(201, req.json())

    stub.route("POST", "/api/v1/namespaces/ns1/secrets", respond)
    client.create(SECRETS, {"metadata": {"name": "s", "namespace": "ns1"}})
    assert len(calls) == 2 and client.write_count == 2
    stub.route("POST", "/api/v1/namespaces/ns1/secrets",
               Reply(429, status_body(429, "TooManyRequests", "no"), headers={"Retry-After": "0"}))
    with pytest.raises(errors.TooManyRequests):
        client.create(SECRETS, {"metadata": {"name": "s", "namespace": "ns1"}})


def test_unreachable_server_is_transport_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = client_for(f"http://127.0.0.1:{port}", max_retries=1)
    with pytest.raises(errors.TransportError, match="cannot connect"):
        client.get(SECRETS, "ns1", "s")


def test_write_count_is_thread_safe(stub: StubServer, client: KubeClient) -> None:
    stub.route("PATCH", "/api/v1/namespaces/ns1/secrets/s", Reply(body={}))
    threads = [threading.Thread(target=lambda: [client.patch(SECRETS, "ns1", "s", {}) for _ in range(20)])
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.write_count == 120
    client.get(SECRETS, "ns1", "s")
    assert client.write_count == 120 and client.request_count == 121


def test_qps_limit(stub: StubServer) -> None:
    stub.route("GET", "/version", Reply(body={"gitVersion": "v1"}))
    client = client_for(stub.url, qps=20, burst=1)
    started = time.monotonic()
    for _ in range(6):
        client.server_version()
    assert time.monotonic() - started >= 0.2


def test_requests_go_to_the_hosts_path_prefix_and_survive_close(stub: StubServer) -> None:
    # A kubeconfig server URL may carry a path (apiserver proxies); the pool resolved once keeps it, close() drops it.
    client = client_for(stub.url + "/clusters/c1/")
    stub.route("GET", "/clusters/c1/api/v1/namespaces/ns1/secrets/s", Reply(body={"kind": "Secret"}))
    assert client.get(SECRETS, "ns1", "s") == {"kind": "Secret"}
    client.close()
    assert client.get(SECRETS, "ns1", "s") == {"kind": "Secret"}
    view = client.with_write_gate(None)
    view.close()
    assert client.get(SECRETS, "ns1", "s") == {"kind": "Secret"} and view.get(SECRETS, "ns1", "s") == {"kind": "Secret"}


def test_paths_urllib3_would_normalize_still_are(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", "/api/v1/namespaces/ns1/secrets/a%20b%C3%A9", Reply(body={"n": 1}))
    stub.route("GET", "/api/v1/namespaces/ns1/secrets/x", Reply(body={"n": 2}))
    assert client.request("GET", "/api/v1/namespaces/ns1/secrets/a bé") == {"n": 1}
    assert client.request("GET", "/api/v1/namespaces/ns1/secrets/y/../x", query={"q": "a b"}) == {"n": 2}
    assert stub.requests_to("GET", "/api/v1/namespaces/ns1/secrets/x")[0].query == {"q": "a b"}


def test_request_bodies_encode_like_json_dumps() -> None:
    import json

    from crdsync.kube.transport import encode_body

    deep: object = "leaf"
    for _ in range(300):
        deep = [deep]
    for body in [
        {"metadata": {"name": "é😀", "labels": {"a": "b"}}, "spec": {"n": 1, "f": 0.1, "l": [True, None, -0.0]}},
        {1: "int key"},  # orjson refuses non-str keys: json.dumps turns them into strings
        {"big": 10**30},  # beyond 64 bits: exact through json.dumps
        deep,  # deeper than orjson encodes
    ]:
        assert json.loads(encode_body(body)) == json.loads(json.dumps(body, separators=(",", ":")))
    assert encode_body({"a": [1, "x"]}) == b'{"a":[1,"x"]}'
    with pytest.raises(TypeError):
        encode_body({"when": object()})
