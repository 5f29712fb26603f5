"""Object translation: the round-trip law, no ping-pong, no mutation, no server fields, no forged bookkeeping."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import (
    Condition,
    Direction,
    FollowDirection,
    GroupVersionKind,
    HostSelection,
    Location,
    Naming,
    Patch,
    PatchOp,
    Reference,
    Rule,
    Scope,
    StatusSync,
    SyncConfig,
    SyncMode,
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
    PREFIX,
)
from crdsync.translate.compare import needs_write
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import (
    SERVER_OWNED_METADATA,
    FollowRef,
    TranslationError,
    followers,
    reverse,
    reverse_fields,
    strip_server_fields,
    to_host,
    to_virtual,
    virtual_status,
)
from tests.fakeapi import applied as server_applied
from tests.translate.strategies import (
    dns_labels,
    dns_subdomains,
    json_values,
    label_keys,
    label_values,
    server_metadata,
)

CERT = GroupVersionKind("cert-manager.io", "v1", "Certificate")
ISSUER = GroupVersionKind("cert-manager.io", "v1", "Issuer")
CLUSTER_ISSUER = GroupVersionKind("cert-manager.io", "v1", "ClusterIssuer")
SECRET = GroupVersionKind("", "v1", "Secret")
CONFIGMAP = GroupVersionKind("", "v1", "ConfigMap")
CM_NAMING = Naming(max_length=40, hash_length=8)
HERE = Location("cert-manager.yaml", 12, 7)

CERT_RULE = Rule(
    Direction.TO_HOST,
    CERT,
    references=(
        Reference("$.spec.secretName", "Secret", "v1", FollowDirection.FROM_HOST),
        Reference(
            "$.spec.issuerRef.name",
            "Issuer",
            "cert-manager.io/v1",
            when=(
                Condition("$.spec.issuerRef.kind", in_=("Issuer", "", None)),
                Condition("$.spec.issuerRef.group", in_=("cert-manager.io", "", None)),
            ),
        ),
        Reference(
            "$.spec.issuerRef.name",
            "ClusterIssuer",
            "cert-manager.io/v1",
            when=(
                Condition("$.spec.issuerRef.kind", in_=("ClusterIssuer",)),
                Condition("$.spec.issuerRef.group", in_=("cert-manager.io", "", None)),
            ),
        ),
        Reference(
            "$.spec.otherRef.name",
            "ConfigMap",
            "v1",
            FollowDirection.TO_HOST,
            namespace_path="$.spec.otherRef.namespace",
        ),
        Reference("$.spec.caSecrets[*]", "Secret", "v1", FollowDirection.TO_HOST, location=HERE),
    ),
    location=Location("cert-manager.yaml", 5, 5),
)
RULES = (
    CERT_RULE,
    Rule(Direction.TO_HOST, ISSUER),
    Rule(Direction.FROM_HOST, CLUSTER_ISSUER, scope=Scope.CLUSTER),
    Rule(Direction.FROM_HOST, SECRET, mode=SyncMode.REFERENCED),
    Rule(Direction.TO_HOST, SECRET, mode=SyncMode.REFERENCED),
    Rule(Direction.TO_HOST, CONFIGMAP, mode=SyncMode.REFERENCED, naming=CM_NAMING),
)
CONFIG = SyncConfig("test", RULES)
NAMING_OF = {SECRET: Naming(), ISSUER: Naming(), CONFIGMAP: CM_NAMING}
TENANT = Tenant("vc1", "vc-vc1-host")

names = dns_subdomains(max_size=253)
namespaces = dns_labels(max_size=63)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# issuerRef kinds and groups: cert-manager's own (written, empty or absent) and external issuers, including one whose
# kind is literally "Issuer" in another group.
ISSUER_KINDS = [None, "", "Issuer", "ClusterIssuer", "AWSPCAIssuer"]
ISSUER_GROUPS = [None, "", "cert-manager.io", "example.com", "awspca.cert-manager.io"]


def names_own_issuer(issuer_ref: dict[str, Any]) -> bool:
    """cert-manager reads an empty or absent kind as Issuer and group as cert-manager.io."""
    return issuer_ref.get("kind") in ("Issuer", "", None) and issuer_ref.get("group") in ("cert-manager.io", "", None)


@st.composite
def certificates(draw: st.DrawFn) -> dict[str, Any]:
    """A virtual Certificate with every kind of reference, forged bookkeeping, server fields and a status."""
    labels = draw(st.dictionaries(label_keys, label_values, max_size=5))
    annotations = draw(st.dictionaries(label_keys, label_values, max_size=4))
    if draw(st.booleans()):
        annotations[LAST_APPLIED] = '{"kind":"Certificate"}'
    server = draw(server_metadata)
    kept_server = draw(st.sets(st.sampled_from(sorted(server)), max_size=len(server)))
    keep_empty_labels: bool = not labels and draw(st.booleans())
    metadata = {
        "name": draw(names),
        "namespace": draw(namespaces),
        **{k: server[k] for k in kept_server},
        **({"labels": labels} if labels or keep_empty_labels else {}),
        **({"annotations": annotations} if annotations else {}),
    }
    issuer_kind = draw(st.sampled_from(ISSUER_KINDS))
    issuer_group = draw(st.sampled_from(ISSUER_GROUPS))
    spec = _without_none(
        {
            "secretName": draw(st.one_of(st.none(), names)),
            "issuerRef": _without_none({"name": draw(names), "kind": issuer_kind, "group": issuer_group}),
            "otherRef": draw(
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries({"name": names}, optional={"namespace": namespaces}),
                )
            ),
            "caSecrets": draw(st.one_of(st.none(), st.lists(names, max_size=3))),
            "dnsNames": draw(st.lists(dns_subdomains(max_size=30), max_size=2)),
            "extra": draw(json_values()),
        }
    )
    obj: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": metadata,
        "spec": spec,
    }
    if draw(st.booleans()):
        obj["status"] = draw(json_values())
    return obj


def resolver_for(virtual: dict[str, Any]) -> Any:
    """The engine's view: host name -> virtual object, for every object the virtual Certificate could name."""
    namespace = virtual["metadata"]["namespace"]
    spec = virtual["spec"]
    known: list[tuple[GroupVersionKind, str | None, str]] = []
    if "secretName" in spec:
        known.append((SECRET, namespace, spec["secretName"]))
    known += [(SECRET, namespace, s) for s in spec.get("caSecrets", [])]
    if names_own_issuer(spec["issuerRef"]):
        known.append((ISSUER, namespace, spec["issuerRef"]["name"]))
    if "otherRef" in spec:
        known.append((CONFIGMAP, spec["otherRef"].get("namespace", namespace), spec["otherRef"]["name"]))
    table = {
        (gvk, TENANT.host_namespace, host_name(TENANT, ns, name, NAMING_OF[gvk])): (ns, name) for gvk, ns, name in known
    }
    return lambda gvk, host_ns, host: table.get((gvk, host_ns, host))


def synced_fields(virtual: dict[str, Any]) -> dict[str, Any]:
    """What must survive the round trip: everything but status, server metadata, our keys and last-applied."""
    out = {k: copy.deepcopy(v) for k, v in virtual.items() if k not in ("status", "metadata")}
    meta = virtual["metadata"]
    out["metadata"] = {"name": meta["name"], "namespace": meta["namespace"]}
    for key in ("labels", "annotations"):
        kept = {k: v for k, v in meta.get(key, {}).items() if not k.startswith(PREFIX) and k != LAST_APPLIED}
        if kept:
            out["metadata"][key] = kept
    return out


def host_after_apply(desired: dict[str, Any], status: Any = None) -> dict[str, Any]:
    return server_applied(desired, MANAGER, status=status)


# --- the laws ---------------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(certificates())
def test_reverse_restores_every_synced_field(virtual: dict[str, Any]) -> None:
    host = to_host(CONFIG, CERT_RULE, virtual, TENANT)
    assert reverse(CONFIG, CERT_RULE, host, TENANT, resolver_for(virtual)) == synced_fields(virtual)
    # Also from what the server hands back (server metadata, defaults, status added).
    back = reverse(CONFIG, CERT_RULE, host_after_apply(host), TENANT, resolver_for(virtual))
    expected = synced_fields(virtual)
    expected["spec"]["defaultedByServer"] = "yes"
    assert back == expected


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
@given(certificates(), json_values(), json_values(), st.integers(0, 3))
def test_virtual_status_ignores_what_to_host_writes(
    virtual: dict[str, Any], status: Any, other_spec: Any, observed: int
) -> None:
    host = host_after_apply(
        to_host(CONFIG, CERT_RULE, virtual, TENANT), status={"conditions": [status], "observedGeneration": observed}
    )
    rewritten = copy.deepcopy(host)
    rewritten["spec"] = other_spec
    rewritten["metadata"]["labels"] = {"changed": "yes"}
    rewritten["metadata"]["annotations"] = {
        k: v for k, v in host["metadata"]["annotations"].items() if k == ANN_SOURCE_GENERATION
    }
    rewritten["metadata"]["resourceVersion"] = "99999"
    assert virtual_status(CERT_RULE, host, virtual) == virtual_status(CERT_RULE, rewritten, virtual)
    # Only the recorded generation (to_host's one input to this mapping) and the host generation decide the value.
    generation = virtual["metadata"].get("generation")
    expected = observed if generation is None else generation if observed == 1 else max(generation - 1, 0)
    assert virtual_status(CERT_RULE, host, virtual) == {"conditions": [status], "observedGeneration": expected}


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
    resolve = resolver_for(virtual)
    to_host(CONFIG, CERT_RULE, virtual, TENANT)
    virtual_status(CERT_RULE, host, virtual)
    reverse(CONFIG, CERT_RULE, host, TENANT, resolve)
    followers(CONFIG, CERT_RULE, virtual, TENANT)
    to_virtual(CONFIG, RULES[2], shared, TENANT)
    strip_server_fields(host)
    assert inputs == before


def _ours(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k.startswith(PREFIX)}


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
    assert _ours(meta["labels"]) == {LABEL_MANAGED_BY: MANAGER, LABEL_VCLUSTER: "vc1", LABEL_ROLE: "copy"}
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
    assert _ours(meta["annotations"]) == expected_annotations
    assert meta["name"] == host_name(TENANT, source["namespace"], source["name"], Naming())
    assert meta["namespace"] == TENANT.host_namespace


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


# --- examples ---------------------------------------------------------------------------------------------------------


def cert(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": "apps", "uid": "u-1"},
        "spec": spec,
    }


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


def test_virtual_status_paths_filters_and_patches() -> None:
    rule = Rule(
        Direction.TO_HOST,
        CERT,
        status=StatusSync(paths=("$.status.conditions[?(@.type == 'Ready')]", "$.status.notAfter")),
        patches_to_virtual=(Patch(PatchOp.COPY, "$.status.hostName", from_path="$.metadata.name"),),
    )
    host = {
        "metadata": {"name": "web-x"},
        "spec": {},
        "status": {"conditions": [{"type": "Issuing"}, {"type": "Ready", "status": "True"}], "notAfter": "t", "x": 1},
    }
    status = virtual_status(rule, host, cert())
    assert status == {"conditions": [{"type": "Ready", "status": "True"}], "notAfter": "t", "hostName": "web-x"}
    assert virtual_status(Rule(Direction.TO_HOST, CERT, status=StatusSync(enabled=False)), host, cert()) is None
    assert virtual_status(CERT_RULE, {"spec": {}}, cert()) == {}


def test_status_path_outside_status_is_a_located_error() -> None:
    rule = Rule(Direction.TO_HOST, CERT, status=StatusSync(paths=("$.spec",)), location=HERE)
    with pytest.raises(TranslationError, match=r"inside \$\.status") as info:
        virtual_status(rule, {"spec": {}}, cert())
    assert info.value.location == HERE


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


def test_to_virtual_maps_tenant_named_references_back_when_resolvable() -> None:
    rule = Rule(
        Direction.FROM_HOST,
        CLUSTER_ISSUER,
        scope=Scope.CLUSTER,
        references=(Reference("$.spec.ca.secretName", "Secret", "v1", namespace_path="$.spec.ca.namespace"),),
    )
    hashed = host_name(TENANT, "apps", "ca", Naming())
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": "x"},
        "spec": {"ca": {"secretName": hashed, "namespace": TENANT.host_namespace}},
    }

    def resolve(gvk: GroupVersionKind, ns: str | None, name: str) -> tuple[str | None, str] | None:
        return ("apps", "ca") if (gvk, ns, name) == (SECRET, TENANT.host_namespace, hashed) else None

    assert to_virtual(CONFIG, rule, issuer, TENANT, resolve=resolve)["spec"]["ca"] == {
        "secretName": "ca",
        "namespace": "apps",
    }
    assert to_virtual(CONFIG, rule, issuer, TENANT)["spec"]["ca"]["secretName"] == hashed


def test_reverse_refuses_objects_that_are_not_our_copies() -> None:
    with pytest.raises(TranslationError, match="not a copy"):
        reverse(CONFIG, CERT_RULE, cert(), TENANT, lambda *_: None)


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
        ({**cert(), "spec": {"secretName": 5}}, "must be a string name"),
        ({**cert(), "spec": {"otherRef": {"name": "a", "namespace": ["x"]}}}, "namespace must be a string"),
        ({**cert(), "metadata": {"name": "a", "namespace": "b", "labels": ["x"]}}, "labels must be a map"),
    ],
)
def test_bad_objects_raise_located_errors(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError, match=message) as info:
        to_host(CONFIG, CERT_RULE, obj, TENANT)
    assert str(info.value).startswith("cert-manager.yaml:")


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


def test_wrong_direction_rules_are_refused() -> None:
    with pytest.raises(TranslationError, match="needs a toHost rule"):
        to_host(CONFIG, RULES[2], cert(), TENANT)
    with pytest.raises(TranslationError, match="needs a fromHost rule"):
        to_virtual(CONFIG, CERT_RULE, cert(), TENANT)


def test_translation_error_str_and_pickle() -> None:
    import pickle

    err = TranslationError("bad", "$.spec.x", HERE)
    assert str(err) == "cert-manager.yaml:12:7: bad (at $.spec.x)"
    assert str(TranslationError("bad")) == "bad"
    again = pickle.loads(pickle.dumps(err))
    assert (again.message, again.path, again.location) == ("bad", "$.spec.x", HERE)


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
    assert _ours(meta["labels"]) == {LABEL_MANAGED_BY: MANAGER, LABEL_VCLUSTER: "vc1", LABEL_ROLE: "copy"}
    assert _ours(meta["annotations"])[ANN_SOURCE_SIDE] == "host"
    assert _ours(meta["annotations"])[ANN_SOURCE_NAME] == source["name"]


# --- observedGeneration ----------------------------------------------------------------------------------------------

GEN_RULE = Rule(Direction.TO_HOST, CERT, patches_to_host=(Patch(PatchOp.REMOVE, "$.spec.ignored"),))
GEN_CONFIG = SyncConfig("gen", (GEN_RULE,))


def generation_cert(generation: int, **spec: Any) -> dict[str, Any]:
    obj = cert(**spec)
    obj["metadata"]["generation"] = generation
    return obj


def host_copy(virtual: dict[str, Any], host_generation: int, status: Any) -> dict[str, Any]:
    host = server_applied(to_host(GEN_CONFIG, GEN_RULE, virtual, TENANT), MANAGER, status=status)
    host["metadata"]["generation"] = host_generation
    return host


observed = st.one_of(st.integers(0, 12), st.none(), st.booleans(), st.text(max_size=2), st.just(3.0))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    observed,
    st.lists(st.fixed_dictionaries({"type": st.just("Ready")}, optional={"observedGeneration": observed}), max_size=3),
)
def test_observed_generations_map_to_the_recorded_virtual_generation(
    source_gen: int, host_gen: int, top: Any, conditions: list[dict[str, Any]]
) -> None:
    virtual = generation_cert(source_gen)
    status = {"observedGeneration": top, "conditions": conditions, "other": {"observedGeneration": host_gen}}
    host = host_copy(virtual, host_gen, status)
    assert host["metadata"]["annotations"][ANN_SOURCE_GENERATION] == str(source_gen)
    out = virtual_status(GEN_RULE, host, virtual)
    assert out is not None

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def mapped(value: Any) -> Any:
        if not is_int(value):
            return value  # not a generation: left alone
        return source_gen if value == host_gen else max(source_gen - 1, 0)

    assert out["observedGeneration"] == mapped(top)
    assert out["conditions"] == [
        {**c, **({"observedGeneration": mapped(c["observedGeneration"])} if "observedGeneration" in c else {})}
        for c in conditions
    ]
    assert out["other"] == {"observedGeneration": host_gen}  # not one of the observedGeneration paths
    # "Current" for the tenant's tools exactly when the host operator has seen this host generation.
    reported = out["observedGeneration"]
    assert (is_int(reported) and reported == source_gen) is (is_int(top) and top == host_gen)
    assert reported is top or 0 <= reported <= source_gen


@pytest.mark.parametrize(
    ("annotation", "host_generation"),
    [(None, 4), ("x", 4), ("-1", 4), ("٣", 4), ("1" * 30, 4), ("7", None), ("7", True), ("7", "4")],
)
def test_without_a_recorded_or_host_generation_values_are_left_as_they_are(
    annotation: str | None, host_generation: Any
) -> None:
    host = host_copy(generation_cert(7), 4, {"observedGeneration": 4, "conditions": [{"observedGeneration": 3}]})
    if annotation is None:
        del host["metadata"]["annotations"][ANN_SOURCE_GENERATION]
    else:
        host["metadata"]["annotations"][ANN_SOURCE_GENERATION] = annotation
    if host_generation is None:
        del host["metadata"]["generation"]
    else:
        host["metadata"]["generation"] = host_generation
    assert virtual_status(GEN_RULE, host, generation_cert(7)) == host["status"]


def test_mapping_off_records_nothing_and_copies_values_verbatim() -> None:
    virtual = generation_cert(7)
    status = {"observedGeneration": 4, "conditions": [{"type": "Ready", "observedGeneration": 4}]}
    off = dataclasses.replace(GEN_RULE, status=StatusSync(observed_generation_paths=()))
    not_synced = dataclasses.replace(GEN_RULE, status=StatusSync(enabled=False))
    for rule, subresource in ((off, True), (not_synced, True), (GEN_RULE, False)):
        host = to_host(GEN_CONFIG, rule, virtual, TENANT, status_subresource=subresource)
        assert ANN_SOURCE_GENERATION not in host["metadata"]["annotations"]
    host = host_copy(virtual, 4, status)  # recorded by the default rule, so only the switches can turn mapping off
    assert virtual_status(off, host, virtual) == status
    assert virtual_status(GEN_RULE, host, virtual, status_subresource=False) == status
    mapped = virtual_status(GEN_RULE, host, virtual)
    assert mapped is not None and mapped["observedGeneration"] == 7
    # Exported followers never have status flowing back: no annotation either.
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca", "namespace": "apps", "generation": 2}}
    assert ANN_SOURCE_GENERATION not in to_host(CONFIG, RULES[4], secret, TENANT)["metadata"]["annotations"]


def test_custom_observed_generation_paths_and_patches_run_after_the_mapping() -> None:
    rule = dataclasses.replace(
        GEN_RULE,
        status=StatusSync(observed_generation_paths=("$.status.components[*].observedGeneration",)),
        patches_to_virtual=(Patch(PatchOp.COPY, "$.status.hostGeneration", from_path="$.metadata.generation"),),
    )
    virtual = generation_cert(9)
    host = host_copy(virtual, 2, {"observedGeneration": 2, "components": [{"observedGeneration": 2}, {}]})
    assert virtual_status(rule, host, virtual) == {
        "observedGeneration": 2,  # not listed: verbatim
        "components": [{"observedGeneration": 9}, {}],
        "hostGeneration": 2,
    }


def test_observed_generation_path_outside_status_is_a_located_error() -> None:
    status = StatusSync(observed_generation_paths=("$.metadata.name",))
    rule = dataclasses.replace(GEN_RULE, status=status, location=HERE)
    with pytest.raises(TranslationError, match=r"inside \$\.status") as info:
        virtual_status(rule, host_copy(generation_cert(1), 1, {}), generation_cert(1))
    assert info.value.location == HERE


def test_recording_the_generation_writes_only_when_the_spec_changes() -> None:
    virtual = generation_cert(3, x=1, ignored=1)
    current = server_applied(to_host(GEN_CONFIG, GEN_RULE, virtual, TENANT), MANAGER)
    # A status write (status subresource): same generation, nothing to write.
    with_status = {**virtual, "status": {"observedGeneration": 3}}
    assert not needs_write(to_host(GEN_CONFIG, GEN_RULE, with_status, TENANT), current, MANAGER)
    # A spec change bumps the generation: the write that carries the spec carries the annotation.
    edited = generation_cert(4, x=2, ignored=1)
    desired = to_host(GEN_CONFIG, GEN_RULE, edited, TENANT)
    assert needs_write(desired, current, MANAGER)
    assert desired["spec"]["x"] == 2 and desired["metadata"]["annotations"][ANN_SOURCE_GENERATION] == "4"
    # A spec change the copy does not carry (a patch removes the field) still records the generation: one write.
    unseen = to_host(GEN_CONFIG, GEN_RULE, generation_cert(4, x=1, ignored=2), TENANT)
    assert unseen["spec"] == {"x": 1}
    assert needs_write(unseen, current, MANAGER)
    assert not needs_write(unseen, server_applied(unseen, MANAGER), MANAGER)


def test_reverse_drops_the_recorded_generation() -> None:
    virtual = generation_cert(5, secretName="tls", issuerRef={"name": "ca"})
    host = to_host(CONFIG, CERT_RULE, virtual, TENANT)
    assert host["metadata"]["annotations"][ANN_SOURCE_GENERATION] == "5"
    back = reverse(CONFIG, CERT_RULE, host, TENANT, resolver_for(virtual))
    assert "annotations" not in back["metadata"]
    assert back == synced_fields(virtual)


class _Cluster:
    """A toHost rule's sync loop on one object, against apiservers that bump metadata.generation on spec changes and
    never on metadata or status writes (the status subresource), with a host operator that catches up when told."""

    def __init__(self) -> None:
        self.virtual = generation_cert(1, x=0, ignored=0)
        self.host: dict[str, Any] | None = None
        self.host_body: Any = None  # what the host copy holds besides metadata and status
        self.observed_body: Any = None  # the host body as the operator last saw it
        self.written = 0

    def edit(self, field: str) -> None:
        self.virtual["spec"][field] += 1
        self.virtual["metadata"]["generation"] += 1

    def sync(self) -> None:
        desired = to_host(GEN_CONFIG, GEN_RULE, self.virtual, TENANT)
        if self.host is not None and not needs_write(desired, self.host, MANAGER):
            return
        self.written += 1
        body = {k: v for k, v in desired.items() if k not in ("metadata", "status")}
        generation = 1 if self.host is None else self.host["metadata"]["generation"] + (body != self.host_body)
        status = self.host.get("status") if self.host is not None else None
        self.host = server_applied(desired, MANAGER, status=status or {})
        self.host["metadata"]["generation"] = generation
        self.host_body = body

    def operator_catches_up(self) -> None:
        if self.host is not None:
            generation = self.host["metadata"]["generation"]
            self.host["status"] = {"observedGeneration": generation, "conditions": [{"observedGeneration": generation}]}
            self.observed_body = self.host_body

    def status_back(self) -> None:
        if self.host is not None:
            before = to_host(GEN_CONFIG, GEN_RULE, self.virtual, TENANT)
            self.virtual["status"] = virtual_status(GEN_RULE, self.host, self.virtual)
            # No ping-pong: taking the status back changes nothing to_host writes.
            assert to_host(GEN_CONFIG, GEN_RULE, self.virtual, TENANT) == before


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["edit", "edit-ignored", "sync", "observe", "status-back"]), max_size=30))
def test_the_tenant_sees_current_exactly_when_the_host_operator_has_caught_up(steps: list[str]) -> None:
    cluster = _Cluster()
    reported: list[int] = []
    for step in steps:
        if step == "edit":
            cluster.edit("x")
        elif step == "edit-ignored":
            cluster.edit("ignored")
        elif step == "sync":
            cluster.sync()
        elif step == "observe":
            cluster.operator_catches_up()
        else:
            cluster.status_back()
        if cluster.host is None or "observedGeneration" not in cluster.host["status"]:
            continue
        status = virtual_status(GEN_RULE, cluster.host, cluster.virtual)
        assert status is not None
        value = status["observedGeneration"]
        assert status["conditions"] == [{"observedGeneration": value}]
        generation = cluster.virtual["metadata"]["generation"]
        synced = cluster.host["metadata"]["annotations"][ANN_SOURCE_GENERATION] == str(generation)
        assert (value == generation) is (synced and cluster.observed_body == cluster.host_body)
        assert 0 <= value <= generation
        assert not reported or value >= reported[-1], reported  # never goes back
        reported.append(value)
    # Only the first sync and syncs after an edit write; observing and taking status back never cause a write.
    assert cluster.written <= 1 + sum(1 for step in steps if step.startswith("edit"))


# --- reverse paths: host-owned fields flow back, and never forward (issue 11) -----------------------------------------

REVERSE_ENDPOINT = "example.com/endpoint"
REV_RULE = dataclasses.replace(
    CERT_RULE,
    reverse_paths=("$.spec.assigned.port", "$.spec.endpoint", f"$.metadata.annotations['{REVERSE_ENDPOINT}']"),
)
REV_CONFIG = SyncConfig("reverse", (REV_RULE, *RULES[1:]))
REVERSE_CHAINS = (("spec", "assigned", "port"), ("spec", "endpoint"), ("metadata", "annotations", REVERSE_ENDPOINT))
# A value at a reverse path, or absent (None); JSON values other than null (reverse_fields skips a null).
reverse_values = st.one_of(st.none(), json_values().filter(lambda v: v is not None))


def _with_chains(obj: dict[str, Any], values: tuple[Any, ...]) -> dict[str, Any]:
    """`obj` with each present value written at its chain, creating maps on the way (what an apply would do)."""
    out = copy.deepcopy(obj)
    for chain, value in zip(REVERSE_CHAINS, values, strict=True):
        if value is None:
            continue
        node = out
        for step in chain[:-1]:
            node = node.setdefault(step, {})
        node[chain[-1]] = copy.deepcopy(value)
    return out


def _merged(base: Any, overlay: Any) -> Any:
    """Server-side apply of a partial object onto `base`, as far as maps go (reverse paths never cross lists)."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = _merged(base.get(key), value)
        return out
    return copy.deepcopy(overlay)


@settings(max_examples=150, deadline=None)
@given(certificates(), st.tuples(*[reverse_values] * 3), st.tuples(*[reverse_values] * 3), st.booleans())
def test_reverse_paths_reach_a_fixed_point_at_once(
    virtual: dict[str, Any], tenant_values: tuple[Any, ...], host_values: tuple[Any, ...], empty_parent: bool
) -> None:
    """The no-ping-pong law for host-owned fields: the forward translation ignores exactly the reverse paths, so
    to_host(virtual after reverse) == to_host(virtual before), whatever the tenant wrote there; the host copy the
    operator wrote them on needs no write; and taking them back again changes nothing (one write, then a fixed point).
    """
    if empty_parent:
        virtual["spec"]["assigned"] = {}  # a map the reverse write lands in, or that it would have created
    before = _with_chains(virtual, tenant_values)
    desired = to_host(REV_CONFIG, REV_RULE, before, TENANT)
    # Forward never reads, never sends what the host owns: not even what the tenant wrote there.
    assert desired == to_host(REV_CONFIG, REV_RULE, virtual, TENANT)
    assert all(paths_value(desired, chain) is None for chain in REVERSE_CHAINS)

    host = _with_chains(host_after_apply(desired), host_values)  # the operator assigns its fields
    fields = reverse_fields(REV_RULE, host)
    assert fields == _with_chains({}, host_values)  # exactly the host's values, with their ancestors, nothing else
    after = _merged(before, fields)
    assert to_host(REV_CONFIG, REV_RULE, after, TENANT) == desired
    assert followers(REV_CONFIG, REV_RULE, after, TENANT) == followers(REV_CONFIG, REV_RULE, before, TENANT)
    assert not needs_write(desired, host, MANAGER)  # the operator's fields stay on the host copy: no write
    assert _merged(after, reverse_fields(REV_RULE, host)) == after  # the second reverse is a no-op


def paths_value(obj: Any, chain: tuple[str, ...]) -> Any:
    for step in chain:
        if not isinstance(obj, dict) or step not in obj:
            return None
        obj = obj[step]
    return obj


def test_reverse_fields_refuse_crdsync_keys_and_wrong_directions() -> None:
    forged = dataclasses.replace(CERT_RULE, reverse_paths=("$.metadata.annotations['crdsync.io/source-name']",))
    host = host_after_apply(to_host(CONFIG, CERT_RULE, certificate_for_reverse(), TENANT))
    with pytest.raises(TranslationError, match="not crdsync's"):
        reverse_fields(forged, host)
    listy = dataclasses.replace(CERT_RULE, reverse_paths=("$.spec.dnsNames[0]",))
    with pytest.raises(TranslationError, match="plain chain"):
        reverse_fields(listy, host)
    with pytest.raises(TranslationError, match="toHost"):
        reverse_fields(RULES[2], host)


def certificate_for_reverse() -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"issuerRef": {"name": "i"}},
    }
