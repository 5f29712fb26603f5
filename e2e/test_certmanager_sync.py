"""The acid test: tenants use the host's real cert-manager from inside virtual clusters, through crdsync only.

Real host and virtual API servers, the real cert-manager controller on the host, `crdsync run` as a subprocess with
mappings/cert-manager.yaml. A second tenant (its own virtual API server, its own crdsync) shares the host namespace
to prove that identical names never collide.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_files
from crdsync.spec.model import DeletionPolicy, Direction
from crdsync.translate.bookkeeping import is_managed
from devkit.devplane.certmanager import CertManager
from devkit.devplane.launcher import Planes
from e2e.certs import ca_secret, dns_sans, issued, signed_by
from e2e.harness import Crdsync, ensure_namespace, get_or_none, host_name_for
from e2e.helpers import (
    CM,
    MAPPINGS,
    RestClient,
    Wait,
    ca_issuer,
    certificate,
    cluster_issuer,
    cluster_issuer_ref,
    events_about,
    ready,
    running_tenant,
    wait_served,
)

pytestmark = pytest.mark.timeout(1800)

MAPPING = MAPPINGS / "cert-manager.yaml"
HOST_NS = "vc-cm"  # shared by both tenants
ISSUE_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def tenant(
    planes: Planes,
    cert_manager: CertManager,
    host_client: RestClient,
    virtual_client: RestClient,
    wait_for: Wait,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Crdsync]:
    ensure_namespace(host_client, HOST_NS)
    with running_tenant(planes, MAPPING, HOST_NS, "cm1", tmp_path_factory.mktemp("crdsync")) as process:
        wait_served(virtual_client, CM, ("certificates", "issuers", "clusterissuers"), wait_for)
        yield process


@pytest.fixture(scope="module")
def shared_issuer(tenant: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait) -> str:
    name = "shared-selfsigned"
    host_client.create(f"{CM}/clusterissuers", cluster_issuer(name, shared=True))
    wait_for(
        lambda: get_or_none(virtual_client, f"{CM}/clusterissuers/{name}") is not None,
        60,
        "shared ClusterIssuer visible in virtual",
    )
    return name


def wait_issued(
    client: RestClient,
    namespace: str,
    name: str,
    wait_for: Wait,
    tenant: Crdsync,
    check: Callable[[Any], bool] = lambda leaf: True,
) -> Any:
    secret_path = f"/api/v1/namespaces/{namespace}/secrets/{name}-tls"

    def done() -> bool:
        secret = get_or_none(client, secret_path)
        if secret is None or not (secret.get("data") or {}).get("tls.crt"):
            return False
        return check(issued(secret)[0])

    try:
        wait_for(done, ISSUE_TIMEOUT, f"issued secret {namespace}/{name}-tls in virtual")
        wait_for(
            lambda: ready(client, f"{CM}/namespaces/{namespace}/certificates/{name}"),
            ISSUE_TIMEOUT,
            f"Certificate {namespace}/{name} Ready in virtual",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- crdsync log ---\n{tenant.log_tail()}") from None
    return issued(client.get(secret_path))[0]


def test_selfsigned_shared_clusterissuer_issues_for_the_tenant(
    tenant: Crdsync, shared_issuer: str, virtual_client: RestClient, host_client: RestClient, wait_for: Wait
) -> None:
    ns = "shop"
    ensure_namespace(virtual_client, ns)
    issuer = cluster_issuer_ref(shared_issuer)
    virtual_client.create(f"{CM}/namespaces/{ns}/certificates", certificate("app", ns, issuer, "app.example.test"))
    leaf = wait_issued(virtual_client, ns, "app", wait_for, tenant)
    assert dns_sans(leaf) == ["app.example.test"]
    host_copy = host_name_for("cm1", HOST_NS, ns, "app")
    copy = host_client.get(f"{CM}/namespaces/{HOST_NS}/certificates/{host_copy}")
    assert copy["spec"]["secretName"] == host_name_for("cm1", HOST_NS, ns, "app-tls")
    assert copy["spec"]["issuerRef"]["name"] == shared_issuer


def test_tenant_ca_issuer_signs_certificates_that_verify_against_the_tenant_ca(
    tenant: Crdsync, virtual_client: RestClient, host_client: RestClient, wait_for: Wait
) -> None:
    ns = "payments"
    ensure_namespace(virtual_client, ns)
    secret, ca_cert = ca_secret("tenant-ca", ns, "Tenant Root CA")
    virtual_client.create(f"/api/v1/namespaces/{ns}/secrets", secret)
    virtual_client.create(f"{CM}/namespaces/{ns}/issuers", ca_issuer("ca", ns, "tenant-ca"))
    wait_for(lambda: ready(virtual_client, f"{CM}/namespaces/{ns}/issuers/ca"), ISSUE_TIMEOUT, "CA Issuer Ready")
    virtual_client.create(
        f"{CM}/namespaces/{ns}/certificates", certificate("api", ns, {"name": "ca"}, "api.payments.test")
    )
    leaf = wait_issued(virtual_client, ns, "api", wait_for, tenant)
    assert signed_by(leaf, ca_cert)
    assert dns_sans(leaf) == ["api.payments.test"]

    # Reissue: new dnsNames make cert-manager issue again; the tenant's Secret follows.
    virtual_client.merge_patch(
        f"{CM}/namespaces/{ns}/certificates/api", {"spec": {"dnsNames": ["api.payments.test", "api2.payments.test"]}}
    )
    leaf = wait_issued(
        virtual_client,
        ns,
        "api",
        wait_for,
        tenant,
        check=lambda cert: sorted(dns_sans(cert)) == ["api.payments.test", "api2.payments.test"],
    )
    assert signed_by(leaf, ca_cert)

    # Deleting the Certificate removes the host copy; the imported Secret follows the mapping's deletion policy.
    virtual_client.delete(f"{CM}/namespaces/{ns}/certificates/api")
    host_copy = f"{CM}/namespaces/{HOST_NS}/certificates/{host_name_for('cm1', HOST_NS, ns, 'api')}"
    wait_for(lambda: get_or_none(host_client, host_copy) is None, 60, "host Certificate removed")
    imported = f"/api/v1/namespaces/{ns}/secrets/api-tls"
    if imported_secret_policy() is DeletionPolicy.DELETE:
        wait_for(lambda: get_or_none(virtual_client, imported) is None, 60, "imported Secret removed from virtual")
    else:  # Orphan: the tenant keeps the issued Secret, released from crdsync's bookkeeping
        wait_for(lambda: not is_managed(virtual_client.get(imported)), 60, "imported Secret released")
        assert issued(virtual_client.get(imported))[0] == leaf


def imported_secret_policy() -> DeletionPolicy:
    config = load_files([MAPPING]).config
    assert config is not None
    rule = config.rule_for(Direction.FROM_HOST, GroupVersionKind("", "v1", "Secret"))
    assert rule is not None
    return rule.deletion


def test_two_tenants_with_identical_names_never_collide(
    planes: Planes,
    tenant: Crdsync,
    shared_issuer: str,
    client_for: Callable[[str], RestClient],
    virtual_client: RestClient,
    host_client: RestClient,
    wait_for: Wait,
    tmp_path: Path,
) -> None:
    with running_tenant(planes, MAPPING, HOST_NS, "cm2", tmp_path, virtual="tenant2", add_plane=True) as second:
        other = client_for("tenant2")
        wait_served(other, CM, ["certificates"], wait_for, " in tenant2")
        wait_for(
            lambda: get_or_none(other, f"{CM}/clusterissuers/{shared_issuer}") is not None,
            60,
            "shared issuer in tenant2",
        )
        issuer = cluster_issuer_ref(shared_issuer)
        ns, name = "same", f"web-{uuid.uuid4().hex[:6]}"
        for client, dns in ((virtual_client, "one.example.test"), (other, "two.example.test")):
            ensure_namespace(client, ns)
            client.create(f"{CM}/namespaces/{ns}/certificates", certificate(name, ns, issuer, dns))
        first_leaf = wait_issued(virtual_client, ns, name, wait_for, tenant)
        second_leaf = wait_issued(other, ns, name, wait_for, second)
        assert dns_sans(first_leaf) == ["one.example.test"]
        assert dns_sans(second_leaf) == ["two.example.test"]
        host_names = {host_name_for(vc, HOST_NS, ns, name) for vc in ("cm1", "cm2")}
        assert len(host_names) == 2
        for host_copy in host_names:
            assert get_or_none(host_client, f"{CM}/namespaces/{HOST_NS}/certificates/{host_copy}") is not None


def test_a_private_clusterissuer_cannot_be_used_until_shared(
    tenant: Crdsync, virtual_client: RestClient, host_client: RestClient, wait_for: Wait
) -> None:
    host_client.create(f"{CM}/clusterissuers", cluster_issuer("private-selfsigned"))
    ns = "sneaky"
    ensure_namespace(virtual_client, ns)
    issuer = cluster_issuer_ref("private-selfsigned")
    virtual_client.create(f"{CM}/namespaces/{ns}/certificates", certificate("grab", ns, issuer, "grab.example.test"))

    wait_for(
        lambda: bool(events_about(virtual_client, ns, "grab", "ReferenceNotShared")),
        30,
        "ReferenceNotShared event on the tenant's Certificate",
    )
    host_copy = f"{CM}/namespaces/{HOST_NS}/certificates/{host_name_for('cm1', HOST_NS, ns, 'grab')}"
    assert get_or_none(host_client, host_copy) is None

    # Once the host admin shares it, the same Certificate goes through.
    host_client.merge_patch(
        f"{CM}/clusterissuers/private-selfsigned", {"metadata": {"labels": {"crdsync.io/shared": "true"}}}
    )
    leaf = wait_issued(virtual_client, ns, "grab", wait_for, tenant)
    assert dns_sans(leaf) == ["grab.example.test"]
