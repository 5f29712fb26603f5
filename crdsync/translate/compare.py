"""Does a desired object need writing? Subset comparison plus server-side-apply field ownership.

The engine computes a desired object from the source and writes it with server-side apply only when `needs_write`
says so. The comparison is "desired is a subset of current": servers add defaults, status, and metadata of their own,
and none of that may cause a write (or two writers would ping-pong). The one thing a subset check cannot see is a
field we applied earlier and no longer want: server-side apply removes it only when we apply again, so fields still
owned by our field manager (metadata.managedFields, operation Apply) but absent from desired also mean "write".
Inside list items the subset comparison cannot see a dropped field (items carry server defaults), so the copy's own
record of each item of a keyed list (managedFields `k:`/`i:` entries) says which fields we set there.
`apply_leaves_behind` answers the writer's follow-up question: would that apply leave such a field behind because our
own plain create recorded it (so the record must become an Apply record first)?

Pure; nothing raises: malformed managedFields entries are ignored (they only make us write, never skip a write).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
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


def _entry_fields(
    current: Mapping[str, Any], accept: Callable[[Mapping[str, Any]], bool]
) -> Iterator[Mapping[str, Any]]:
    """The fieldsV1 of each managedFields entry of `current` that `accept` takes (as a map, or parsed from the JSON
    string some clients hand over); unreadable entries are skipped."""
    meta = current.get("metadata")
    entries = meta.get("managedFields") if isinstance(meta, Mapping) else None
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, Mapping) or not accept(entry):
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, str):
            try:
                fields = json.loads(fields)
            except ValueError:
                continue
        if isinstance(fields, Mapping):
            yield fields


def _entry_paths(current: Mapping[str, Any], accept: Callable[[Mapping[str, Any]], bool]) -> set[tuple[str, ...]]:
    """Field paths recorded by the managedFields entries of `current` that `accept` takes."""
    out: set[tuple[str, ...]] = set()
    for fields in _entry_fields(current, accept):
        _walk_fields(fields, (), out)
    return out


def _written_by(manager: str, subresource: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """Entries `manager` wrote on `subresource` (applies, and creates or updates: a POST records operation Update)."""

    def accept(entry: Mapping[str, Any]) -> bool:
        return (
            entry.get("manager") == manager
            and entry.get("operation") in ("Apply", "Update")
            and (entry.get("subresource") or None) == (subresource or None)
        )

    return accept


def owned_paths(current: Mapping[str, Any], manager: str, subresource: str | None = None) -> set[tuple[str, ...]]:
    """Field paths (map keys from the root) owned by `manager` on `subresource`.

    Apply entries, and Update entries too: an object `manager` created with a plain POST (cheaper for the apiserver
    than an apply) records its fields under operation Update, and they are just as much ours to remove.
    A path ending at a list stands for the whole list.
    """
    return _entry_paths(current, _written_by(manager, subresource))


def apply_leaves_behind(desired: Mapping[str, Any], current: Mapping[str, Any], manager: str) -> bool:
    """True when a server-side apply of `desired` by `manager` would leave behind a field that `manager` wrote with a
    plain create or update (an Update entry) and `desired` no longer sets, or changes a list such an entry owns.

    Apply removes only what its own Apply entry owns, so such an object needs its Update entry converted first; when
    this is False, the apply alone ends exactly where converting and then applying would. A list counts whenever it
    changes at all, a field dropped inside an item included: a keyed list (x-kubernetes-list-type map/set) merges item
    by item and field by field, and an item's field (or an item) leaves the applied configuration without leaving the
    Update entry, so only a list desired exactly as it stands is safe (server defaults in items cost a conversion).
    """

    def our_update(entry: Mapping[str, Any]) -> bool:
        return entry.get("manager") == manager and entry.get("operation") == "Update" and not entry.get("subresource")

    for path in _entry_paths(current, our_update):
        if _ignored(path) or not _has_key_path(current, path):
            continue  # an empty map or list still stands until removed, so presence is by key here
        wanted = _value_at(desired, path)
        if wanted is None:
            return True
        now = _value_at(current, path)
        if isinstance(now, list) and not json_same(wanted, now):
            return True
    return False


def json_same(a: object, b: object) -> bool:
    """JSON equality (True is not 1, 1 equals 1.0; an empty map or list is not an absent key), without recursion."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, Mapping | list) or isinstance(y, Mapping | list) or not json_equal(x, y):
            return False
    return True


def _value_at(obj: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _has_path(obj: object, path: tuple[str, ...]) -> bool:
    return not _is_empty(_value_at(obj, path))


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
        # A field of ours that desired no longer has must go, an empty list or map included: a custom resource keeps
        # one as written (only built-in kinds drop them), so "empty" is not "absent" here. Null in desired is absent.
        if not _ignored(path) and _value_at(current, path) is not None and _value_at(desired, path) is None:
            return True
    return _item_field_dropped(desired, current, manager, subresource)


def _item_field_dropped(
    desired: Mapping[str, Any], current: Mapping[str, Any], manager: str, subresource: str | None
) -> bool:
    """A field inside an item of a keyed or indexed list that `manager` set and `desired` no longer has.

    The subset comparison cannot see it (an item may carry server defaults, so items compare as subsets), and
    owned_paths reads such a list as one path. The managedFields entry names the item (`k:{...}` by its key fields,
    `i:N` by position) and each field set in it, so the check is exact: defaults are owned by nobody. A set of
    scalars (`v:`) changes length when a value goes, which the subset comparison sees; an atomic list names no
    items, and a field dropped inside one of its items still goes unseen (known limitation)."""

    for fields in _entry_fields(current, _written_by(manager, subresource)):
        owned = {k: v for k, v in fields.items() if k != "f:metadata"}  # metadata holds no synced lists
        if _dropped_under(owned, desired, current, inside_item=False):
            return True
    return False


def _dropped_under(fields: Mapping[str, Any], desired: object, current: object, *, inside_item: bool) -> bool:
    for key, sub in fields.items():
        if not isinstance(key, str) or key == ".":
            continue
        if key.startswith("f:"):
            name = key[2:]
            now = current.get(name) if isinstance(current, Mapping) else None
            if now is None:
                continue  # gone already: a stale record
            wanted = desired.get(name) if isinstance(desired, Mapping) else None
            if inside_item and wanted is None:
                return True
            if isinstance(sub, Mapping) and _dropped_under(sub, wanted, now, inside_item=inside_item):
                return True
        elif key.startswith(("k:", "i:")) and isinstance(current, list):
            now_item = _item(current, key)
            if now_item is None:
                continue
            wanted_item = _item(desired, key, defaults_missing=True) if isinstance(desired, list) else None
            if wanted_item is None:
                return True  # the whole item went
            if isinstance(sub, Mapping) and _dropped_under(sub, wanted_item, now_item, inside_item=True):
                return True
    return False


def _item(items: list[Any], key: str, *, defaults_missing: bool = False) -> object:
    """The item a managedFields list key names: `k:{"name":"a"}` by its key fields, `i:3` by its index.

    `defaults_missing`: a key field the item does not set matches (in a desired item, the server defaults it, e.g. a
    port's protocol; requiring it would call the item gone and write forever); at least one key field must match."""
    if key.startswith("i:"):
        try:
            index = int(key[2:])
        except ValueError:
            return None
        return items[index] if 0 <= index < len(items) else None
    try:
        wanted = json.loads(key[2:])
    except ValueError:
        return None
    if not isinstance(wanted, Mapping):
        return None
    for item in items:
        if not isinstance(item, Mapping):
            continue
        present = [k for k in wanted if k in item] if defaults_missing else list(wanted)
        if present and all(json_equal(item.get(k), wanted[k]) for k in present):
            return item
    return None


def stray_paths(desired: Mapping[str, Any], current: Mapping[str, Any], manager: str) -> list[tuple[str, ...]]:
    """Fields other managers added to `current` that `desired` does not have: what a read-only copy must shed.

    Only fields someone *wrote* count (managedFields of other managers): server defaults are owned by nobody, so they
    never show up here and cannot start a write loop. Metadata counts only for labels and annotations (finalizers,
    owner references and the like are the cluster's business). Each path is the outermost stray one, present in
    `current`, in a stable order.
    """
    foreign = _entry_paths(current, lambda e: e.get("manager") != manager and not e.get("subresource"))
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
