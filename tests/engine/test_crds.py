"""The host CRD mirrored into the virtual cluster (crdsync/engine/crds.py): what a tenant's API server is given."""

from __future__ import annotations

import time
from typing import Any

import pytest

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.crds import crd_name, mirror_crd
from crdsync.engine.engine import Engine
from crdsync.spec.model import Direction, Rule, SyncConfig
from crdsync.translate.bookkeeping import LABEL_MANAGED_BY, MANAGER
from tests.engine.kinds import CRDS, NAMESPACES, WIDGET, WIDGETS
from tests.engine.test_engine import TENANT
from tests.fakeapi import FakeCluster, FakeInformer

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def host_crd(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "widgets.example.com",
            "uid": "host-uid",
            "resourceVersion": "42",
            "generation": 3,
            "managedFields": [{"manager": "kubectl"}],
            "labels": {"app.kubernetes.io/part-of": "widgets"},
            "annotations": {LAST_APPLIED: '{"huge": "json"}', "docs.example.com/owner": "team-w"},
        },
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": True, "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v2", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}},
            ],
            **spec,
        },
        "status": {"acceptedNames": {"kind": "Widget"}, "storedVersions": ["v1", "v2"]},
    }


def test_the_mirrored_crd_serves_every_version_of_the_hosts_and_carries_no_server_owned_fields() -> None:
    mirrored, warnings = mirror_crd(host_crd())
    assert warnings == []
    assert mirrored["apiVersion"] == "apiextensions.k8s.io/v1" and mirrored["kind"] == "CustomResourceDefinition"
    assert mirrored["spec"] == host_crd()["spec"]
    assert "status" not in mirrored
    assert set(mirrored["metadata"]) == {"name", "labels", "annotations"}
    assert mirrored["metadata"]["name"] == "widgets.example.com"


def test_the_mirrored_crd_is_labelled_ours_and_keeps_the_hosts_labels_and_annotations_but_last_applied() -> None:
    mirrored, _ = mirror_crd(host_crd())
    assert mirrored["metadata"]["labels"] == {"app.kubernetes.io/part-of": "widgets", LABEL_MANAGED_BY: MANAGER}
    assert mirrored["metadata"]["annotations"] == {"docs.example.com/owner": "team-w"}
    crd = host_crd()
    crd["metadata"]["annotations"] = {LAST_APPLIED: "{}"}
    only_last_applied, _ = mirror_crd(crd)
    assert "annotations" not in only_last_applied["metadata"]  # nothing to carry: no empty map written


def test_a_conversion_webhook_is_dropped_with_a_warning_since_its_service_lives_in_the_host() -> None:
    webhook = {"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"name": "conv", "namespace": "w"}}}}
    crd = host_crd(conversion=webhook)
    mirrored, warnings = mirror_crd(crd)
    assert mirrored["spec"]["conversion"] == {"strategy": "None"}
    assert len(warnings) == 1
    assert crd["spec"]["conversion"] == webhook  # the host's CRD as read is left as it was
    unchanged, none = mirror_crd(host_crd(conversion={"strategy": "None"}))
    assert unchanged["spec"]["conversion"] == {"strategy": "None"} and none == []


def test_the_crd_of_a_kind_is_named_plural_dot_group() -> None:
    assert crd_name(WIDGETS) == "widgets.example.com"


def test_the_mirrored_crd_shares_nothing_with_the_host_crd_it_was_made_from() -> None:
    """The host CRD comes from an informer's cache: changing the mirror (a later write path) must not change it."""
    crd = host_crd()
    mirrored, _ = mirror_crd(crd)
    mirrored["spec"]["versions"][0]["served"] = False
    mirrored["spec"]["names"]["kind"] = "Changed"
    assert crd["spec"] == host_crd()["spec"]


def test_a_host_crd_change_is_mirrored_at_once_not_on_the_next_kinds_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile_module, "record_event", lambda *a, **k: None)
    host = FakeCluster("host", [WIDGETS, CRDS, NAMESPACES])
    virtual = FakeCluster("virtual", [WIDGETS, CRDS, NAMESPACES])
    crd = host_crd()
    del crd["metadata"]["uid"], crd["metadata"]["resourceVersion"], crd["status"]
    host.put(CRDS, crd)
    virtual.put(CRDS, mirror_crd(crd)[0])
    config = SyncConfig(name="crd", rules=(Rule(direction=Direction.TO_HOST, gvk=WIDGET),))
    engine = Engine(config, TENANT, host, virtual, workers=1, kinds_poll_seconds=60, informer_factory=FakeInformer)
    engine.start()
    try:
        assert engine.wait_initial_sync(5)
        crd["spec"]["versions"].append({"name": "v3", "served": True, "storage": False})
        host.put(CRDS, crd)
        deadline = time.monotonic() + 3
        while (
            time.monotonic() < deadline
            and len((virtual.get(CRDS, None, crd_name(WIDGETS)) or {})["spec"]["versions"]) < 3
        ):
            time.sleep(0.02)
        assert [v["name"] for v in virtual.get(CRDS, None, crd_name(WIDGETS))["spec"]["versions"]] == ["v1", "v2", "v3"]  # type: ignore[index]
    finally:
        engine.stop()
