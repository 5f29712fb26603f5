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
