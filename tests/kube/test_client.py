"""KubeClient against a local scripted HTTP server: paths, discovery, pagination, writes, errors, watch streams."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.kube import errors
from crdsync.kube.client import KubeClient, Resource, parse_resource_list
from crdsync.kube.decode import UndecodableEvent

from .stub import Reply, Request, StubServer, event_line, status_body

CERTS = Resource("cert-manager.io", "v1", "Certificate", "certificates", True, True, frozenset({"list", "watch"}))
ISSUERS = Resource("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers", False, True, frozenset())
SECRETS = Resource("", "v1", "Secret", "secrets", True, False, frozenset())


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def client(stub: StubServer) -> KubeClient:
    return KubeClient.for_url(stub.url, token="t0ken", max_retries=2, request_timeout=5)


def _obj(name: str, ns: str = "ns1", rv: str = "1") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


# -- Resource -----------------------------------------------------------------------------------------------------


def test_paths() -> None:
    assert CERTS.path() == "/apis/cert-manager.io/v1/certificates"
    assert CERTS.path("ns1") == "/apis/cert-manager.io/v1/namespaces/ns1/certificates"
    assert CERTS.path("ns1", "a", "status") == "/apis/cert-manager.io/v1/namespaces/ns1/certificates/a/status"
    assert SECRETS.path("ns1", "s") == "/api/v1/namespaces/ns1/secrets/s"
    assert ISSUERS.path("ignored", "ca") == "/apis/cert-manager.io/v1/clusterissuers/ca"
    assert ISSUERS.path(None, "system:x") == "/apis/cert-manager.io/v1/clusterissuers/system%3Ax"
    assert CERTS.api_version == "cert-manager.io/v1" and SECRETS.api_version == "v1"
    assert CERTS.gvk == GroupVersionKind("cert-manager.io", "v1", "Certificate")


@pytest.mark.parametrize(("ns", "name", "sub"), [(None, "a", None), ("ns", "", None), ("ns", None, "status")])
def test_bad_paths_raise_value_error(ns: str | None, name: str | None, sub: str | None) -> None:
    with pytest.raises(ValueError):
        CERTS.path(ns, name, sub)


def test_parse_resource_list() -> None:
    doc = {"resources": [
        {"name": "certificates", "kind": "Certificate", "namespaced": True, "verbs": ["get", "list", "watch"]},
        {"name": "certificates/status", "kind": "Certificate", "namespaced": True, "verbs": ["get", "patch"]},
        {"name": "clusterissuers", "kind": "ClusterIssuer", "namespaced": False, "verbs": ["get"]},
        {"name": "broken"},
    ]}
    found = parse_resource_list(doc, "cert-manager.io", "v1")
    assert set(found) == {"Certificate", "ClusterIssuer"}
    assert found["Certificate"].has_status and found["Certificate"].namespaced
    assert found["Certificate"].verbs == frozenset({"get", "list", "watch"})
    assert not found["ClusterIssuer"].has_status and not found["ClusterIssuer"].namespaced


# -- discovery ----------------------------------------------------------------------------------------------------


def test_discovery_caches_hits_and_rate_limits_misses(stub: StubServer) -> None:
    served: list[dict[str, object]] = []
    stub.route("GET", "/apis/cert-manager.io/v1", lambda _r: Reply(body={"resources": list(served)}))
    client = KubeClient.for_url(stub.url, discovery_refresh_interval=0.3)
    gvk = GroupVersionKind("cert-manager.io", "v1", "Certificate")
    assert client.resource_for(gvk) is None
    assert client.resource_for(gvk) is None  # within the interval: no new request
    assert len(stub.requests_to("GET", "/apis/cert-manager.io/v1")) == 1
    served.append({"name": "certificates", "kind": "Certificate", "namespaced": True, "verbs": ["list"]})
    time.sleep(0.35)
    res = client.resource_for(gvk)
    assert res is not None and res.plural == "certificates"
    assert client.resource_for(gvk) is res
    assert len(stub.requests_to("GET", "/apis/cert-manager.io/v1")) == 2
    client.invalidate_discovery()
    assert client.resource_for(gvk) == res
    assert len(stub.requests_to("GET", "/apis/cert-manager.io/v1")) == 3


def test_discovery_unserved_group_is_none_and_core_path(stub: StubServer, client: KubeClient) -> None:
    assert client.resource_for(GroupVersionKind("nope.io", "v1", "Thing")) is None
    stub.route("GET", "/api/v1", Reply(body={"resources": [{"name": "secrets", "kind": "Secret", "namespaced": True}]}))
    assert client.resource_for(GroupVersionKind("", "v1", "Secret")) == Resource("", "v1", "Secret", "secrets", True)


def test_discovery_server_error_raises(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", "/apis/x.io/v1", Reply(503, status_body(503, "ServiceUnavailable", "aggregated api down")))
    with pytest.raises(errors.ServerError):
        client.resource_for(GroupVersionKind("x.io", "v1", "Thing"))


# -- reads ----------------------------------------------------------------------------------------------------------


def test_list_follows_continue_and_fills_type(stub: StubServer, client: KubeClient) -> None:
    pages = {None: (["a", "b"], "t1"), "t1": (["c", "d"], "t2"), "t2": (["e"], None)}

    def respond(req: Request) -> Reply:
        names, token = pages[req.query.get("continue")]
        meta = {"resourceVersion": "77", **({"continue": token} if token else {})}
        return Reply(body={"kind": "CertificateList", "metadata": meta, "items": [_obj(n) for n in names]})

    stub.route("GET", "/apis/cert-manager.io/v1/namespaces/ns1/certificates", respond)
    items, rv = client.list(CERTS, "ns1", label_selector="app=x", limit=2)
    assert [i["metadata"]["name"] for i in items] == ["a", "b", "c", "d", "e"]
    assert rv == "77"
    assert all(i["apiVersion"] == "cert-manager.io/v1" and i["kind"] == "Certificate" for i in items)
    reqs = stub.requests_to("GET", "/apis/cert-manager.io/v1/namespaces/ns1/certificates")
    assert [r.query.get("continue") for r in reqs] == [None, "t1", "t2"]
    assert all(r.query["limit"] == "2" and r.query["labelSelector"] == "app=x" for r in reqs)
    assert reqs[0].headers["authorization"] == "Bearer t0ken"


def test_list_restarts_unpaginated_when_continue_expires(stub: StubServer, client: KubeClient) -> None:
    def respond(req: Request) -> Reply:
        if req.query.get("continue"):
            return Reply(410, status_body(410, "Expired", "continue token expired"))
        if "limit" in req.query:
            return Reply(body={"metadata": {"continue": "t1", "resourceVersion": "5"}, "items": [_obj("a")]})
        return Reply(body={"metadata": {"resourceVersion": "9"}, "items": [_obj("a"), _obj("b")]})

    stub.route("GET", "/apis/cert-manager.io/v1/certificates", respond)
    items, rv = client.list(CERTS, limit=1)
    assert [i["metadata"]["name"] for i in items] == ["a", "b"] and rv == "9"


def test_get_missing_is_none_other_errors_raise(stub: StubServer, client: KubeClient) -> None:
    assert client.get(SECRETS, "ns1", "missing") is None
    denied = Reply(403, status_body(403, "Forbidden", "rbac says no"))
    stub.route("GET", "/api/v1/namespaces/ns1/secrets/locked", denied)
    with pytest.raises(errors.Forbidden) as info:
        client.get(SECRETS, "ns1", "locked")
    assert "rbac says no" in str(info.value) and info.value.path == "/api/v1/namespaces/ns1/secrets/locked"


def test_non_json_success_body_is_transport_error(stub: StubServer, client: KubeClient) -> None:
    stub.route("GET", "/version", Reply(body=b"not json"))
    with pytest.raises(errors.TransportError):
        client.server_version()


# -- writes ---------------------------------------------------------------------------------------------------------


def test_apply_is_server_side_apply(stub: StubServer, client: KubeClient) -> None:
    path = "/apis/cert-manager.io/v1/namespaces/ns1/certificates/c1"
    stub.route("PATCH", path, lambda req: Reply(body={**req.json(), "metadata": {"name": "c1", "uid": "u"}}))
    stub.route("PATCH", path + "/status", lambda req: Reply(body=req.json()))
    out = client.apply(CERTS, {"metadata": {"name": "c1", "namespace": "ns1"}, "spec": {"x": 1}})
    assert out["metadata"]["uid"] == "u"
    req = stub.requests_to("PATCH", path)[0]
    assert req.headers["content-type"] == "application/apply-patch+yaml"
    assert req.query == {"fieldManager": "crdsync", "force": "true"}
    assert req.json() == {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                          "metadata": {"name": "c1", "namespace": "ns1"}, "spec": {"x": 1}}
    client.apply(CERTS, {"metadata": {"name": "c1", "namespace": "ns1"}, "status": {}}, force=False,
                 subresource="status")
    assert stub.requests_to("PATCH", path + "/status")[0].query == {"fieldManager": "crdsync"}
    assert client.write_count == 2


def test_apply_requires_name_and_namespace(client: KubeClient) -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        client.apply(CERTS, {"metadata": {"namespace": "ns1"}})
    with pytest.raises(ValueError, match="namespace"):
        client.apply(CERTS, {"metadata": {"name": "x"}})
    with pytest.raises(ValueError, match="namespace"):
        client.create(CERTS, {"metadata": {"name": "x"}})
    assert client.write_count == 0


@pytest.mark.parametrize(
    ("patch_type", "content_type"),
    [("merge", "application/merge-patch+json"), ("json", "application/json-patch+json"),
     ("strategic", "application/strategic-merge-patch+json")],
)
def test_patch_content_types(stub: StubServer, client: KubeClient, patch_type: str, content_type: str) -> None:
    stub.route("PATCH", "/api/v1/namespaces/ns1/secrets/s", lambda req: Reply(body={"got": req.json()}))
    body = [{"op": "remove", "path": "/x"}] if patch_type == "json" else {"x": None}
    out = client.patch(SECRETS, "ns1", "s", body, patch_type=patch_type)  # type: ignore[arg-type]
    assert out == {"got": body}
    assert stub.requests[-1].headers["content-type"] == content_type


def test_unknown_patch_type(client: KubeClient) -> None:
    with pytest.raises(ValueError):
        client.patch(SECRETS, "ns1", "s", {}, patch_type="yaml")  # type: ignore[arg-type]


def test_create_and_replace(stub: StubServer, client: KubeClient) -> None:
    stub.route("POST", "/api/v1/namespaces/ns1/secrets", lambda req: Reply(201, req.json()))
    stub.route("PUT", "/api/v1/namespaces/ns1/secrets/s", Reply(409, status_body(409, "Conflict", "stale")))
    created = client.create(SECRETS, {"metadata": {"name": "s", "namespace": "ns1"}})
    assert created["kind"] == "Secret" and created["apiVersion"] == "v1"
    with pytest.raises(errors.Conflict):
        client.replace(SECRETS, {"metadata": {"name": "s", "namespace": "ns1", "resourceVersion": "3"}})
    stub.route("POST", "/api/v1/namespaces/ns1/secrets", Reply(409, status_body(409, "AlreadyExists", "taken")))
    with pytest.raises(errors.AlreadyExists):
        client.create(SECRETS, {"metadata": {"name": "s"}}, namespace="ns1")


def test_delete_preconditions_and_missing(stub: StubServer, client: KubeClient) -> None:
    stub.route("DELETE", "/api/v1/namespaces/ns1/secrets/s", Reply(body={"kind": "Status", "status": "Success"}))
    assert client.delete(SECRETS, "ns1", "s", uid="u-1") is True
    body = stub.requests[-1].json()
    assert body["preconditions"] == {"uid": "u-1"} and body["propagationPolicy"] == "Background"
    assert client.delete(SECRETS, "ns1", "other") is False
    stub.route("DELETE", "/api/v1/namespaces/ns1/secrets/s", Reply(409, status_body(409, "Conflict", "uid mismatch")))
    with pytest.raises(errors.Conflict):
        client.delete(SECRETS, "ns1", "s", uid="old")
    assert client.write_count == 3


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
    client = KubeClient.for_url(f"http://127.0.0.1:{port}", max_retries=1)
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
    client = KubeClient.for_url(stub.url, qps=20, burst=1)
    started = time.monotonic()
    for _ in range(6):
        client.server_version()
    assert time.monotonic() - started >= 0.2


# -- kubeconfig -----------------------------------------------------------------------------------------------------


def test_from_kubeconfig_sends_token(stub: StubServer, tmp_path: Path) -> None:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "main",
        "clusters": [{"name": "c", "cluster": {"server": stub.url}}],
        "users": [{"name": "u", "user": {"token": "sekret"}}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}},
                     {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "x"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    stub.route("GET", "/version", Reply(body={"gitVersion": "v9"}))
    client = KubeClient.from_kubeconfig(str(path), "other", field_manager="me")
    assert client.server_version()["gitVersion"] == "v9"
    assert stub.requests[-1].headers["authorization"] == "Bearer sekret"
    assert client.field_manager == "me" and client.host == stub.url


def test_from_kubeconfig_errors_are_located(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="does not exist"):
        KubeClient.from_kubeconfig(str(tmp_path / "nope"))
    bad = tmp_path / "bad"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    with pytest.raises(errors.ConfigError, match=re.escape(str(bad))):
        KubeClient.from_kubeconfig(str(bad), "missing")


# -- watch ----------------------------------------------------------------------------------------------------------

WATCH_PATH = "/apis/cert-manager.io/v1/namespaces/ns1/certificates"


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
