"""Object translation composed: the copy is its source renamed (the way back is bookkeeping and the naming rule),
status and server writes never change it, no write after our own apply, inputs never mutated, to_virtual's copies,
followers agree with what to_host writes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import (
    Direction,
    FollowDirection,
    HostSelection,
    Naming,
    Patch,
    PatchOp,
    Rule,
    Scope,
    SyncConfig,
)
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_GENERATION,
    ANN_SOURCE_NAME,
    ANN_SOURCE_NAMESPACE,
    ANN_SOURCE_SIDE,
    LABEL_MANAGED_BY,
    LABEL_ROLE,
    LABEL_VCLUSTER,
    MANAGER,
    SIDE_VIRTUAL,
    bookkeeping_annotations,
    bookkeeping_labels,
    source_of,
)
from crdsync.translate.compare import needs_write
from crdsync.translate.errors import TranslationError
from crdsync.translate.metadata import strip_server_fields
from crdsync.translate.names import host_name
from crdsync.translate.objects import followers, to_host, to_virtual
from crdsync.translate.status import virtual_status
from tests.translate.certs import (
    CERT,
    CERT_RULE,
    CM_NAMING,
    CONFIG,
    CONFIGMAP,
    RULES,
    TENANT,
    cert,
    certificates,
    host_after_apply,
    names_own_issuer,
    ours,
    synced_fields,
)
from tests.translate.strategies import json_values, server_metadata

DEFAULT_NAMING = Naming()


def expected_copy(virtual: dict[str, Any]) -> dict[str, Any]:
    """What to_host must write for CERT_RULE, worked out by hand from the rules: the synced fields, each reference
    renamed by its kind's naming rule (ClusterIssuer and external issuers keep their names), every namespace field the
    tenant's host namespace, our bookkeeping added."""
    namespace = virtual["metadata"]["namespace"]
    out = synced_fields(virtual)
    spec = out["spec"]

    def renamed(name: str, named_namespace: str = namespace, naming: Naming = DEFAULT_NAMING) -> str:
        return host_name(TENANT, named_namespace, name, naming)

    if "secretName" in spec:
        spec["secretName"] = renamed(spec["secretName"])
    if names_own_issuer(spec["issuerRef"]):
        spec["issuerRef"]["name"] = renamed(spec["issuerRef"]["name"])
    if "caSecrets" in spec:
        spec["caSecrets"] = [renamed(secret) for secret in spec["caSecrets"]]
    if "otherRef" in spec:
        other = spec["otherRef"]
        other["name"] = renamed(other["name"], other.get("namespace", namespace), CM_NAMING)
        if "namespace" in other:
            other["namespace"] = TENANT.host_namespace
    source = virtual["metadata"]
    annotations = bookkeeping_annotations(SIDE_VIRTUAL, CERT, namespace, source["name"], source.get("uid", ""))
    if "generation" in source:
        annotations[ANN_SOURCE_GENERATION] = str(source["generation"])
    meta = out["metadata"]
    meta["name"], meta["namespace"] = renamed(source["name"]), TENANT.host_namespace
    meta["labels"] = {**meta.get("labels", {}), **bookkeeping_labels(TENANT.vcluster, "copy")}
    meta["annotations"] = {**meta.get("annotations", {}), **annotations}
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", **out}


# --- the laws ---------------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(certificates())
def test_the_copy_is_its_source_renamed_and_bookkeeping_leads_back(virtual: dict[str, Any]) -> None:
    """The round-trip law, through what the engine uses on the way back: the copy holds every synced field of its
    source (nothing lost, nothing added but bookkeeping; names renamed by the naming rule, which is injective), and its
    bookkeeping names the source, also on what the server hands back (server metadata, defaults, status added)."""
    host = to_host(CONFIG, CERT_RULE, virtual, TENANT)
    assert host == expected_copy(virtual)
    source = virtual["metadata"]
    for copy_ in (host, host_after_apply(host)):
        back = source_of(copy_)
        assert back is not None
        assert (back.side, back.group_kind, back.namespace, back.name) == (
            SIDE_VIRTUAL,
            ("cert-manager.io", "Certificate"),
            source["namespace"],
            source["name"],
        )
        assert back.uid == source.get("uid", "")
        assert back.vcluster == TENANT.vcluster


@settings(max_examples=100, deadline=None)
@given(certificates(), json_values(), server_metadata)
def test_to_host_ignores_status_and_server_writes(virtual: dict[str, Any], status: Any, meta: dict[str, Any]) -> None:
    # Writing the virtual status (through the status subresource) bumps status, resourceVersion and managedFields, never
    # the generation; none of it may change the host copy.
    after_status_write = copy.deepcopy(virtual)
    after_status_write["status"] = status
    for key in ("resourceVersion", "managedFields"):
        after_status_write["metadata"][key] = meta[key]
    assert to_host(CONFIG, CERT_RULE, after_status_write, TENANT) == to_host(CONFIG, CERT_RULE, virtual, TENANT)
    # Without a status subresource a status write bumps the generation too: then the generation is not recorded.
    after_status_write["metadata"]["generation"] = meta["generation"]
    assert to_host(CONFIG, CERT_RULE, after_status_write, TENANT, status_subresource=False) == to_host(
        CONFIG, CERT_RULE, virtual, TENANT, status_subresource=False
    )


@settings(max_examples=100, deadline=None)
@given(certificates())
def test_no_write_after_own_apply(virtual: dict[str, Any]) -> None:
    desired = to_host(CONFIG, CERT_RULE, virtual, TENANT)
    current = host_after_apply(desired)
    assert not needs_write(desired, current, MANAGER)
    # ... and still none after the virtual side took the host status back (the loop is closed).
    status = virtual_status(CERT_RULE, current, virtual)
    echoed = copy.deepcopy(virtual)
    echoed["status"] = status
    assert not needs_write(to_host(CONFIG, CERT_RULE, echoed, TENANT), current, MANAGER)


@settings(max_examples=100, deadline=None)
@given(certificates(), st.uuids())
def test_translation_never_mutates_input(virtual: dict[str, Any], uid: Any) -> None:
    host = host_after_apply(to_host(CONFIG, CERT_RULE, virtual, TENANT))
    shared = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": "public", "uid": str(uid), "labels": {"crdsync.io/shared": "true"}},
        "spec": {"acme": {}},
        "status": {"ready": True},
    }
    inputs = (virtual, host, shared)
    before = copy.deepcopy(inputs)
    to_host(CONFIG, CERT_RULE, virtual, TENANT)
    virtual_status(CERT_RULE, host, virtual)
    followers(CONFIG, CERT_RULE, virtual, TENANT)
    to_virtual(CONFIG, RULES[2], shared, TENANT)
    strip_server_fields(host)
    assert inputs == before


@settings(max_examples=100, deadline=None)
@given(certificates())
def test_followers_agree_with_rewritten_references(virtual: dict[str, Any]) -> None:
    host = to_host(CONFIG, CERT_RULE, virtual, TENANT)
    spec = host["spec"]
    written = {spec.get("secretName"), *spec.get("caSecrets", []), spec.get("otherRef", {}).get("name")}
    found = followers(CONFIG, CERT_RULE, virtual, TENANT)
    assert {f.host_name for f in found} <= written
    assert len(found) == len(set(found))
    assert list(found) == sorted(found, key=lambda f: (f.direction.value, f.gvk, f.virtual_namespace, f.virtual_name))
    imports = [f for f in found if f.direction is FollowDirection.FROM_HOST]
    assert [(f.virtual_name, f.host_name) for f in imports] == (
        [(virtual["spec"]["secretName"], spec["secretName"])] if "secretName" in virtual["spec"] else []
    )


def test_followers_deduplicate() -> None:
    found = followers(CONFIG, CERT_RULE, cert(caSecrets=["a", "b", "a"], secretName="a"), TENANT)
    assert [(f.direction, f.virtual_name) for f in found] == [
        (FollowDirection.FROM_HOST, "a"),
        (FollowDirection.TO_HOST, "a"),
        (FollowDirection.TO_HOST, "b"),
    ]


def test_patches_apply_after_references_and_cannot_break_bookkeeping() -> None:
    rule = Rule(
        Direction.TO_HOST,
        CERT,
        references=CERT_RULE.references,
        patches_to_host=(
            Patch(PatchOp.COPY, "$.spec.sourceUid", from_path="$.metadata.uid"),
            Patch(PatchOp.SET, "$.metadata.name", value="hijack"),
            Patch(PatchOp.REMOVE, "$.metadata.labels"),
            Patch(PatchOp.SET, "$.metadata.labels.extra", value="1"),
        ),
    )
    host = to_host(CONFIG, rule, cert(secretName="tls"), TENANT)
    assert host["spec"]["sourceUid"] == "u-1"
    assert host["metadata"]["name"] == host_name(TENANT, "apps", "web", Naming())
    assert host["metadata"]["labels"]["extra"] == "1"
    assert host["metadata"]["labels"][LABEL_MANAGED_BY] == MANAGER


def test_exported_follower_has_follower_role() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "ca", "namespace": "apps"},
        "data": {"k": "dg=="},
    }
    host = to_host(CONFIG, RULES[4], secret, TENANT)
    assert host["metadata"]["labels"][LABEL_ROLE] == "follower"
    assert host["metadata"]["name"] == host_name(TENANT, "apps", "ca", Naming())
    assert host["data"] == {"k": "dg=="}


def test_to_virtual_identity_cluster_scoped_with_status() -> None:
    shared = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {
            "name": "public",
            "uid": "h-1",
            "resourceVersion": "7",
            "labels": {"crdsync.io/shared": "true", "team": "platform"},
        },
        "spec": {"acme": {}},
        "status": {"conditions": [{"type": "Ready"}]},
    }
    out = to_virtual(CONFIG, RULES[2], shared, TENANT)
    assert out["metadata"]["name"] == "public" and "namespace" not in out["metadata"]
    assert out["status"] == shared["status"]
    assert "resourceVersion" not in out["metadata"] and "uid" not in out["metadata"]
    assert out["metadata"]["labels"] == {
        "team": "platform",
        LABEL_MANAGED_BY: MANAGER,
        LABEL_VCLUSTER: "vc1",
        LABEL_ROLE: "copy",
    }
    assert out["metadata"]["annotations"][ANN_SOURCE_SIDE] == "host"
    assert ANN_SOURCE_NAMESPACE not in out["metadata"]["annotations"]


def test_to_virtual_namespaced_lands_in_virtual_namespace() -> None:
    rule = Rule(Direction.FROM_HOST, CONFIGMAP, host=HostSelection(namespaces=("shared",), virtual_namespace="default"))
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ca", "namespace": "shared"},
        "data": {"a": "b"},
    }
    out = to_virtual(CONFIG, rule, cm, TENANT)
    assert (out["metadata"]["namespace"], out["metadata"]["name"]) == ("default", "ca")
    assert out["metadata"]["annotations"][ANN_SOURCE_NAMESPACE] == "shared"
    same = to_virtual(CONFIG, Rule(Direction.FROM_HOST, CONFIGMAP), cm, TENANT)
    assert same["metadata"]["namespace"] == "shared"


def test_to_virtual_imported_follower_lands_at_target() -> None:
    host_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": host_name(TENANT, "apps", "tls", Naming()), "namespace": TENANT.host_namespace},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA=="},
    }
    out = to_virtual(CONFIG, RULES[3], host_secret, TENANT, target=("apps", "tls"))
    assert (out["metadata"]["namespace"], out["metadata"]["name"]) == ("apps", "tls")
    assert out["metadata"]["labels"][LABEL_ROLE] == "follower"
    assert out["data"] == host_secret["data"] and out["type"] == "kubernetes.io/tls"
    with pytest.raises(TranslationError, match="no target"):
        to_virtual(CONFIG, RULES[3], host_secret, TENANT)


def test_wrong_direction_rules_are_refused() -> None:
    with pytest.raises(TranslationError, match="needs a toHost rule"):
        to_host(CONFIG, RULES[2], cert(), TENANT)
    with pytest.raises(TranslationError, match="needs a fromHost rule"):
        to_virtual(CONFIG, CERT_RULE, cert(), TENANT)


@settings(max_examples=60, deadline=None)
@given(certificates(), st.sampled_from([None, "imported"]))
def test_to_virtual_drops_server_fields_keeps_status_and_cannot_be_forged(
    host_obj: dict[str, Any], virtual_namespace: str | None
) -> None:
    rule = Rule(Direction.FROM_HOST, CERT, host=HostSelection(virtual_namespace=virtual_namespace))
    before = copy.deepcopy(host_obj)
    out = to_virtual(CONFIG, rule, host_obj, TENANT)
    assert host_obj == before
    meta, source = out["metadata"], host_obj["metadata"]
    assert set(meta) <= {"name", "namespace", "labels", "annotations"}
    assert (meta["namespace"], meta["name"]) == (virtual_namespace or source["namespace"], source["name"])
    assert out.get("status") == host_obj.get("status")
    assert out["spec"] == host_obj["spec"]  # no references, no patches: the spec is copied as it is
    assert ours(meta["labels"]) == {LABEL_MANAGED_BY: MANAGER, LABEL_VCLUSTER: "vc1", LABEL_ROLE: "copy"}
    assert ours(meta["annotations"])[ANN_SOURCE_SIDE] == "host"
    assert ours(meta["annotations"])[ANN_SOURCE_NAME] == source["name"]


def test_a_poison_host_object_is_refused_as_the_host_object() -> None:
    """The operator reading the error learns which side's object is at fault (the virtual one is fine)."""
    deep: dict[str, Any] = {}
    for _ in range(200):
        deep = {"n": deep}
    host_obj = {**cert(), "spec": deep}
    with pytest.raises(TranslationError, match="deeper than") as info:
        to_virtual(CONFIG, Rule(Direction.FROM_HOST, CERT), host_obj, TENANT)
    assert info.value.message.startswith("host object ")


def test_an_imported_follower_of_a_namespaced_kind_needs_a_target_namespace() -> None:
    host_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": TENANT.host_namespace},
    }
    for target in [(None, "tls"), ("", "tls")]:
        with pytest.raises(TranslationError) as info:
            to_virtual(CONFIG, RULES[3], host_secret, TENANT, target=target)
        assert "Secret" in info.value.message and "namespace" in info.value.message


def test_a_cluster_scoped_toHost_copy_has_no_namespace_and_records_none() -> None:
    rule = Rule(Direction.TO_HOST, CERT, scope=Scope.CLUSTER)
    virtual = {**cert(), "metadata": {"name": "web", "namespace": "ignored", "uid": "u-1"}}
    host = to_host(SyncConfig("c", (rule,)), rule, virtual, TENANT)
    assert "namespace" not in host["metadata"]
    assert host["metadata"]["name"] == host_name(TENANT, None, "web", Naming())
    source = source_of(host)
    assert source is not None and (source.namespace, source.name, source.uid) == (None, "web", "u-1")


def test_a_namespaced_import_keeps_the_host_namespace_and_a_cluster_scoped_one_has_none() -> None:
    widget = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "w", "namespace": "h"}}
    same = to_virtual(CONFIG, Rule(Direction.FROM_HOST, CERT), widget, TENANT)
    assert (same["metadata"]["namespace"], same["metadata"]["name"]) == ("h", "w")
    cluster = to_virtual(CONFIG, Rule(Direction.FROM_HOST, CERT, scope=Scope.CLUSTER), widget, TENANT)
    assert "namespace" not in cluster["metadata"]
    assert "status" not in same  # a host object without status gives a copy without one
