"""The discovery cache: hits cached, misses refetched at most once per interval, 404 as not served."""

from __future__ import annotations

import time
from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.kube import errors
from crdsync.kube.client import KubeClient
from crdsync.kube.discovery import DiscoveryCache
from crdsync.kube.resource import Resource

from .stub import Reply, StubServer, client_for, status_body


def test_discovery_caches_hits_and_rate_limits_misses(stub: StubServer) -> None:
    served: list[dict[str, object]] = []
    stub.route("GET", "/apis/cert-manager.io/v1", lambda _r: Reply(body={"resources": list(served)}))
    client = client_for(stub.url, discovery_refresh_interval=0.3)
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


def test_resources_in_caches_what_is_served_and_refetches_an_unserved_group_version() -> None:
    things = {"name": "things", "kind": "Thing", "namespaced": True}
    served: dict[str, list[dict[str, Any]]] = {"/apis/x.io/v1": [things]}
    asked: list[str] = []

    def get(path: str) -> dict[str, Any]:
        asked.append(path)
        if path not in served:
            raise errors.NotFound(404, "NotFound", "not served")
        return {"resources": served[path]}

    cache = DiscoveryCache(refresh_interval=0.0)
    assert cache.resources_in("x.io/v1", get) == (Resource("x.io", "v1", "Thing", "things", True),)
    assert cache.resources_in("x.io/v1", get) == (Resource("x.io", "v1", "Thing", "things", True),)
    assert asked == ["/apis/x.io/v1"]  # served: cached until invalidated
    assert cache.resources_in("y.io/v1", get) == ()
    served["/apis/y.io/v1"] = [{"name": "gadgets", "kind": "Gadget", "namespaced": False}]
    assert [r.kind for r in cache.resources_in("y.io/v1", get)] == ["Gadget"]  # unserved: asked again
    cache.invalidate()
    cache.resources_in("x.io/v1", get)
    assert asked == ["/apis/x.io/v1", "/apis/y.io/v1", "/apis/y.io/v1", "/apis/x.io/v1"]
