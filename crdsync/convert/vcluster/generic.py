"""vcluster's own generic-sync sections: export -> a toHost rule, import -> a fromHost rule, hooks -> findings.

An import is written commented out when its kind is namespaced (vcluster imported from host namespaces it created
itself, which crdsync does not have); `_common` converts the fields both share (optional, replaceOnConflict).

Failure modes: malformed entries are findings; `InvalidEntry` (a selector vcluster could not parse) propagates to
`config`, which skips the entry.
"""

from __future__ import annotations

from typing import Any

from crdsync.convert.emit import scalar
from crdsync.convert.vcluster.context import Context, OutRule, RuleState, cluster_scoped, listed
from crdsync.convert.vcluster.entries import entry_type, to_host_rule, unknown_fields
from crdsync.convert.vcluster.patches import forward_patch
from crdsync.convert.vcluster.reverse import finish_status
from crdsync.spec.source import FieldPath


def _common(ctx: Context, entry: dict[str, Any], path: FieldPath, kind: str, rule: OutRule) -> None:
    if "optional" in entry:
        ctx.finding(
            (*path, "optional"),
            f"optional: {scalar(entry['optional'])} (whether vcluster failed to start without the CRD)",
            "nothing to do: crdsync waits for a missing kind and syncs it once its CRD appears",
            "note",
        )
    replace = entry.get("replaceOnConflict")
    if replace is not None and not isinstance(replace, bool):
        ctx.finding((*path, "replaceOnConflict"), "replaceOnConflict must be true or false",
                    "fix the config: vcluster rejected it")  # fmt: skip
    elif replace is True and rule.direction == "toHost":
        # vcluster deleted and recreated a copy the apiserver rejected as invalid (422); crdsync's field does the same
        # for copies it can prove are this tenant's, with a Normal Event `Replaced`.
        rule.body["replaceOnConflict"] = True
    elif replace is True:
        ctx.finding(
            (*path, "replaceOnConflict"),
            f"replaceOnConflict on an import: vcluster deleted and recreated a virtual {kind} copy the virtual "
            "apiserver rejected as invalid; crdsync replaces only host copies (toHost rules)",
            "such an update shows as a Warning Event on the imported copy; delete that copy by hand and crdsync "
            "imports the host object again",
        )


_EXPORT_FIELDS = {"apiVersion", "kind", "optional", "replaceOnConflict", "patches", "reversePatches", "selector"}


def export_entry(ctx: Context, entry: Any, path: FieldPath) -> None:
    type_ = entry_type(ctx, entry, path)
    if type_ is None:
        return
    assert isinstance(entry, dict)
    unknown_fields(ctx, entry, path, _EXPORT_FIELDS)
    state = to_host_rule(ctx, entry, path, type_, plugin=False)
    _common(ctx, entry, path, type_[1], state.rule)
    for index, patch in enumerate(listed(ctx, entry, "patches", path)):
        forward_patch(ctx, state, patch, (*path, "patches", index), "toHost", {}, "existing host copy")
    finish_status(ctx, state, listed(ctx, entry, "reversePatches", path), plugin=False)


def import_entry(ctx: Context, entry: Any, path: FieldPath) -> None:
    type_ = entry_type(ctx, entry, path)
    if type_ is None:
        return
    assert isinstance(entry, dict)
    unknown_fields(ctx, entry, path, _EXPORT_FIELDS - {"selector"})
    api_version, kind = type_
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    namespaced = not cluster_scoped(kind)
    if not namespaced:
        body["scope"] = "Cluster"
    rule = OutRule("fromHost", body, ctx.where(path), active=not namespaced)
    state = RuleState(rule, path)
    if namespaced:
        rule.comment += (
            "\nleft disabled: set host.namespaces (and host.virtualNamespace) to the host namespaces to import from, "
            "then enable"
        )
        ctx.finding(
            path,
            f"import of namespaced {kind}: vcluster imported (in multi-namespace mode only) from the host namespaces "
            "it created for virtual namespaces; crdsync has no such namespaces, and a rule without host.namespaces "
            "would import every host namespace's objects",
            "the rule is written commented out: set host.namespaces and host.virtualNamespace, then uncomment it",
        )
        if kind in ctx.exported:
            ctx.finding(
                path,
                f"{kind} is also exported; crdsync refuses one kind in both directions with mode all unless the "
                "selectors are disjoint (vcluster skipped objects its export made)",
                "give the import and the export disjoint selectors, or drop one",
            )
    else:
        ctx.finding(
            path,
            f"{kind} is assumed cluster-scoped (vcluster read the scope from the CRD)",
            "if it is namespaced, remove scope: Cluster and set host.namespaces",
            "note",
        )
    ctx.out.rules.append(rule)
    _common(ctx, entry, path, kind, rule)
    ctx.finding(
        path,
        "vcluster let tenants edit imported copies and deleted the host object when the tenant deleted its copy; "
        "crdsync keeps imports read-only and never deletes host objects through a fromHost rule",
        "set readOnly: false on the rule if tenants must edit their copies",
        "note",
    )
    for index, patch in enumerate(listed(ctx, entry, "patches", path)):
        forward_patch(ctx, state, patch, (*path, "patches", index), "toVirtual", {}, "existing virtual copy")
    for index, _patch in enumerate(listed(ctx, entry, "reversePatches", path)):
        ctx.finding(
            (*path, "reversePatches", index),
            "import reverse patches wrote the tenant's changes into the host object; crdsync never writes host "
            "objects of a fromHost rule",
            "let the tenant own the object (export it instead), or change the host object outside crdsync",
        )


def report_hooks(ctx: Context, hooks: Any, path: FieldPath) -> None:
    if hooks is None:
        return
    if not isinstance(hooks, dict):
        ctx.finding(path, "hooks must be a mapping", "fix the config: vcluster rejected it")
        return
    for direction in ("hostToVirtual", "virtualToHost"):
        items = hooks.get(direction)
        for index, hook in enumerate(items if isinstance(items, list) else []):
            what = ""
            if isinstance(hook, dict):
                what = f" for {hook.get('kind')} ({', '.join(str(v) for v in hook.get('verbs') or []) or 'all verbs'})"
            ctx.finding(
                (*path, direction, index),
                f"a vCluster Pro hook{what}: it patched requests of vcluster's own syncer, and only vCluster Pro ran "
                "it",
                "crdsync has no request hooks: express the patches in the patches of the crdsync rule for that kind",
            )
