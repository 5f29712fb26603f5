"""Does a desired object need writing? Subset comparison plus server-side-apply field ownership.

The engine computes a desired object from the source and writes it with server-side apply only when `needs_write`
says so. The comparison is "desired is a subset of current": servers add defaults, status, and metadata of their own,
and none of that may cause a write (or two writers would ping-pong). The one thing a subset check cannot see is a
field we applied earlier and no longer want: server-side apply removes it only when we apply again, so fields still
owned by our field manager (metadata.managedFields, operation Apply) but absent from desired also mean "write".

Pure; nothing raises: malformed managedFields entries are ignored (they only make us write, never skip a write).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The metadata fields the engine ever writes; the rest of metadata belongs to the server (uid, managedFields, ...).
COMPARED_METADATA = ("name", "namespace", "labels", "annotations")


def json_equal(a: object, b: object) -> bool:
    """Scalar equality as JSON sees it: True is not 1, and 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _is_empty(value: object) -> bool:
    # The apiserver drops empty maps/lists and nulls on many fields (omitempty), so desired "nothing" equals "absent".
    return value is None or value == {} or value == []


def is_subset(desired: object, current: object) -> bool:
    """True when everything in `desired` is in `current`.

    Maps: every desired key present in current and recursively a subset (a null/empty desired value also matches an
    absent key); lists: same length and item-wise subset; scalars: JSON-equal.
    """
    if isinstance(desired, Mapping):
        if not isinstance(current, Mapping):
            return False
        for key, value in desired.items():
            if key not in current:
                if _is_empty(value):
                    continue
                return False
            if not is_subset(value, current[key]):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(current, list) or len(desired) != len(current):
            return _is_empty(desired) and current is None
        return all(map(is_subset, desired, current))  # same length: checked above
    if desired is None:
        return current is None or _is_empty(current)
    return json_equal(desired, current)


def _walk_fields(fields: Mapping[str, Any], prefix: tuple[str, ...], out: set[tuple[str, ...]]) -> None:
    for key, sub in fields.items():
        if not isinstance(key, str):
            continue
        if key == ".":
            if prefix:
                out.add(prefix)
        elif key.startswith("f:"):
            path = (*prefix, key[2:])
            if isinstance(sub, Mapping) and any(k != "." for k in sub):
                _walk_fields(sub, path, out)
            else:
                out.add(path)
        elif key.startswith(("k:", "v:", "i:")) and prefix:
            # An owned list item (by key, value or index): treat the whole list as owned. Coarser than the server's
            # view, so at worst we write once more; never less.
            out.add(prefix)


def owned_paths(current: Mapping[str, Any], manager: str, subresource: str | None = None) -> set[tuple[str, ...]]:
    """Field paths (map keys from the root) owned by `manager` on `subresource`.

    Apply entries, and Update entries too: an object `manager` created with a plain POST (cheaper for the apiserver
    than an apply) records its fields under operation Update, and they are just as much ours to remove.
    A path ending at a list stands for the whole list.
    """
    meta = current.get("metadata")
    entries = meta.get("managedFields") if isinstance(meta, Mapping) else None
    out: set[tuple[str, ...]] = set()
    if not isinstance(entries, list):
        return out
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("manager") != manager:
            continue
        if entry.get("operation") not in ("Apply", "Update"):
            continue
        if (entry.get("subresource") or None) != (subresource or None):
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, str):  # some clients hand fieldsV1 over as a JSON string
            try:
                fields = json.loads(fields)
            except ValueError:
                continue
        if isinstance(fields, Mapping):
            _walk_fields(fields, (), out)
    return out


def _has_path(obj: object, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return False
        obj = obj[key]
    return not _is_empty(obj)


def _compared(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        out["metadata"] = {k: v for k, v in meta.items() if k in COMPARED_METADATA}
    return out


def _ignored(path: tuple[str, ...]) -> bool:
    return len(path) >= 2 and path[0] == "metadata" and path[1] not in COMPARED_METADATA


def needs_write(
    desired: Mapping[str, Any], current: Mapping[str, Any] | None, manager: str, subresource: str | None = None
) -> bool:
    """True when applying `desired` (as `manager`) would change `current`, or current does not exist yet."""
    if current is None:
        return True
    if not is_subset(_compared(desired), current):
        return True
    for path in owned_paths(current, manager, subresource):
        if not _ignored(path) and _has_path(current, path) and not _has_path(desired, path):
            return True
    return False


def stray_paths(desired: Mapping[str, Any], current: Mapping[str, Any], manager: str) -> list[tuple[str, ...]]:
    """Fields other managers added to `current` that `desired` does not have: what a read-only copy must shed.

    Only fields someone *wrote* count (managedFields of other managers): server defaults are owned by nobody, so they
    never show up here and cannot start a write loop. Metadata counts only for labels and annotations (finalizers,
    owner references and the like are the cluster's business). Each path is the outermost stray one, present in
    `current`, in a stable order.
    """
    meta = current.get("metadata")
    entries = meta.get("managedFields") if isinstance(meta, Mapping) else None
    if not isinstance(entries, list):
        return []
    foreign: set[tuple[str, ...]] = set()
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("manager") == manager or entry.get("subresource"):
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, Mapping):
            _walk_fields(fields, (), foreign)
    stray = sorted(
        {
            _outermost_absent(path, desired)
            for path in foreign
            if _revertible(path) and _has_path(current, path) and not _has_path(desired, path)
        }
    )
    return [path for path in stray if not any(path[: len(other)] == other for other in stray if other != path)]


def _outermost_absent(path: tuple[str, ...], desired: Mapping[str, Any]) -> tuple[str, ...]:
    """The shortest revertible prefix of `path` that `desired` lacks (so spec.extra goes whole, not just its leaf).

    A prefix desired holds as an empty map (`selfSigned: {}`) is desired, not absent: a tenant's field added inside it
    goes, the map stays (removing the map would leave a copy that the subset comparison then calls converged).
    """
    for end in range(1, len(path)):
        prefix = path[:end]
        if _revertible(prefix) and not _has_key_path(desired, prefix):
            return prefix
    return path


def _has_key_path(obj: object, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return False
        obj = obj[key]
    return True


def _revertible(path: tuple[str, ...]) -> bool:
    if not path or path[0] == "status":
        return False
    if path[0] == "metadata":
        return len(path) >= 3 and path[1] in ("labels", "annotations")
    return True
