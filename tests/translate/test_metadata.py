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
from crdsync.translate.metadata import SERVER_OWNED_METADATA
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
