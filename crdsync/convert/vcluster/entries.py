"""Reading one export / import / mapping entry: its apiVersion and kind, unknown fields, its label selector, and the
toHost rule an export starts.

Failure modes: a malformed entry is a finding and converts to nothing; a label vcluster could not parse raises
`InvalidEntry` (vcluster never started that syncer), so nothing at all converts for the entry.
"""

from __future__ import annotations

import re
from typing import Any

from crdsync.convert.vcluster.context import (
    Context,
    InvalidEntry,
    OutRule,
    RuleState,
    get_path,
    nonempty_str,
    set_naming,
)
from crdsync.spec.source import FieldPath

_API_VERSION = re.compile(
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?v[0-9]+((alpha|beta)[0-9]+)?$"
)


_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")


_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def entry_type(ctx: Context, entry: Any, path: FieldPath) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        ctx.finding(path, "an entry must be a mapping with apiVersion and kind", "fix the config: vcluster rejected it")
        return None
    api_version, kind = nonempty_str(entry.get("apiVersion")), nonempty_str(entry.get("kind"))
    if api_version is None or kind is None:
        ctx.finding(path, "apiVersion and kind are required", "fix the config: vcluster rejected it")
        return None
    if not _API_VERSION.match(api_version) or not _KIND.match(kind):
        ctx.finding(path, f"{api_version} {kind} is not a valid apiVersion and kind", "fix the apiVersion or kind")
        return None
    return api_version, kind


def unknown_fields(ctx: Context, entry: dict[str, Any], path: FieldPath, allowed: set[str]) -> None:
    for key in sorted(set(entry) - allowed):
        ctx.finding((*path, key), f"unknown field {key}: vcluster's strict parsing rejected the config",
                    "remove it")  # fmt: skip


def labels_valid(entry: dict[str, Any]) -> bool:
    """False when the entry's labelSelector has a label vcluster could not parse (its syncer then never started)."""
    labels = get_path(entry, "selector", "labelSelector")
    if not isinstance(labels, dict):
        return True
    return all(_LABEL_KEY.match(str(k)) and _LABEL_VALUE.match(_label_value(v)) for k, v in labels.items())


def _label_value(value: Any) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def convert_selector(ctx: Context, entry: dict[str, Any], path: FieldPath, inverted: bool) -> dict[str, Any] | None:
    raw = entry.get("selector")
    if raw is None:
        return None
    unknown = sorted(set(raw) - {"labelSelector"}) if isinstance(raw, dict) else []
    labels = raw.get("labelSelector") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or unknown or not isinstance(labels, dict):
        ctx.finding((*path, "selector"), "selector takes only labelSelector (a map of labels)", "fix the selector")
        return None
    match = {str(k): _label_value(v) for k, v in labels.items()}
    bad = [f"{k}={v}" for k, v in match.items() if not _LABEL_KEY.match(k) or not _LABEL_VALUE.match(v)]
    if bad:
        ctx.finding((*path, "selector"), f"invalid label(s) {', '.join(bad)}: vcluster failed to start this syncer",
                    "nothing converted for this entry; fix the selector and convert again")  # fmt: skip
        raise InvalidEntry
    if not match:
        return None
    if not inverted:
        return {"matchLabels": match}
    # The plugin negated its selector: objects matching every label were left out.
    if len(match) == 1:
        ((key, value),) = match.items()
        ctx.finding(
            (*path, "selector"),
            "the plugin synced objects that do NOT match labelSelector (its objectMatches is negated); converted as "
            f"{key} NotIn [{value}]",
            f"if you meant to sync only objects labelled {key}={value}, write selector.matchLabels instead",
        )
        return {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}
    ctx.finding(
        (*path, "selector"),
        "the plugin synced objects that do NOT match all of these labels (its objectMatches is negated); a label "
        "selector cannot say 'not all of'",
        "write the selector you meant (matchLabels or matchExpressions) on the converted rule",
    )
    return None


def to_host_rule(
    ctx: Context, entry: dict[str, Any], path: FieldPath, type_: tuple[str, str], plugin: bool
) -> RuleState:
    api_version, kind = type_
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    selector = convert_selector(ctx, entry, path, inverted=plugin)
    if selector is not None:
        body["selector"] = selector
    set_naming(ctx, body)
    rule = OutRule("toHost", body, ctx.where(path))
    ctx.out.rules.append(rule)
    return RuleState(rule, path)
