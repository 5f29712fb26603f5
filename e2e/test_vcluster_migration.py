"""Migration from vcluster's generic sync on real planes: crdsync takes over the host copies vcluster made.

The host namespace is left as vcluster's generic export leaves it (vcluster stopped): host copies under vcluster's
names (including a truncated one and the 62-character ".-" case), carrying vcluster's vcluster.loft.sh/object-*
annotations, its managed-by and namespace labels and an owner reference to the vcluster's Service, written by vcluster's
field manager, and status written by the host operator. The virtual cluster holds the sources and the CRD vcluster
mirrored. Then `crdsync run` with `naming.style: vcluster` (and the default conflict policy Abort): the host apiserver's
own apiserver_request_total must show no create and no delete of the kind (no delete of anything) while every copy is
adopted (crdsync's bookkeeping added by an apply, vcluster's keys and owner reference gone), status keeps flowing
back, and a second source that vcluster's naming maps onto an existing copy gets a NameTaken Event instead of it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from crdsync.spec.model import Naming, NamingStyle
from crdsync.translate.names import Tenant, host_name
from devkit.benchmark.metrics import parse_request_totals
from e2e.harness import crd, ensure_namespace, get_or_none, install_crd
from e2e.helpers import RestClient, Wait, events_about, tenant_crdsync, to_host_mapping

pytestmark = pytest.mark.timeout(600)

GROUP = "e2e.crdsync.io"
KIND, PLURAL = "Migrant", "migrants"
HOST_NS = "vc-legacy"
VCLUSTER = "legacy"
TENANT = Tenant(VCLUSTER, HOST_NS)
VCLUSTER_NAMING = Naming(style=NamingStyle.VCLUSTER)
VCLUSTER_MANAGER = "vcluster"  # what vcluster's syncer writes as

# (virtual namespace, name): a short name, one over 63 characters once joined (cut + hash), and one whose cut ends in
# a dot (".-" replaced: a 62-character host name).
SOURCES = [("shop", "cart"), ("shop", "a" * 60), ("billing", "c" * 51 + ".d")]
# Host names as vcluster's SafeConcatName (v0.27.0, run in Go) prints them for vcluster "legacy".
EXPECTED_HOST_NAMES = {
    ("shop", "cart"): "cart-x-shop-x-legacy",
    ("shop", "a" * 60): "a" * 52 + "-50ca224a72",
    ("billing", "c" * 51 + ".d"): "c" * 51 + "-ac731e7b61",
}

MAPPING = to_host_mapping("migration", GROUP, KIND, "naming: {style: vcluster}")


def virtual_path(ns: str, name: str = "") -> str:
    return f"/apis/{GROUP}/v1/namespaces/{ns}/{PLURAL}" + (f"/{name}" if name else "")


def host_path(name: str = "") -> str:
    return f"/apis/{GROUP}/v1/namespaces/{HOST_NS}/{PLURAL}" + (f"/{name}" if name else "")


def vcluster_copy(source: dict[str, Any], owner_uid: str) -> dict[str, Any]:
    """What vcluster's generic export (v0.21-v0.27, translate.HostMetadata + exporter.TranslateMetadata) creates."""
    meta = source["metadata"]
    name = host_name(TENANT, meta["namespace"], meta["name"], VCLUSTER_NAMING)
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": HOST_NS,
            "labels": {
                **(meta.get("labels") or {}),
                "vcluster.loft.sh/managed-by": VCLUSTER,
                "vcluster.loft.sh/namespace": meta["namespace"],
            },
            "annotations": {
                "vcluster.loft.sh/object-name": meta["name"],
                "vcluster.loft.sh/object-namespace": meta["namespace"],
                "vcluster.loft.sh/object-uid": meta["uid"],
                "vcluster.loft.sh/object-kind": f"{GROUP}/v1, Kind={KIND}",
                "vcluster.loft.sh/object-host-name": name,
                "vcluster.loft.sh/object-host-namespace": HOST_NS,
                "vcluster.loft.sh/controlled-by": f"{KIND.lower()}/{GROUP}/GenericExport",
            },
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Service", "name": VCLUSTER, "uid": owner_uid, "controller": False}
            ],
        },
        "spec": source["spec"],
    }


def request_counts(client: RestClient) -> dict[tuple[str, str], int]:
    """(verb, resource) -> requests served since the apiserver started (any response code)."""
    counts: dict[tuple[str, str], int] = {}
    for key, value in parse_request_totals(str(client.request("GET", "/metrics"))).items():
        if key.subresource:
            continue
        slot = (key.verb, key.resource)
        counts[slot] = counts.get(slot, 0) + int(value)
    return counts


def adopted(copy: dict[str, Any] | None, ns: str, name: str) -> bool:
    if copy is None:
        return False
    annotations = copy["metadata"].get("annotations") or {}
    return (
        (copy["metadata"].get("labels") or {}).get("crdsync.io/managed-by") == "crdsync"
        and annotations.get("crdsync.io/source-name") == name
        and annotations.get("crdsync.io/source-namespace") == ns
    )


def test_vcluster_made_copies_are_adopted_with_no_delete_and_no_create(
    planes: Any, host_client: RestClient, virtual_client: RestClient, wait_for: Wait, tmp_path: Path
) -> None:
    definition = crd(GROUP, KIND)
    install_crd(host_client, definition, wait_for)
    install_crd(virtual_client, definition, wait_for)  # vcluster mirrored the CRD into the virtual cluster
    ensure_namespace(host_client, HOST_NS)
    service = host_client.create(
        f"/api/v1/namespaces/{HOST_NS}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": VCLUSTER},
            "spec": {"clusterIP": "None", "ports": [{"port": 443}]},
        },
    )

    # The world vcluster left: sources in the virtual cluster, copies under vcluster's names on the host.
    for ns, name in [*SOURCES, ("c", "a-x-b")]:
        ensure_namespace(virtual_client, ns)
        source = virtual_client.create(
            virtual_path(ns),
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": KIND,
                "metadata": {"name": name, "namespace": ns, "labels": {"app": "shop"}},
                "spec": {"size": len(name)},
            },
        )
        copy = vcluster_copy(source, service["metadata"]["uid"])
        assert copy["metadata"]["name"] == EXPECTED_HOST_NAMES.get((ns, name), "a-x-b-x-c-x-legacy")
        created = host_client.request("POST", host_path(), copy, query={"fieldManager": VCLUSTER_MANAGER})
        host_client.request(
            "PATCH",
            host_path(created["metadata"]["name"]) + "/status",
            {"status": {"phase": "Ready", "observedGeneration": 1}},
            query={"fieldManager": "operator"},
            content_type="application/merge-patch+json",
        )
    uids = {copy["metadata"]["name"]: copy["metadata"]["uid"] for copy in host_client.get(host_path())["items"]}
    # A second source that vcluster's naming puts on c/a-x-b's copy: b-x-c/a -> a-x-b-x-c-x-legacy too.
    ensure_namespace(virtual_client, "b-x-c")
    virtual_client.create(
        virtual_path("b-x-c"),
        {"apiVersion": f"{GROUP}/v1", "kind": KIND, "metadata": {"name": "a", "namespace": "b-x-c"}, "spec": {}},
    )

    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    before = request_counts(host_client)
    assert before.get(("POST", PLURAL), 0) >= len(SOURCES) + 1  # the counter sees the creates vcluster made
    process = tenant_crdsync(planes, [mapping], HOST_NS, VCLUSTER, tmp_path / "crdsync.log").start()
    try:
        every = [*SOURCES, ("c", "a-x-b")]

        def all_adopted() -> bool:
            return all(
                adopted(get_or_none(host_client, host_path(host_name(TENANT, ns, n, VCLUSTER_NAMING))), ns, n)
                for ns, n in every
            )

        wait_for(all_adopted, 60, "every vcluster-made copy adopted")

        def status_back() -> bool:
            phases = [(virtual_client.get(virtual_path(ns, n)).get("status") or {}).get("phase") for ns, n in every]
            return phases == ["Ready"] * len(every)

        wait_for(status_back, 30, "status of every source back in the virtual cluster")

        wait_for(
            lambda: bool(events_about(virtual_client, "b-x-c", reason="NameTaken")), 30, "NameTaken Event on b-x-c/a"
        )
        time.sleep(2)  # let the last round trips land before counting
        after = request_counts(host_client)

        for verb in ("POST", "DELETE", "DELETECOLLECTION"):
            grown = after.get((verb, PLURAL), 0) - before.get((verb, PLURAL), 0)
            assert grown == 0, f"{grown} {verb} requests on {PLURAL} during the migration"
        deletes = {k: after[k] - before.get(k, 0) for k in after if k[0] == "DELETE" and after[k] != before.get(k, 0)}
        assert not deletes, f"deletes on the host during the migration: {deletes}"

        items = {copy["metadata"]["name"]: copy for copy in host_client.get(host_path())["items"]}
        assert {name: copy["metadata"]["uid"] for name, copy in items.items()} == uids  # the same objects
        for ns, name in every:
            copy = items[host_name(TENANT, ns, name, VCLUSTER_NAMING)]
            meta = copy["metadata"]
            assert copy["spec"] == {"size": len(name)}
            assert meta["labels"]["app"] == "shop"
            # What vcluster's syncer owned became crdsync's, so the apply shed vcluster's keys and its owner
            # reference (uninstalling vcluster no longer garbage-collects the copies).
            assert not any(k.startswith("vcluster.loft.sh/") for k in {**meta["labels"], **meta["annotations"]})
            assert not meta.get("ownerReferences")
            managers = {(e["manager"], e["operation"], e.get("subresource", "")) for e in meta["managedFields"]}
            assert ("crdsync", "Apply", "") in managers
            assert not any(m == VCLUSTER_MANAGER for m, _, _ in managers), managers
        # The colliding source got no copy of its own, and c/a-x-b's copy still names c/a-x-b.
        assert adopted(items["a-x-b-x-c-x-legacy"], "c", "a-x-b")

        # Status keeps flowing after the migration.
        cart = host_name(TENANT, "shop", "cart", VCLUSTER_NAMING)
        host_client.request(
            "PATCH",
            host_path(cart) + "/status",
            {"status": {"phase": "Renewing"}},
            query={"fieldManager": "operator"},
            content_type="application/merge-patch+json",
        )
        wait_for(
            lambda: virtual_client.get(virtual_path("shop", "cart")).get("status", {}).get("phase") == "Renewing",
            30,
            "later status back in the virtual cluster",
        )
        # And spec still flows forward, onto the adopted copy.
        virtual_client.merge_patch(virtual_path("shop", "cart"), {"spec": {"size": 99}})
        wait_for(lambda: host_client.get(host_path(cart))["spec"].get("size") == 99, 30, "update on the host")
        process.assert_alive()
    finally:
        assert process.stop() == 0, process.log_tail()
