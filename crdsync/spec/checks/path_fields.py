"""Checks of the JSONPaths in one rule: every path compiles (each condition of a `when`, one mapping or a list, is
located on its own); status and observedGeneration paths stay under `$.status`; reverse paths are plain chains of map
fields under `$.spec` or one annotation (neither crdsync's nor kubectl's), and no reference or toHost patch of the
rule touches them (spec.paths.paths_overlap).

`reverse_path_problem` and `reverse_overlaps` are shared with the vcluster converter, which asks the same questions
before it writes a reverse path.

Failure modes: none raised; a value of the wrong type is skipped (the schema has reported it), and a path that does
not compile is reported once, never checked further.
"""

from __future__ import annotations

from typing import Any

from crdsync.spec.checks.rules import RawRule, as_dict, as_list, iter_path_fields
from crdsync.spec.paths import field_chain, is_under_status, path_error, paths_overlap
from crdsync.spec.source import FieldPath, Problem

# Annotation keys reverse paths may not write: crdsync's own (the tenant's copy of them is never trusted, and one
# written onto the virtual source would make it look like a copy, so no rule would select it any more), and kubectl's.
_RESERVED_ANNOTATION_PREFIX = "crdsync.io/"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def reverse_path_problem(value: str) -> str | None:
    """Why a (valid) reverse path is not one crdsync can write back without a loop or a leak, or None."""
    chain = field_chain(value)
    if chain is None:
        return (
            f"reverse path {value!r} must be a plain chain of field names (no wildcards, filters, list indices or "
            "'..'): server-side apply merges maps field by field, but a custom resource's lists are atomic, so a "
            "write into a list would replace the tenant's whole list"
        )
    if chain[0] == "spec" and len(chain) >= 2:
        return None
    if chain[:2] == ("metadata", "annotations") and len(chain) == 3:
        key = chain[2]
        if key.startswith(_RESERVED_ANNOTATION_PREFIX) or key == _LAST_APPLIED:
            return f"reverse path {value!r} names an annotation crdsync or kubectl reserves; pick another key"
        return None
    if chain[0] == "status":
        return f"reverse path {value!r} is under $.status: status flows back through `status.paths`"
    if chain[:2] == ("metadata", "labels"):
        return (
            f"reverse path {value!r} is a label: labels decide which rules select the object, so a host-owned "
            "label could make the tenant's object come and go; use an annotation"
        )
    return (
        f"reverse path {value!r} must be a field under $.spec (e.g. $.spec.assignedPort) or one annotation "
        "(e.g. $.metadata.annotations['example.com/endpoint'])"
    )


def reverse_overlaps(rule: dict[str, Any], value: str) -> list[tuple[FieldPath, str]]:
    """(relative field path, message) for each reference or toHost patch of `rule` that touches reverse path
    `value`: a host-owned value must never be read as a name (it would name a host object the tenant could not name)
    and never be set by crdsync (the host owns it; the forward translation leaves it out)."""
    found: list[tuple[FieldPath, str]] = []
    for k, ref in enumerate(as_list(rule.get("references"))):
        for key in ("path", "namespacePath"):
            other = as_dict(ref).get(key)
            if isinstance(other, str) and path_error(other) is None and paths_overlap(value, other):
                found.append(
                    (
                        ("references", k, key),
                        f"reference {key} {other!r} overlaps reverse path {value!r}: a value the host owns must never "
                        "be read as a name (it is a host name, and could name a host object the tenant cannot name)",
                    )
                )
    for j, patch in enumerate(as_list(as_dict(rule.get("patches")).get("toHost"))):
        other = as_dict(patch).get("path")
        if isinstance(other, str) and path_error(other) is None and paths_overlap(value, other):
            found.append(
                (
                    ("patches", "toHost", j, "path"),
                    f"patch path {other!r} overlaps reverse path {value!r}: the host owns that field, so crdsync "
                    "never sends it (the patch would have no effect)",
                )
            )
    return found


def path_problems(rule: RawRule) -> list[Problem]:
    """Every JSONPath of the rule compiles and stays where its field says it may reach."""
    problems: list[Problem] = []
    for relative, value in iter_path_fields(rule.data):
        if not isinstance(value, str):
            continue
        error = path_error(value)
        if error is not None:
            problems.append(rule.problem(relative, error))
        elif relative[:2] == ("status", "paths") and not is_under_status(value):
            problems.append(
                rule.problem(
                    relative, f"status path {value!r} is outside $.status: only status flows back, e.g. $.status"
                )
            )
        elif relative[:2] == ("reverse", "paths") and (reason := reverse_path_problem(value)) is not None:
            problems.append(rule.problem(relative, reason))
        elif relative[:2] == ("reverse", "paths"):
            problems.extend(rule.problem(where, message) for where, message in reverse_overlaps(rule.data, value))
        elif relative[:2] == ("status", "observedGenerationPaths") and not is_under_status(value):
            problems.append(
                rule.problem(
                    relative,
                    f"observedGeneration path {value!r} is outside $.status: only status flows back, e.g. "
                    "$.status.observedGeneration",
                )
            )
    return problems
