"""References: which are renamed by which naming rule, identity for kinds shared by name, namespace fields,
located errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import (
    Direction,
    FollowDirection,
    Naming,
    Reference,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import host_name
from crdsync.translate.objects import FollowRef, followers, to_host
from tests.translate.certs import (
    CERT,
    CERT_RULE,
    CLUSTER_ISSUER,
    CM_NAMING,
    CONFIG,
    CONFIGMAP,
    HERE,
    SECRET,
    TENANT,
    cert,
    certificates,
    names_own_issuer,
)


@settings(max_examples=100, deadline=None)
@given(certificates())
def test_issuer_reference_is_renamed_iff_kind_and_group_both_say_cert_manager_issuer(virtual: dict[str, Any]) -> None:
    issuer_ref = virtual["spec"]["issuerRef"]
    written = to_host(CONFIG, CERT_RULE, virtual, TENANT)["spec"]["issuerRef"]
    hashed = host_name(TENANT, virtual["metadata"]["namespace"], issuer_ref["name"], Naming())
    assert written["name"] == (hashed if names_own_issuer(issuer_ref) else issuer_ref["name"])
    assert {k: v for k, v in written.items() if k != "name"} == {k: v for k, v in issuer_ref.items() if k != "name"}
    # The same answer as the conjunction of single-condition references: renamed iff each condition alone renames.
    (issuer,) = [r for r in CERT_RULE.references if r.kind == "Issuer"]
    alone = []
    for condition in issuer.when:
        rule = Rule(Direction.TO_HOST, CERT, references=(dataclasses.replace(issuer, when=(condition,)),))
        alone.append(to_host(CONFIG, rule, virtual, TENANT)["spec"]["issuerRef"]["name"] == hashed)
    assert names_own_issuer(issuer_ref) is all(alone)


def test_cluster_issuer_reference_is_kept_and_issuer_reference_is_tenant_named() -> None:
    to_cluster = to_host(CONFIG, CERT_RULE, cert(issuerRef={"name": "public", "kind": "ClusterIssuer"}), TENANT)
    assert to_cluster["spec"]["issuerRef"]["name"] == "public"
    to_issuer = to_host(CONFIG, CERT_RULE, cert(issuerRef={"name": "mine"}), TENANT)
    assert to_issuer["spec"]["issuerRef"]["name"] == host_name(TENANT, "apps", "mine", Naming())


def test_namespace_path_is_rewritten_and_names_use_the_target_rule_naming() -> None:
    host = to_host(CONFIG, CERT_RULE, cert(otherRef={"name": "cfg", "namespace": "shared"}), TENANT)
    assert host["spec"]["otherRef"] == {
        "name": host_name(TENANT, "shared", "cfg", CM_NAMING),
        "namespace": "vc-vc1-host",
    }
    assert len(host["spec"]["otherRef"]["name"]) <= 40
    assert followers(CONFIG, CERT_RULE, cert(otherRef={"name": "cfg", "namespace": "shared"}), TENANT) == (
        FollowRef(CONFIGMAP, FollowDirection.TO_HOST, "shared", "cfg", "vc-vc1-host", host["spec"]["otherRef"]["name"]),
    )


def test_external_issuer_names_are_left_as_written() -> None:
    for issuer_ref in (
        {"name": "ca", "kind": "Issuer", "group": "example.com"},  # kind "Issuer", but not cert-manager's
        {"name": "pca", "kind": "AWSPCAClusterIssuer", "group": "awspca.cert-manager.io"},
        {"name": "public", "kind": "ClusterIssuer", "group": "example.com"},
    ):
        host = to_host(CONFIG, CERT_RULE, cert(issuerRef=issuer_ref), TENANT)
        assert host["spec"]["issuerRef"] == issuer_ref
    own = to_host(CONFIG, CERT_RULE, cert(issuerRef={"name": "ca", "kind": "", "group": ""}), TENANT)
    assert own["spec"]["issuerRef"]["name"] == host_name(TENANT, "apps", "ca", Naming())


def test_reference_to_a_kind_without_rule_is_tenant_named() -> None:
    rule = Rule(Direction.TO_HOST, CERT, references=(Reference("$.spec.ref", "Unknown", "example.com/v1"),))
    host = to_host(SyncConfig("t", (rule,)), rule, cert(ref="x"), TENANT)
    assert host["spec"]["ref"] == host_name(TENANT, "apps", "x", Naming())


def test_reference_error_is_located_at_the_reference() -> None:
    with pytest.raises(TranslationError) as info:
        to_host(CONFIG, CERT_RULE, cert(caSecrets=[1]), TENANT)
    assert info.value.location == HERE
    assert info.value.path == "$.spec.caSecrets[*]"


def test_cluster_scoped_referrer_needs_namespace_path() -> None:
    rule = Rule(
        Direction.TO_HOST,
        CLUSTER_ISSUER,
        scope=Scope.CLUSTER,
        references=(Reference("$.spec.ca.secretName", "Secret", "v1", FollowDirection.TO_HOST),),
    )
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "x"}}
    with pytest.raises(TranslationError, match="set namespacePath"):
        to_host(CONFIG, rule, {**issuer, "spec": {"ca": {"secretName": "s"}}}, TENANT)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"secretName": 5}, "must be a string name"),
        ({"otherRef": {"name": "a", "namespace": ["x"]}}, "namespace must be a string"),
    ],
)
def test_bad_reference_values_raise_located_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError, match=message) as info:
        to_host(CONFIG, CERT_RULE, cert(**spec), TENANT)
    assert str(info.value).startswith("cert-manager.yaml:")


# --- which rule names the referenced kind ----------------------------------------------------------------------------

WIDGET = GroupVersionKind("example.com", "v1", "Widget")
GADGET_V1 = GroupVersionKind("example.com", "v1", "Gadget")
GADGET_V2 = GroupVersionKind("example.com", "v2", "Gadget")
OWN_NAMING = Naming(max_length=40, hash_length=13)


def widget(**spec: Any) -> dict[str, Any]:
    metadata = {"name": "w", "namespace": "apps"}
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": metadata, "spec": spec}


@pytest.mark.parametrize("import_first", [True, False], ids=["import-rule-first", "export-rule-first"])
def test_a_reference_to_a_kind_that_flows_both_ways_is_named_as_the_tenants_own(import_first: bool) -> None:
    # A Secret the tenant exports and one the host shares by name: the hashed name can only reach the tenant's own
    # copy, a name kept as written could reach any host Secret.
    ref = Reference("$.spec.secret", "Secret", "v1")
    rule = Rule(Direction.TO_HOST, WIDGET, references=(ref,))
    shared = Rule(Direction.FROM_HOST, SECRET)
    exported = Rule(Direction.TO_HOST, SECRET, naming=OWN_NAMING)
    config = SyncConfig("t", (rule, shared, exported) if import_first else (rule, exported, shared))
    host = to_host(config, rule, widget(secret="s"), TENANT)
    assert host["spec"]["secret"] == host_name(TENANT, "apps", "s", OWN_NAMING)


def test_among_rules_that_name_a_kind_alike_the_referenced_version_decides_the_naming() -> None:
    ref = Reference("$.spec.gadget", "Gadget", "example.com/v2")
    rule = Rule(Direction.TO_HOST, WIDGET, references=(ref,))
    v1 = Rule(Direction.TO_HOST, GADGET_V1)
    v2 = Rule(Direction.FROM_HOST, GADGET_V2, mode=SyncMode.REFERENCED, naming=OWN_NAMING)
    host = to_host(SyncConfig("t", (rule, v1, v2)), rule, widget(gadget="g"), TENANT)
    assert host["spec"]["gadget"] == host_name(TENANT, "apps", "g", OWN_NAMING)


def test_a_followed_cluster_scoped_kind_is_named_for_the_tenant_and_has_no_host_namespace() -> None:
    ref = Reference("$.spec.class", "Gadget", "example.com/v1", FollowDirection.TO_HOST)
    rule = Rule(Direction.TO_HOST, WIDGET, references=(ref,))
    config = SyncConfig("t", (rule, Rule(Direction.TO_HOST, GADGET_V1, scope=Scope.CLUSTER, mode=SyncMode.REFERENCED)))
    [follower] = followers(config, rule, widget(**{"class": "fast"}), TENANT)
    assert follower.host_namespace is None
    assert follower.virtual_namespace is None
    assert follower.host_name == host_name(TENANT, None, "fast", Naming())
    assert to_host(config, rule, widget(**{"class": "fast"}), TENANT)["spec"]["class"] == follower.host_name


def test_a_namespace_in_the_format_of_a_reference_to_a_cluster_scoped_kind_is_a_located_error() -> None:
    ref = Reference("$.spec.class", "Gadget", "example.com/v1", format="$NAMESPACE/$NAME", location=HERE)
    rule = Rule(Direction.TO_HOST, WIDGET, references=(ref,))
    config = SyncConfig("t", (rule, Rule(Direction.TO_HOST, GADGET_V1, scope=Scope.CLUSTER)))
    with pytest.raises(TranslationError, match="Gadget is cluster-scoped: its format cannot hold") as info:
        to_host(config, rule, widget(**{"class": "apps/fast"}), TENANT)
    assert info.value.path == "$.spec.class"
    assert info.value.location == HERE


def test_a_namespaced_kind_named_by_a_cluster_scoped_object_without_namespace_path_is_a_located_error() -> None:
    ref = Reference("$.spec.ca.secretName", "Secret", "v1", FollowDirection.TO_HOST, location=HERE)
    rule = Rule(Direction.TO_HOST, CLUSTER_ISSUER, scope=Scope.CLUSTER, references=(ref,))
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "x"}}
    with pytest.raises(TranslationError, match="Secret is namespaced but the referring object is cluster") as info:
        to_host(CONFIG, rule, {**issuer, "spec": {"ca": {"secretName": "s"}}}, TENANT)
    assert info.value.path == "$.spec.ca.secretName"
    assert info.value.location == HERE
