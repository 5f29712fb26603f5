"""The real cert-manager controller on the host plane: issuers become Ready and Certificates get real key pairs.

Only the `host` plane is used. The controller is built from the pinned module (minutes on a cold cache) and its CRDs
come from the same module; both steps fail the test with their output rather than skipping.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography import x509

from devkit.devplane.certmanager import CertManager, install_crds, load_crds
from devkit.devplane.launcher import Planes
from e2e.certs import ca_secret, dns_sans, issued
from e2e.helpers import CM, RestClient, Wait, ca_issuer, certificate, cluster_issuer, cluster_issuer_ref, condition_true

ISSUE_TIMEOUT = 90.0


@pytest.fixture
def namespace(host_client: RestClient, cert_manager: CertManager) -> str:
    name = f"cm-e2e-{uuid.uuid4().hex[:8]}"
    host_client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    return name


def _wait_ready(client: RestClient, path: str, wait_for: Wait, cert_manager: CertManager, what: str) -> dict[str, Any]:
    """Poll until the object at `path` has Ready=True; on timeout fail with its conditions and the controller log."""
    last: dict[str, Any] = {}

    def ready() -> bool:
        nonlocal last
        last = client.get(path)
        return condition_true(last)

    try:
        wait_for(ready, ISSUE_TIMEOUT, what)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; status: {last.get('status')}\n--- cert-manager log ---\n{cert_manager.log_tail(60)}"
        ) from None
    return last


def _issued_in(client: RestClient, namespace: str, name: str) -> tuple[x509.Certificate, dict[str, bytes]]:
    return issued(client.get(f"/api/v1/namespaces/{namespace}/secrets/{name}-tls"))


def test_crds_come_from_the_pinned_module_and_reinstall_cleanly(
    planes: Planes, host_client: RestClient, cert_manager: CertManager
) -> None:
    names = {crd["metadata"]["name"] for crd in load_crds()}
    assert {
        "certificates.cert-manager.io",
        "certificaterequests.cert-manager.io",
        "issuers.cert-manager.io",
        "clusterissuers.cert-manager.io",
    } <= names
    install_crds(planes.kubeconfig("host"))  # idempotent: applying the same files again neither fails nor conflicts
    for name in names:
        crd = host_client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        managers = {entry["manager"] for entry in crd["metadata"]["managedFields"]}
        assert "crdsync-devplane" in managers, (name, managers)
    assert cert_manager.alive()


def test_selfsigned_clusterissuer_issues_a_certificate(
    host_client: RestClient, cert_manager: CertManager, namespace: str, wait_for: Wait
) -> None:
    issuer = f"selfsigned-{namespace}"
    host_client.create(f"{CM}/clusterissuers", cluster_issuer(issuer))
    _wait_ready(host_client, f"{CM}/clusterissuers/{issuer}", wait_for, cert_manager, f"ClusterIssuer {issuer} Ready")

    host_client.create(
        f"{CM}/namespaces/{namespace}/certificates",
        certificate("app", namespace, cluster_issuer_ref(issuer), "app.example.test", common_name=False),
    )
    app = _wait_ready(
        host_client, f"{CM}/namespaces/{namespace}/certificates/app", wait_for, cert_manager, "Certificate app Ready"
    )
    assert app["status"].get("notAfter"), app["status"]

    leaf, _ = _issued_in(host_client, namespace, "app")
    assert dns_sans(leaf) == ["app.example.test"]
    assert leaf.issuer == leaf.subject  # self-signed: its own issuer
    leaf.verify_directly_issued_by(leaf)
    usages = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usages.digital_signature


def test_ca_issuer_issues_a_certificate_that_verifies_against_the_ca(
    host_client: RestClient, cert_manager: CertManager, namespace: str, wait_for: Wait
) -> None:
    secret, ca = ca_secret("ca-key-pair", namespace, "crdsync e2e CA")
    host_client.create(f"/api/v1/namespaces/{namespace}/secrets", secret)
    host_client.create(f"{CM}/namespaces/{namespace}/issuers", ca_issuer("ca", namespace, "ca-key-pair"))
    _wait_ready(host_client, f"{CM}/namespaces/{namespace}/issuers/ca", wait_for, cert_manager, "Issuer ca Ready")

    host_client.create(
        f"{CM}/namespaces/{namespace}/certificates",
        certificate("web", namespace, {"name": "ca", "kind": "Issuer"}, "web.example.test", common_name=False),
    )
    _wait_ready(host_client, f"{CM}/namespaces/{namespace}/certificates/web", wait_for, cert_manager, "web Ready")

    leaf, data = _issued_in(host_client, namespace, "web")
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)  # raises InvalidSignature if the CA did not sign it
    assert x509.load_pem_x509_certificate(data["ca.crt"]) == ca
    assert dns_sans(leaf) == ["web.example.test"]
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False


def test_ca_clusterissuer_reads_its_secret_from_the_cluster_resource_namespace(
    host_client: RestClient, cert_manager: CertManager, namespace: str, wait_for: Wait
) -> None:
    secret_name = f"ca-{namespace}"
    secret, ca = ca_secret(secret_name, cert_manager.namespace, "crdsync e2e cluster CA")
    host_client.create(f"/api/v1/namespaces/{cert_manager.namespace}/secrets", secret)
    issuer = f"ca-{namespace}"
    host_client.create(f"{CM}/clusterissuers", cluster_issuer(issuer, ca_secret=secret_name))
    _wait_ready(host_client, f"{CM}/clusterissuers/{issuer}", wait_for, cert_manager, f"ClusterIssuer {issuer} Ready")

    host_client.create(
        f"{CM}/namespaces/{namespace}/certificates",
        certificate("api", namespace, {"name": issuer, "kind": "ClusterIssuer"}, "api.example.test", common_name=False),
    )
    _wait_ready(host_client, f"{CM}/namespaces/{namespace}/certificates/api", wait_for, cert_manager, "api Ready")
    leaf, _ = _issued_in(host_client, namespace, "api")
    leaf.verify_directly_issued_by(ca)


def test_controller_stays_up_with_bounded_memory(cert_manager: CertManager) -> None:
    rss = cert_manager.rss_bytes()
    assert cert_manager.alive(), cert_manager.log_tail()
    assert rss is not None
    print(f"cert-manager controller RSS: {rss / 2**20:.1f} MiB")
    assert rss < 512 * 2**20, f"controller RSS {rss / 2**20:.0f} MiB"
