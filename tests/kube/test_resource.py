"""Resource paths and discovery-document parsing (pure)."""

from __future__ import annotations

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.kube.resource import Resource, parse_resource_list

CERTS = Resource("cert-manager.io", "v1", "Certificate", "certificates", True, True, frozenset({"list", "watch"}))
ISSUERS = Resource("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers", False, True, frozenset())
SECRETS = Resource("", "v1", "Secret", "secrets", True, False, frozenset())


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
