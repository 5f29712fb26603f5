"""Issue 11's acceptance for vcluster generic-sync users: their configs, converted, run on real planes.

1. The cert-manager config the vcluster-generic-crd-sync-plugin shipped, converted and run as is, with the real
   cert-manager. tests/convert/samples/plugin-cert-manager.yaml restates the plugin's Helm values (Issuer with
   `spec.ca.secretName` rewriteName + `sync.secret`, Certificate with issuerRef / keystores / secretName rewriteName
   and `syncBack` of the issued Secret). `crdsync convert` turns it into a mapping (exit 0: nothing needs a human),
   `crdsync run` runs that mapping against a virtual apiserver of this test's own (so no other module's objects are
   synced) and the host, and a tenant's CA Issuer and Certificate written the way plugin users wrote them must end
   with the Certificate Ready and its issued Secret — signed by the tenant's CA — in the virtual cluster. Every rule
   of the converted mapping has `naming.style: vcluster`, so the host copies carry vcluster's names (checked too).
2. Two features those configs need beyond that one, against real apiservers rather than the in-memory ones:
   `reverse.paths` (vcluster's reversePatches outside status: a host-owned spec field flows back by server-side
   apply, a tenant edit of it is reverted, and a converged pair makes zero writes, counted by both apiservers) and
   `replaceOnConflict` (the host refuses an update with 422 — here a ValidatingAdmissionPolicy on the host only
   makes a field immutable — and the copy is deleted and created again, with a Normal `Replaced` Event).

Failure modes: a convert that does not exit 0 or a crdsync run that dies fails the test with its output / log tail.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crdsync.spec.load import load_files
from crdsync.spec.model import NamingStyle
from devkit.benchmark.metrics import parse_request_totals
from devkit.devplane.certmanager import CertManager
from devkit.devplane.launcher import Planes
from e2e.certs import ca_secret, dns_sans, issued, signed_by
from e2e.harness import crd, ensure_namespace, get_or_none, host_name_for, install_crd
from e2e.helpers import CM, events_about, ready, running_tenant, to_host_mapping, wait_served

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "convert" / "samples" / "plugin-cert-manager.yaml"
ISSUE_TIMEOUT = 120.0
Wait = Callable[[Callable[[], bool], float, str], None]
RestClient = Any


def test_the_plugins_cert_manager_config_converted_issues_a_tenant_certificate(
    planes: Planes,
    cert_manager: CertManager,
    host_client: RestClient,
    client_for: Callable[[str], RestClient],
    wait_for: Wait,
    tmp_path: Path,
) -> None:
    plane, host_ns, vcluster = "plugin", "vc-plugin", "plugin"
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

    ensure_namespace(host_client, host_ns)
    with running_tenant(planes, mapping, host_ns, vcluster, tmp_path, virtual=plane, add_plane=True) as process:
        virtual = client_for(plane)
        wait_served(virtual, CM, ("certificates", "issuers"), wait_for)

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
            f"{CM}/namespaces/{host_ns}/certificates/{host_name_for(vcluster, host_ns, ns, 'api', naming)}"
        )
        assert host_cert["metadata"]["name"] == f"api-x-{ns}-x-{vcluster}"
        assert host_cert["spec"]["secretName"] == f"api-tls-x-{ns}-x-{vcluster}"
        assert host_cert["spec"]["issuerRef"]["name"] == f"ca-x-{ns}-x-{vcluster}"
        host_issuer = host_client.get(f"{CM}/namespaces/{host_ns}/issuers/ca-x-{ns}-x-{vcluster}")
        assert host_issuer["spec"]["ca"]["secretName"] == f"tenant-ca-x-{ns}-x-{vcluster}"
        assert get_or_none(host_client, f"/api/v1/namespaces/{host_ns}/secrets/tenant-ca-x-{ns}-x-{vcluster}")


GROUP, KIND, PLURAL = "features.e2e.crdsync.io", "Lane", "lanes"
LANE_SCHEMA = {
    "openAPIV3Schema": {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"size": {"type": "integer"}, "assignedPort": {"type": "integer"}},
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
}


def host_only_immutable_size(host_client: RestClient, namespace: str) -> None:
    """A ValidatingAdmissionPolicy on the host (not mirrored to the virtual cluster, unlike a CRD rule): an update may
    not change a Lane's spec.size in `namespace`, refused as 422 Invalid like an immutable field."""
    api = "/apis/admissionregistration.k8s.io/v1"
    policy = f"lane-size-immutable-{namespace}"
    host_client.create(
        f"{api}/validatingadmissionpolicies",
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {"apiGroups": [GROUP], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": [PLURAL]}
                    ]
                },
                "validations": [
                    {
                        "expression": "object.spec.size == oldObject.spec.size",
                        "message": "spec.size is immutable",
                        "reason": "Invalid",
                    }
                ],
            },
        },
    )
    host_client.create(
        f"{api}/validatingadmissionpolicybindings",
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy},
            "spec": {
                "policyName": policy,
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
            },
        },
    )


def lane_writes(client: RestClient) -> int:
    """Mutating requests for Lanes (status included) this apiserver has served: quiet-period counts stay exact while
    other modules' operators keep writing other kinds."""
    totals = parse_request_totals(str(client.request("GET", "/metrics")))
    return int(sum(value for key, value in totals.items() if key.is_write and key.resource == PLURAL))


def test_host_owned_fields_and_replace_on_conflict_on_real_apiservers(
    planes: Planes,
    host_client: RestClient,
    client_for: Callable[[str], RestClient],
    wait_for: Wait,
    tmp_path: Path,
) -> None:
    plane, host_ns, vcluster = "features", "vc-features", "features"
    install_crd(host_client, crd(GROUP, KIND, schema=LANE_SCHEMA), wait_for)
    ensure_namespace(host_client, host_ns)
    host_only_immutable_size(host_client, host_ns)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        to_host_mapping("features", GROUP, KIND, "reverse: {paths: [$.spec.assignedPort]}", "replaceOnConflict: true")
    )
    api = f"/apis/{GROUP}/v1"
    copy_path = f"{api}/namespaces/{host_ns}/{PLURAL}/{host_name_for(vcluster, host_ns, 'default', 'l1')}"
    source_path = f"{api}/namespaces/default/{PLURAL}/l1"

    with running_tenant(planes, mapping, host_ns, vcluster, tmp_path, virtual=plane, add_plane=True) as process:
        virtual = client_for(plane)
        wait_served(virtual, api, (PLURAL,), wait_for)
        virtual.create(
            f"{api}/namespaces/default/{PLURAL}",
            {"apiVersion": f"{GROUP}/v1", "kind": KIND, "metadata": {"name": "l1"}, "spec": {"size": 1}},
        )

        def field(client: RestClient, path: str, key: str) -> Any:
            return ((get_or_none(client, path) or {}).get("spec") or {}).get(key)

        try:
            wait_for(lambda: field(host_client, copy_path, "size") == 1, 60, "host copy of default/l1")
            # The host operator assigns a port on the copy: it flows back onto the tenant's object.
            host_client.merge_patch(copy_path, {"spec": {"assignedPort": 30080}})
            wait_for(lambda: field(virtual, source_path, "assignedPort") == 30080, 60, "assignedPort in virtual")

            # Converged: neither apiserver serves another Lane write.
            time.sleep(2)
            quiet = (lane_writes(host_client), lane_writes(virtual))
            time.sleep(4)
            assert (lane_writes(host_client), lane_writes(virtual)) == quiet

            # A tenant edit of the host-owned field is reverted, and never sent to the host.
            virtual.merge_patch(source_path, {"spec": {"assignedPort": 1}})
            wait_for(lambda: field(virtual, source_path, "assignedPort") == 30080, 60, "tenant edit reverted")
            assert field(host_client, copy_path, "assignedPort") == 30080

            # The host refuses a change of spec.size (422): the copy is replaced and the tenant told.
            before = host_client.get(copy_path)["metadata"]["uid"]
            virtual.merge_patch(source_path, {"spec": {"size": 2}})

            def replaced() -> bool:
                copy = get_or_none(host_client, copy_path)
                return bool(copy and copy["metadata"]["uid"] != before and copy["spec"].get("size") == 2)

            wait_for(replaced, 60, "host copy replaced with size 2")
            wait_for(lambda: bool(events_about(virtual, "default", "l1", "Replaced")), 30, "Replaced Event")
            (event,) = events_about(virtual, "default", "l1", "Replaced")
            assert event["type"] == "Normal" and "422" in event["message"]
            # The new copy has no port yet (the operator assigns again); what we applied goes from the tenant's too.
            wait_for(lambda: field(virtual, source_path, "assignedPort") is None, 60, "assignedPort dropped")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- crdsync log ---\n{process.log_tail()}") from None
