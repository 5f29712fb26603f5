"""Spec patches applied to a translated object, and the conditions that guard patches and references.

apply_patches runs patches in order on a deep copy; a patch applies when every condition of its `when` holds on the
object as patched so far (an empty `when` always does). A `when` with `subPath` conditions (Condition.relative) is
tested match by match instead, each relative condition on the match of the patch's path, the others on the object;
where a patch creates its field (set, copy, add on a path that matches nothing) a relative condition sees no match.
All matches are judged before the patch writes any of them.

The ops:
- SET writes `value` at every match; where nothing matches, a plain chain of fields is created.
- COPY reads its `from` path in `other` (the other side's object: the virtual source for toHost patches, the host
  object for toVirtual patches) and writes the first match like SET; when nothing matches there, the target stays.
- REMOVE deletes every match.
- ADD is vcluster's add (pkg/patches/patch_types.go Add, AddNode, createPath at v0.27.0): a map match gets `value`
  merged in (its keys win), a list match gets `value` appended as one item, an item of a list gets `value` inserted
  before it, a null match is set; where nothing matches, `value` is created under every match of the deepest existing
  part of the path (paths.add_missing_in_place). Where vcluster would corrupt the object (a non-map value into a map,
  a value "added" to a scalar field of a map) it is an error here.
- REPLACE writes `value` over existing matches only (vcluster's Replace).
- The rewrite ops rename label keys: in a string map (REWRITE_LABEL_KEYS), in a label selector's matchLabels and
  matchExpressions (REWRITE_LABEL_SELECTOR), or held as string values (REWRITE_LABEL_KEY; empty and null stay). An
  exact `keyMap` entry wins, otherwise `keyPrefix` is prepended, otherwise the key stays; or, with `keyStyle`,
  vcluster's own host label keys (vcluster_label_key), which need the tenant's vcluster name.

Conditions (condition_holds): `in`/`notIn` test the first match (None when there is none), `exists` whether there is
one. `equal`/`notEqual`/`empty` are vcluster's (pkg/patches/conditions.go ValidateCondition): a match passes by its
text (a string as it is, null as "null", booleans as true/false, numbers as Go's JSON writes them; a map or list has
no text equal to any scalar's and is never empty), some passing match suffices, and with no match `notEqual` and
`empty: true` hold while `equal` and `empty: false` do not. (vcluster compared a non-string operand through its YAML
text with a trailing newline, so `equal: 3` never held; here the operand's text is compared, and the converter turns
such an operand into a condition that never holds.)

Failure modes, all TranslationError located at the patch (or at the condition that raised): bad paths and type
mismatches (see translate.paths), COPY without an `other` object, a rewrite target that is not a string map / label
selector / string, two keys renamed to the same key (which would silently drop a label), keyStyle without a vcluster
name, ADD of a non-map into a map or onto a scalar field of a map, and a relative condition outside a patch or
reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from crdsync.spec.model import Condition, KeyStyle, Patch, PatchOp
from crdsync.translate import paths
from crdsync.translate.compare import json_same
from crdsync.translate.errors import TranslationError, json_type
from crdsync.translate.names import safe_concat_name

# vcluster's label keys (pkg/util/translate/types.go, single_namespace.go LabelsToTranslate at v0.27.0): the keys its
# syncer translates from v0.21 on; before (v0.14-v0.20, ConvertLabelKey) every key was translated.
VCLUSTER_LABEL_PREFIX = "vcluster.loft.sh/label"
VCLUSTER_TRANSLATED_KEYS = frozenset(
    {"release", "vcluster.loft.sh/namespace", "vcluster.loft.sh/managed-by", "vcluster.loft.sh/controlled-by"}
)


def vcluster_label_key(key: str, vcluster: str, style: KeyStyle = KeyStyle.VCLUSTER) -> str:
    """The host label key vcluster's syncer gives virtual label `key` (convertLabelKeyWithPrefix):
    SafeConcatName("vcluster.loft.sh/label", vcluster, "x", first 10 hex digits of SHA-256 of the key). Style
    VCLUSTER (v0.21-v0.27) translates only VCLUSTER_TRANSLATED_KEYS and keeps every other key."""
    if style is KeyStyle.VCLUSTER and key not in VCLUSTER_TRANSLATED_KEYS:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return safe_concat_name(VCLUSTER_LABEL_PREFIX, vcluster, "x", digest)


# --- conditions ------------------------------------------------------------------------------------------------------


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# What a relative condition sees where the patch's path has no match (the patch is creating its field).
MISSING: Any = _Marker("MISSING")
_NO_MATCH_GIVEN: Any = _Marker("NO_MATCH_GIVEN")
# The "text" of a map or list: equal to no scalar's text and never empty (vcluster marshals it as flow YAML).
_COMPOUND: Any = _Marker("COMPOUND")


def _go_float(value: float) -> str:
    # Go's encoding/json: 'f' format between 1e-6 and 1e21, else 'e' with a one-digit negative exponent ("1e-7").
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        text = format(Decimal(repr(value)), "f")
        return text[:-2] if text.endswith(".0") else text
    mantissa, _, exponent = repr(value).partition("e")  # repr: shortest round trip, like Go's -1 precision
    if exponent.startswith("-0"):
        exponent = "-" + exponent[2:]
    return f"{mantissa}e{exponent}"


def scalar_text(value: Any) -> Any:
    """vcluster's text of a match or operand: the string itself, "null", "true"/"false", a number as Go's JSON writes
    it; _COMPOUND (equal to no text, never empty) for maps and lists."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return _COMPOUND


def _value_in(value: Any, options: Sequence[Any]) -> bool:
    return any(json_same(value, option) for option in options)


def conditions_hold(when: Sequence[Condition], obj: Mapping[str, Any], match: Any = _NO_MATCH_GIVEN) -> bool:
    """True when every condition of `when` holds on `obj` (an empty `when` always holds); relative conditions are
    tested on `match` (MISSING: no match).

    Checked in order and stopping at the first that fails, so a later condition may guard against shapes an earlier
    one rules out; an error is located at the condition that raised it.
    """
    return all(condition_holds(cond, obj, match) for cond in when)


def has_relative(when: Sequence[Condition]) -> bool:
    """Whether `when` must be tested match by match (it has subPath conditions)."""
    return any(cond.relative for cond in when)


def condition_holds(cond: Condition | None, obj: Mapping[str, Any], match: Any = _NO_MATCH_GIVEN) -> bool:
    """True when `cond` is None or every set test holds (see the module docstring)."""
    if cond is None:
        return True
    try:
        if cond.relative:
            if match is _NO_MATCH_GIVEN:
                raise TranslationError("a subPath condition is tested on a match, and there is none here", cond.path)
            found = [] if match is MISSING else paths.get_all(match, cond.path)
        else:
            found = paths.get_all(obj, cond.path)
    except TranslationError as exc:
        raise exc.located(cond.location) from None
    value = found[0] if found else None
    if cond.exists is not None and bool(found) != cond.exists:
        return False
    if cond.in_ is not None and not _value_in(value, cond.in_):
        return False
    if cond.not_in is not None and _value_in(value, cond.not_in):
        return False
    texts = [scalar_text(v) for v in found]
    if cond.equal is not None and scalar_text(cond.equal) not in texts:
        return False
    if cond.not_equal is not None and found and all(t == scalar_text(cond.not_equal) for t in texts):
        return False
    if cond.empty is True and found and "" not in texts:
        return False
    return not (cond.empty is False and all(t == "" for t in texts))


# --- key rewriting ---------------------------------------------------------------------------------------------------


Renamer = Callable[[str], str]


def _renamer(key_map: Sequence[tuple[str, str]], key_prefix: str | None) -> Renamer:
    mapping = dict(key_map)
    return lambda key: mapping.get(key, f"{key_prefix}{key}" if key_prefix is not None else key)


def _patch_renamer(patch: Patch, vcluster: str | None) -> Renamer:
    style = patch.key_style
    if style is None:
        return _renamer(patch.key_map, patch.key_prefix)
    if vcluster is None:
        raise TranslationError("keyStyle gives host label keys and needs the tenant's vcluster name", patch.path)
    return lambda key: vcluster_label_key(key, vcluster, style)


def _rename(values: Mapping[str, Any], rename: Renamer, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TranslationError(f"expected string keys, found {key!r}", path)
        new_key = rename(key)
        if new_key in out:
            raise TranslationError(f"renaming keys makes {new_key!r} appear twice; the keyMap/keyPrefix collide", path)
        out[new_key] = value
    return out


def _rewrite_label_keys(patch: Patch, rename: Renamer, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TranslationError(f"rewriteLabelKeys needs a map of labels, found {json_type(value)}", patch.path)
    return _rename(value, rename, patch.path)


def _rewrite_label_selector(patch: Patch, rename: Renamer, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TranslationError(f"rewriteLabelSelector needs a label selector, found {json_type(value)}", patch.path)
    out = dict(value)
    labels = value.get("matchLabels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise TranslationError("matchLabels is not a map", patch.path)
        out["matchLabels"] = _rename(labels, rename, patch.path)
    expressions = value.get("matchExpressions")
    if expressions is not None:
        if not isinstance(expressions, list):
            raise TranslationError("matchExpressions is not a list", patch.path)
        renamed = []
        for expression in expressions:
            if not isinstance(expression, Mapping) or not isinstance(expression.get("key"), str):
                raise TranslationError("a matchExpressions item has no string key", patch.path)
            renamed.append({**expression, "key": rename(expression["key"])})
        out["matchExpressions"] = renamed
    return out


def _rewrite_label_key(patch: Patch, rename: Renamer, value: Any) -> Any:
    if value is None or value == "":
        return value  # vcluster leaves an empty key alone
    if not isinstance(value, str):
        raise TranslationError(f"rewriteLabelKey needs a string label key, found {json_type(value)}", patch.path)
    return rename(value)


# --- the ops ---------------------------------------------------------------------------------------------------------


def _add_at(obj: dict[str, Any], location: paths.Location, value: Any, path: str) -> None:
    """vcluster's AddNode on one existing match."""
    current = paths.value_at(obj, location)
    if isinstance(current, dict):
        if not isinstance(value, Mapping):
            raise TranslationError(
                f"add merges a map into the map {path} matched; the value is {json_type(value)}", path
            )
        current.update(paths.clone(value))
    elif isinstance(current, list):
        current.append(paths.clone(value))
    elif current is None:
        paths.write_in_place(obj, {location: value}, path)
    else:
        parent = paths.value_at(obj, location[:-1])
        if not isinstance(parent, list) or not isinstance(location[-1], int):
            raise TranslationError(
                f"add cannot add to the {json_type(current)} field {path} matched (vcluster would corrupt the map); "
                "use replace or set",
                path,
            )
        parent.insert(location[-1], paths.clone(value))


def _apply_one(patch: Patch, obj: dict[str, Any], other: Mapping[str, Any] | None, vcluster: str | None) -> None:
    per_match = has_relative(patch.when)
    if not per_match and not conditions_hold(patch.when, obj):
        return
    value = patch.value
    if patch.op is PatchOp.COPY:
        if patch.from_path is None:
            raise TranslationError("copy patch has no `from` path", patch.path)
        if other is None:
            raise TranslationError("copy patch needs the other side's object, and there is none here", patch.path)
        found = paths.get_all(other, patch.from_path)
        if not found:
            return
        value = found[0]
    located = paths.locations(obj, patch.path)
    chosen = [
        location
        for location in located
        if not per_match or conditions_hold(patch.when, obj, paths.value_at(obj, location))
    ]
    creates = not located and (not per_match or conditions_hold(patch.when, obj, MISSING))
    op = patch.op
    if op in (PatchOp.SET, PatchOp.COPY):
        if creates:
            paths.set_in_place(obj, patch.path, value)
        else:
            paths.write_in_place(obj, dict.fromkeys(chosen, value), patch.path)
    elif op is PatchOp.REPLACE:
        if any(not location for location in chosen):
            raise TranslationError("cannot replace the whole object", patch.path)
        paths.write_in_place(obj, dict.fromkeys(chosen, value), patch.path)
    elif op is PatchOp.ADD:
        if creates:
            paths.add_missing_in_place(obj, patch.path, value)
        for location in paths.document_order_reversed(chosen):
            _add_at(obj, location, value, patch.path)
    elif op is PatchOp.REMOVE:
        paths.remove_locations_in_place(obj, chosen, patch.path)
    else:
        rename = _patch_renamer(patch, vcluster)
        rewrite = {
            PatchOp.REWRITE_LABEL_KEYS: _rewrite_label_keys,
            PatchOp.REWRITE_LABEL_SELECTOR: _rewrite_label_selector,
            PatchOp.REWRITE_LABEL_KEY: _rewrite_label_key,
        }[op]
        writes = {location: rewrite(patch, rename, paths.value_at(obj, location)) for location in chosen}
        paths.write_in_place(obj, writes, patch.path)


def apply_patches_in_place(
    patches: Sequence[Patch], obj: dict[str, Any], other: Mapping[str, Any] | None, *, vcluster: str | None = None
) -> None:
    """Apply `patches` to `obj` itself (for callers patching their own copy); see apply_patches."""
    for patch in patches:
        try:
            _apply_one(patch, obj, other, vcluster)
        except TranslationError as exc:
            raise exc.located(patch.location) from None


def apply_patches(
    patches: Sequence[Patch], obj: Mapping[str, Any], other: Mapping[str, Any] | None, *, vcluster: str | None = None
) -> dict[str, Any]:
    """A new object: `obj` with `patches` applied in order (inputs untouched). `vcluster` names the tenant for
    keyStyle rewrites (toHost patches)."""
    out = paths.clone_object(obj)
    apply_patches_in_place(patches, out, other, vcluster=vcluster)
    return out
