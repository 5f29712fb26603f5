"""Metadata hygiene: server fields never cross, bookkeeping cannot be forged, objects without an identity are
refused with located errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from crdsync.spec.model import (
    Naming,
)
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_GENERATION,
    ANN_SOURCE_KIND,
    ANN_SOURCE_NAME,
    ANN_SOURCE_NAMESPACE,
    ANN_SOURCE_SIDE,
    ANN_SOURCE_UID,
    LABEL_MANAGED_BY,
    LABEL_ROLE,
    LABEL_VCLUSTER,
    LAST_APPLIED,
    MANAGER,
)
from crdsync.translate.errors import TranslationError
from crdsync.translate.metadata import SERVER_OWNED_METADATA, generation_of, stamp, strip_server_fields, uid_of
from crdsync.translate.names import host_name
from crdsync.translate.objects import to_host
from tests.translate.certs import (
    CERT_RULE,
    CONFIG,
    TENANT,
    cert,
    certificates,
    ours,
)


@settings(max_examples=100, deadline=None)
@given(certificates())
def test_server_fields_never_cross_and_bookkeeping_cannot_be_forged(virtual: dict[str, Any]) -> None:
    host = to_host(CONFIG, CERT_RULE, virtual, TENANT)
    meta = host["metadata"]
    assert set(meta) <= {"name", "namespace", "labels", "annotations"}
    assert not set(meta) & set(SERVER_OWNED_METADATA)
    assert "status" not in host
    assert LAST_APPLIED not in meta.get("annotations", {})
    source = virtual["metadata"]
    assert ours(meta["labels"]) == {LABEL_MANAGED_BY: MANAGER, LABEL_VCLUSTER: "vc1", LABEL_ROLE: "copy"}
    expected_annotations = {
        ANN_SOURCE_SIDE: "virtual",
        ANN_SOURCE_KIND: "cert-manager.io/Certificate",
        ANN_SOURCE_NAMESPACE: source["namespace"],
        ANN_SOURCE_NAME: source["name"],
    }
    if "uid" in source:
        expected_annotations[ANN_SOURCE_UID] = source["uid"]
    if "generation" in source:
        expected_annotations[ANN_SOURCE_GENERATION] = str(source["generation"])
    assert ours(meta["annotations"]) == expected_annotations
    assert meta["name"] == host_name(TENANT, source["namespace"], source["name"], Naming())
    assert meta["namespace"] == TENANT.host_namespace


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"namespace": "a"}},
            "no metadata.name",
        ),
        (
            {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "a"}},
            "no metadata.namespace",
        ),
        ({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "a", "namespace": "b"}}, "is a"),
        ({"apiVersion": "cert-manager.io/v1", "kind": "Certificate"}, "no metadata"),
        ({**cert(), "metadata": {"name": "a", "namespace": "b", "labels": ["x"]}}, "labels must be a map"),
    ],
)
def test_bad_objects_raise_located_errors(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError, match=message) as info:
        to_host(CONFIG, CERT_RULE, obj, TENANT)
    assert str(info.value).startswith("cert-manager.yaml:")


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [(1, "Certificate"), ("cert-manager.io/v1", ["Certificate"]), (None, "Certificate"), ("cert-manager.io/v1", None)],
)
def test_an_api_version_or_kind_that_is_not_a_string_is_refused_naming_both_fields(
    api_version: object, kind: object
) -> None:
    obj = {**cert(), "apiVersion": api_version, "kind": kind}
    with pytest.raises(TranslationError) as info:
        to_host(CONFIG, CERT_RULE, obj, TENANT)
    assert info.value.path == "apiVersion"
    assert "apiVersion" in info.value.message and "kind" in info.value.message  # spelt as the tenant writes them


@pytest.mark.parametrize(("generation", "read"), [(3, 3), (0, 0), (-1, None), (True, None), ("3", None), (2.0, None)])
def test_only_a_server_generation_is_recorded_for_observed_generation(generation: object, read: int | None) -> None:
    assert generation_of({"metadata": {"generation": generation}}) == read
    assert generation_of({"metadata": "nonsense"}) is None
    virtual = {**cert(), "metadata": {"name": "web", "namespace": "apps", "generation": generation}}
    recorded = to_host(CONFIG, CERT_RULE, virtual, TENANT)["metadata"]["annotations"].get(ANN_SOURCE_GENERATION)
    assert recorded == (None if read is None else str(read))


def test_a_uid_that_is_not_a_string_is_not_recorded() -> None:
    assert uid_of({"metadata": {"uid": 7}}) == ""
    host = to_host(CONFIG, CERT_RULE, {**cert(), "metadata": {"name": "web", "namespace": "apps", "uid": 7}}, TENANT)
    assert ANN_SOURCE_UID not in host["metadata"]["annotations"]


def test_stamp_forces_identity_and_drops_maps_left_empty() -> None:
    obj: dict[str, Any] = {"metadata": {"namespace": "tenant-chosen", "labels": {}, "annotations": {"a": "1"}}}
    stamped = stamp(obj, None, "n", {}, {"b": "2"})
    assert stamped["metadata"] == {"name": "n", "annotations": {"a": "1", "b": "2"}}
    assert stamp({"metadata": "nonsense"}, "ns", "n", {"l": "v"}, {})["metadata"] == {
        "name": "n",
        "namespace": "ns",
        "labels": {"l": "v"},
    }


def test_server_fields_are_stripped_from_a_deep_copy() -> None:
    source: dict[str, Any] = {
        "metadata": {"name": "n", "uid": "u", "labels": {"a": "1"}},
        "spec": {"x": [1]},
        "status": {"s": 1},
    }
    stripped = strip_server_fields(source)
    assert stripped == {"metadata": {"name": "n", "labels": {"a": "1"}}, "spec": {"x": [1]}}
    stripped["spec"]["x"].append(2)
    stripped["metadata"]["labels"]["b"] = "2"
    assert source["spec"] == {"x": [1]} and source["metadata"]["labels"] == {"a": "1"}
    assert strip_server_fields({"metadata": "odd", "spec": 1}) == {"metadata": "odd", "spec": 1}


def test_an_object_of_another_kind_is_refused_at_its_kind() -> None:
    other = {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "a", "namespace": "b"}}
    with pytest.raises(TranslationError, match="Issuer") as info:
        to_host(CONFIG, CERT_RULE, other, TENANT)
    assert info.value.path == "kind"
