"""Spec patches applied to a translated object, and the conditions that guard patches and references.

apply_patches runs patches in order on a deep copy; a patch applies when every condition of its `when` holds on the
object as patched so far (an empty `when` always does). COPY reads its `from` path in `other` (the other side's
object: the virtual source for toHost patches, the host object for toVirtual patches) and copies the first match; when
nothing matches there, the target is left alone.
The rewrite ops rename keys: an exact `keyMap` entry wins, otherwise `keyPrefix` is prepended, otherwise the key stays.

Failure modes, all TranslationError located at the patch: bad paths and type mismatches (see translate.paths), COPY
without an `other` object, a rewrite target that is not a string map / label selector, and two keys renamed to the
same key (which would silently drop a label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crdsync.spec.model import Condition, Patch, PatchOp
from crdsync.translate import paths
from crdsync.translate.compare import json_equal
from crdsync.translate.errors import TranslationError, json_type


def _value_in(value: Any, options: Sequence[Any]) -> bool:
    return any(_deep_equal(value, option) for option in options)


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list) or isinstance(b, Mapping | list):
        return False
    return json_equal(a, b)


def conditions_hold(when: Sequence[Condition], obj: Mapping[str, Any]) -> bool:
    """True when every condition of `when` holds on `obj` (an empty `when` always holds).

    Checked in order and stopping at the first that fails, so a later condition may guard against shapes an earlier
    one rules out; an error is located at the condition that raised it.
    """
    return all(condition_holds(cond, obj) for cond in when)


def condition_holds(cond: Condition | None, obj: Mapping[str, Any]) -> bool:
    """True when `cond` is None or every set check holds for the first match of cond.path (None when absent)."""
    if cond is None:
        return True
    try:
        found = paths.get_all(obj, cond.path)
    except TranslationError as exc:
        raise exc.located(cond.location) from None
    value = found[0] if found else None
    if cond.exists is not None and bool(found) != cond.exists:
        return False
    if cond.in_ is not None and not _value_in(value, cond.in_):
        return False
    return not (cond.not_in is not None and _value_in(value, cond.not_in))


def rename_keys(
    values: Mapping[str, Any], key_map: Sequence[tuple[str, str]], key_prefix: str | None, path: str
) -> dict[str, Any]:
    """`values` with keys renamed (keyMap first, else keyPrefix); raises when two keys would collide."""
    mapping = dict(key_map)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TranslationError(f"expected string keys, found {key!r}", path)
        new_key = mapping.get(key, f"{key_prefix}{key}" if key_prefix is not None else key)
        if new_key in out:
            raise TranslationError(f"renaming keys makes {new_key!r} appear twice; the keyMap/keyPrefix collide", path)
        out[new_key] = value
    return out


def _rewrite_label_keys(patch: Patch, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TranslationError(f"rewriteLabelKeys needs a map of labels, found {json_type(value)}", patch.path)
    return rename_keys(value, patch.key_map, patch.key_prefix, patch.path)


def _rewrite_label_selector(patch: Patch, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TranslationError(f"rewriteLabelSelector needs a label selector, found {json_type(value)}", patch.path)
    out = dict(value)
    labels = value.get("matchLabels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise TranslationError("matchLabels is not a map", patch.path)
        out["matchLabels"] = rename_keys(labels, patch.key_map, patch.key_prefix, patch.path)
    expressions = value.get("matchExpressions")
    if expressions is not None:
        if not isinstance(expressions, list):
            raise TranslationError("matchExpressions is not a list", patch.path)
        mapping = dict(patch.key_map)
        renamed = []
        for expression in expressions:
            if not isinstance(expression, Mapping) or not isinstance(expression.get("key"), str):
                raise TranslationError("a matchExpressions item has no string key", patch.path)
            key = expression["key"]
            new_key = mapping.get(key, f"{patch.key_prefix}{key}" if patch.key_prefix is not None else key)
            renamed.append({**expression, "key": new_key})
        out["matchExpressions"] = renamed
    return out


def _apply_one(patch: Patch, obj: dict[str, Any], other: Mapping[str, Any] | None) -> None:
    if patch.op is PatchOp.SET:
        paths.set_in_place(obj, patch.path, patch.value)
    elif patch.op is PatchOp.COPY:
        if patch.from_path is None:
            raise TranslationError("copy patch has no `from` path", patch.path)
        if other is None:
            raise TranslationError("copy patch needs the other side's object, and there is none here", patch.path)
        found = paths.get_all(other, patch.from_path)
        if found:
            paths.set_in_place(obj, patch.path, found[0])
    elif patch.op is PatchOp.REMOVE:
        paths.remove_in_place(obj, patch.path)
    elif patch.op is PatchOp.REWRITE_LABEL_KEYS:
        paths.update_in_place(obj, patch.path, lambda v: _rewrite_label_keys(patch, v))
    else:
        paths.update_in_place(obj, patch.path, lambda v: _rewrite_label_selector(patch, v))


def apply_patches_in_place(patches: Sequence[Patch], obj: dict[str, Any], other: Mapping[str, Any] | None) -> None:
    """Apply `patches` to `obj` itself (for callers patching their own copy); see apply_patches."""
    for patch in patches:
        try:
            if conditions_hold(patch.when, obj):
                _apply_one(patch, obj, other)
        except TranslationError as exc:
            raise exc.located(patch.location) from None


def apply_patches(patches: Sequence[Patch], obj: Mapping[str, Any], other: Mapping[str, Any] | None) -> dict[str, Any]:
    """A new object: `obj` with `patches` applied in order (inputs untouched)."""
    out = paths.clone_object(obj)
    apply_patches_in_place(patches, out, other)
    return out
