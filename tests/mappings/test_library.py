"""Decisions every library mapping shares, checked on the loaded mappings (the goldens show the rest field by field).

- Rules that only lend vcluster's naming to references (Services, Deployments, StatefulSets the virtual cluster's
  own syncer copies) are never followed, so crdsync never writes those kinds.
- Every import of an operator's mapping is read-only.
- Names that cross unchanged (shared Gateways, ClusterTriggerAuthentications, Istio Gateways by namespace/name) are
  the ones the engine checks against the host's sharing rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_files
from crdsync.spec.model import Direction, FollowDirection, NamingStyle, SyncConfig
from crdsync.translate.objects import shared_references

MAPPINGS = sorted((Path(__file__).resolve().parents[2] / "mappings").glob("*.yaml"))


def config_of(path: Path) -> SyncConfig:
    loaded = load_files([str(path)])
    assert loaded.config is not None, loaded.errors
    return loaded.config


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.stem)
def test_naming_only_rules_are_never_followed_and_imports_are_read_only(path: Path) -> None:
    config = config_of(path)
    borrowed = {
        (r.gvk.group, r.gvk.kind)
        for r in config.rules
        if r.direction is Direction.TO_HOST and r.naming.style is NamingStyle.VCLUSTER
    }
    followed = {
        (ref.gvk.group, ref.gvk.kind)
        for r in config.rules
        for ref in r.references
        if ref.follow is FollowDirection.TO_HOST
    }
    assert borrowed & followed == set()
    if path.stem != "example-widgets":  # the example shows readOnly: false on purpose
        assert all(r.read_only for r in config.rules if r.direction is Direction.FROM_HOST)


def checked(mapping: str, gvk: GroupVersionKind, obj: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    config = config_of(next(p for p in MAPPINGS if p.stem == mapping))
    rule = config.rule_for(Direction.TO_HOST, gvk)
    assert rule is not None
    return [(s.gvk.kind, s.host_namespace, s.name) for s in shared_references(config, rule, obj)]


def test_route_parents_are_checked_as_shared_gateways() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "shop"},
        "spec": {
            "parentRefs": [
                {"name": "shared-gw", "namespace": "gateway-system"},
                {"name": "local-gw"},  # the route's own namespace: checked there, never shared by a tenant
                {"name": "svc", "kind": "Service", "group": ""},  # a mesh parent: the tenant's Service, not shared
            ]
        },
    }
    gvk = GroupVersionKind("gateway.networking.k8s.io", "v1", "HTTPRoute")
    assert checked("gateway-api", gvk, route) == [
        ("Gateway", "gateway-system", "shared-gw"),
        ("Gateway", "shop", "local-gw"),
    ]


def test_cluster_trigger_authentications_are_checked_as_shared() -> None:
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "s", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"name": "app"},
            "triggers": [
                {"type": "cpu", "metadata": {}, "authenticationRef": {"name": "mine"}},
                {
                    "type": "cpu",
                    "metadata": {},
                    "authenticationRef": {"name": "ops", "kind": "ClusterTriggerAuthentication"},
                },
            ],
        },
    }
    gvk = GroupVersionKind("keda.sh", "v1alpha1", "ScaledObject")
    assert checked("keda", gvk, scaled) == [("ClusterTriggerAuthentication", None, "ops")]


def test_istio_gateways_are_checked_as_shared_and_mesh_is_no_gateway() -> None:
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "v", "namespace": "shop"},
        "spec": {"hosts": ["a.example.com"], "gateways": ["istio-system/public", "mesh"]},
    }
    gvk = GroupVersionKind("networking.istio.io", "v1", "VirtualService")
    assert checked("istio", gvk, vs) == [("Gateway", "istio-system", "public")]
