"""JSONPath get / set / remove over plain dicts, for callers that write on a deep copy of their own.

Paths are the spec's jsonpath-ng "ext" expressions, compiled by crdsync.spec.paths.compile_path (cached). Reading uses
jsonpath-ng's find; writing never uses its in-place update: each match is turned into a concrete location (a tuple of
map keys and list indices) and the *_in_place functions write there, on the caller's copy (clone / clone_object), so
the caller's inputs are never mutated.

Semantics:
- get_all: every match's value, in document order; locations: every match's concrete location.
- set_in_place: replace every match; when nothing matches and the path is a plain chain of fields (and list indices of
  existing lists), create the missing intermediate maps. Nothing matching a path with wildcards or filters is a no-op.
- remove_locations_in_place: delete the matches (list items by index, highest first so indices stay valid).
- write_in_place: set concrete locations; value_at: read one; project: only the selected parts of an object.
- add_missing_in_place: vcluster's `add` where nothing matches: create the value under the deepest existing part.

Failure modes, all TranslationError naming the path: a path that does not compile, a path that cannot address a
field (e.g. jsonpath-ng's `parent` or arithmetic extensions), a type mismatch while creating (`$.spec.x.y` when
spec.x is a string), an index past the end of a list, and a filter that cannot be evaluated on the data ("cannot
evaluate filter": a string compared with a number, a list with anything, ...; crdsync.spec.paths says which). The
last one fails closed on purpose: read as "no match", it would let a field through a `remove` the filter guards.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonpath_ng.jsonpath as _jp
from jsonpath_ng import JSONPath
from jsonpath_ng.jsonpath import Child, Fields, Index, Root, Slice, This

from crdsync.spec.paths import FilterError, PathSyntaxError, compile_path
from crdsync.translate.errors import TranslationError, json_type

Step = str | int
Location = tuple[Step, ...]

_MISSING = object()


def _compile(path: str) -> JSONPath:
    try:
        return compile_path(path)
    except PathSyntaxError as exc:
        raise TranslationError(str(exc), path) from None


def clone(value: Any) -> Any:
    """A deep copy of JSON data as plain dicts and lists; several times faster than copy.deepcopy (no memo, no
    per-type dispatch). Anything that is not JSON is handed to copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return copy.deepcopy(value)


def clone_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of an object (see clone)."""
    return {k: clone(v) for k, v in obj.items()}


_WILDCARD: type | None = getattr(_jp, "Wildcard", None)  # jsonpath-ng >= 1.16


def _is_list_wildcard(node: object, written_as_brackets: bool) -> bool:
    if isinstance(node, Slice):
        return node.start is None and node.end is None and node.step is None
    return _WILDCARD is not None and isinstance(node, _WILDCARD) and written_as_brackets


class _Star:
    """`[*]` in a simple path: every item of a list."""


_STAR = _Star()


@lru_cache(maxsize=4096)
def _simple(path: str) -> tuple[Step | _Star, ...] | None:
    """The steps of a path that is `$` followed only by single fields, indices and `[*]` (nearly every spec path),
    else None.

    Such paths are evaluated by walking the data directly: the matches jsonpath-ng finds, at a fraction of the cost
    (where jsonpath-ng reads `[*]` on a map or scalar as a one-item list, a simple path does not match).
    jsonpath-ng >= 1.16 parses both `[*]` and `.*` as one Wildcard node (which also yields a map's values); a path
    written without `.*` uses `[*]` only, so its wildcards are list items, as on earlier versions.
    """
    node = _compile(path)
    list_wildcard = ".*" not in path
    steps: list[Step | _Star] = []
    while isinstance(node, Child):
        right = node.right
        if isinstance(right, Fields) and len(right.fields) == 1 and right.fields[0] != "*":
            steps.append(right.fields[0])
        elif isinstance(right, Index) and len(right.indices) == 1:
            steps.append(right.indices[0])
        elif _is_list_wildcard(right, list_wildcard):
            steps.append(_STAR)
        else:
            return None
        node = node.left
    if not isinstance(node, Root):
        return None
    steps.reverse()
    return tuple(steps)


def _chain(path: str) -> Location | None:
    """The steps of a plain chain (fields and indices only: a path that names one place), else None."""
    simple = _simple(path)
    if simple is None:
        return None
    chain: list[Step] = []
    for step in simple:
        if isinstance(step, _Star):
            return None
        chain.append(step)
    return tuple(chain)


def _walk(obj: Any, steps: tuple[Step | _Star, ...]) -> list[tuple[Location, Any]]:
    """(normalized location, value) of every match of a simple path, in document order."""
    found: list[tuple[Location, Any]] = [((), obj)]
    for step in steps:
        following: list[tuple[Location, Any]] = []
        for location, node in found:
            if isinstance(step, _Star):
                if isinstance(node, list):
                    following.extend(((*location, i), item) for i, item in enumerate(node))
            elif isinstance(step, str):
                if isinstance(node, dict) and step in node:
                    following.append(((*location, step), node[step]))
            elif isinstance(node, list) and -len(node) <= step < len(node):
                index = step + len(node) if step < 0 else step
                following.append(((*location, index), node[index]))
        found = following
        if not found:
            break
    return found


def _find(path: str, obj: Any) -> list[Any]:
    compiled = _compile(path)
    try:
        return list(compiled.find(obj))
    except FilterError as exc:  # a filter that cannot be decided on this data fails closed (see crdsync.spec.paths)
        raise TranslationError(f"cannot evaluate filter: {exc}", path) from None
    except Exception as exc:  # jsonpath-ng's own steps (arithmetic, `len`, ...) raise whatever Python raises
        raise TranslationError(f"cannot evaluate path: {type(exc).__name__}: {exc}", path) from None


def _location_of(datum: Any, path: str) -> Location:
    steps: list[Step] = []
    node = datum
    while node is not None:
        part = node.path  # a match's own step: a map key (also a key that is literally "*") or a list index
        if isinstance(part, Fields) and len(part.fields) == 1:
            steps.append(part.fields[0])
        elif isinstance(part, Index) and len(part.indices) == 1:
            steps.append(part.indices[0])
        elif not isinstance(part, Root | This):
            raise TranslationError(f"path does not address a field ({part})", path)
        node = node.context
    steps.reverse()
    return tuple(steps)


def _normalize(location: Location, root: Any) -> Location:
    # Negative indices (`[-1]`) are resolved against the data so locations from one find stay comparable. A location
    # that leads nowhere stays as it is: `locations` then refuses it (its value is not the match's).
    out: list[Step] = []
    node = root
    for step in location:
        if isinstance(step, int) and isinstance(node, list) and step < 0:
            step += len(node)
        out.append(step)
        node = value_at(node, (step,))
    return tuple(out)


def locations(obj: Any, path: str) -> list[Location]:
    """The concrete location of every match of `path` in `obj`, in document order.

    Raises when a match is a computed value (jsonpath-ng's arithmetic, `len`, `sub`, ...): those can be read but not
    written, so a write through them must fail loudly rather than land somewhere else.
    """
    simple = _simple(path)
    if simple is not None:
        return [location for location, _ in _walk(obj, simple)]
    out = []
    for datum in _find(path, obj):
        location = _normalize(_location_of(datum, path), obj)
        if value_at(obj, location, _MISSING) is not datum.value:
            raise TranslationError("path does not address a field (it computes a value)", path)
        out.append(location)
    return out


def get_all(obj: Any, path: str) -> list[Any]:
    """The values of every match of `path` (the values themselves, not copies)."""
    simple = _simple(path)
    if simple is not None:
        return [value for _, value in _walk(obj, simple)]
    return [d.value for d in _find(path, obj)]


def _describe(location: Location) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in location)


def _container_at(root: Any, location: Location, create: bool, path: str) -> Any:
    node = root
    for i, step in enumerate(location):
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise TranslationError(
                    f"cannot write field {step!r}: {_describe(location[:i])} is {json_type(node)}, not a map", path
                )
            if step not in node or node[step] is None:
                if not create:
                    raise TranslationError(f"{_describe(location[: i + 1])} does not exist", path)
                node[step] = {}
            node = node[step]
        else:
            if not isinstance(node, list):
                raise TranslationError(
                    f"cannot write index {step}: {_describe(location[:i])} is {json_type(node)}, not a list", path
                )
            if not -len(node) <= step < len(node):
                raise TranslationError(f"index {step} is past the end of {_describe(location[:i])}", path)
            node = node[step]
    return node


def _write(root: Any, location: Location, value: Any, create: bool, path: str) -> None:
    if not location:
        raise TranslationError("cannot replace the whole object", path)
    parent = _container_at(root, location[:-1], create, path)
    last = location[-1]
    if isinstance(last, str):
        if not isinstance(parent, dict):
            raise TranslationError(
                f"cannot write field {last!r}: {_describe(location[:-1])} is {json_type(parent)}, not a map", path
            )
        parent[last] = value
    else:
        if not isinstance(parent, list):
            raise TranslationError(
                f"cannot write index {last}: {_describe(location[:-1])} is {json_type(parent)}, not a list", path
            )
        if not -len(parent) <= last < len(parent):
            raise TranslationError(f"index {last} is past the end of {_describe(location[:-1])}", path)
        parent[last] = value


# The *_in_place functions mutate `obj`: they are for callers that work on a deep copy of their own (the patch loop,
# object translation), so one translation copies its input once instead of once per step.


def set_in_place(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set every match of `path` in `obj` to (a copy of) `value`; create a plain chain that is missing."""
    found = locations(obj, path)
    if not found:
        chain = _chain(path)
        if chain is None:
            return
        found = [chain]
    for location in found:
        _write(obj, location, clone(value), create=True, path=path)


def document_order_reversed(found: list[Location]) -> list[Location]:
    """`found` deepest first and, within one list, highest index first: changing one never moves a later one."""

    def order(loc: Location) -> tuple[Any, ...]:
        return tuple((isinstance(s, int), s) for s in loc)  # list indices after map keys: never compared with them

    return sorted(set(found), key=order, reverse=True)


def add_missing_in_place(obj: dict[str, Any], path: str, value: Any) -> None:
    """vcluster's add where `path` matches nothing: create (a copy of) `value` under every match of the deepest part
    of `path` that exists, wrapping it in maps for the missing fields ([value] for a missing index; an index into an
    existing list appends). A null on the way counts as missing. Nothing is created through `[*]`, filters or other
    forms (no item to create is named) or when `path` matches something."""
    steps = _simple(path)
    if not steps or _walk(obj, steps):
        return
    depth = len(steps)
    parents: list[tuple[Location, Any]] = []
    while not parents:  # ends at the latest at depth 0: `$` always matches
        depth -= 1
        parents = _walk(obj, steps[:depth])
    rest = steps[depth:]
    if any(isinstance(step, _Star) for step in rest):
        return
    nested = value
    for step in reversed(rest[1:]):
        nested = {step: nested} if isinstance(step, str) else [nested]
    first = rest[0]
    for location, parent in parents:
        if parent is None and location:
            write_in_place(obj, {location: {first: nested} if isinstance(first, str) else [nested]})  # it exists
        elif isinstance(first, str):
            if not isinstance(parent, dict):
                raise TranslationError(
                    f"cannot add field {first!r}: {_describe(location)} is {json_type(parent)}, not a map", path
                )
            parent[first] = clone(nested)
        else:
            if not isinstance(parent, list):
                raise TranslationError(
                    f"cannot add item {first}: {_describe(location)} is {json_type(parent)}, not a list", path
                )
            parent.append(clone(nested))


def remove_locations_in_place(obj: dict[str, Any], found: list[Location], path: str) -> None:
    """Delete each concrete location (matches of `path`) from `obj`."""
    if any(len(loc) == 0 for loc in found):
        raise TranslationError("cannot remove the whole object", path)
    # Deepest first and, within one list, highest index first: earlier removals never shift later locations.
    for location in document_order_reversed(found):
        parent = value_at(obj, location[:-1])  # None when an ancestor is gone (e.g. `$..x` matching nested fields)
        last = location[-1]
        if isinstance(parent, dict) and isinstance(last, str):
            parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
            del parent[last]


def write_in_place(obj: dict[str, Any], writes: Mapping[Location, Any], path: str = "") -> None:
    """Set each concrete location to (a copy of) its value; the locations must exist up to their parent."""
    for location, value in writes.items():
        _write(obj, location, clone(value), create=False, path=path or _describe(location))


def value_at(obj: Any, location: Location, default: Any = None) -> Any:
    """The value at a concrete location (map keys, non-negative list indices), or `default` when it does not exist."""
    node = obj
    for step in location:
        in_map = isinstance(step, str) and isinstance(node, Mapping) and step in node
        in_list = isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node)
        if not (in_map or in_list):
            return default
        node = node[step]
    return node


def project(obj: Any, selected: list[Location]) -> Any:
    """Only the selected parts of `obj` (deep copies), keeping their ancestors; list items keep their relative order.

    `$.status.conditions[?(@.type == 'Ready')]` projects to {"status": {"conditions": [<the Ready condition>]}}.
    """
    if any(len(loc) == 0 for loc in selected):
        return clone(obj)
    groups: dict[Step, list[Location]] = {}
    for loc in selected:
        groups.setdefault(loc[0], []).append(loc[1:])
    if isinstance(obj, Mapping):
        return {k: project(obj[k], groups[k]) for k in obj if k in groups}
    if isinstance(obj, list):
        return [project(obj[i], groups[i]) for i in range(len(obj)) if i in groups]
    return clone(obj)
