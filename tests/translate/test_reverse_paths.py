"""Reverse paths: host-owned fields flow back, and never forward (issue 11)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import (
    SyncConfig,
)
from crdsync.translate.bookkeeping import (
    MANAGER,
)
from crdsync.translate.compare import needs_write
from crdsync.translate.errors import TranslationError
from crdsync.translate.objects import followers, to_host
from crdsync.translate.reverse_paths import forward_view, reverse_fields
from tests.translate.certs import (
    CERT_RULE,
    CONFIG,
    HERE,
    RULES,
    TENANT,
    certificates,
    host_after_apply,
)
from tests.translate.strategies import json_values

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
    with pytest.raises(TranslationError, match="not crdsync's") as info:
        reverse_fields(forged, host)
    assert info.value.path == forged.reverse_paths[0]
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


def test_a_spec_holding_only_host_owned_fields_reads_as_no_spec() -> None:
    """Whether the reverse write created the spec or the tenant wrote an empty one, forward sees the same object."""
    rule = dataclasses.replace(REV_RULE, references=())
    config = SyncConfig("reverse", (rule,))
    bare = certificate_for_reverse()
    del bare["spec"]
    taken_back = {**bare, "spec": {"assigned": {"port": 30080}, "endpoint": "10.0.0.1:443"}}
    assert forward_view(rule, taken_back) == bare
    assert to_host(config, rule, taken_back, TENANT) == to_host(config, rule, bare, TENANT)
    port_only = dataclasses.replace(rule, reverse_paths=("$.spec.assigned.port",))
    for view_rule in (rule, port_only):
        assert forward_view(view_rule, {**bare, "spec": {}}) == bare
        assert forward_view(view_rule, {**bare, "spec": {"assigned": {}}}) == bare
    # metadata itself stays, however little is left of it (an object always has one)
    assert forward_view(rule, {"metadata": {"annotations": {REVERSE_ENDPOINT: "x"}}}) == {"metadata": {}}


@pytest.mark.parametrize("path", ["$.spec[", "spec.port", "$..port", "$.spec.ports[0]"])
def test_a_reverse_path_that_is_not_a_chain_of_fields_is_an_error_at_that_path(path: str) -> None:
    rule = dataclasses.replace(CERT_RULE, reverse_paths=(path,), location=HERE)
    config = SyncConfig("reverse", (rule, *RULES[1:]))
    host = host_after_apply(to_host(CONFIG, CERT_RULE, certificate_for_reverse(), TENANT))
    with pytest.raises(TranslationError, match="plain chain") as info:
        reverse_fields(rule, host)
    assert (info.value.path, info.value.location) == (path, HERE)
    with pytest.raises(TranslationError, match="plain chain") as info:
        to_host(config, rule, certificate_for_reverse(), TENANT)
    assert (info.value.path, info.value.location) == (path, HERE)


def test_a_poison_host_copy_is_refused_before_its_fields_are_read() -> None:
    deep: dict[str, Any] = {}
    for _ in range(200):
        deep = {"n": deep}
    host = {**host_after_apply(to_host(REV_CONFIG, REV_RULE, certificate_for_reverse(), TENANT)), "status": deep}
    with pytest.raises(TranslationError, match="deeper than") as info:
        reverse_fields(REV_RULE, host)
    assert info.value.message.startswith("host object ")
