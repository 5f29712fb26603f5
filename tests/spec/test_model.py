"""Spec values are frozen and hashable even when they carry arbitrary JSON (patch values, condition sets)."""

from __future__ import annotations

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import Condition, Direction, Patch, PatchOp, Rule


def test_rules_with_json_valued_patches_and_conditions_hash_and_compare() -> None:
    when = (Condition(path="$.spec.mode", in_=({"a": [1]}, None)), Condition(path="$.spec.n", not_in=([],)))
    patch = Patch(op=PatchOp.SET, path="$.spec.x", value={"nested": [1, 2]}, when=when)
    rule = Rule(direction=Direction.TO_HOST, gvk=GroupVersionKind("g", "v1", "K"), patches_to_host=(patch,))
    twin = Rule(direction=Direction.TO_HOST, gvk=GroupVersionKind("g", "v1", "K"), patches_to_host=(patch,))
    assert hash(rule) == hash(twin)
    assert rule == twin
    other = Patch(op=PatchOp.SET, path="$.spec.x", value={"nested": [3]}, when=when)
    assert other != patch  # values still take part in equality
    assert len({rule, twin}) == 1


def test_group_version_kind_round_trips_api_version() -> None:
    assert GroupVersionKind.from_api_version("v1", "Secret") == GroupVersionKind("", "v1", "Secret")
    assert GroupVersionKind.from_api_version("cert-manager.io/v1", "Issuer").api_version == "cert-manager.io/v1"
