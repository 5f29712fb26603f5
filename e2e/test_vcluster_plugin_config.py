"""Issue 11's acceptance for `crdsync convert`: the cert-manager config the vcluster-generic-crd-sync-plugin shipped,
converted and run as is, on real planes with the real cert-manager.

tests/convert/samples/plugin-cert-manager.yaml restates the plugin's Helm values (Issuer with `spec.ca.secretName`
rewriteName + `sync.secret`, Certificate with issuerRef / keystores / secretName rewriteName and `syncBack` of the
issued Secret). `crdsync convert` turns it into a mapping (exit 0: nothing needs a human), `crdsync run` runs that
mapping against a virtual apiserver of this module's own (so no other module's objects are synced) and the host, and
a tenant's CA Issuer and Certificate written the way plugin users wrote them must end with the Certificate Ready and
its issued Secret — signed by the tenant's CA — in the virtual cluster. Every rule of the converted mapping has
`naming.style: vcluster`, so the host copies carry vcluster's names, which the test checks too.

Failure modes: a convert that does not exit 0 or a crdsync run that dies fails the test with its output / log tail.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crdsync.devplane.certmanager import CertManager
from crdsync.devplane.launcher import Planes
from crdsync.spec.load import load_files
from crdsync.spec.model import NamingStyle
from e2e.certs import ca_secret, dns_sans, issued, signed_by
from e2e.harness import Crdsync, ensure_namespace, get_or_none, host_name_for

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "convert" / "samples" / "plugin-cert-manager.yaml"
PLANE = "plugin"  # this module's own virtual apiserver
HOST_NS = "vc-plugin"
VCLUSTER = "plugin"
CM = "/apis/cert-manager.io/v1"
ISSUE_TIMEOUT = 120.0
Wait = Callable[[Callable[[], bool], float, str], None]
RestClient = Any


def ready(client: RestClient, path: str) -> bool:
    obj = get_or_none(client, path)
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def test_the_plugins_cert_manager_config_converted_issues_a_tenant_certificate(
    planes: Planes,
    cert_manager: CertManager,
    host_client: RestClient,
    client_for: Callable[[str], RestClient],
    wait_for: Wait,
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "mapping.yaml"
    converted = subprocess.run(
        [sys.executable, "-m", "crdsync", "convert", str(SAMPLE), "-o", str(mapping)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert converted.returncode == 0, converted.stdout + converted.stderr
    config = load_files([mapping]).config
    assert config is not None
    assert {rule.naming.style for rule in config.rules} == {NamingStyle.VCLUSTER}

    planes.add_apiserver(PLANE)
    virtual = client_for(PLANE)
    ensure_namespace(host_client, HOST_NS)
    process = Crdsync(
        mappings=[mapping],
        host_kubeconfig=planes.kubeconfig("host"),
        virtual_kubeconfig=planes.kubeconfig(PLANE),
        host_namespace=HOST_NS,
        vcluster=VCLUSTER,
        log_path=tmp_path / "crdsync.log",
    ).start()
    try:
        for plural in ("certificates", "issuers"):

            def served(plural: str = plural) -> bool:
                return bool(virtual.status_of("GET", f"{CM}/{plural}") == 200)

            wait_for(served, 90, f"{plural} mirrored")

        # What a plugin user wrote: a CA Secret and an Issuer naming it, a Certificate naming the Issuer.
        ns = "payments"
        ensure_namespace(virtual, ns)
        secret, ca_cert = ca_secret("tenant-ca", ns, "Plugin Tenant CA")
        virtual.create(f"/api/v1/namespaces/{ns}/secrets", secret)
        virtual.create(
            f"{CM}/namespaces/{ns}/issuers",
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Issuer",
                "metadata": {"name": "ca", "namespace": ns},
                "spec": {"ca": {"secretName": "tenant-ca"}},
            },
        )
        virtual.create(
            f"{CM}/namespaces/{ns}/certificates",
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": "api", "namespace": ns},
                "spec": {
                    "secretName": "api-tls",
                    "commonName": "api.payments.test",
                    "dnsNames": ["api.payments.test"],
                    "issuerRef": {"name": "ca"},
                },
            },
        )

        def issued_secret() -> bool:
            found = get_or_none(virtual, f"/api/v1/namespaces/{ns}/secrets/api-tls")
            return bool(found and (found.get("data") or {}).get("tls.crt"))

        try:
            wait_for(lambda: ready(virtual, f"{CM}/namespaces/{ns}/issuers/ca"), ISSUE_TIMEOUT, "CA Issuer Ready")
            wait_for(issued_secret, ISSUE_TIMEOUT, "issued Secret payments/api-tls in the virtual cluster")
            wait_for(
                lambda: ready(virtual, f"{CM}/namespaces/{ns}/certificates/api"),
                ISSUE_TIMEOUT,
                "Certificate payments/api Ready in the virtual cluster",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- crdsync log ---\n{process.log_tail()}") from None

        leaf = issued(virtual.get(f"/api/v1/namespaces/{ns}/secrets/api-tls"))[0]
        assert signed_by(leaf, ca_cert)
        assert dns_sans(leaf) == ["api.payments.test"]

        # vcluster's names on the host, as the plugin gave them: the copies a migration would adopt.
        naming = config.rules[0].naming
        host_cert = host_client.get(
            f"{CM}/namespaces/{HOST_NS}/certificates/{host_name_for(VCLUSTER, HOST_NS, ns, 'api', naming)}"
        )
        assert host_cert["metadata"]["name"] == f"api-x-{ns}-x-{VCLUSTER}"
        assert host_cert["spec"]["secretName"] == f"api-tls-x-{ns}-x-{VCLUSTER}"
        assert host_cert["spec"]["issuerRef"]["name"] == f"ca-x-{ns}-x-{VCLUSTER}"
        host_issuer = host_client.get(f"{CM}/namespaces/{HOST_NS}/issuers/ca-x-{ns}-x-{VCLUSTER}")
        assert host_issuer["spec"]["ca"]["secretName"] == f"tenant-ca-x-{ns}-x-{VCLUSTER}"
        assert get_or_none(host_client, f"/api/v1/namespaces/{HOST_NS}/secrets/tenant-ca-x-{ns}-x-{VCLUSTER}")
    finally:
        assert process.stop() == 0, process.log_tail()
