"""Selector disjointness, the building block of the check that a kind in both directions has disjoint selections."""

from __future__ import annotations

from typing import Any

import pytest

from crdsync.spec.checks.selections import selectors_disjoint


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
