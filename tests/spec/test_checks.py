"""Building blocks of the semantic checks: selector disjointness, path scoping, reference version candidates."""

from __future__ import annotations

from typing import Any

import pytest

from crdsync.spec.checks import candidate_api_versions, is_under_status, raw_rules, selectors_disjoint, top_field
from crdsync.spec.source import parse_yaml


@pytest.mark.parametrize(
    ("first", "second", "disjoint"),
    [
        ({"matchLabels": {"a": "x"}}, {"matchLabels": {"a": "y"}}, True),
        ({"matchLabels": {"a": "x"}}, {"matchLabels": {"a": "x"}}, False),
        ({"matchLabels": {"a": "x"}}, {"matchLabels": {"b": "y"}}, False),
        ({"matchLabels": {"a": "x"}}, {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}, True),
        (
            {"matchLabels": {"a": "x"}},
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["y"]}]},
            False,
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]},
            True,
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", "y"]}]},
            {"matchLabels": {"a": "z"}},
            True,
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", "y"]}]},
            {"matchLabels": {"a": "y"}},
            False,
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]},
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["y"]}]},
            False,
        ),
        (None, {"matchLabels": {"a": "x"}}, False),
        ({}, {}, False),
        ("garbage", {"matchLabels": 5}, False),
    ],
)
def test_selectors_disjoint(first: Any, second: Any, disjoint: bool) -> None:
    assert selectors_disjoint(first, second) is disjoint
    assert selectors_disjoint(second, first) is disjoint


@pytest.mark.parametrize(
    ("expr", "field"),
    [
        ("$.status", "status"),
        ("$.status.conditions[*].type", "status"),
        ("$.metadata.labels", "metadata"),
        ("$['metadata'].labels", "metadata"),
        ("$..status", None),
        ("$.*", None),
        ("$", None),
    ],
)
def test_top_field(expr: str, field: str | None) -> None:
    assert top_field(expr) == field
    assert is_under_status(expr) is (field == "status")


def test_candidate_api_versions_by_follow_direction() -> None:
    text = (
        "spec:\n  toHost:\n    - {apiVersion: a.io/v1, kind: K}\n    - {apiVersion: v1, kind: Secret}\n"
        "  fromHost:\n    - {apiVersion: b.io/v2, kind: K}\n    - {apiVersion: v1, kind: Secret}\n"
        "    - {apiVersion: 5, kind: K}\n"
    )
    (document,), _ = parse_yaml(text, "f")
    rules = raw_rules([document])
    assert len(rules) == 4  # the malformed apiVersion is left to the schema
    assert candidate_api_versions(rules, "K", "toHost") == ["a.io/v1"]
    assert candidate_api_versions(rules, "K", "fromHost") == ["b.io/v2"]
    assert candidate_api_versions(rules, "K", "none") == ["a.io/v1", "b.io/v2"]
    assert candidate_api_versions(rules, "Secret", "none") == ["v1"]
    assert candidate_api_versions(rules, "Nope", "none") == []
