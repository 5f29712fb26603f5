"""References whose value has a format (vcluster's rewriteName regex) and references with namePath/namespacePath
relative to each item: what to_host writes (each name renamed by its kind's naming rule, in its format, nothing else
changed), that followers and shared_references agree with it, and that no namespace crosses to the host as the tenant
wrote it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_text
from crdsync.spec.model import Condition, Direction, Rule, SyncConfig
from crdsync.translate.errors import TranslationError
from crdsync.translate.formats import parse_format
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import followers, shared_references, to_host

MAPPING = """
apiVersion: crdsync.io/v1alpha1
kind: SyncConfig
metadata: {name: t}
spec:
  toHost:
    - apiVersion: example.com/v1
      kind: Router
      references:
        - {path: $.spec.url, kind: Service, format: '$NAME.$NAMESPACE.svc.cluster.local'}
        - {path: $.spec.secretRef, kind: Secret, format: '$NAMESPACE/$NAME', follow: toHost}
        - {path: $.spec.backends, kind: Service, namePath: service, namespacePath: namespace,
           when: {subPath: kind, notEqual: External}}
        - {path: $.spec.issuer, kind: ClusterIssuer, format: 'issuer:$NAME'}
        - {path: $.spec.shared, kind: SharedStore, format: '$NAMESPACE/$NAME'}
    - {apiVersion: v1, kind: Service}
    - {apiVersion: v1, kind: Secret, mode: referenced}
  fromHost:
    - {apiVersion: cert-manager.io/v1, kind: ClusterIssuer, scope: Cluster}
    - {apiVersion: example.com/v1, kind: SharedStore, host: {namespaces: [stores], virtualNamespace: shared}}
"""
TENANT = Tenant("t1", "host-ns")
ROUTER = GroupVersionKind("example.com", "v1", "Router")
SERVICE = GroupVersionKind("", "v1", "Service")
SECRET = GroupVersionKind("", "v1", "Secret")


def config() -> SyncConfig:
    result = load_text(MAPPING)
    assert result.config is not None, result.errors
    return result.config


def router_rule(config: SyncConfig) -> Rule:
    rule = config.rule_for(Direction.TO_HOST, ROUTER)
    assert rule is not None
    return rule


CONFIG = config()
RULE = router_rule(CONFIG)
NAMING = CONFIG.rules[1].naming


def router(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Router",
        "metadata": {"name": "r", "namespace": "apps"},
        "spec": spec,
    }


def hn(namespace: str, name: str) -> str:
    return host_name(TENANT, namespace, name, NAMING)


def test_formatted_values_are_written_back_in_their_format_with_host_names() -> None:
    spec = {
        "url": "db.data.svc.cluster.local",
        "secretRef": "apps/tls",
        "issuer": "issuer:corp-ca",
        "shared": "shared/store-1",
    }
    out = to_host(CONFIG, RULE, router(spec), TENANT)["spec"]
    assert out["url"] == f"{hn('data', 'db')}.host-ns.svc.cluster.local"
    assert out["secretRef"] == f"host-ns/{hn('apps', 'tls')}"
    assert out["issuer"] == "issuer:corp-ca"  # shared by name: unchanged, and listed for the engine's check
    assert out["shared"] == "stores/store-1"  # the sharing rule's host namespace
    shared = {(s.gvk.kind, s.host_namespace, s.name) for s in shared_references(CONFIG, RULE, router(spec))}
    assert shared == {("ClusterIssuer", None, "corp-ca"), ("SharedStore", "stores", "store-1")}
    [follower] = followers(CONFIG, RULE, router(spec), TENANT)
    assert (follower.gvk, follower.virtual_namespace, follower.virtual_name) == (SECRET, "apps", "tls")
    assert (follower.host_namespace, follower.host_name) == ("host-ns", hn("apps", "tls"))


def test_name_path_pairs_each_item_with_its_own_namespace_and_sub_path_conditions_apply_per_item() -> None:
    backends = [
        {"service": "a", "namespace": "x"},
        {"service": "b"},
        {"service": "c", "namespace": "kube-system", "kind": "External"},
    ]
    out = to_host(CONFIG, RULE, router({"backends": backends}), TENANT)["spec"]["backends"]
    assert out[0] == {"service": hn("x", "a"), "namespace": "host-ns"}
    assert out[1] == {"service": hn("apps", "b")}
    # the reference does not apply to the external backend: its name stays, its namespace never crosses as written
    assert out[2] == {"service": "c", "namespace": "host-ns", "kind": "External"}


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"url": "db.other-tenant.svc"}, "$.spec.url"),  # not the whole format: it could reach another tenant's Service
        ({"secretRef": "Apps/tls"}, "$.spec.secretRef"),
        ({"url": "x" * 100_000}, "$.spec.url"),
        ({"backends": [{"service": "a", "namespace": ["x"]}]}, "$.namespace"),  # namePath/namespacePath: in the item
        ({"backends": [{"service": 5}]}, "$.service"),
    ],
)
def test_values_without_the_format_are_errors_not_copies_naming_the_field(spec: dict[str, Any], path: str) -> None:
    with pytest.raises(TranslationError) as info:
        to_host(CONFIG, RULE, router(spec), TENANT)
    assert info.value.path == path


names = st.from_regex(r"[a-z]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True).filter(lambda s: ".." not in s)
namespaces = st.from_regex(r"[a-z]([-a-z0-9]{0,15}[a-z0-9])?", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    names,
    namespaces,
    names,
    st.lists(st.tuples(names, st.one_of(st.none(), namespaces)), max_size=3),
    st.sampled_from(["shared", "apps"]),
)
def test_round_trip_and_every_host_namespace_is_the_tenants_or_the_sharing_rules(
    service: str, data_ns: str, secret: str, backends: list[tuple[str, str | None]], shared_ns: str
) -> None:
    spec: dict[str, Any] = {
        "url": f"{service}.{data_ns}.svc.cluster.local",
        "secretRef": f"apps/{secret}",
        "backends": [{"service": s, **({"namespace": n} if n else {})} for s, n in backends],
    }
    if shared_ns == "shared":
        spec["shared"] = f"shared/{secret}"
    virtual = router(spec)
    host = to_host(CONFIG, RULE, virtual, TENANT)
    # Every namespace in a formatted value on the host is the tenant's or the sharing rule's host namespace.
    for ref in RULE.references:
        value = host["spec"].get(ref.path.rsplit(".", 1)[1])
        if ref.format is not None and "$NAMESPACE" in ref.format and isinstance(value, str):
            parsed = parse_format(ref.format, value)
            assert parsed is not None and parsed[1] in ("host-ns", "stores"), value
    for backend in host["spec"]["backends"]:
        assert backend.get("namespace", "host-ns") == "host-ns"
    # followers agree with what to_host wrote
    for follower in followers(CONFIG, RULE, virtual, TENANT):
        assert host["spec"]["secretRef"] == f"{follower.host_namespace}/{follower.host_name}"

    # The round trip: every name is renamed by the (injective) naming rule, in its format; nothing else changes.
    expected: dict[str, Any] = {
        "url": f"{hn(data_ns, service)}.host-ns.svc.cluster.local",
        "secretRef": f"host-ns/{hn('apps', secret)}",
        "backends": [{"service": hn(n or "apps", s), **({"namespace": "host-ns"} if n else {})} for s, n in backends],
    }
    if shared_ns == "shared":
        expected["shared"] = f"stores/{secret}"
    assert host["spec"] == expected


def test_a_name_path_item_that_is_a_plain_string_is_itself_the_name() -> None:
    out = to_host(CONFIG, RULE, router({"backends": ["a", {"service": "b"}, "", None]}), TENANT)["spec"]["backends"]
    assert out == [hn("apps", "a"), {"service": hn("apps", "b")}, "", None]


def test_a_name_path_item_that_is_neither_a_map_nor_a_name_is_an_error_at_the_reference_path() -> None:
    with pytest.raises(TranslationError, match="needs maps \\(or names\\), found a number") as info:
        to_host(CONFIG, RULE, router({"backends": [{"service": "a"}, 5]}), TENANT)
    assert info.value.path == "$.spec.backends"
    assert str(info.value).startswith(f"{RULE.references[2].location}: ")


def test_the_namespace_in_a_formatted_value_of_a_reference_that_does_not_apply_still_becomes_the_tenants() -> None:
    # The name stays as written (the reference does not apply), but `kube-system` must not reach the host.
    secret_ref = dataclasses.replace(RULE.references[1], when=(Condition("$.spec.mode", equal="managed"),))
    rule = dataclasses.replace(RULE, references=(secret_ref,))
    out = to_host(CONFIG, rule, router({"secretRef": "kube-system/admin-token", "mode": "manual"}), TENANT)
    assert out["spec"]["secretRef"] == "host-ns/admin-token"
    managed = to_host(CONFIG, rule, router({"secretRef": "kube-system/admin-token", "mode": "managed"}), TENANT)
    assert managed["spec"]["secretRef"] == f"host-ns/{hn('kube-system', 'admin-token')}"


def test_an_item_naming_two_namespaces_for_one_name_is_an_error_at_the_namespace_path() -> None:
    """As vcluster refuses it: which namespace would the name be in? One namespace among the matches is fine."""
    backends = dataclasses.replace(RULE.references[2], namespace_path="$.namespaces[*]")
    rule = dataclasses.replace(RULE, references=(backends,))
    one = to_host(CONFIG, rule, router({"backends": [{"service": "a", "namespaces": ["x", ""]}]}), TENANT)
    assert one["spec"]["backends"][0]["service"] == hn("x", "a")
    with pytest.raises(TranslationError, match="several namespaces for one name") as info:
        to_host(CONFIG, rule, router({"backends": [{"service": "a", "namespaces": ["x", "y"]}]}), TENANT)
    assert info.value.path == "$.namespaces[*]"
