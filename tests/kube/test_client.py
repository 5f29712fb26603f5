"""KubeClient verbs against a local scripted HTTP server: pagination, reads, writes and how each is spelled."""

from __future__ import annotations

import pytest

from crdsync.kube import errors
from crdsync.kube.client import KubeClient
from crdsync.kube.resource import Resource

from .stub import Reply, Request, StubServer, status_body

CERTS = Resource("cert-manager.io", "v1", "Certificate", "certificates", True, True, frozenset({"list", "watch"}))
ISSUERS = Resource("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers", False, True, frozenset())
SECRETS = Resource("", "v1", "Secret", "secrets", True, False, frozenset())


def _obj(name: str, ns: str = "ns1", rv: str = "1") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


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
