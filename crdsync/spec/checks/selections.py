"""Checks that every object belongs to at most one rule: one rule per kind and direction (versions do not count),
and a kind synced in both directions with `mode: all` in both needs selections that say which rule an object belongs
to: label selectors provably disjoint (`selectors_disjoint`, decided per label key), or imports landing only outside
the toHost rule's namespaces (`namespaces_disjoint`). `loop_problems` says why copies never bounce either way.

Failure modes: none raised; selectors of the wrong shape read as selecting everything (never provably disjoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crdsync.spec.checks.rules import RawRule, as_dict, as_list
from crdsync.spec.model import Direction
from crdsync.spec.source import FieldPath, Problem

Requirement = tuple[str, str, frozenset[str]]


def _requirements(selector: Any) -> list[Requirement]:
    if not isinstance(selector, dict):
        return []
    out: list[Requirement] = []
    for key, value in as_dict(selector.get("matchLabels")).items():
        if isinstance(value, str):
            out.append((key, "In", frozenset([value])))
    for expression in as_list(selector.get("matchExpressions")):
        expression = as_dict(expression)
        label, operator = expression.get("key"), expression.get("operator")
        values = frozenset(v for v in as_list(expression.get("values")) if isinstance(v, str))
        if isinstance(label, str) and operator in ("In", "NotIn", "Exists", "DoesNotExist"):
            out.append((label, str(operator), values))
    return out


def _conflicting(a: Requirement, b: Requirement) -> bool:
    """True when no label set can satisfy both requirements."""
    if a[0] != b[0]:
        return False
    for (_, op1, values1), (_, op2, values2) in ((a, b), (b, a)):
        if op1 == "In" and op2 == "In" and not values1 & values2:
            return True
        if op1 == "In" and op2 == "NotIn" and values1 <= values2:
            return True
        if op1 in ("In", "Exists") and op2 == "DoesNotExist":
            return True
    return False


def selectors_disjoint(first: Any, second: Any) -> bool:
    """True when no object's labels can match both selectors (decided per label key; conservative)."""
    return any(_conflicting(a, b) for a in _requirements(first) for b in _requirements(second))


def _landing_namespaces(rule: RawRule) -> frozenset[str] | None:
    """The virtual namespaces fromHost `rule` imports into, or None when that is any namespace: host.virtualNamespace,
    else the names of host.namespaces (an import keeps its namespace's name), else every namespace."""
    host = as_dict(rule.data.get("host"))
    landing = host.get("virtualNamespace")
    if isinstance(landing, str):
        return frozenset([landing])
    namespaces = [n for n in as_list(host.get("namespaces")) if isinstance(n, str)]
    return frozenset(namespaces) if namespaces else None


def namespaces_disjoint(to_host: RawRule, from_host: RawRule) -> bool:
    """True when the toHost rule exports only from virtual namespaces that the fromHost rule never imports into."""
    exported = frozenset(n for n in as_list(to_host.data.get("namespaces")) if isinstance(n, str))
    landing = _landing_namespaces(from_host)
    return bool(exported) and landing is not None and not exported & landing


def duplicate_problems(rules: Sequence[RawRule]) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[tuple[Direction, str, str], RawRule] = {}
    for rule in rules:
        key = (rule.direction, rule.group, rule.kind)
        earlier = first.setdefault(key, rule)
        if earlier is rule:
            continue
        group = rule.group or "the core group"
        problems.append(
            rule.problem(
                ("kind",),
                f"duplicate {rule.direction.value} rule for {rule.kind} ({group}): already defined at "
                f"{earlier.location}; write one rule per kind and direction (versions do not count)",
            )
        )
    return problems


def loop_problems(rules: Sequence[RawRule]) -> list[Problem]:
    """A kind in both directions, mode all in both, needs selections that cannot pick the same object.

    No object bounces whatever the selectors say: every copy carries crdsync's bookkeeping (stamped after every patch,
    so no patch removes it) and an object carrying it is never selected on either side (translate.selectors), so an
    import is never exported, a host copy never imported, and nothing is a copy of a copy. What the selections must
    still settle is which rule an object belongs to, so that one standing where an import lands is unambiguous: the
    selectors are provably disjoint by labels (selectors_disjoint), or the imports land only in virtual namespaces the
    toHost rule does not export from (namespaces_disjoint; the toHost rule lists its `namespaces`). Patches do not
    matter here: they change what a copy holds, never that it carries bookkeeping. (The engine adds that an import
    never takes the place of a tenant object the toHost rule exports, nor an export that of a host object the
    fromHost rule imports, whatever the conflict policies say.)
    """
    problems: list[Problem] = []
    to_host = {(r.group, r.kind): r for r in reversed(rules) if r.direction is Direction.TO_HOST and r.mode == "all"}
    reported: set[tuple[str, str]] = set()
    for rule in rules:
        key = (rule.group, rule.kind)
        if rule.direction is not Direction.FROM_HOST or rule.mode != "all" or key in reported or key not in to_host:
            continue
        other = to_host[key]
        if selectors_disjoint(other.data.get("selector"), rule.data.get("selector")) or namespaces_disjoint(
            other, rule
        ):
            continue
        reported.add(key)
        relative: FieldPath = ("mode",) if "mode" in rule.data else ("kind",)
        problems.append(
            rule.problem(
                relative,
                f"{rule.kind} is synced in both directions with mode: all (toHost rule at {other.location}), and "
                "nothing says which rule an object belongs to. Make one of the rules mode: referenced, give both "
                "selectors that no object can match at once (e.g. matchLabels {k: a} here and {k: b} there), or "
                "import into virtual namespaces the toHost rule does not export from (host.virtualNamespace here, "
                "namespaces there)",
            )
        )
    return problems
