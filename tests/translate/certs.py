"""A cert-manager-shaped world shared by the translate tests: the rules, a tenant, and a Hypothesis strategy for
virtual Certificates with every kind of reference, forged bookkeeping, server fields and a status."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import (
    Condition,
    Direction,
    FollowDirection,
    Location,
    Naming,
    Reference,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.translate.bookkeeping import LAST_APPLIED, MANAGER, PREFIX
from crdsync.translate.names import Tenant
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
    name, namespace = draw(names), draw(namespaces)
    keep_labels = bool(labels) or draw(st.booleans())  # an empty label map, sometimes
    metadata = {
        "name": name,
        "namespace": namespace,
        **{k: server[k] for k in kept_server},
        **({"labels": labels} if keep_labels else {}),
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


def cert(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": "apps", "uid": "u-1"},
        "spec": spec,
    }


def ours(values: dict[str, str]) -> dict[str, str]:
    """The keys under crdsync.io/ (bookkeeping)."""
    return {k: v for k, v in values.items() if k.startswith(PREFIX)}
