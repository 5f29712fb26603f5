"""Checks of one rule's `naming`: style hashed must leave room for the hash (hashLength + 2 <= maxLength, judged on
the model's defaults for an omitted length); style vcluster sets no lengths, since vcluster's names have a fixed shape.

Failure modes: none raised; a `naming` or a length of the wrong type is skipped (the schema has reported it).
"""

from __future__ import annotations

from typing import Any

from crdsync.spec.checks.rules import RawRule
from crdsync.spec.model import Naming, NamingStyle
from crdsync.spec.source import Problem

# The model's defaults, so a check of an omitted field judges what the loader will build.
DEFAULT_MAX_LENGTH = Naming().max_length
DEFAULT_HASH_LENGTH = Naming().hash_length


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def naming_problems(rule: RawRule) -> list[Problem]:
    naming = rule.data.get("naming")
    problems: list[Problem] = []
    if isinstance(naming, dict) and naming.get("style") == NamingStyle.VCLUSTER.value:
        # vcluster's names have a fixed shape (63 characters, 10 hex characters of hash): a length set here would be
        # silently ignored, and a reader would believe the hash guards tenants as in style hashed.
        for key in ("maxLength", "hashLength"):
            if key in naming:
                problems.append(
                    rule.problem(
                        ("naming", key),
                        f"{key} applies to naming style hashed only: style vcluster gives vcluster's names exactly "
                        "(at most 63 characters, 10 hex characters of hash); remove it",
                        at_key=True,
                    )
                )
    elif isinstance(naming, dict):
        max_length = naming.get("maxLength", DEFAULT_MAX_LENGTH)
        hash_length = naming.get("hashLength", DEFAULT_HASH_LENGTH)
        if _is_int(max_length) and _is_int(hash_length) and hash_length + 2 > max_length:
            where = ("naming", "hashLength") if "hashLength" in naming else ("naming", "maxLength")
            problems.append(
                rule.problem(
                    where,
                    f"hashLength {hash_length} does not fit in maxLength {max_length}: a host name needs at least one "
                    "readable character and '-' before the hash (hashLength + 2 <= maxLength)",
                )
            )
    return problems
