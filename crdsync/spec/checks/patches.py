"""Checks of one rule's patches and of the `when` conditions of patches and references: a condition tests at most one
of empty, equal and notEqual (vcluster's semantics, where only the first counted); `keyStyle` renames every key itself
(no keyMap or keyPrefix beside it), only in patches.toHost of a toHost rule, and only with naming style vcluster.

Failure modes: none raised; values of the wrong type are skipped (the schema has reported them).
"""

from __future__ import annotations

from typing import Any

from crdsync.spec.checks.rules import RawRule, as_dict, as_list, iter_conditions
from crdsync.spec.model import Direction, NamingStyle
from crdsync.spec.source import FieldPath, Problem

_VCLUSTER_TESTS = ("empty", "equal", "notEqual")


def condition_problems(rule: RawRule, where: FieldPath, when: Any) -> list[Problem]:
    """The conditions of the `when` at `where` (relative to the rule) each test one thing."""
    problems: list[Problem] = []
    for relative, condition in iter_conditions(when):
        tests = [key for key in _VCLUSTER_TESTS if key in condition]
        if len(tests) > 1:
            # vcluster looked at the first of empty, equal, notEqual and ignored the rest; crdsync would test all,
            # so a converted or hand-written condition would silently mean something else.
            problems.append(
                rule.problem(
                    (*where, *relative, tests[1]),
                    f"one condition tests at most one of empty, equal and notEqual (here: {', '.join(tests)}); "
                    "write a list of conditions to test several",
                    at_key=True,
                )
            )
    return problems


def patch_problems(rule: RawRule) -> list[Problem]:
    problems: list[Problem] = []
    patches = as_dict(rule.data.get("patches"))
    for side in ("toHost", "toVirtual"):
        for j, patch in enumerate(as_list(patches.get(side))):
            patch = as_dict(patch)
            problems.extend(condition_problems(rule, ("patches", side, j, "when"), patch.get("when")))
            if "keyStyle" in patch:
                problems.extend(_key_style_problems(rule, side, ("patches", side, j, "keyStyle"), patch))
    return problems


def _key_style_problems(rule: RawRule, side: str, where: FieldPath, patch: dict[str, Any]) -> list[Problem]:
    if "keyMap" in patch or "keyPrefix" in patch:
        return [rule.problem(where, "keyStyle renames every key itself: remove keyMap and keyPrefix", at_key=True)]
    if side != "toHost" or rule.direction is not Direction.TO_HOST:
        return [
            rule.problem(
                where,
                "keyStyle gives host label keys (vcluster translated keys only on the way to the host); use it "
                "in patches.toHost of a toHost rule",
                at_key=True,
            )
        ]
    if as_dict(rule.data.get("naming")).get("style") != NamingStyle.VCLUSTER.value:
        return [
            rule.problem(
                where,
                "keyStyle reproduces the label keys vcluster's syncer gives its copies, which go with "
                "vcluster's names: set naming: {style: vcluster} on this rule (or rename keys with keyMap / "
                "keyPrefix)",
                at_key=True,
            )
        ]
    return []
