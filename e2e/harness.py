"""Helpers for end-to-end sync tests: run `crdsync run` as a real subprocess, install CRDs, count apiserver writes.

A crdsync process that dies unexpectedly fails the test with its log tail. Write counts come from the apiservers' own
`apiserver_request_total` metric, so they include every write from anyone (tests must keep quiet while counting).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crdsync.spec.model import Naming
from crdsync.translate.names import Tenant, host_name
from devkit.benchmark.cluster import crd_definition
from devkit.benchmark.metrics import count_writes
from devkit.benchmark.procs import CrdsyncProcess

RestClient = Any  # e2e/conftest.py's RestClient, reached through fixtures


crd = crd_definition


def install_crd(client: RestClient, definition: dict[str, Any], wait: Callable[..., None]) -> None:
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    name = definition["metadata"]["name"]
    if client.status_of("GET", f"{path}/{name}") == 404:
        client.create(path, definition)

    def established() -> bool:
        conditions = (client.get(f"{path}/{name}").get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait(established, 60, f"CRD {name} established")
    group, version = definition["spec"]["group"], definition["spec"]["versions"][0]["name"]
    plural = definition["spec"]["names"]["plural"]
    wait(lambda: client.status_of("GET", f"/apis/{group}/{version}/{plural}") == 200, 60, f"{plural} served")


def ensure_namespace(client: RestClient, name: str, labels: dict[str, str] | None = None) -> None:
    if client.status_of("GET", f"/api/v1/namespaces/{name}") == 404:
        client.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}},
        )


def get_or_none(client: RestClient, path: str) -> dict[str, Any] | None:
    """The object, or None when it does not exist (one request: no race between a check and a read)."""
    try:
        result: dict[str, Any] = client.get(path)
    except Exception as exc:  # conftest's ApiStatusError; not importable from a conftest module
        if getattr(exc, "status", None) == 404:
            return None
        raise
    return result


def host_name_for(
    vcluster: str, host_namespace: str, namespace: str | None, name: str, naming: Naming | None = None
) -> str:
    return host_name(Tenant(vcluster, host_namespace), namespace, name, naming or Naming())


def write_count(client: RestClient) -> int:
    """Mutating requests this apiserver has served since start, leases excluded."""
    return count_writes(str(client.request("GET", "/metrics")))


class Crdsync(CrdsyncProcess):
    """`python -m crdsync -v run ...` as a child process with its (debug) log in a file."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(verbosity=("-v",), **kwargs)
