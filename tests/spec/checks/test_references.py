"""Reference version candidates: which apiVersions an omitted reference apiVersion may resolve to, by follow."""

from __future__ import annotations

from crdsync.spec.checks.references import candidate_api_versions
from crdsync.spec.checks.rules import raw_rules
from crdsync.spec.source import parse_yaml


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
