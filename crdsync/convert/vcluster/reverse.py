"""Export reverse patches (host copy -> virtual object) -> status, toVirtual patches or host-owned reverse paths.

copyFromObject into status -> status (the whole status is crdsync's default) or a toVirtual copy; set/remove under
status -> toVirtual patches. vcluster also left every reverse-patched path out of the host copy (unless `ignore`, whose
meaning the plugin inverted) -> a toHost remove. Outside status, an unconditional copy of a host field into the same
field, left out of the host copy, is a host-owned field -> reverse.paths, when spec.checks accepts the path; any other
reverse write outside status is reported with the reason.

Failure modes: none raised; what does not carry over is a finding.
"""

from __future__ import annotations

from typing import Any

from crdsync.convert.emit import Commented, scalar, unwrap
from crdsync.convert.vcluster.conditions import conditions, jsonpath, under_status
from crdsync.convert.vcluster.context import Context, RuleState, nonempty_str
from crdsync.spec.checks.path_fields import reverse_overlaps, reverse_path_problem
from crdsync.spec.paths import path_error
from crdsync.spec.source import FieldPath


def reverse_patches(ctx: Context, state: RuleState, patches: list[Any], path: FieldPath) -> bool:
    """Export reverse patches (host copy -> virtual object). Returns True when one copies the whole status back.

    Outside status, a copy of a host field into the same field (copyFromObject without fromPath, or with the same
    one), unconditional and left out of the host copy as vcluster did, is a host-owned field: reverse.paths when
    crdsync accepts the path (`_host_owned`); every other reverse write outside status is reported with the reason."""
    whole_status = False
    status_paths: list[str] = []
    host_owned: list[tuple[str, FieldPath]] = []
    for index, patch in enumerate(patches):
        ppath = (*path, index)
        if not isinstance(patch, dict):
            ctx.finding(ppath, "a patch must be a mapping", "fix the config: vcluster rejected it")
            continue
        op, raw = patch.get("op"), nonempty_str(patch.get("path"))
        if raw is None:
            continue
        target = jsonpath(raw)
        error = path_error(target)
        if error is not None:
            ctx.finding(ppath, f"path {target!r}: {error}", "rewrite the path as JSONPath")
            continue
        ignore = patch.get("ignore")
        # vcluster left reverse-patched paths out of the host copy unless ignore: true; the plugin unless ignore: false.
        keep_forward = ignore is True if ctx.source.format == "generic" else ignore is False
        when, never, problem = conditions(patch.get("conditions"))
        outside = not under_status(target)
        not_owned: tuple[str, str] | None = None
        if outside and problem is None and not never:
            not_owned = _not_host_owned(patch, target, when, keep_forward)
            if not_owned is None:
                host_owned.append((target, ppath))
                continue
        if outside and not keep_forward:
            _leave_out(ctx, state, target, ppath)
        if problem is not None or never:
            ctx.finding((*ppath, "conditions"), problem or "a condition that never held", "write the when by hand")
            continue
        if not_owned is not None:
            ctx.finding(ppath, *not_owned)
            continue
        if op == "copyFromObject" and jsonpath(nonempty_str(patch.get("fromPath")) or raw) == target and not when:
            if target == "$.status":
                whole_status = True
            else:
                status_paths.append(target)
            continue
        item = _to_virtual(ctx, patch, target, ppath)
        if item is None:
            continue
        if when:
            item["when"] = when
        state.rule.add("patches", item, ctx.where(ppath) + f" {op}", sub="toVirtual")
    _host_owned(ctx, state, host_owned)
    if status_paths and not whole_status and ctx.source.format == "plugin":
        state.rule.body["status"] = {"paths": status_paths}
    return whole_status or bool(status_paths)


def _to_virtual(ctx: Context, patch: dict[str, Any], target: str, ppath: FieldPath) -> dict[str, Any] | None:
    """A reverse patch under status other than a plain copy of the same field, as a toVirtual patch; None for an op
    that translated names (reported)."""
    op = patch.get("op")
    if op == "copyFromObject":
        source = jsonpath(nonempty_str(patch.get("fromPath")) or str(patch["path"]))
        return {"op": "copy", "path": target, "from": source}
    if op == "remove":
        return {"op": "remove", "path": target}
    if op in ("add", "replace"):
        return {"op": op, "path": target, "value": patch.get("value")}
    ctx.finding(ppath, f"reverse {op}: vcluster could not translate names from host to virtual here",
                "nothing converted; remove the patch")  # fmt: skip
    return None


def _leave_out(ctx: Context, state: RuleState, target: str, ppath: FieldPath) -> None:
    """vcluster left a reverse-patched path out of the host copy: a toHost remove."""
    comment = ctx.where(ppath) + " flows back, so vcluster left it out of the host copy"
    state.rule.add("patches", {"op": "remove", "path": target}, comment, sub="toHost")


def _not_host_owned(
    patch: dict[str, Any], target: str, when: list[dict[str, Any]], keep_forward: bool
) -> tuple[str, str] | None:
    """(reason, what to do instead) when a reverse patch outside status is not a host-owned field crdsync can copy
    back (reverse.paths), or None when it is one as far as the patch itself says (the rule is checked later)."""
    op = patch.get("op")
    by_hand = "if the host owns the field, list it in the rule's reverse.paths by hand"
    if op != "copyFromObject":
        return (
            f"reverse {op} of {target}: outside status crdsync only copies host-owned fields back as they are "
            "(reverse.paths)",
            f"{by_hand}; otherwise let the tenant read the value from the host copy's status",
        )
    source = jsonpath(nonempty_str(patch.get("fromPath")) or str(patch.get("path")))
    if source != target:
        return (
            f"reverse copy of {source} into {target}: crdsync's reverse paths copy a host-owned field back into the "
            "same field",
            f"{by_hand}, or copy {source} into a status field (status flows back)",
        )
    if when:
        return (
            f"reverse copy of {target} under conditions: crdsync copies host-owned fields back always",
            f"{by_hand} if the condition may go",
        )
    if keep_forward:
        return (
            f"reverse copy of {target} with ignore: {scalar(patch.get('ignore'))}: vcluster also sent the tenant's "
            "value to the host (the field went both ways); crdsync's reverse paths are host-owned: the tenant's "
            "value is never sent and its edits are reverted",
            f"{by_hand}; otherwise drop the reverse patch (the tenant's value is sent to the host)",
        )
    reason = reverse_path_problem(target)
    if reason is not None:
        return (
            f"reverse copy of {target}: {reason}",
            "let the tenant read the value from the host copy's status, or write the field back another way",
        )
    return None


def _at_or_below(path: Any, target: str) -> bool:
    return isinstance(path, str) and (path == target or path.startswith((f"{target}.", f"{target}[")))


def _host_owned(ctx: Context, state: RuleState, found: list[tuple[str, FieldPath]]) -> None:
    """Host-owned fields -> the rule's reverse.paths, unless a reference or toHost patch of the rule touches them.

    crdsync never sends a reverse path to the host, so vcluster's removal of the field from the host copy is implied,
    and any other toHost remove at or below it is moot (dropped, noted). A field a reference reads (a name) or a
    toHost patch writes cannot be host-owned (spec.checks): reported, and left out of the host copy as vcluster did."""
    rule = state.rule
    for target, ppath in found:
        patches: dict[str, Any] = rule.body.get("patches", {})
        forward: list[Any] = patches.get("toHost", [])
        moot = [p for p in forward if _plain(p).get("op") == "remove" and _at_or_below(_plain(p).get("path"), target)]
        kept = [p for p in forward if all(p is not m for m in moot)]
        clashes = reverse_overlaps(unwrap({**rule.body, "patches": {**patches, "toHost": kept}}), target)
        if clashes:
            ctx.finding(
                ppath,
                f"reverse copy of {target} as a host-owned field (reverse.paths): "
                + "; ".join(message for _, message in clashes),
                "drop the reference or patch of that field, or let the tenant read the value from the host copy's "
                "status",
            )
            _leave_out(ctx, state, target, ppath)
            continue
        for item in moot:
            comment = item.comment.splitlines()[0] if isinstance(item, Commented) else ""
            ctx.finding(
                ppath,
                f"a toHost remove of {_plain(item).get('path')} ({comment}) is moot: crdsync never sends the "
                f"host-owned field {target} to the host",
                "nothing to do: it is dropped",
                "note",
            )
        if moot:
            if kept:
                patches["toHost"] = kept
            else:
                patches.pop("toHost")
                if not patches:
                    rule.body.pop("patches")
        rule.add("reverse", target, ctx.where(ppath) + " copyFromObject: host-owned, flows back", sub="paths")


def _plain(item: Any) -> dict[str, Any]:
    value = item.value if isinstance(item, Commented) else item
    return value if isinstance(value, dict) else {}


def finish_status(ctx: Context, state: RuleState, reverse: list[Any], plugin: bool) -> None:
    copies_status = reverse_patches(ctx, state, reverse, (*state.path, "reversePatches"))
    if plugin and not copies_status:
        # The plugin had no implicit status copy: status came back only through a reverse patch.
        state.rule.body["status"] = {"sync": False}
