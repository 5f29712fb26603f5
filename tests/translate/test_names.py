"""host_name: injective, deterministic, always a valid DNS name within naming.maxLength."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import Naming
from crdsync.translate.names import (
    MAX_HASH_LENGTH,
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
    assert result.startswith("a" * 52 + "-")
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
    result = host_name(Tenant("vc", "h"), "ns", "...", Naming(max_length=12, hash_length=10))
    assert result == name_hash("vc", "ns", "...", 10)


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
