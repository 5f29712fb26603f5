"""The transport: retries of throttled and unreachable requests, request counting, the client-side rate limit."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _stdlib_message(data: bytes) -> object:
    import email.parser
    import http.client

    return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(data.decode("iso-8859-1"))


def _comparable(value: object) -> object:
    # Defect instances compare by identity, a multipart payload is a list of messages: compare what they hold.
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, Exception):
        return (type(value), str(value))
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return (type(value), {k: _comparable(v) for k, v in vars(value).items()})
    return value


def _same_message(a: object, b: object) -> bool:
    return _comparable(a) == _comparable(b)


APISERVER_HEADERS = (
    b"Audit-Id: 7c0b3b84-8a9e-4c7f-b2f5-2f1d3e4c5b6a\r\nCache-Control: no-cache, private\r\n"
    b"Content-Type: application/json\r\nX-Kubernetes-Pf-Flowschema-Uid: 1f2e3d4c\r\n"
    b"X-Kubernetes-Pf-Prioritylevel-Uid: 0a1b2c3d\r\nDate: Sun, 29 Nov 2026 14:16:46 GMT\r\n"
    b"Content-Length: 1121\r\n\r\n"
)


@pytest.mark.parametrize("block", [
    APISERVER_HEADERS,
    b"\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\nA:\r\nB:  \t x y \t\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\nA: b\r\n\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Folded: a\r\n  continued\r\nNext: b\r\n\r\n",
    b"From nobody\r\nA: b\r\n\r\n",
    b": no name\r\nA: b\r\n\r\n",
    b"A: b\nC: d\n\n",
    b"A: b\rc\r\n\r\n",
    b"A: b\x85c\x0bd\r\n\r\n",
    b"A: caf\xe9\r\n\r\n",
    b"No colon here\r\nA: b\r\n\r\n",
    b"A: b\r\n",
])
def test_header_parsing_builds_the_messages_http_client_would(block: bytes) -> None:
    import http.client
    import io

    from crdsync.kube import transport

    assert http.client.parse_headers is transport.parse_headers  # installed on import
    fp = io.BytesIO(block + b"body")
    fast = transport.parse_headers(fp)
    consumed = (block + b"body")[: fp.tell()]  # up to the empty line, or everything when there is none
    assert _same_message(fast, _stdlib_message(consumed))


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["A", "content-type", "Content-Type", ":", " ", "\t", "\r\n", "\n", "\r", "x/y",
                                 "multipart/a", "message/b", "From ", "\x85", "\x0c", "\xe9", "a: b", ";"]),
                max_size=14).map("".join))
def test_header_parsing_equals_the_email_parser_on_generated_blocks(text: str) -> None:
    import io

    from crdsync.kube import transport

    block = text.encode("iso-8859-1") + b"\r\n\r\n"
    fp = io.BytesIO(block)
    fast = transport.parse_headers(fp)
    consumed = fp.tell()
    assert _same_message(fast, _stdlib_message(block[:consumed]))


def test_the_apiservers_headers_skip_the_email_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    import email.parser
    import io

    from crdsync.kube import transport

    monkeypatch.setattr(email.parser, "Parser", None)  # would raise if called
    message = transport.parse_headers(io.BytesIO(APISERVER_HEADERS))
    assert message["content-length"] == "1121" and message.get_all("cache-control") == ["no-cache, private"]


def test_query_encoding_is_cached_by_value_and_type() -> None:
    from crdsync.kube.transport import _encode_query

    for _ in range(2):
        assert _encode_query({"fieldManager": "crdsync", "force": "true", "continue": None}) == (
            "fieldManager=crdsync&force=true")
        assert [_encode_query({"a": v}) for v in ("1", 1, True, 1.0)] == ["a=1", "a=1", "a=true", "a=1.0"]
        assert _encode_query({"l": "a=b,c in (d)"}) == "l=a%3Db%2Cc+in+%28d%29"
