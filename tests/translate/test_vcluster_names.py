"""naming.style vcluster: vcluster's own host names, byte for byte, and what that costs (no injectivity).

The worked examples were computed by vcluster's SafeConcatName itself (copied verbatim from loft-sh/vcluster v0.27.0
pkg/util/translate/translate.go into a scratch Go program and run with Go 1.26), not by crdsync. The property test
compares host_name with `_go_safe_concat_name` below, a second transcription of that Go function written line by
line from the source, on bytes as Go's strings are, sharing no code with crdsync.translate.names.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import Naming, NamingStyle
from crdsync.translate.names import Tenant, host_name, vcluster_cluster_marker
from tests.translate.strategies import dns_labels, dns_subdomains

VCLUSTER = Naming(style=NamingStyle.VCLUSTER)
HASHED = Naming(style=NamingStyle.HASHED)


def _go_safe_concat_name(*name: str) -> str:
    """func SafeConcatName(name ...string) string {
        fullPath := strings.Join(name, "-")
        if len(fullPath) > 63 {
            digest := sha256.Sum256([]byte(fullPath))
            return strings.ReplaceAll(fullPath[0:52]+"-"+hex.EncodeToString(digest[0:])[0:10], ".-", "-")
        }
        return fullPath
    }"""
    full_path = b"-".join(part.encode() for part in name)
    if len(full_path) > 63:
        digest = hashlib.sha256(full_path).digest()
        return (full_path[0:52] + b"-" + digest.hex().encode()[0:10]).replace(b".-", b"-").decode()
    return full_path.decode()


def _go_host_name(vcluster: str, host_namespace: str, namespace: str | None, name: str) -> str:
    """singleNamespace.HostName -> SingleNamespaceHostName(vName, vNamespace, VClusterName) for namespaced objects,
    singleNamespace.HostNameCluster(name) for cluster-scoped ones (pkg/util/translate/single_namespace.go)."""
    if namespace is None:
        return _go_safe_concat_name("vcluster", name, "x", host_namespace, "x", vcluster)
    return _go_safe_concat_name(name, "x", namespace, "x", vcluster)


# (vcluster, host namespace, virtual namespace or None, name) -> what vcluster's Go code printed.
WORKED_EXAMPLES = [
    # short: joined with "-", nothing else
    ("team-a", "vc-team-a", "app", "app-tls", "app-tls-x-app-x-team-a"),
    # dots are kept
    ("team-a", "vc-team-a", "default", "my.cert", "my.cert-x-default-x-team-a"),
    # exactly 63 characters: still whole
    ("team-a", "h", "ns", "b" * 49, "b" * 49 + "-x-ns-x-team-a"),
    # 64: cut to 52, "-", 10 hex of SHA-256 of the whole
    ("team-a", "h", "ns", "b" * 50, "b" * 50 + "-x-f39f4193bb"),
    # the cut ends in "-": a double dash stays
    ("vc1", "h", "default", "a" * 51, "a" * 51 + "--f7139b702d"),
    (
        "team-a",
        "h",
        "istio-system",
        "wildcard-certificate-for-the-shared-ingress-gateway",
        "wildcard-certificate-for-the-shared-ingress-gateway--ea622b3fe5",
    ),
    # a dotted name cut after a letter keeps its dots
    (
        "team-a",
        "h",
        "apps",
        "web.frontend.example.com.internal.service.cluster.x",
        "web.frontend.example.com.internal.service.cluster.x--e5d98e8d95",
    ),
    # the cut ends in ".": ".-" becomes "-", so the name has 62 characters
    ("t1", "h", "apps", "c" * 51 + ".d", "c" * 51 + "-aa9c8027fe"),
    # cluster-scoped: "vcluster", name, "x", host namespace, "x", vcluster
    ("team-a", "vc-team-a", None, "corp-ca", "vcluster-corp-ca-x-vc-team-a-x-team-a"),
    (
        "team-a",
        "vc-team-a",
        None,
        "a-very-long-cluster-scoped-issuer-name-for-everyone",
        "vcluster-a-very-long-cluster-scoped-issuer-name-for--8fd71303c9",
    ),
]


@pytest.mark.parametrize(("vcluster", "host_ns", "namespace", "name", "expected"), WORKED_EXAMPLES)
def test_worked_examples_from_vclusters_own_code(
    vcluster: str, host_ns: str, namespace: str | None, name: str, expected: str
) -> None:
    assert host_name(Tenant(vcluster, host_ns), namespace, name, VCLUSTER) == expected
    assert _go_host_name(vcluster, host_ns, namespace, name) == expected  # the transcription agrees too


def test_the_dot_dash_case_is_62_characters() -> None:
    result = host_name(Tenant("t1", "h"), "apps", "c" * 51 + ".d", VCLUSTER)
    assert len(result) == 62 and ".-" not in result


def test_cluster_marker_is_vclusters_managed_by_value_for_cluster_scoped_objects() -> None:
    # singleNamespace.MarkerLabelCluster(): SafeConcatName(targetNamespace, "x", VClusterName)
    assert vcluster_cluster_marker(Tenant("team-a", "vc-team-a")) == "vc-team-a-x-team-a"
    assert vcluster_cluster_marker(Tenant("v" * 40, "n" * 40)) == _go_safe_concat_name("n" * 40, "x", "v" * 40)


# Names that stress the cut: long, dotted (a dot lands on byte 52 often), with "-x-" inside.
cut_names = st.one_of(
    dns_subdomains(),
    st.builds(
        lambda head, tail: (head + "." + tail)[:253],
        st.text(alphabet="abc", min_size=40, max_size=60),
        dns_labels(max_size=20),
    ),
    st.builds(lambda a, b: f"{a}-x-{b}", dns_labels(max_size=30), dns_labels(max_size=30)),
)


@settings(max_examples=500, deadline=None)
@given(dns_labels(), dns_labels(), st.one_of(st.none(), dns_labels()), cut_names)
def test_style_vcluster_equals_vclusters_algorithm(
    vcluster: str, host_ns: str, namespace: str | None, name: str
) -> None:
    ours = host_name(Tenant(vcluster, host_ns), namespace, name, VCLUSTER)
    assert ours == _go_host_name(vcluster, host_ns, namespace, name)
    assert len(ours) <= 63


def test_style_vcluster_is_not_injective() -> None:
    tenant = Tenant("vc", "h")
    assert host_name(tenant, "c", "a-x-b", VCLUSTER) == host_name(tenant, "b-x-c", "a", VCLUSTER)
    # Across tenants, dashes reach a vcluster whose name ends in "-x-" + the other's.
    assert host_name(Tenant("t", "h"), "c", "a-x-b", VCLUSTER) == host_name(Tenant("c-x-t", "h"), "b", "a", VCLUSTER)


def test_style_vcluster_ignores_lengths() -> None:
    # The loader refuses maxLength/hashLength with style vcluster; host_name ignores them if a Naming has them anyway.
    odd = Naming(max_length=30, hash_length=20, style=NamingStyle.VCLUSTER)
    assert host_name(Tenant("vc", "h"), "ns", "n" * 80, odd) == host_name(Tenant("vc", "h"), "ns", "n" * 80, VCLUSTER)


# Exactly the inputs vcluster's form confuses: "-x-" moved between name and namespace, same vcluster.
colliding_pairs = st.builds(
    lambda a, b, c: ((c, f"{a}-x-{b}"), (f"{b}-x-{c}", a)),
    dns_labels(max_size=20),
    dns_labels(max_size=20),
    dns_labels(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(colliding_pairs)
def test_hashed_style_stays_injective_where_vcluster_collides(
    pair: tuple[tuple[str, str], tuple[str, str]],
) -> None:
    (ns1, name1), (ns2, name2) = pair
    tenant = Tenant("vc", "h")
    assert host_name(tenant, ns1, name1, VCLUSTER) == host_name(tenant, ns2, name2, VCLUSTER)
    assert host_name(tenant, ns1, name1, HASHED) != host_name(tenant, ns2, name2, HASHED)
    assert Naming() == HASHED  # hashed is the default


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(dns_labels(), st.one_of(st.none(), dns_labels()), cut_names), min_size=2, unique=True))
def test_hashed_style_is_injective_on_vcluster_stress_names(items: list[tuple[str, str | None, str]]) -> None:
    names = {host_name(Tenant(vc, "host-ns"), ns, name, HASHED) for vc, ns, name in items}
    assert len(names) == len(items)


def test_a_name_cut_inside_a_multibyte_character_is_refused_by_the_apiserver_not_by_crdsync() -> None:
    """Not ASCII (never a valid Kubernetes name): cut at byte 52 like vcluster, the split character decoded as U+FFFD,
    so the apiserver refuses the name instead of crdsync raising."""
    name = "a" * 51 + "é" + "b" * 20  # "é" is bytes 52-53: the cut splits it
    digest = hashlib.sha256(f"{name}-x-ns-x-vc1".encode()).hexdigest()[:10]
    assert host_name(Tenant("vc1", "h"), "ns", name, VCLUSTER) == "a" * 51 + "\ufffd-" + digest


def test_no_name_has_no_vcluster_host_name() -> None:
    """As vcluster: an object without a name has no host name (nothing half-named like "-x-ns-x-vc1" is made up)."""
    assert host_name(Tenant("vc1", "h"), "ns", "", VCLUSTER) == ""
    assert host_name(Tenant("vc1", "h"), None, "", VCLUSTER) == ""
