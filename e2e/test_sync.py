"""The sync engine end to end: `crdsync run` as a real process between the real host and virtual API servers.

One crdsync process serves the module (started once its CRDs exist on the host); tests use their own virtual
namespaces so they do not see each other's objects. The restart test runs its own process for its own kind.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.harness import Crdsync, crd, ensure_namespace, get_or_none, host_name_for, install_crd, write_count
from e2e.helpers import RestClient, Wait, events_about, tenant_crdsync, to_host_mapping

pytestmark = pytest.mark.timeout(1800)

GROUP = "e2e.crdsync.io"
HOST_NS = "vc-e2e"
VCLUSTER = "e2e"

MAPPING = f"""
apiVersion: crdsync.io/v1alpha1
kind: SyncConfig
metadata: {{name: e2e}}
spec:
  toHost:
    - apiVersion: {GROUP}/v1
      kind: Widget
      references:
        - {{path: $.spec.secretName, kind: Secret, apiVersion: v1, follow: fromHost}}
        - {{path: $.spec.caSecret, kind: Secret, apiVersion: v1, follow: toHost}}
      patches:
        toHost:
          - {{op: set, path: $.spec.options.injected, value: true, when: {{path: $.spec.options, exists: true}}}}
    - apiVersion: {GROUP}/v1
      kind: Gizmo
      selector: {{matchLabels: {{sync: "yes"}}}}
      namespaceSelector: {{matchLabels: {{team: a}}}}
      deletion: {{policy: Delete, finalizer: true}}
    - apiVersion: {GROUP}/v1
      kind: Latecomer
    - apiVersion: {GROUP}/v1
      kind: Porter
    - apiVersion: {GROUP}/v1
      kind: Ephemeral
    - apiVersion: {GROUP}/v1
      kind: Takeover
      conflict: Overwrite
    - {{apiVersion: v1, kind: Secret, mode: referenced}}
  fromHost:
    - apiVersion: {GROUP}/v1
      kind: SharedThing
      scope: Cluster
      selector: {{matchLabels: {{crdsync.io/shared: "true"}}}}
    - {{apiVersion: v1, kind: Secret, mode: referenced}}
"""


# A keyed list (x-kubernetes-list-type: map): the apiserver records and merges its items field by field.
PORTER_SCHEMA: dict[str, Any] = {
    "openAPIV3Schema": {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "x-kubernetes-preserve-unknown-fields": True,
                            "properties": {"name": {"type": "string"}},
                        },
                    }
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
}


def widgets(ns: str, name: str = "") -> str:
    return f"/apis/{GROUP}/v1/namespaces/{ns}/widgets" + (f"/{name}" if name else "")


def host_widget_path(ns: str, name: str) -> str:
    return widgets(HOST_NS, host_name_for(VCLUSTER, HOST_NS, ns, name))


def new_widget(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def create_porter(
    virtual_client: RestClient, wait_for: Wait, namespace: str, name: str, spec: dict[str, Any]
) -> tuple[str, str]:
    """Create a Porter in the virtual cluster once the kind is mirrored there; (its path, its host copy's path)."""
    ensure_namespace(virtual_client, namespace)
    porters = f"/apis/{GROUP}/v1/namespaces/{namespace}/porters"
    body = {"apiVersion": f"{GROUP}/v1", "kind": "Porter", "metadata": {"name": name, "namespace": namespace}}
    wait_for(lambda: virtual_client.status_of("GET", porters) == 200, 60, "Porter mirrored into virtual")
    virtual_client.create(porters, {**body, "spec": spec})
    host_name = host_name_for(VCLUSTER, HOST_NS, namespace, name)
    return f"{porters}/{name}", f"/apis/{GROUP}/v1/namespaces/{HOST_NS}/porters/{host_name}"


@pytest.fixture(scope="module")
def engine(
    planes: Any,
    host_client: RestClient,
    virtual_client: RestClient,
    wait_for: Wait,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Crdsync]:
    for kind, scope in (("Widget", "Namespaced"), ("Gizmo", "Namespaced"), ("SharedThing", "Cluster")):
        install_crd(host_client, crd(GROUP, kind, scope=scope), wait_for)
    porter = crd(GROUP, "Porter", schema=PORTER_SCHEMA)
    for version in porter["spec"]["versions"]:
        del version["subresources"]  # no status subresource: the copy records no source generation that would differ
    install_crd(host_client, porter, wait_for)
    install_crd(host_client, crd(GROUP, "Takeover"), wait_for)
    ensure_namespace(host_client, HOST_NS)
    directory = tmp_path_factory.mktemp("crdsync")
    mapping = directory / "mapping.yaml"
    mapping.write_text(MAPPING)
    process = tenant_crdsync(planes, [mapping], HOST_NS, VCLUSTER, directory / "crdsync.log").start()
    process.wait_log(r"syncing .*Widget", 120)
    wait_for(lambda: virtual_client.status_of("GET", f"/apis/{GROUP}/v1/widgets") == 200, 60, "Widget in virtual")
    yield process
    assert process.stop() == 0, process.log_tail()


def test_cr_lifecycle_and_status_round_trip(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    ensure_namespace(virtual_client, "life")
    virtual_client.create(widgets("life"), new_widget("w1", "life", size=1, initial="i"))
    host_path = host_widget_path("life", "w1")
    wait_for(lambda: get_or_none(host_client, host_path) is not None, 30, "host copy")
    copy = host_client.get(host_path)
    assert copy["spec"] == {"size": 1, "initial": "i"}
    assert copy["metadata"]["annotations"]["crdsync.io/source-name"] == "w1"

    def our_records() -> list[str]:
        entries = host_client.get(host_path)["metadata"]["managedFields"]
        return sorted(e["operation"] for e in entries if e["manager"] == "crdsync" and not e.get("subresource"))

    # The copy was created by a plain POST (an Update record). A change that drops nothing is one apply: the record
    # stays, beside the apply's own.
    virtual_client.merge_patch(widgets("life", "w1"), {"spec": {"size": 2}})
    wait_for(lambda: host_client.get(host_path)["spec"].get("size") == 2, 30, "update on host")
    assert our_records() == ["Apply", "Update"]

    # A field the tenant adds and drops again was only ever applied: the apply alone removes it.
    virtual_client.merge_patch(widgets("life", "w1"), {"spec": {"extra": "x"}})
    wait_for(lambda: host_client.get(host_path)["spec"].get("extra") == "x", 30, "field added on host")
    virtual_client.merge_patch(widgets("life", "w1"), {"spec": {"extra": None}})
    wait_for(lambda: "extra" not in host_client.get(host_path)["spec"], 30, "dropped field removed on host")

    # A field of the create goes too: the real apiserver would keep it for the Update record, so that record is
    # converted into our Apply record first.
    virtual_client.merge_patch(widgets("life", "w1"), {"spec": {"initial": None}})
    wait_for(lambda: "initial" not in host_client.get(host_path)["spec"], 30, "a field of the create removed on host")
    assert our_records() == ["Apply"]

    host_client.merge_patch(host_path + "/status", {"status": {"phase": "Ready", "observed": 2}})
    wait_for(
        lambda: virtual_client.get(widgets("life", "w1")).get("status", {}).get("phase") == "Ready",
        30,
        "status back in virtual",
    )

    virtual_client.delete(widgets("life", "w1"))
    wait_for(lambda: get_or_none(host_client, host_path) is None, 30, "host copy deleted")
    engine.assert_alive()


def test_a_field_dropped_inside_a_keyed_list_item_goes_from_the_copy(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    """Items compare as subsets (server defaults live in them), so only the copy's own record can tell that a field
    set inside an item of a keyed list is no longer wanted: the apiserver names the item and each field set in it.
    (With a status subresource the recorded source generation changes too and would hide the gap.)"""
    spec = {"ports": [{"name": "a", "port": 1, "extra": "x"}, {"name": "b", "port": 2}]}
    source, host_path = create_porter(virtual_client, wait_for, "ports", "p1", spec)
    wait_for(lambda: get_or_none(host_client, host_path) is not None, 30, "Porter copy on the host")
    virtual_client.merge_patch(source, {"spec": {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]}})
    wait_for(
        lambda: host_client.get(host_path)["spec"]["ports"] == [{"name": "a", "port": 1}, {"name": "b", "port": 2}],
        30,
        "the field dropped inside item a gone from the host copy",
    )
    engine.assert_alive()


def test_an_empty_list_the_source_drops_goes_from_the_copy(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    """A custom resource keeps an empty list as written; the copy's empty list, once the source drops it, is a field
    crdsync owns and no longer wants, not one that is already absent. A Porter: no status subresource, so no recorded
    source generation changes with the spec and would force the write anyway."""
    spec = {"ports": [{"name": "a", "port": 1}], "tags": []}
    source, host_path = create_porter(virtual_client, wait_for, "empties", "e1", spec)
    wait_for(lambda: (get_or_none(host_client, host_path) or {}).get("spec", {}).get("tags") == [], 30, "the copy")
    virtual_client.merge_patch(source, {"spec": {"tags": None}})
    wait_for(lambda: "tags" not in host_client.get(host_path)["spec"], 30, "the empty list gone from the copy")
    engine.assert_alive()


def test_a_field_left_equal_by_an_overwrite_still_goes_when_the_source_drops_it(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    """Conflict policy Overwrite replaces a foreign object by PUT. The apiserver leaves a field the PUT did not change
    (`size`, equal) in the record of whoever set it; crdsync folds that record into its own right after, so when the
    source drops the field, the copy loses it too."""
    ensure_namespace(virtual_client, "takeover")
    takeovers = f"/apis/{GROUP}/v1/namespaces/takeover/takeovers"
    host_path = f"/apis/{GROUP}/v1/namespaces/{HOST_NS}/takeovers/{host_name_for(VCLUSTER, HOST_NS, 'takeover', 't1')}"
    foreign = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Takeover",
        "metadata": {"name": host_path.rsplit("/", 1)[1], "namespace": HOST_NS},
        "spec": {"size": 1, "color": "red"},
    }
    host_client.create(host_path.rsplit("/", 1)[0], foreign)  # somebody else's object where the copy goes
    wait_for(lambda: virtual_client.status_of("GET", takeovers) == 200, 60, "Takeover mirrored into virtual")
    source = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Takeover",
        "metadata": {"name": "t1", "namespace": "takeover"},
        "spec": {"size": 1, "shape": "round"},
    }
    virtual_client.create(takeovers, source)
    wait_for(lambda: host_client.get(host_path)["spec"] == {"size": 1, "shape": "round"}, 30, "the copy overwritten")

    def managers() -> set[str]:
        entries = host_client.get(host_path)["metadata"]["managedFields"]
        return {e["manager"] for e in entries if not e.get("subresource")}

    wait_for(lambda: managers() == {"crdsync"}, 30, "every record of the overwritten object folded into crdsync's")
    virtual_client.merge_patch(f"{takeovers}/t1", {"spec": {"size": None}})
    wait_for(lambda: host_client.get(host_path)["spec"] == {"shape": "round"}, 30, "size gone from the copy")
    engine.assert_alive()


def test_shared_host_kind_appears_read_only_and_follows_deletion(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    path = f"/apis/{GROUP}/v1/sharedthings"
    host_client.create(
        path,
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "SharedThing",
            "metadata": {"name": "issuer-a", "labels": {"crdsync.io/shared": "true"}},
            "spec": {"x": 1},
        },
    )
    host_client.create(
        path, {"apiVersion": f"{GROUP}/v1", "kind": "SharedThing", "metadata": {"name": "private"}, "spec": {"x": 2}}
    )
    wait_for(lambda: get_or_none(virtual_client, f"{path}/issuer-a") is not None, 30, "shared object in virtual")
    virtual_client.merge_patch(f"{path}/issuer-a", {"spec": {"x": 99}})
    wait_for(lambda: virtual_client.get(f"{path}/issuer-a")["spec"]["x"] == 1, 30, "tenant edit reverted")
    # Additions are edits too: a field and a label the tenant adds are shed again.
    virtual_client.merge_patch(
        f"{path}/issuer-a", {"metadata": {"labels": {"mine": "yes"}}, "spec": {"extra": {"a": 1}}}
    )

    def additions_shed() -> bool:
        obj = virtual_client.get(f"{path}/issuer-a")
        return "extra" not in obj["spec"] and "mine" not in (obj["metadata"].get("labels") or {})

    wait_for(additions_shed, 30, "tenant additions removed")
    assert virtual_client.get(f"{path}/issuer-a")["spec"] == {"x": 1}
    assert get_or_none(virtual_client, f"{path}/private") is None
    host_client.delete(f"{path}/issuer-a")
    wait_for(lambda: get_or_none(virtual_client, f"{path}/issuer-a") is None, 30, "removed with its host source")


def test_references_export_import_rotate_and_release(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    ns = "refs"
    ensure_namespace(virtual_client, ns)
    virtual_client.create(
        f"/api/v1/namespaces/{ns}/secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca"}, "data": {"ca.crt": "Y2E="}},
    )
    virtual_client.create(widgets(ns), new_widget("w", ns, caSecret="ca", secretName="tls"))
    host_copy_path = host_widget_path(ns, "w")
    wait_for(lambda: get_or_none(host_client, host_copy_path) is not None, 30, "host copy")
    copy = host_client.get(host_copy_path)
    exported_name = host_name_for(VCLUSTER, HOST_NS, ns, "ca")
    tls_host_name = host_name_for(VCLUSTER, HOST_NS, ns, "tls")
    assert copy["spec"]["caSecret"] == exported_name
    assert copy["spec"]["secretName"] == tls_host_name
    secrets = f"/api/v1/namespaces/{HOST_NS}/secrets"
    wait_for(lambda: get_or_none(host_client, f"{secrets}/{exported_name}") is not None, 30, "CA secret exported")
    assert host_client.get(f"{secrets}/{exported_name}")["data"] == {"ca.crt": "Y2E="}

    # The host operator writes the referenced secret; the tenant sees it under its own name.
    host_client.create(
        secrets,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": tls_host_name},
            "data": {"tls.crt": base64.b64encode(b"v1").decode()},
        },
    )
    tenant_tls = f"/api/v1/namespaces/{ns}/secrets/tls"
    wait_for(lambda: get_or_none(virtual_client, tenant_tls) is not None, 30, "TLS secret imported")
    host_client.merge_patch(f"{secrets}/{tls_host_name}", {"data": {"tls.crt": base64.b64encode(b"v2").decode()}})
    wait_for(
        lambda: virtual_client.get(tenant_tls)["data"]["tls.crt"] == base64.b64encode(b"v2").decode(),
        30,
        "rotation imported",
    )

    virtual_client.merge_patch(widgets(ns, "w"), {"spec": {"secretName": None, "caSecret": None}})
    wait_for(lambda: get_or_none(virtual_client, tenant_tls) is None, 30, "import removed when unreferenced")
    wait_for(
        lambda: get_or_none(host_client, f"{secrets}/{exported_name}") is None, 30, "export removed when unreferenced"
    )
    assert get_or_none(virtual_client, f"/api/v1/namespaces/{ns}/secrets/ca") is not None


def test_label_and_namespace_selection_with_finalizer(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    ensure_namespace(virtual_client, "team-a", {"team": "a"})
    ensure_namespace(virtual_client, "team-b", {"team": "b"})

    def gizmos(ns: str, name: str = "") -> str:
        return f"/apis/{GROUP}/v1/namespaces/{ns}/gizmos" + (f"/{name}" if name else "")

    def host_gizmo(ns: str, name: str) -> str:
        return gizmos(HOST_NS, host_name_for(VCLUSTER, HOST_NS, ns, name))

    def gizmo(name: str, ns: str, sync: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Gizmo",
            "metadata": {"name": name, "namespace": ns, "labels": {"sync": sync}},
            "spec": {},
        }

    wait_for(lambda: virtual_client.status_of("GET", f"/apis/{GROUP}/v1/gizmos") == 200, 60, "Gizmo in virtual")
    virtual_client.create(gizmos("team-a"), gizmo("in", "team-a", "yes"))
    virtual_client.create(gizmos("team-a"), gizmo("unlabelled", "team-a", "no"))
    virtual_client.create(gizmos("team-b"), gizmo("other-team", "team-b", "yes"))
    wait_for(lambda: get_or_none(host_client, host_gizmo("team-a", "in")) is not None, 30, "selected gizmo copied")
    time.sleep(2)  # give the engine a chance to (wrongly) copy the unselected ones
    assert get_or_none(host_client, host_gizmo("team-a", "unlabelled")) is None
    assert get_or_none(host_client, host_gizmo("team-b", "other-team")) is None
    assert "crdsync.io/host-copy" in virtual_client.get(gizmos("team-a", "in"))["metadata"]["finalizers"]

    # Label change: stops matching, host copy goes (and the finalizer is released).
    virtual_client.merge_patch(gizmos("team-a", "in"), {"metadata": {"labels": {"sync": "no"}}})
    wait_for(lambda: get_or_none(host_client, host_gizmo("team-a", "in")) is None, 30, "deselected copy removed")
    wait_for(
        lambda: not virtual_client.get(gizmos("team-a", "in"))["metadata"].get("finalizers"), 30, "finalizer released"
    )

    # Finalizer ordering: the virtual object disappears only after its host copy is gone.
    virtual_client.create(gizmos("team-a"), gizmo("held", "team-a", "yes"))
    wait_for(lambda: get_or_none(host_client, host_gizmo("team-a", "held")) is not None, 30, "held copied")
    virtual_client.delete(gizmos("team-a", "held"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        virtual_obj = get_or_none(virtual_client, gizmos("team-a", "held"))
        host_obj = get_or_none(host_client, host_gizmo("team-a", "held"))
        if virtual_obj is None:
            assert host_obj is None, "virtual object vanished while its host copy still existed"
            break
        time.sleep(0.05)
    assert get_or_none(virtual_client, gizmos("team-a", "held")) is None


def test_crd_installed_after_start_is_mirrored_with_all_versions_and_synced(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    engine.wait_log(r"Latecomer.*waiting", 30)
    install_crd(host_client, crd(GROUP, "Latecomer", versions=("v1", "v2")), wait_for)
    crd_path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/latecomers.{GROUP}"
    wait_for(lambda: get_or_none(virtual_client, crd_path) is not None, 60, "CRD mirrored to virtual")
    versions = [v["name"] for v in virtual_client.get(crd_path)["spec"]["versions"]]
    assert versions == ["v1", "v2"]
    wait_for(lambda: virtual_client.status_of("GET", f"/apis/{GROUP}/v1/latecomers") == 200, 60, "served")
    ensure_namespace(virtual_client, "late")
    virtual_client.create(
        f"/apis/{GROUP}/v1/namespaces/late/latecomers",
        {"apiVersion": f"{GROUP}/v1", "kind": "Latecomer", "metadata": {"name": "l1"}, "spec": {"a": 1}},
    )
    host_path = f"/apis/{GROUP}/v1/namespaces/{HOST_NS}/latecomers/{host_name_for(VCLUSTER, HOST_NS, 'late', 'l1')}"
    wait_for(lambda: get_or_none(host_client, host_path) is not None, 60, "late kind synced")

    # The host CRD gains a version later: the mirrored CRD follows.
    host_crd = host_client.get(crd_path)
    host_crd["spec"]["versions"].append({**host_crd["spec"]["versions"][1], "name": "v3"})
    host_client.replace(crd_path, host_crd)
    wait_for(
        lambda: [v["name"] for v in virtual_client.get(crd_path)["spec"]["versions"]] == ["v1", "v2", "v3"],
        60,
        "new CRD version mirrored",
    )


def test_recreated_object_owns_the_host_copy(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    ns = "recreate"
    ensure_namespace(virtual_client, ns)
    first = virtual_client.create(widgets(ns), new_widget("w", ns, gen=1))
    host_path = host_widget_path(ns, "w")
    wait_for(lambda: get_or_none(host_client, host_path) is not None, 30, "host copy")
    virtual_client.delete(widgets(ns, "w"))
    second = virtual_client.create(widgets(ns), new_widget("w", ns, gen=2))
    assert first["metadata"]["uid"] != second["metadata"]["uid"]

    def owned_by_second() -> bool:
        obj = get_or_none(host_client, host_path)
        return (
            obj is not None
            and obj["metadata"]["annotations"].get("crdsync.io/source-uid") == second["metadata"]["uid"]
            and obj["spec"].get("gen") == 2
        )

    wait_for(owned_by_second, 30, "host copy owned by the recreated object")


def test_maximum_length_names_translate_and_round_trip(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    ns = "n" * 63
    name = ("a" * 62 + ".") * 4 + "b"  # 253 characters, the longest object name
    assert len(name) == 253
    ensure_namespace(virtual_client, ns)
    virtual_client.create(widgets(ns), new_widget(name, ns, size=5))
    translated = host_name_for(VCLUSTER, HOST_NS, ns, name)
    assert len(translated) <= 63
    wait_for(lambda: get_or_none(host_client, widgets(HOST_NS, translated)) is not None, 30, "long name copied")
    host_client.merge_patch(widgets(HOST_NS, translated) + "/status", {"status": {"phase": "Long"}})
    wait_for(
        lambda: virtual_client.get(widgets(ns, name)).get("status", {}).get("phase") == "Long",
        30,
        "status back to the long-named object",
    )


def test_bad_object_becomes_an_event_and_others_keep_syncing(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    ns = "bad"
    ensure_namespace(virtual_client, ns)
    virtual_client.create(widgets(ns), new_widget("broken", ns, options="not-a-map"))
    virtual_client.create(widgets(ns), new_widget("fine", ns, options={"mode": "x"}))
    wait_for(lambda: get_or_none(host_client, host_widget_path(ns, "fine")) is not None, 30, "good object synced")
    assert host_client.get(host_widget_path(ns, "fine"))["spec"]["options"] == {"mode": "x", "injected": True}

    wait_for(
        lambda: bool(events_about(virtual_client, ns, "broken", warnings=True)), 30, "Warning event on the bad object"
    )
    assert get_or_none(host_client, host_widget_path(ns, "broken")) is None


def test_quiet_period_after_convergence_makes_no_writes(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    ns = "quiet"
    ensure_namespace(virtual_client, ns)
    for i in range(10):
        virtual_client.create(widgets(ns), new_widget(f"q{i}", ns, i=i))
    wait_for(lambda: all(get_or_none(host_client, host_widget_path(ns, f"q{i}")) for i in range(10)), 60, "synced")
    host_client.merge_patch(host_widget_path(ns, "q0") + "/status", {"status": {"phase": "Done"}})
    wait_for(lambda: virtual_client.get(widgets(ns, "q0")).get("status", {}).get("phase") == "Done", 30, "status")
    time.sleep(3)  # let the last event round trips finish
    before = (write_count(host_client), write_count(virtual_client))
    time.sleep(10)
    after = (write_count(host_client), write_count(virtual_client))
    assert after == before, f"writes during a quiet period: host {after[0] - before[0]}, virtual {after[1] - before[1]}"
    engine.assert_alive()


def single_kind_tenant(
    planes: Any, host_client: RestClient, wait_for: Wait, directory: Path, *, kind: str, host_ns: str, vcluster: str
) -> Callable[..., Crdsync]:
    """Install `kind` on the host and write a one-rule mapping for it; returns `start(log_name, *flags)`, which
    starts a crdsync process for that tenant (its own kind, so it never touches the module's objects)."""
    install_crd(host_client, crd(GROUP, kind), wait_for)
    ensure_namespace(host_client, host_ns)
    mapping = directory / f"{kind.lower()}.yaml"
    mapping.write_text(to_host_mapping(kind.lower(), GROUP, kind))

    def start(log_name: str, *flags: str) -> Crdsync:
        return tenant_crdsync(
            planes, [mapping], host_ns, vcluster, directory / f"{log_name}.log", extra=list(flags)
        ).start()

    return start


def test_sigkill_mid_sync_and_restart_converges_exactly_once(
    planes: Any, host_client: RestClient, virtual_client: RestClient, wait_for: Wait, tmp_path: Path
) -> None:
    host_ns = "vc-bulk"
    start = single_kind_tenant(planes, host_client, wait_for, tmp_path, kind="Bulk", host_ns=host_ns, vcluster="bulk")

    def run() -> Crdsync:
        return start("crdsync")

    def host_items() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = host_client.get(f"/apis/{GROUP}/v1/namespaces/{host_ns}/bulks")["items"]
        return items

    first = run()
    first.wait_log(r"syncing .*Bulk", 120)
    wait_for(lambda: virtual_client.status_of("GET", f"/apis/{GROUP}/v1/bulks") == 200, 60, "Bulk in virtual")
    ensure_namespace(virtual_client, "bulk")
    path = f"/apis/{GROUP}/v1/namespaces/bulk/bulks"
    for i in range(200):
        virtual_client.create(
            path, {"apiVersion": f"{GROUP}/v1", "kind": "Bulk", "metadata": {"name": f"b{i:03d}"}, "spec": {"i": i}}
        )
    wait_for(lambda: len(host_items()) >= 20, 60, "sync under way")
    first.kill()
    for i in range(0, 200, 10):  # deleted while crdsync is down
        virtual_client.delete(f"{path}/b{i:03d}")
    second = run()
    expected = {f"b{i:03d}" for i in range(200) if i % 10}
    wait_for(
        lambda: {o["metadata"]["annotations"]["crdsync.io/source-name"] for o in host_items()} == expected,
        120,
        "exactly the surviving objects on host",
    )
    items = host_items()
    assert len(items) == len(expected)  # nothing duplicated
    assert all(o["spec"]["i"] == int(o["metadata"]["annotations"]["crdsync.io/source-name"][1:]) for o in items)
    assert second.stop() == 0


def test_crd_removed_at_runtime_stops_only_that_kind(
    engine: Crdsync, host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    install_crd(host_client, crd(GROUP, "Ephemeral"), wait_for)
    wait_for(lambda: virtual_client.status_of("GET", f"/apis/{GROUP}/v1/ephemerals") == 200, 60, "mirrored")
    ensure_namespace(virtual_client, "eph")
    virtual_client.create(
        f"/apis/{GROUP}/v1/namespaces/eph/ephemerals",
        {"apiVersion": f"{GROUP}/v1", "kind": "Ephemeral", "metadata": {"name": "e1"}, "spec": {}},
    )
    host_path = f"/apis/{GROUP}/v1/namespaces/{HOST_NS}/ephemerals/{host_name_for(VCLUSTER, HOST_NS, 'eph', 'e1')}"
    wait_for(lambda: get_or_none(host_client, host_path) is not None, 30, "ephemeral synced")

    host_client.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/ephemerals.{GROUP}")
    engine.wait_log(r"Ephemeral.*no longer served", 60)
    # The other kinds keep syncing.
    ensure_namespace(virtual_client, "after-removal")
    virtual_client.create(widgets("after-removal"), new_widget("still", "after-removal"))
    wait_for(lambda: get_or_none(host_client, host_widget_path("after-removal", "still")) is not None, 30, "widget")

    # The kind comes back with its CRD: the tenant's object, still in virtual, is synced again.
    install_crd(host_client, crd(GROUP, "Ephemeral"), wait_for)
    wait_for(lambda: get_or_none(host_client, host_path) is not None, 60, "ephemeral synced after the CRD returned")
    engine.assert_alive()


def test_leader_election_one_replica_syncs_and_hands_over(
    planes: Any, host_client: RestClient, virtual_client: RestClient, wait_for: Wait, tmp_path: Path
) -> None:
    host_ns, vcluster = "vc-elect", "elect"
    start = single_kind_tenant(
        planes, host_client, wait_for, tmp_path, kind="Elect", host_ns=host_ns, vcluster=vcluster
    )

    def replica(name: str) -> Crdsync:
        return start(name, "--leader-elect")

    def synced(name: str) -> bool:
        path = f"/apis/{GROUP}/v1/namespaces/{host_ns}/elects/{host_name_for(vcluster, host_ns, 'el', name)}"
        return get_or_none(host_client, path) is not None

    first = replica("first")
    first.wait_log(r"leading as", 60)
    second = replica("second")
    try:
        wait_for(lambda: virtual_client.status_of("GET", f"/apis/{GROUP}/v1/elects") == 200, 60, "Elect in virtual")
        ensure_namespace(virtual_client, "el")
        elects = f"/apis/{GROUP}/v1/namespaces/el/elects"
        virtual_client.create(elects, {"apiVersion": f"{GROUP}/v1", "kind": "Elect", "metadata": {"name": "a"}})
        wait_for(lambda: synced("a"), 30, "synced by the leader")
        lease = host_client.get(f"/apis/coordination.k8s.io/v1/namespaces/{host_ns}/leases/crdsync-{vcluster}")
        assert lease["spec"]["holderIdentity"].endswith(str(first.process.pid if first.process else ""))
        assert "leading as" not in second.log_path.read_text()

        assert first.stop() == 0  # releases the Lease: the standby takes over without waiting out its duration
        second.wait_log(r"leading as", 30)
        virtual_client.create(elects, {"apiVersion": f"{GROUP}/v1", "kind": "Elect", "metadata": {"name": "b"}})
        wait_for(lambda: synced("b"), 30, "synced by the new leader")
    finally:
        second.stop()
        first.stop()
