"""Checks of references. Within one rule: a `format` parses back unambiguously ($NAME once, $NAMESPACE at most once,
something between them a namespace cannot hold) and each `when` tests one thing per condition. Across all rules:
every reference names a kind that some rule syncs in its `follow` direction, with that rule's version; an omitted
apiVersion resolves to exactly one version (`candidate_api_versions`, which the builder uses to fill it in); a
follow: fromHost reference needs a mode: referenced rule, since a mode-all import keeps host names.

`format_problem` is shared with the translate layer and the vcluster converter.

Failure modes: none raised; a reference of the wrong shape, or with a malformed kind, apiVersion or follow, is
skipped (the schema has reported it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from crdsync.spec.checks.patches import condition_problems
from crdsync.spec.checks.rules import RawRule, as_dict, as_list, valid_api_version, valid_kind
from crdsync.spec.model import Direction, FollowDirection
from crdsync.spec.source import Problem

_FORMAT_TOKEN = re.compile(r"\$(NAMESPACE|NAME)")
# Characters a namespace can hold (a DNS label): the text between $NAME and $NAMESPACE needs one outside them.
_NAMESPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def format_problem(fmt: str) -> str | None:
    """Why a reference `format` cannot be parsed back unambiguously, or None when it is fine."""
    tokens = _FORMAT_TOKEN.findall(fmt)
    if tokens.count("NAME") != 1:
        return "a format needs $NAME exactly once, e.g. $NAME.$NAMESPACE.svc or $NAMESPACE/$NAME"
    if tokens.count("NAMESPACE") > 1:
        return "a format may hold $NAMESPACE at most once"
    literal = _FORMAT_TOKEN.split(fmt)[::2]  # the text around the tokens
    if any("$" in part for part in literal):
        return "a format holds only $NAME and $NAMESPACE as placeholders; other '$' cannot be told from them"
    if len(tokens) == 2 and not set(literal[1]) - _NAMESPACE_CHARS:
        return (
            f"the text between ${tokens[0]} and ${tokens[1]} ({literal[1]!r}) must hold a character a namespace cannot "
            "(e.g. '.' or '/'), or a value could be split in more than one way"
        )
    return None


def reference_rule_problems(rule: RawRule) -> list[Problem]:
    """The checks of one rule's references that need no other rule."""
    problems: list[Problem] = []
    for k, ref in enumerate(as_list(rule.data.get("references"))):
        ref = as_dict(ref)
        problems.extend(condition_problems(rule, ("references", k, "when"), ref.get("when")))
        fmt = ref.get("format")
        if isinstance(fmt, str):
            reason = format_problem(fmt)
            if reason is not None:
                problems.append(rule.problem(("references", k, "format"), reason))
    return problems


_FOLLOW_DIRECTIONS: dict[str, tuple[Direction, ...]] = {
    FollowDirection.TO_HOST.value: (Direction.TO_HOST,),
    FollowDirection.FROM_HOST.value: (Direction.FROM_HOST,),
    FollowDirection.NONE.value: (Direction.TO_HOST, Direction.FROM_HOST),
}


def candidate_api_versions(rules: Sequence[RawRule], kind: str, follow: str) -> list[str]:
    """Distinct apiVersions of the rules for `kind` (any group) a reference with this `follow` may resolve to."""
    directions = _FOLLOW_DIRECTIONS.get(follow, ())
    versions: list[str] = []
    for rule in rules:
        if rule.direction in directions and rule.kind == kind and rule.api_version not in versions:
            versions.append(rule.api_version)
    return versions


def _where(follow: str) -> str:
    return {"toHost": "toHost", "fromHost": "fromHost"}.get(follow, "toHost or fromHost")


def reference_problems(rules: Sequence[RawRule]) -> list[Problem]:
    """Every reference of every rule names a kind and version some rule syncs in its follow direction."""
    problems: list[Problem] = []
    for rule in rules:
        for k, ref in enumerate(as_list(rule.data.get("references"))):
            if not isinstance(ref, dict) or not valid_kind(ref.get("kind")):
                continue
            follow = ref.get("follow", "none")
            if not isinstance(follow, str) or follow not in _FOLLOW_DIRECTIONS:
                continue
            if "apiVersion" not in ref:
                problem = _omitted_version_problem(rules, rule, k, str(ref["kind"]), follow)
            else:
                problem = _named_version_problem(rules, rule, k, ref, follow)
            if problem is not None:
                problems.append(problem)
    return problems


def _omitted_version_problem(rules: Sequence[RawRule], rule: RawRule, k: int, kind: str, follow: str) -> Problem | None:
    """An omitted apiVersion resolves when exactly one rule version of the kind is in the follow direction."""
    versions = candidate_api_versions(rules, kind, follow)
    if len(versions) == 1:
        return None
    if not versions:
        message = (
            f"apiVersion omitted, and no {_where(follow)} rule has kind {kind} to take it from: add a "
            f"{_where(follow)} rule for {kind}"
            + (" (usually mode: referenced)" if follow != "none" else "")
            + " or fix the kind"
        )
    else:
        message = (
            f"apiVersion omitted, but rules for kind {kind} use several: {', '.join(versions)}; write the "
            "one this reference names"
        )
    # The key is absent, so this locates at the reference mapping, where it should be added.
    return rule.problem(("references", k, "apiVersion"), message)


def _named_version_problem(
    rules: Sequence[RawRule], rule: RawRule, k: int, ref: dict[str, Any], follow: str
) -> Problem | None:
    api_version = ref["apiVersion"]
    if not valid_api_version(api_version):
        return None
    kind = str(ref["kind"])
    directions = _FOLLOW_DIRECTIONS[follow]
    group = str(api_version).rpartition("/")[0]
    same_kind = [r for r in rules if r.direction in directions and r.group == group and r.kind == kind]
    if not same_kind:
        if follow == "none":
            message = (
                f"no rule syncs {kind} ({api_version}): a follow: none reference only renames by that kind's "
                f"own rule; add a rule for {kind}, or follow: toHost / fromHost with a mode: referenced rule"
            )
        else:
            verb = "export" if follow == "toHost" else "import"
            message = (
                f"no {follow} rule for {kind} ({api_version}): a follow: {follow} reference needs one to "
                f"{verb} the named object; add {{apiVersion: {api_version}, kind: {kind}, mode: referenced}} "
                f"under spec.{follow}"
            )
        return rule.problem(("references", k, "kind"), message)
    if follow == "fromHost" and not any(r.mode == "referenced" for r in same_kind):
        # A fromHost rule in mode all keeps host names, so an import by reference would hand the tenant any
        # host object of the kind it can name, not one made for it.
        other = same_kind[0]
        return rule.problem(
            ("references", k, "follow"),
            f"{kind} is imported by the mode-all rule at {other.location}, which keeps host names: a "
            f"follow: fromHost reference would import whatever host {kind} a tenant names; use follow: "
            "none (the name is checked against what that rule shares) or a mode: referenced rule",
        )
    if not any(r.api_version == api_version for r in same_kind):
        other = same_kind[0]
        return rule.problem(
            ("references", k, "apiVersion"),
            f"{kind} is synced as {other.api_version} by the rule at {other.location}, but this reference "
            f"says {api_version}: use the rule's version",
        )
    return None
