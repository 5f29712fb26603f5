"""Field sets and patches as an apiserver computes them, over plain JSON dicts and without recursion.

A field set is a set of paths; a path is a tuple of fieldsV1 keys ("f:spec", "f:size"). Maps are walked key by key;
lists and scalars are leaves (a CRD list without x-kubernetes-list-type is atomic, and the fake treats every list so,
metadata.finalizers included), and so is a map deeper than MAX_DEPTH, so poison objects (thousands of levels) can be
stored and compared. Keys with another prefix (k:, v:, i:) read from a stored fieldsV1 are kept verbatim: they can be
owned and handed back, never used to remove a value.

Failure modes: a JSON patch that cannot be applied raises Invalid (422), as the apiserver answers it.
"""

from __future__ import annotations

from typing import Any

from crdsync.kube.errors import Invalid

Obj = dict[str, Any]
Path = tuple[str, ...]
MAX_DEPTH = 64

# Fields the server owns: never part of a manager's set (the apiserver's fieldmanager strips the same).
_STRIPPED: frozenset[Path] = frozenset(
    {
        ("f:apiVersion",),
        ("f:kind",),
        ("f:metadata",),
        *(
            ("f:metadata", f"f:{name}")
            for name in (
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "managedFields",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            )
        ),
    }
)


def clone(value: Any) -> Any:
    """A deep copy of JSON data without recursion: a real apiserver stores objects of any depth."""
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            copied = ({} if isinstance(item, dict) else []) if isinstance(item, dict | list) else item
            if isinstance(target, dict):
                target[key] = copied
            else:
                target.append(copied)
            if isinstance(item, dict | list):
                stack.append((item, copied))
    return root


def clone_object(obj: Obj) -> Obj:
    out: Obj = clone(obj)
    return out


def equal(a: Any, b: Any) -> bool:
    """JSON equality without recursion (== recurses in C and fails on poison objects); True is not 1."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, dict | list) or isinstance(y, dict | list):
            return False
        elif isinstance(x, bool) or isinstance(y, bool):
            if not (isinstance(x, bool) and isinstance(y, bool) and x == y):
                return False
        elif x != y:
            return False
    return True


def leaves(value: Any, prefix: Path = ()) -> set[Path]:
    """The field set of an applied configuration: every leaf under `value`."""
    out: set[Path] = set()
    stack: list[tuple[Any, Path]] = [(value, prefix)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict) and node and len(path) < MAX_DEPTH:
            stack.extend((item, (*path, f"f:{key}")) for key, item in node.items())
        elif path:
            out.add(path)
    return out


def _subtree(value: Any, path: Path) -> set[Path]:
    """A node and everything under it (the paths an Update adds or removes with a whole map)."""
    return {path} | _inner(value, path)


def _inner(value: Any, path: Path) -> set[Path]:
    out: set[Path] = set()
    stack: list[tuple[Any, Path]] = [(value, path)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict) and len(at) < MAX_DEPTH:
            for key, item in node.items():
                child = (*at, f"f:{key}")
                out.add(child)
                stack.append((item, child))
    return out


def diff(old: Any, new: Any) -> tuple[set[Path], set[Path]]:
    """(changed or added, removed) paths between two objects, map nodes included (as the fieldmanager compares)."""
    changed: set[Path] = set()
    removed: set[Path] = set()
    stack: list[tuple[Any, Any, Path]] = [(old, new, ())]
    while stack:
        a, b, path = stack.pop()
        if isinstance(a, dict) and isinstance(b, dict) and len(path) < MAX_DEPTH:
            for key in a.keys() | b.keys():
                child = (*path, f"f:{key}")
                if key not in b:
                    removed |= _subtree(a[key], child)
                elif key not in a:
                    changed |= _subtree(b[key], child)
                else:
                    stack.append((a[key], b[key], child))
        elif not equal(a, b):
            changed |= _subtree(b, path)
            if isinstance(a, dict):
                removed |= _inner(a, path) - changed
    return changed, removed


def strip(paths: set[Path], *, status_subresource: bool, subresource: str | None) -> set[Path]:
    """What a manager can own at one endpoint: no server metadata; with a status subresource, the main resource owns
    no status and /status owns nothing else (the apiserver resets the other part)."""
    out = {p for p in paths if p not in _STRIPPED}
    if subresource == "status":
        return {p for p in out if p[:1] == ("f:status",)}
    if status_subresource:
        return {p for p in out if p[:1] != ("f:status",)}
    return out


def to_fields_v1(paths: set[Path]) -> Obj:
    """fieldsV1 of a set: nested maps, "." where a node is owned and has owned children."""
    root: Obj = {}
    for path in sorted(paths, key=len):
        node = root
        for step in path:
            node = node.setdefault(step, {})
    for path in paths:
        node = root
        for step in path:
            node = node[step]
        if node and "." not in node:
            node["."] = {}
    return root


def from_fields_v1(fields: Any) -> set[Path]:
    out: set[Path] = set()
    stack: list[tuple[Any, Path]] = [(fields, ())]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict):
            continue
        for key, sub in node.items():
            if key == ".":
                out.add(path)
            elif isinstance(sub, dict) and sub:
                stack.append((sub, (*path, key)))
            else:
                out.add((*path, key))
    return out


def owned_within(path: Path, owned: set[Path]) -> bool:
    """Whether `owned` holds `path` or something under it. Owning a map above it ("." in fieldsV1) does not count:
    server-side apply prunes by exact paths, so a map created by someone's Update keeps no field we stop applying."""
    return any(o[: len(path)] == path for o in owned)


def remove_path(obj: Obj, path: Path) -> None:
    parent: Any = obj
    for step in path[:-1]:
        parent = parent.get(step[2:]) if isinstance(parent, dict) and step.startswith("f:") else None
    if isinstance(parent, dict) and path[-1].startswith("f:"):
        parent.pop(path[-1][2:], None)


def get_path(obj: Any, path: Path) -> Any:
    for step in path:
        obj = obj.get(step[2:]) if isinstance(obj, dict) else None
    return obj


def apply_merge(base: Any, config: Any) -> Any:
    """Server-side apply's merge of a configuration into the live object: maps merge, lists and scalars replace."""
    if isinstance(base, dict) and isinstance(config, dict):
        out = dict(base)
        for key, value in config.items():
            out[key] = apply_merge(out[key], value) if key in out else clone(value)
        return out
    return clone(config)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: null removes, maps merge, everything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    if path and not path.startswith("/"):
        raise Invalid(422, "Invalid", f"JSON pointer {path!r} does not start with /", None)
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _locate(doc: Any, parts: list[str], where: str) -> Any:
    for part in parts:
        try:
            doc = doc[int(part)] if isinstance(doc, list) else doc[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise Invalid(422, "Invalid", f"path {where} does not exist", None) from None
    return doc


def json_patch(target: Obj, ops: list[Obj]) -> Obj:
    """RFC 6902 over plain dicts: add, remove, replace, move, copy and test; any failed op fails the whole patch."""
    out: Any = clone_object(target)
    for op in ops:
        kind, where = op.get("op"), str(op.get("path", ""))
        parts = _pointer(where)
        if kind == "test":
            if not equal(_locate(out, parts, where), op.get("value")):
                raise Invalid(422, "Invalid", f"testing value {where} failed", None)
            continue
        if kind in ("move", "copy"):
            source = _pointer(str(op.get("from", "")))
            value = clone(_locate(out, source, str(op.get("from"))))
            if kind == "move":
                _remove(out, source, str(op.get("from")))
            _add(out, parts, where, value)
        elif kind == "remove":
            _remove(out, parts, where)
        elif kind == "replace":
            _remove(out, parts, where)
            _add(out, parts, where, clone(op.get("value")))
        elif kind == "add":
            _add(out, parts, where, clone(op.get("value")))
        else:
            raise Invalid(422, "Invalid", f"unsupported JSON patch op {kind!r}", None)
    if not isinstance(out, dict):
        raise Invalid(422, "Invalid", "a JSON patch must leave an object", None)
    return out


def _add(doc: Any, parts: list[str], where: str, value: Any) -> None:
    if not parts:
        raise Invalid(422, "Invalid", "replacing the whole object is not allowed", None)
    parent = _locate(doc, parts[:-1], where)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else _index(last, len(parent) + 1, where)
        parent.insert(index, value)
    else:
        raise Invalid(422, "Invalid", f"path {where} does not exist", None)


def _remove(doc: Any, parts: list[str], where: str) -> None:
    if not parts:
        raise Invalid(422, "Invalid", "removing the whole object is not allowed", None)
    parent = _locate(doc, parts[:-1], where)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(last, len(parent), where)]
    else:
        raise Invalid(422, "Invalid", f"path {where} does not exist", None)


def _index(part: str, bound: int, where: str) -> int:
    if not part.isdigit() or int(part) >= bound:
        raise Invalid(422, "Invalid", f"path {where}: bad list index", None)
    return int(part)
