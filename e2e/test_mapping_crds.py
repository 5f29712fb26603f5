"""Every shipped mapping against its operator's real CRDs, on real planes.

For each mapping of the library (tests/mappings/samples/<mapping>/, goldens in tests/mappings/golden/<mapping>/):
- the operator's CRDs come from its pinned Go module (devkit.devplane.crds for the CRD-only operators; cert-manager
  and external-secrets from their controllers' modules), applied once per module to the session's host plane and to
  a virtual plane of this module's own ("maplib", so no other module's crdsync sees these kinds appear);
- every object of every golden plan from the virtual side (host copies and the followers it exports) is server-side
  applied to the host and must be accepted by the real schema (the copies of the goldens' tenant team-a in host
  namespace vc-team-a, which no other e2e module uses);
- every sample object the tenant writes is applied to the virtual plane and accepted there, and every virtual copy
  of a host sample (the golden plans `--from host`) too;
- every fromHost rule of the mapping is readOnly, and `crdsync run` with the mapping really reverts a tenant's edit
  of each shared object it imports (labels and spec alike), as e2e/test_sync.py checks for its own kind.

example-widgets is left out: it is a made-up operator with no CRDs to install.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ApiError
from crdsync.kube.resource import Resource
from crdsync.spec.load import load_files
from crdsync.spec.model import Direction, SyncConfig
from devkit.devplane import certmanager, crds, externalsecrets
from devkit.devplane.launcher import Planes, PlanesError
from e2e.helpers import Wait, running_tenant

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parent.parent
MAPPINGS = REPO / "mappings"
SAMPLES = REPO / "tests" / "mappings" / "samples"
GOLDEN = REPO / "tests" / "mappings" / "golden"
VIRTUAL = "maplib"  # this module's virtual plane
HOST_NS, VCLUSTER = "vc-maplib", "maplib"  # the tenant `crdsync run` serves in the read-only test
LIBRARY = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and p.name != "example-widgets")
MANAGER = "crdsync-e2e-maplib"
NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False)

# A tenant edit of a shared object that the kind's schema accepts: crdsync must put the host's spec back.
SPEC_EDITS: dict[str, dict[str, Any]] = {
    "Gateway": {"gatewayClassName": "tenant-class"},  # Gateway API's; Istio's below by its apiVersion
    "networking.istio.io/Gateway": {"selector": {"istio": "tenant-gateway"}},
    "ClusterTriggerAuthentication": {"env": [{"parameter": "token", "name": "TOKEN"}]},
    # Beside selfSigned: {}; an edit inside it: test_an_edit_inside_an_empty_map_of_an_import_is_reverted.
    "ClusterIssuer": {"ca": {"secretName": "tenant-ca"}},
    "ClusterSecretStore": {"refreshInterval": 7},
}


def load_yaml(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text()) if isinstance(d, dict)]


def config_of(mapping: str) -> SyncConfig:
    loaded = load_files([str(MAPPINGS / f"{mapping}.yaml")])
    assert loaded.config is not None, loaded.errors
    return loaded.config


def mapped_kinds(mapping: str) -> set[str]:
    return {rule.gvk.kind for rule in config_of(mapping).rules if "." in rule.gvk.group}  # not core, not apps


def operator_crds(mapping: str) -> list[dict[str, Any]]:
    """The CRDs of the kinds `mapping` names, from the operator's pinned module (cached after the first run)."""
    if mapping == "cert-manager":
        found = certmanager.load_crds()
    elif mapping == "external-secrets":
        found = externalsecrets.load_crds()
    else:
        found = crds.load_crds(mapping)
    kinds = mapped_kinds(mapping)
    wanted = [crd for crd in found if crd["spec"]["names"]["kind"] in kinds]
    assert {crd["spec"]["names"]["kind"] for crd in wanted} == kinds, f"{mapping}: kinds without a CRD"
    return wanted


class Cluster:
    """Server-side apply of arbitrary objects (resource found by discovery) on one plane."""

    def __init__(self, kubeconfig: Path) -> None:
        self.client = KubeClient.from_kubeconfig(str(kubeconfig), field_manager=MANAGER)

    def resource(self, obj: dict[str, Any], wait_for: Wait) -> Resource:
        gvk = GroupVersionKind.from_api_version(obj["apiVersion"], obj["kind"])
        found: list[Resource] = []

        def served() -> bool:
            res = self.client.resource_for(gvk)
            if res is None:
                self.client.invalidate_discovery()
                return False
            found.append(res)
            return True

        wait_for(served, 60, f"{gvk} served")
        return found[-1]

    def namespace(self, name: str) -> None:
        self.client.apply(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def apply(self, obj: dict[str, Any], wait_for: Wait) -> dict[str, Any]:
        """Apply `obj` (its namespace created first); an apiserver refusal fails the test with its message."""
        res = self.resource(obj, wait_for)
        if res.namespaced:
            self.namespace(obj["metadata"]["namespace"])
        body = copy.deepcopy(obj)
        try:
            applied: dict[str, Any] = self.client.apply(res, body, force=True)
        except ApiError as exc:
            where = f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
            pytest.fail(f"{where} refused by the real CRD: {exc}", pytrace=False)
        return applied

    def get(self, obj: dict[str, Any], wait_for: Wait) -> dict[str, Any] | None:
        res = self.resource(obj, wait_for)
        return self.client.get(
            res, obj["metadata"].get("namespace") if res.namespaced else None, obj["metadata"]["name"]
        )


@pytest.fixture(scope="module")
def maplib(planes: Planes) -> Iterator[Path]:
    """This module's virtual plane."""
    try:
        kubeconfig = planes.add_apiserver(VIRTUAL)
    except PlanesError as exc:
        pytest.fail(f"virtual plane {VIRTUAL!r} did not start: {exc}", pytrace=False)
    try:
        yield kubeconfig
    finally:
        planes.stop_apiserver(VIRTUAL)


@pytest.fixture(scope="module")
def installed(planes: Planes, maplib: Path) -> dict[str, list[dict[str, Any]]]:
    """Each library operator's CRDs (the kinds its mapping names), applied once to the host and to maplib."""
    out: dict[str, list[dict[str, Any]]] = {}
    for mapping in LIBRARY:
        definitions = operator_crds(mapping)
        for kubeconfig in (planes.kubeconfig("host"), maplib):
            try:
                crds.install_crds(kubeconfig, definitions)
            except crds.CrdSourceError as exc:
                pytest.fail(f"{mapping}: real CRDs not installed: {exc}", pytrace=False)
        out[mapping] = definitions
    return out


@pytest.fixture(scope="module")
def host(planes: Planes, installed: dict[str, Any]) -> Cluster:
    return Cluster(planes.kubeconfig("host"))


@pytest.fixture(scope="module")
def virtual(maplib: Path, installed: dict[str, Any]) -> Cluster:
    return Cluster(maplib)


def samples(mapping: str, host_side: bool) -> list[Path]:
    return sorted(p for p in (SAMPLES / mapping).glob("*.yaml") if p.name.endswith(".host.yaml") == host_side)


def test_the_library_is_every_mapping_with_an_operator() -> None:
    shipped = {p.stem for p in MAPPINGS.glob("*.yaml")} - {"example-widgets"}
    assert set(LIBRARY) == shipped


@pytest.mark.parametrize("mapping", LIBRARY)
def test_host_copies_from_the_golden_plans_are_accepted(mapping: str, host: Cluster, wait_for: Wait) -> None:
    applied = 0
    for sample in samples(mapping, host_side=False):
        for obj in load_yaml(GOLDEN / mapping / sample.name):
            written = host.apply(obj, wait_for)
            assert written["metadata"]["name"] == obj["metadata"]["name"]
            applied += 1
    assert applied


@pytest.mark.parametrize("mapping", LIBRARY)
def test_tenant_objects_and_virtual_copies_are_accepted(
    mapping: str, host: Cluster, virtual: Cluster, wait_for: Wait
) -> None:
    for sample in samples(mapping, host_side=False):
        for obj in load_yaml(sample):
            virtual.apply(obj, wait_for)
    for sample in samples(mapping, host_side=True):
        for obj in load_yaml(sample):
            host.apply(obj, wait_for)  # the host admin's shared object
        for obj in load_yaml(GOLDEN / mapping / sample.name):
            virtual.apply(obj, wait_for)  # its copy in the virtual cluster


@pytest.mark.parametrize("mapping", [m for m in LIBRARY if samples(m, host_side=True)])
def test_every_import_is_read_only_and_tenant_edits_are_reverted(
    mapping: str,
    planes: Planes,
    host: Cluster,
    virtual: Cluster,
    wait_for: Wait,
    tmp_path: Path,
) -> None:
    config = config_of(mapping)
    imports = [rule for rule in config.rules if rule.direction is Direction.FROM_HOST]
    assert imports and all(rule.read_only for rule in imports), f"{mapping}: an import the tenant could change"
    shared = [obj for sample in samples(mapping, host_side=True) for obj in load_yaml(sample)]
    host.namespace(HOST_NS)
    for obj in shared:
        host.apply(obj, wait_for)
        # The copy an earlier test applied by hand (bookkeeping included) is not crdsync's: let crdsync make its own.
        res = virtual.resource(obj, wait_for)
        namespace = obj["metadata"].get("namespace") if res.namespaced else None
        if virtual.client.get(res, namespace, obj["metadata"]["name"]) is not None:
            virtual.client.delete(res, namespace, obj["metadata"]["name"])

            def gone(obj: dict[str, Any] = obj) -> bool:
                return virtual.get(obj, wait_for) is None

            wait_for(gone, 30, "hand-made copy gone")
    with running_tenant(planes, MAPPINGS / f"{mapping}.yaml", HOST_NS, VCLUSTER, tmp_path, virtual=VIRTUAL):
        for obj in shared:
            imported: list[dict[str, Any]] = []

            def copied(obj: dict[str, Any] = obj, into: list[dict[str, Any]] = imported) -> bool:
                found = virtual.get(obj, wait_for)
                labels = ((found or {}).get("metadata") or {}).get("labels") or {}
                if found is not None and labels.get("crdsync.io/managed-by") == "crdsync":
                    into.append(found)
                    return True
                return False

            wait_for(copied, 60, f"{obj['kind']} {obj['metadata']['name']} imported")
            original = imported[-1]["spec"]
            res = virtual.resource(obj, wait_for)
            namespace = obj["metadata"].get("namespace") if res.namespaced else None
            group = obj["apiVersion"].rpartition("/")[0]
            spec_edit = SPEC_EDITS.get(f"{group}/{obj['kind']}") or SPEC_EDITS[obj["kind"]]
            edit = {"metadata": {"labels": {"tenant-edit": "yes"}}, "spec": spec_edit}
            virtual.client.patch(res, namespace, obj["metadata"]["name"], edit)

            def reverted(obj: dict[str, Any] = obj, original: dict[str, Any] = original) -> bool:
                found = virtual.get(obj, wait_for) or {}
                labels = (found.get("metadata") or {}).get("labels") or {}
                return found.get("spec") == original and "tenant-edit" not in labels

            try:
                wait_for(reverted, 60, f"tenant edit of {obj['kind']} {obj['metadata']['name']} reverted")
            except AssertionError as exc:
                now = virtual.get(obj, wait_for) or {}
                shown = {"labels": now.get("metadata", {}).get("labels"), "spec": now.get("spec")}
                raise AssertionError(f"{exc}: imported spec {original}, now {shown}") from None


def test_an_edit_inside_an_empty_map_of_an_import_is_reverted(
    planes: Planes, host: Cluster, virtual: Cluster, wait_for: Wait, tmp_path: Path
) -> None:
    (obj,) = load_yaml(SAMPLES / "cert-manager" / "clusterissuer.host.yaml")
    host.namespace(HOST_NS)
    host.apply(obj, wait_for)
    res = virtual.resource(obj, wait_for)
    with running_tenant(planes, MAPPINGS / "cert-manager.yaml", HOST_NS, VCLUSTER, tmp_path, virtual=VIRTUAL):
        wait_for(lambda: virtual.get(obj, wait_for) is not None, 60, "ClusterIssuer imported")
        edit = {"spec": {"selfSigned": {"crlDistributionPoints": ["http://tenant.example.test/crl"]}}}
        virtual.client.patch(res, None, obj["metadata"]["name"], edit)
        wait_for(lambda: (virtual.get(obj, wait_for) or {}).get("spec") == {"selfSigned": {}}, 30, "edit reverted")
