"""shared_references lists exactly the names that cross to the host unchanged (kinds shared by name), so the engine
can refuse names that were never shared with the tenant."""

from __future__ import annotations

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_text
from crdsync.spec.model import Direction
from crdsync.translate.errors import TranslationError
from crdsync.translate.objects import shared_references

MAPPING = """
apiVersion: crdsync.io/v1alpha1
kind: SyncConfig
metadata: {name: t}
spec:
  toHost:
    - apiVersion: cert-manager.io/v1
      kind: Certificate
      references:
        - {path: $.spec.issuerRef.name, kind: Issuer, apiVersion: cert-manager.io/v1,
           when: {path: $.spec.issuerRef.kind, in: [Issuer, null]}}
        - {path: $.spec.issuerRef.name, kind: ClusterIssuer, apiVersion: cert-manager.io/v1,
           when: {path: $.spec.issuerRef.kind, in: [ClusterIssuer]}}
        - {path: $.spec.secretName, kind: Secret, apiVersion: v1, follow: fromHost}
    - {apiVersion: cert-manager.io/v1, kind: Issuer}
  fromHost:
    - {apiVersion: cert-manager.io/v1, kind: ClusterIssuer, scope: Cluster}
    - {apiVersion: v1, kind: Secret, mode: referenced}
"""
CLUSTER_ISSUER = GroupVersionKind("cert-manager.io", "v1", "ClusterIssuer")


def certificate(kind: str | None) -> dict[str, object]:
    ref = {"name": "ca"} if kind is None else {"name": "ca", "kind": kind}
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"issuerRef": ref, "secretName": "tls"},
    }


def test_only_names_of_kinds_shared_by_name_are_listed() -> None:
    result = load_text(MAPPING)
    assert result.config is not None, result.errors
    rule = result.config.rule_for(Direction.TO_HOST, GroupVersionKind("cert-manager.io", "v1", "Certificate"))
    assert rule is not None
    [shared] = shared_references(result.config, rule, certificate("ClusterIssuer"))
    assert (shared.gvk, shared.virtual_namespace, shared.host_namespace) == (CLUSTER_ISSUER, None, None)
    assert shared.name == "ca"
    assert shared.shared_by.gvk == CLUSTER_ISSUER
    # Tenant-named kinds (Issuer) and followers (the Secret) are translated, so they cannot reach foreign objects.
    assert shared_references(result.config, rule, certificate("Issuer")) == ()
    assert shared_references(result.config, rule, certificate(None)) == ()


STORE_MAPPING = """
apiVersion: crdsync.io/v1alpha1
kind: SyncConfig
metadata: {name: t}
spec:
  toHost:
    - apiVersion: example.com/v1
      kind: Router
      references:
        - {path: $.spec.store, kind: Store, namespacePath: $.spec.storeNamespace}
  fromHost:
    - {apiVersion: example.com/v1, kind: Store, host: {namespaces: [a, b], virtualNamespace: shared}}
"""


def test_a_name_shared_from_several_host_namespaces_into_one_is_refused_as_ambiguous() -> None:
    result = load_text(STORE_MAPPING)
    assert result.config is not None, result.errors
    rule = result.config.rule_for(Direction.TO_HOST, GroupVersionKind("example.com", "v1", "Router"))
    assert rule is not None
    router = {"apiVersion": "example.com/v1", "kind": "Router", "metadata": {"name": "r", "namespace": "apps"}}
    with pytest.raises(TranslationError, match="shared from several host namespaces into 'shared'"):
        shared_references(result.config, rule, {**router, "spec": {"store": "s", "storeNamespace": "shared"}})
    with pytest.raises(TranslationError, match="shared only in virtual namespace 'shared'"):
        shared_references(result.config, rule, {**router, "spec": {"store": "s", "storeNamespace": "apps"}})
