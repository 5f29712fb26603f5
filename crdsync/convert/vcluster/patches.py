"""Forward patches (applied on the way the rule writes: toHost for exports, toVirtual for imports and syncBack) ->
crdsync patches: remove, add and replace as they are, rewriteName -> references, the label-key ops -> crdsync's with
the keyStyle of the vcluster version the config ran on, copyFromObject reported (it read the existing copy).

Failure modes: none raised; a patch vcluster rejected or crdsync cannot express is a finding and converts to nothing.
"""

from __future__ import annotations

from typing import Any

from crdsync.convert.vcluster.conditions import conditions, jsonpath
from crdsync.convert.vcluster.context import Context, RuleState, nonempty_str
from crdsync.convert.vcluster.references import rewrite_name
from crdsync.spec.paths import path_error
from crdsync.spec.source import FieldPath


def forward_patch(
    ctx: Context,
    state: RuleState,
    patch: Any,
    path: FieldPath,
    section: str,
    syncback_kinds: dict[str, tuple[str, str]],
    from_other: str,
) -> None:
    """A vcluster patch applied on the way the rule writes (toHost for exports, toVirtual for imports/syncBack)."""
    checked = _checked(ctx, patch, path)
    if checked is None:
        return
    op, target, when = checked
    origin = ctx.where(path)
    direction = "toHost" if section == "toHost" else "toVirtual"
    if op == "remove":
        item: dict[str, Any] | None = {"op": "remove", "path": target}
    elif op in ("replace", "add"):
        # crdsync's add and replace are vcluster's (merge into maps, append to lists, create where missing; replace
        # only existing matches).
        item = {"op": op, "path": target, "value": patch.get("value")}
    elif op == "copyFromObject":
        ctx.finding(
            path,
            f"copyFromObject here copied from the {from_other}, crdsync's copy reads the source object",
            "to keep a value the other side owns, remove the field from the copy ({op: remove}) so server-side "
            "apply leaves it alone; otherwise copy it in a patch of the other direction",
        )
        return
    elif op == "rewriteName":
        if section == "toVirtual" and state.rule.direction == "fromHost" and not syncback_kinds.get("__syncback__"):
            ctx.finding(path, "rewriteName in an import kept names as they are (vcluster's import resolver is the "
                        "identity for names)", "nothing to do", "note")  # fmt: skip
            return
        rewrite_name(ctx, state, patch, path, when, syncback_kinds, back=section == "toVirtual")
        return
    else:
        item = _label_op(ctx, op, target, section, path)
    if item is None:
        return
    if when:
        item["when"] = when
    state.rule.add("patches", item, f"{origin} {op}", sub=direction)


_KNOWN_OPS = frozenset(
    {
        "copyFromObject", "add", "replace", "remove", "rewriteName", "rewriteLabelKey", "rewriteLabelSelector",
        "rewriteLabelExpressionsSelector",
    }
)  # fmt: skip


def _checked(ctx: Context, patch: Any, path: FieldPath) -> tuple[str, str, list[dict[str, Any]]] | None:
    """(op, target JSONPath, crdsync `when`) of a patch vcluster ran and crdsync can read, or None (reported)."""
    if not isinstance(patch, dict):
        ctx.finding(path, "a patch must be a mapping", "fix the config: vcluster rejected it")
        return None
    op, raw_path = patch.get("op"), nonempty_str(patch.get("path"))
    if op not in _KNOWN_OPS:
        ctx.finding(path, f"unknown patch op {op!r}: vcluster rejected the config", "remove or fix the patch")
        return None
    if raw_path is None:
        ctx.finding(path, f"{op} without a path does nothing", "nothing to do", "note")
        return None
    if op in ("add", "replace", "remove") and patch.get("fromPath"):
        ctx.finding(path, f"fromPath on {op}: vcluster rejected the config", "remove fromPath")
        return None
    target = jsonpath(raw_path)
    error = path_error(target)
    if error is not None:
        ctx.finding(path, f"path {target!r}: {error}", "rewrite the path as JSONPath")
        return None
    when, never, problem = conditions(patch.get("conditions"))
    if problem is not None:
        ctx.finding((*path, "conditions"), problem, "write the patch's when by hand")
        return None
    if never:
        ctx.finding(path, "a condition without equal, notEqual or empty never held, so vcluster never applied this "
                    "patch", "nothing converted; remove the patch", "note")  # fmt: skip
        return None
    return str(op), target, when


def _label_op(ctx: Context, op: str, target: str, section: str, path: FieldPath) -> dict[str, Any] | None:
    """A label-key op as crdsync's with the keyStyle of the config's vcluster version, or None where vcluster kept
    the keys or crdsync cannot reproduce them (reported)."""
    if ctx.source.multi_namespace:
        ctx.finding(path, f"{op} kept label keys in multi-namespace mode", "nothing to do", "note")
        return None
    if section != "toHost":
        ctx.finding(path, f"{op} on the way into the virtual cluster kept label keys (vcluster's import resolver)",
                    "nothing to do", "note")  # fmt: skip
        return None
    if not ctx.vcluster_naming:
        ctx.finding(
            path,
            f"{op}: vcluster's hashed label keys go with its names (keyStyle needs naming style vcluster)",
            "convert with vcluster naming, or list each key and its host key in a keyMap",
        )
        return None
    style, note = _key_style(ctx)
    ctx.finding(path, f"{op}: label keys translated with keyStyle {style}: {note}",
                "check the vcluster version the config ran on", "note")  # fmt: skip
    return {"op": _LABEL_OPS[op], "path": target, "keyStyle": style}


# vcluster's label ops -> crdsync's: rewriteLabelSelector took a plain string map (e.g. a Service's selector).
_LABEL_OPS = {
    "rewriteLabelKey": "rewriteLabelKey",
    "rewriteLabelSelector": "rewriteLabelKeys",
    "rewriteLabelExpressionsSelector": "rewriteLabelSelector",
}


def _key_style(ctx: Context) -> tuple[str, str]:
    """Which vcluster label-key translation the config ran with (pkg/util/translate): every key hashed up to v0.20
    (ConvertLabelKey), only vcluster's own keys from v0.21 (HostLabel)."""
    if ctx.source.origin == "sync.generic.config":
        return "vclusterLegacy", "sync.generic.config is vcluster v0.14-v0.19, which hashed every key"
    if ctx.source.format == "plugin":
        return "vclusterLegacy", "the plugin's vcluster SDK hashed every key"
    return (
        "vcluster",
        "vcluster v0.21-v0.27 hashed only its own keys (release, vcluster.loft.sh/*); on v0.20 use vclusterLegacy",
    )
