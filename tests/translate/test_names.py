"""host_name: injective, deterministic, always a valid DNS name within naming.maxLength."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import Naming
from crdsync.translate.names import (
    MAX_HASH_LENGTH,
    MIN_HASH_LENGTH,
    Tenant,
    host_name,
    is_dns1123_label,
    is_dns1123_subdomain,
    name_hash,
)
from tests.translate.strategies import dns_labels, dns_subdomains

triples = st.tuples(dns_labels(), st.one_of(st.none(), dns_labels()), dns_subdomains())
namings = st.builds(
    lambda hash_length, extra: Naming(max_length=min(253, hash_length + 2 + extra), hash_length=hash_length),
    st.integers(1, MAX_HASH_LENGTH),
    st.integers(0, 251),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(triples, min_size=2, max_size=40, unique=True))
def test_host_name_is_injective(items: list[tuple[str, str | None, str]]) -> None:
    naming = Naming()
    names = {host_name(Tenant(vc, "host-ns"), ns, name, naming) for vc, ns, name in items}
    assert len(names) == len(items)


@settings(max_examples=300, deadline=None)
@given(triples, namings)
def test_host_name_is_valid_and_fits(triple: tuple[str, str | None, str], naming: Naming) -> None:
    vc, ns, name = triple
    result = host_name(Tenant(vc, "host-ns"), ns, name, naming)
    assert len(result) <= naming.max_length
    assert result.endswith(name_hash(vc, ns, name, naming.hash_length))
    assert is_dns1123_subdomain(result)
    if naming.max_length <= 63:
        assert is_dns1123_label(result)


@settings(deadline=None)
@given(triples)
def test_host_name_is_deterministic(triple: tuple[str, str | None, str]) -> None:
    vc, ns, name = triple
    assert host_name(Tenant(vc, "a"), ns, name, Naming()) == host_name(Tenant(vc, "b"), ns, name, Naming())


def test_maximum_length_names_keep_readable_prefix_and_hash() -> None:
    name, ns = "a" * 253, "b" * 63
    result = host_name(Tenant("c" * 63, "h"), ns, name, Naming())
    assert len(result) == 63
    assert result.startswith("a" * (63 - Naming().hash_length - 1) + "-")
    assert is_dns1123_label(result)


def test_separator_inside_names_does_not_collide() -> None:
    tenant = Tenant("vc", "h")
    # Both readable forms are "a-x-b-x-c-x-vc": only the hash tells them apart.
    first = host_name(tenant, "b-x-c", "a", Naming())
    second = host_name(tenant, "c", "a-x-b", Naming())
    assert first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0]
    assert first != second


def test_cluster_scoped_differs_from_namespaced() -> None:
    tenant = Tenant("vc", "h")
    assert host_name(tenant, None, "n", Naming()) != host_name(tenant, "", "n", Naming())
    assert host_name(tenant, None, "n", Naming()).startswith("n-x-vc-")


def test_readable_prefix_maps_to_label_characters() -> None:
    result = host_name(Tenant("vc", "h"), "ns", "Web.Example:8443", Naming())
    assert result.startswith("web-example-8443-x-ns-x-vc-")
    assert is_dns1123_label(result)


def test_nothing_readable_fits_gives_the_hash_alone() -> None:
    result = host_name(Tenant("vc", "h"), "ns", "...", Naming(max_length=18, hash_length=16))
    assert result == name_hash("vc", "ns", "...", 16)


@pytest.mark.parametrize(
    ("max_length", "hash_length"),
    [(11, 10), (254, 10), (63, 0), (63, MAX_HASH_LENGTH + 1)],
)
def test_impossible_naming_raises_value_error(max_length: int, hash_length: int) -> None:
    with pytest.raises(ValueError, match="naming"):
        host_name(Tenant("vc", "h"), "ns", "n", Naming(max_length=max_length, hash_length=hash_length))


@pytest.mark.parametrize(
    ("value", "label", "subdomain"),
    [
        ("a", True, True),
        ("a-b", True, True),
        ("a.b", False, True),
        ("-a", False, False),
        ("a-", False, False),
        ("A", False, False),
        ("", False, False),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        ("a" * 254, False, False),
        ("a\n", False, False),
    ],
)
def test_dns_predicates(value: str, label: bool, subdomain: bool) -> None:
    assert is_dns1123_label(value) is label
    assert is_dns1123_subdomain(value) is subdomain


@settings(deadline=None)
@given(triples, st.integers(1, MAX_HASH_LENGTH))
def test_name_hash_is_the_base32_prefix_of_sha256(triple: tuple[str, str | None, str], length: int) -> None:
    import base64
    import hashlib
    import json

    encoded = json.dumps(list(triple), separators=(",", ":"), ensure_ascii=False).encode()
    expected = base64.b32encode(hashlib.sha256(encoded).digest()).decode().lower()[:length]
    assert name_hash(*triple, length) == expected


# ---------------------------------------------------------------------------------------------------------------------
# The hash is the tenant boundary: a tenant chooses its names, so only the hash keeps them off another tenant's.


def test_default_naming_hash_is_at_least_80_bits() -> None:
    naming = Naming()
    assert naming.hash_length * 5 >= 80  # base32: 5 bits per character
    assert MIN_HASH_LENGTH * 5 >= 64
    result = host_name(Tenant("vc", "h"), "ns", "web", naming)
    digest = result.rsplit("-", 1)[1]
    assert digest == name_hash("vc", "ns", "web", naming.hash_length) and len(digest) == 16


def _dashed(s: str) -> str:
    # Long runs of dashes between alphanumerics: padding that truncates onto someone else's readable prefix.
    return "a" + s + "a"


dashed_names = st.one_of(
    st.text(alphabet="a-", min_size=38, max_size=251).map(_dashed),
    st.builds(lambda head, pad: _dashed(head + "-" * pad)[:253].rstrip("-") + "a", dns_labels(20), st.integers(0, 240)),
    dns_subdomains(),
)
dashed_triples = st.tuples(dns_labels(), st.one_of(st.none(), dns_labels()), dashed_names)


@settings(max_examples=300, deadline=None)
@given(st.lists(dashed_triples, min_size=2, max_size=40, unique=True))
def test_default_names_of_long_dashed_sources_are_injective_dns_labels(
    items: list[tuple[str, str | None, str]],
) -> None:
    naming = Naming()
    names = [host_name(Tenant(vc, "host-ns"), ns, name, naming) for vc, ns, name in items]
    assert all(len(n) <= 63 and is_dns1123_label(n) for n in names)
    assert len(set(names)) == len(items)


@pytest.mark.parametrize("victim_ns", ["apps", None])
def test_dash_padded_name_truncating_to_a_victims_prefix_gets_a_different_name(victim_ns: str | None) -> None:
    # Tenants "victim" and "attacker" share a host namespace. The attacker pads a name with dashes so that its
    # readable prefix, truncated to the budget and stripped of dashes, is exactly the victim's: only the hash differs.
    naming = Naming()
    victim = host_name(Tenant("victim", "shared"), victim_ns, "web", naming)
    readable = victim[: -naming.hash_length - 1]
    assert readable == ("web-x-apps-x-victim" if victim_ns else "web-x-victim")
    padded = readable + "-" * (naming.max_length - naming.hash_length - 1 - len(readable)) + "-a"
    forged = host_name(Tenant("attacker", "shared"), victim_ns, padded, naming)
    assert forged[: -naming.hash_length - 1] == readable
    assert forged != victim
    assert forged[-naming.hash_length :] != victim[-naming.hash_length :]


# ---------------------------------------------------------------------------------------------------------------------
# Names are a stored contract: every host copy in every cluster carries one. A change to the encoding, the hash or the
# readable prefix would make an upgraded crdsync take its own copies for strangers (and orphan them), so the default
# naming is pinned by value, not only by its laws.


@pytest.mark.parametrize(
    ("namespace", "name", "expected"),
    [
        ("default", "web", "web-x-default-x-team-a-5o3yy3pwucrc6u6c"),
        (None, "letsencrypt", "letsencrypt-x-team-a-rbcnrcz62qol6qvr"),
        ("prod", "a.b.c", "a-b-c-x-prod-x-team-a-6fwrepvsafupvlye"),
        ("x" * 63, "y" * 253, "y" * 46 + "-3rsjsefkixxjhy6e"),
    ],
)
def test_default_host_names_never_change_across_releases(namespace: str | None, name: str, expected: str) -> None:
    assert host_name(Tenant(vcluster="team-a", host_namespace="vc-team-a"), namespace, name, Naming()) == expected
