"""Tenants use the host's real external-secrets from inside virtual clusters, through crdsync only.

Real host and virtual API servers, the real external-secrets controller (fake provider: secret data in the store's
spec, no network) on the host, `crdsync run` as a subprocess with mappings/external-secrets.yaml. A second tenant (its
own virtual API server, its own crdsync) shares the host namespace to prove that identical names never collide.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.devplane.externalsecrets import ExternalSecrets
from devkit.devplane.launcher import Planes
from e2e.harness import Crdsync, ensure_namespace, get_or_none, host_name_for
from e2e.helpers import MAPPINGS, RestClient, Wait, condition_true, events_about, running_tenant, wait_served

pytestmark = pytest.mark.timeout(1800)

MAPPING = MAPPINGS / "external-secrets.yaml"
HOST_NS = "vc-eso"  # shared by both tenants
ESO = "/apis/external-secrets.io/v1"
SYNC_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def tenant(
    planes: Planes,
    external_secrets: ExternalSecrets,
    host_client: RestClient,
    virtual_client: RestClient,
    wait_for: Wait,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Crdsync]:
    ensure_namespace(host_client, HOST_NS)
    with running_tenant(planes, MAPPING, HOST_NS, "es1", tmp_path_factory.mktemp("crdsync")) as process:
        wait_served(virtual_client, ESO, ("externalsecrets", "secretstores", "clustersecretstores"), wait_for)
        yield process


def fake_store(kind: str, name: str, data: dict[str, str], namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": kind,
        "metadata": metadata,
        "spec": {"provider": {"fake": {"data": [{"key": k, "value": v} for k, v in data.items()]}}},
    }


@pytest.fixture(scope="module")
def shared_store(tenant: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait) -> str:
    name = "shared-fake"
    store = fake_store("ClusterSecretStore", name, {"/db/password": "s3cr3t"})
    store["metadata"]["labels"] = {"crdsync.io/shared": "true"}
    host_client.create(f"{ESO}/clustersecretstores", store)
    wait_for(
        lambda: get_or_none(virtual_client, f"{ESO}/clustersecretstores/{name}") is not None,
        60,
        "shared ClusterSecretStore visible in virtual",
    )
    return name


def external_secret(
    name: str, namespace: str, store: dict[str, str], key: str, target: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "refreshInterval": "2s",  # short, so a change of the provider's data shows within the test
        "secretStoreRef": store,
        "data": [{"secretKey": "password", "remoteRef": {"key": key}}],
    }
    if target is not None:
        spec["target"] = {"name": target}
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def secret_value(client: RestClient, namespace: str, name: str, key: str = "password") -> str | None:
    secret = get_or_none(client, f"/api/v1/namespaces/{namespace}/secrets/{name}")
    encoded = ((secret or {}).get("data") or {}).get(key)
    return base64.b64decode(encoded).decode() if encoded else None


def wait_value(
    client: RestClient, namespace: str, name: str, expected: str, wait_for: Wait, *logs: Callable[[], str]
) -> None:
    try:
        wait_for(
            lambda: secret_value(client, namespace, name) == expected,
            SYNC_TIMEOUT,
            f"Secret {namespace}/{name} holding {expected!r} in virtual",
        )
    except AssertionError as exc:
        raise AssertionError("\n".join([str(exc), *(f"--- log ---\n{log()}" for log in logs)])) from None


def test_shared_cluster_store_fills_the_tenant_secret_under_target_name_and_refreshes(
    tenant: Crdsync,
    external_secrets: ExternalSecrets,
    shared_store: str,
    virtual_client: RestClient,
    host_client: RestClient,
    wait_for: Wait,
) -> None:
    ns = "shop"
    ensure_namespace(virtual_client, ns)
    store = {"name": shared_store, "kind": "ClusterSecretStore"}
    virtual_client.create(
        f"{ESO}/namespaces/{ns}/externalsecrets", external_secret("db", ns, store, "/db/password", "db-creds")
    )
    wait_value(virtual_client, ns, "db-creds", "s3cr3t", wait_for, tenant.log_tail, external_secrets.log_tail)
    host_es = host_client.get(f"{ESO}/namespaces/{HOST_NS}/externalsecrets/{host_name_for('es1', HOST_NS, ns, 'db')}")
    assert host_es["spec"]["secretStoreRef"] == store
    assert host_es["spec"]["target"]["name"] == host_name_for("es1", HOST_NS, ns, "db-creds")
    # Status flows back: the tenant sees its ExternalSecret Ready.
    wait_for(
        lambda: condition_true(virtual_client.get(f"{ESO}/namespaces/{ns}/externalsecrets/db")),
        SYNC_TIMEOUT,
        "ExternalSecret Ready in virtual",
    )

    # The host admin rotates the secret in the provider; the tenant's Secret follows on the next refresh.
    css = host_client.get(f"{ESO}/clustersecretstores/{shared_store}")
    css["spec"]["provider"]["fake"]["data"] = [{"key": "/db/password", "value": "rotated"}]
    host_client.replace(f"{ESO}/clustersecretstores/{shared_store}", css)
    wait_value(virtual_client, ns, "db-creds", "rotated", wait_for, tenant.log_tail, external_secrets.log_tail)


def test_tenant_secret_store_with_its_own_data_and_no_target_name(
    tenant: Crdsync, external_secrets: ExternalSecrets, virtual_client: RestClient, wait_for: Wait
) -> None:
    ns = "billing"
    ensure_namespace(virtual_client, ns)
    virtual_client.create(
        f"{ESO}/namespaces/{ns}/secretstores", fake_store("SecretStore", "own", {"/api/key": "tenant-data"}, ns)
    )
    # No target.name: external-secrets names the Secret after the ExternalSecret, and so does the import.
    virtual_client.create(
        f"{ESO}/namespaces/{ns}/externalsecrets", external_secret("api", ns, {"name": "own"}, "/api/key")
    )
    wait_value(virtual_client, ns, "api", "tenant-data", wait_for, tenant.log_tail, external_secrets.log_tail)


def test_an_unshared_cluster_store_is_refused(
    tenant: Crdsync, virtual_client: RestClient, host_client: RestClient, wait_for: Wait
) -> None:
    host_client.create(f"{ESO}/clustersecretstores", fake_store("ClusterSecretStore", "private-fake", {"/x": "nope"}))
    ns = "sneaky"
    ensure_namespace(virtual_client, ns)
    store = {"name": "private-fake", "kind": "ClusterSecretStore"}
    virtual_client.create(f"{ESO}/namespaces/{ns}/externalsecrets", external_secret("grab", ns, store, "/x", "loot"))

    wait_for(
        lambda: bool(events_about(virtual_client, ns, "grab", "ReferenceNotShared")),
        60,
        "ReferenceNotShared event on the tenant's ExternalSecret",
    )
    host_es = f"{ESO}/namespaces/{HOST_NS}/externalsecrets/{host_name_for('es1', HOST_NS, ns, 'grab')}"
    assert get_or_none(host_client, host_es) is None
    loot = f"/api/v1/namespaces/{HOST_NS}/secrets/{host_name_for('es1', HOST_NS, ns, 'loot')}"
    assert get_or_none(host_client, loot) is None
    assert secret_value(virtual_client, ns, "loot") is None


def test_two_tenants_with_identical_names_never_collide(
    planes: Planes,
    tenant: Crdsync,
    external_secrets: ExternalSecrets,
    client_for: Callable[[str], RestClient],
    virtual_client: RestClient,
    host_client: RestClient,
    wait_for: Wait,
    tmp_path: Path,
) -> None:
    with running_tenant(planes, MAPPING, HOST_NS, "es2", tmp_path, virtual="tenant2", add_plane=True) as second:
        other = client_for("tenant2")
        wait_served(other, ESO, ("externalsecrets", "secretstores"), wait_for, " in tenant2")
        ns, name = "same", f"app-{uuid.uuid4().hex[:6]}"
        for client, value in ((virtual_client, "first-tenant"), (other, "second-tenant")):
            ensure_namespace(client, ns)
            client.create(f"{ESO}/namespaces/{ns}/secretstores", fake_store("SecretStore", "store", {"/k": value}, ns))
            client.create(
                f"{ESO}/namespaces/{ns}/externalsecrets", external_secret(name, ns, {"name": "store"}, "/k", "creds")
            )
        wait_value(virtual_client, ns, "creds", "first-tenant", wait_for, tenant.log_tail, external_secrets.log_tail)
        wait_value(other, ns, "creds", "second-tenant", wait_for, second.log_tail, external_secrets.log_tail)
        for vcluster, value in (("es1", "first-tenant"), ("es2", "second-tenant")):
            host_secret = host_name_for(vcluster, HOST_NS, ns, "creds")
            assert secret_value(host_client, HOST_NS, host_secret) == value
            assert get_or_none(
                host_client, f"{ESO}/namespaces/{HOST_NS}/externalsecrets/{host_name_for(vcluster, HOST_NS, ns, name)}"
            )


def test_controller_footprint(external_secrets: ExternalSecrets) -> None:
    """Not an acceptance criterion: records the controller's size for the report (printed with -s)."""
    rss = external_secrets.rss_bytes()
    assert rss is not None and external_secrets.alive()
    print(
        f"\nexternal-secrets-controller: binary {external_secrets.binary.stat().st_size / 2**20:.1f} MiB, "
        f"RSS {rss / 2**20:.1f} MiB"
    )
