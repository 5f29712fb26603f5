"""The generic-sync plugin's mappings: fromVirtualCluster -> a toHost rule (its selector negated, as the plugin's
was), syncBack -> follow: fromHost references and mode-referenced fromHost rules, fromHostCluster (declared, never
run by the plugin) -> a fromHost rule written commented out.

Failure modes: malformed entries are findings; `InvalidEntry` (a selector vcluster could not parse) propagates to
`config`, which skips the entry.
"""

from __future__ import annotations

from typing import Any

from crdsync.convert.vcluster.conditions import jsonpath
from crdsync.convert.vcluster.context import (
    Context,
    OutRule,
    RuleState,
    cluster_scoped,
    get_path,
    listed,
    nonempty_str,
    set_naming,
)
from crdsync.convert.vcluster.entries import convert_selector, entry_type, to_host_rule, unknown_fields
from crdsync.convert.vcluster.patches import forward_patch
from crdsync.convert.vcluster.reverse import finish_status
from crdsync.spec.source import FieldPath

_PLUGIN_FIELDS = {"apiVersion", "kind", "id", "patches", "reversePatches", "selector", "syncBack"}


def _syncback(
    ctx: Context, parent: RuleState, items: list[Any], path: FieldPath, rewritten: set[str]
) -> dict[str, tuple[str, str]]:
    """Plugin syncBack entries -> fromHost mode-referenced rules; returns rewrittenPath -> (kind, apiVersion)."""
    kinds: dict[str, tuple[str, str]] = {}
    for index, item in enumerate(items):
        ipath = (*path, index)
        type_ = entry_type(ctx, item, ipath)
        if type_ is None:
            continue
        assert isinstance(item, dict)
        unknown_fields(ctx, item, ipath, {"apiVersion", "kind", "id", "patches", "reversePatches", "selectors"})
        api_version, kind = type_
        selectors = item.get("selectors")
        for sindex, selector in enumerate(selectors if isinstance(selectors, list) else []):
            spath = (*ipath, "selectors", sindex)
            raw = get_path(selector, "name", "rewrittenPath")
            if not isinstance(raw, str) or not raw:
                ctx.finding(spath, "only name.rewrittenPath selectors ever selected anything in the plugin",
                            "remove the selector")  # fmt: skip
                continue
            target = jsonpath(raw)
            if target not in rewritten:
                ctx.finding(
                    spath,
                    f"syncBack of the {kind} named at {target}, which no rewriteName of the parent rewrites (the host "
                    "object carries the virtual name there, or metadata.name)",
                    "crdsync imports objects named by references only: add a rewriteName of that path, or write "
                    "the fromHost rule by hand",
                )
                continue
            kinds[target] = (kind, api_version)
        rule_key = ("fromHost", api_version.rpartition("/")[0], kind)
        rule = next((r for r in ctx.out.rules if r.key == rule_key), None)
        if rule is None:
            body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "mode": "referenced"}
            set_naming(ctx, body)
            rule = OutRule("fromHost", body, ctx.where(ipath) + " syncBack: imported while the parent names it")
            ctx.out.rules.append(rule)
        state = RuleState(rule, ipath)
        back_kinds = {"__syncback__": ("", "")}
        parent_kinds = {parent.rule.body["kind"]: parent.rule.body["apiVersion"]}
        saved = ctx.exported
        ctx.exported = {**saved, **parent_kinds}
        for pindex, patch in enumerate(listed(ctx, item, "patches", ipath)):
            forward_patch(ctx, state, patch, (*ipath, "patches", pindex), "toVirtual", back_kinds,
                           "existing virtual copy")  # fmt: skip
        ctx.exported = saved
        for pindex, _patch in enumerate(listed(ctx, item, "reversePatches", ipath)):
            ctx.finding(
                (*ipath, "reversePatches", pindex),
                f"syncBack reverse patches wrote tenant changes into the host {kind}; crdsync keeps imported copies "
                "read-only and never writes them to the host",
                "let the host operator own the object",
            )
        if "id" in item:
            ctx.finding((*ipath, "id"), "id named the plugin's controller", "nothing to do: crdsync's bookkeeping "
                        "identifies its copies", "note")  # fmt: skip
    return kinds


def _rewritten_paths(entry: dict[str, Any]) -> set[str]:
    patches = entry.get("patches")
    out: set[str] = set()
    for patch in patches if isinstance(patches, list) else []:
        if isinstance(patch, dict) and patch.get("op") == "rewriteName" and nonempty_str(patch.get("path")):
            out.add(jsonpath(str(patch["path"])))
    return out


def from_virtual_cluster(ctx: Context, entry: Any, path: FieldPath) -> None:
    type_ = entry_type(ctx, entry, path)
    if type_ is None:
        return
    assert isinstance(entry, dict)
    unknown_fields(ctx, entry, path, _PLUGIN_FIELDS)
    state = to_host_rule(ctx, entry, path, type_, plugin=True)
    if "id" in entry:
        ctx.finding((*path, "id"), "id named the plugin's controller", "nothing to do: crdsync's bookkeeping "
                    "identifies its copies", "note")  # fmt: skip
    syncback_kinds = _syncback(ctx, state, listed(ctx, entry, "syncBack", path), (*path, "syncBack"),
                               _rewritten_paths(entry))  # fmt: skip
    for index, patch in enumerate(listed(ctx, entry, "patches", path)):
        forward_patch(ctx, state, patch, (*path, "patches", index), "toHost", syncback_kinds, "existing host copy")
    finish_status(ctx, state, listed(ctx, entry, "reversePatches", path), plugin=True)


def from_host_cluster(ctx: Context, entry: Any, path: FieldPath) -> None:
    type_ = entry_type(ctx, entry, path)
    if type_ is None:
        return
    assert isinstance(entry, dict)
    api_version, kind = type_
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    if cluster_scoped(kind):
        body["scope"] = "Cluster"
    selector = convert_selector(ctx, entry, path, inverted=False)
    if selector is not None:
        body["selector"] = selector
    namespace = get_path(entry, "nameMapping", "namespace")
    if isinstance(namespace, str) and namespace:
        body["host"] = {"virtualNamespace": namespace}
    rule = OutRule("fromHost", body, ctx.where(path) + "\nleft disabled: the plugin never ran fromHostCluster",
                   active=False)  # fmt: skip
    ctx.out.rules.append(rule)
    ctx.finding(
        path,
        "fromHostCluster was declared by the plugin but never run (validate.go requires fromVirtualCluster, main.go "
        "starts only fromVirtualCluster syncers)",
        "the rule is written commented out; enable it (with host.namespaces for a namespaced kind) only if you want "
        "these host objects imported now",
    )
