"""vcluster (yaml-jsonpath) paths and patch conditions as crdsync's.

A path becomes a JSONPath rooted at `$` (`jsonpath`) or at a match (`relative`). A condition converts as it is
(crdsync's equal / notEqual / empty / subPath are vcluster's), with the two exceptions `_condition` names. Failure
modes: none raised; a condition crdsync cannot express is returned as a problem for the caller to report.
"""

from __future__ import annotations

from typing import Any

from crdsync.spec.paths import path_error


def jsonpath(path: str) -> str:
    """A vcluster (yaml-jsonpath) path as crdsync's JSONPath rooted at `$`: `spec.x` and `.spec.x` -> `$.spec.x`."""
    path = path.strip()
    if path.startswith("$"):
        return path
    if path.startswith(".") or path.startswith("["):
        return "$" + path
    return "$." + path


def relative(path: str) -> str:
    """A path relative to a match (namePath, subPath): `name`, `.name` or `$.name` -> `.name` (or `['k']`)."""
    path = path.strip()
    if path.startswith("$"):
        path = path[1:]
    if path.startswith(".") or path.startswith("["):
        return path
    return "." + path


def under_status(path: str) -> bool:
    return path == "$.status" or path.startswith("$.status.") or path.startswith("$.status[")


def _condition(raw: Any) -> tuple[dict[str, Any] | None, bool, str | None]:
    """One vcluster condition -> (crdsync condition or None when it always holds, never-holds flag, problem).

    crdsync's equal / notEqual / empty / subPath are vcluster's (pkg/patches/conditions.go), so a condition converts
    as it is, with two exceptions taken from vcluster's code: a non-string operand was compared through its YAML text,
    which ends in a newline, so `equal: 3` never held and `notEqual: 3` always held; and of several tests only the
    first of empty, equal, notEqual counted (a missing path held when empty: true or notEqual was set at all).
    """
    if not isinstance(raw, dict):
        return None, False, "a condition must be a mapping with path/subPath and equal, notEqual or empty"
    unknown = sorted(set(raw) - {"path", "subPath", "equal", "notEqual", "empty"})
    if unknown:
        return None, False, f"unknown condition field(s) {', '.join(unknown)}: vcluster rejected the config"
    empty, equal, not_equal = raw.get("empty"), raw.get("equal"), raw.get("notEqual")
    if empty is not None and not isinstance(empty, bool):
        return None, False, "empty must be true or false"
    sub, path = raw.get("subPath"), raw.get("path")
    missing_holds = empty is True or not_equal is not None
    if isinstance(sub, str) and sub:
        key, target = "subPath", "$" + relative(sub)
    elif isinstance(path, str) and path:
        key, target = "path", jsonpath(path)
    else:
        return None, not missing_holds, None  # no path: no match
    error = path_error(target)
    if error is not None:
        return None, False, f"condition {key} {target!r}: {error}"
    cond: dict[str, Any] = {key: target}
    if empty is not None:
        if empty is False and not_equal is not None:
            return None, False, "empty: false with notEqual: vcluster held on a missing path, empty: false does not"
        cond["empty"] = empty
    elif equal is not None:
        if not isinstance(equal, str):
            return None, True, None
        cond["equal"] = equal
    elif not_equal is not None:
        if not isinstance(not_equal, str):
            return None, False, None
        cond["notEqual"] = not_equal
    else:
        return None, True, None
    return cond, False, None


def conditions(raw: Any) -> tuple[list[dict[str, Any]], bool, str | None]:
    """A patch's vcluster conditions -> (crdsync `when` list, never-holds flag, problem)."""
    if raw is None:
        return [], False, None
    if not isinstance(raw, list):
        return [], False, "conditions must be a list"
    when: list[dict[str, Any]] = []
    for item in raw:
        cond, never, problem = _condition(item)
        if problem is not None:
            return [], False, problem
        if never:
            return [], True, None
        if cond is not None:
            when.append(cond)
    return when, False, None
