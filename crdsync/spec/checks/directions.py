"""Checks that a rule uses only the fields of its direction and mode: `host`, `readOnly` and `deletion.finalizer`,
`status`, `reverse`, `replaceOnConflict`, virtual namespace selection and `patches.toHost` each make sense in one
direction; `host` only with `mode: all`, `naming` only for renamed objects, `reverse` only for toHost mode all. A field
used where it would silently do nothing is reported at its key.

Failure modes: none raised; values of the wrong type are skipped (the schema has reported them).
"""

from __future__ import annotations

from crdsync.spec.checks.rules import RawRule, as_list
from crdsync.spec.model import Direction
from crdsync.spec.source import Problem


def direction_problems(rule: RawRule) -> list[Problem]:
    if rule.direction is Direction.TO_HOST:
        return _to_host_problems(rule)
    return _from_host_problems(rule)


def _to_host_problems(rule: RawRule) -> list[Problem]:
    data = rule.data
    problems: list[Problem] = []
    if data.get("mode", "all") == "referenced" and "reverse" in data:
        problems.append(
            rule.problem(
                ("reverse",),
                "reverse applies to mode: all only: an exported follower is the tenant's object named by another, "
                "and nothing flows back onto it (neither status nor host-owned fields)",
                at_key=True,
            )
        )
    if "host" in data:
        problems.append(
            rule.problem(
                ("host",),
                "host applies to fromHost rules only (which host objects to import); a toHost rule picks virtual "
                "objects with selector, namespaceSelector and namespaces",
                at_key=True,
            )
        )
    if "readOnly" in data:
        problems.append(
            rule.problem(
                ("readOnly",),
                "readOnly applies to fromHost rules only (imported copies); a toHost rule always converges the "
                "host copy to the virtual object",
                at_key=True,
            )
        )
    return problems


def _from_host_problems(rule: RawRule) -> list[Problem]:
    data = rule.data
    problems: list[Problem] = []
    deletion = data.get("deletion")
    if isinstance(deletion, dict) and deletion.get("finalizer") is True:
        problems.append(
            rule.problem(
                ("deletion", "finalizer"),
                "finalizer applies to toHost rules only (it holds the virtual object until its host copy is "
                "gone); remove it from this fromHost rule",
            )
        )
    for key in ("reverse", "replaceOnConflict"):
        if key in data:
            problems.append(
                rule.problem(
                    (key,),
                    f"{key} applies to toHost rules only (host copies of tenant objects); a fromHost rule "
                    "writes only into the virtual cluster",
                    at_key=True,
                )
            )
    if "status" in data:
        problems.append(
            rule.problem(
                ("status",),
                "status applies to toHost rules only; a fromHost rule imports the whole host object, status "
                "included (use patches.toVirtual to drop parts)",
                at_key=True,
            )
        )
    for key in ("namespaceSelector", "namespaces"):
        if key in data:
            problems.append(
                rule.problem(
                    (key,),
                    f"{key} selects virtual namespaces for toHost rules; a fromHost rule picks host objects with "
                    "selector and host.namespaces",
                    at_key=True,
                )
            )
    problems.extend(_from_host_inert_problems(rule))
    return problems


def _from_host_inert_problems(rule: RawRule) -> list[Problem]:
    data = rule.data
    mode = data.get("mode", "all")
    problems: list[Problem] = []
    patches = data.get("patches")
    if isinstance(patches, dict) and as_list(patches.get("toHost")):
        problems.append(
            rule.problem(
                ("patches", "toHost"),
                "a fromHost rule never writes to the host, so patches.toHost would never apply; use patches.toVirtual",
                at_key=True,
            )
        )
    if mode == "referenced" and "host" in data:
        problems.append(
            rule.problem(
                ("host",),
                "host applies to mode: all only; a mode: referenced rule imports exactly the objects its "
                "references name",
                at_key=True,
            )
        )
    if mode == "all" and "naming" in data:
        problems.append(
            rule.problem(
                ("naming",),
                "a fromHost rule with mode: all keeps host names, so naming would never apply; naming is for "
                "toHost and mode: referenced rules",
                at_key=True,
            )
        )
    return problems
