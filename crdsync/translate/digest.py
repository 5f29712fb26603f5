"""The restart fast path's proof: a digest of every input of objects.to_host, recorded on the copy it wrote.

source_digest hashes the rules (without where they were written, so editing a comment in a mapping rewrites
nothing), the tenant, crdsync's version and the source as to_host reads it; equal digests mean equal desired copies
(to_host is pure), so the engine can tell a copy is in sync without translating. with_source_digest stamps the digest
(and the number of fields an apply of the copy owns, applied_field_count) into ANN_SOURCE_DIGEST; owned_field_count
counts the same on the copy as the apiserver keeps it, so a field someone removed since shows.

Pure. Nothing raises: a source that cannot be digested gives None (the engine then takes the full path).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

from crdsync.spec.model import Rule, SyncConfig
from crdsync.translate.bookkeeping import ANN_SOURCE_DIGEST
from crdsync.translate.memo import config_cache
from crdsync.translate.metadata import metadata_of
from crdsync.translate.names import Tenant
from crdsync.translate.reverse_paths import forward_view
from crdsync.translate.status import maps_generations

_LOCATION = re.compile(r"location=Location\(file=.*?, line=\d+, column=\d+\)")
_MAX_FINGERPRINTS = 64  # per config: one per tenant and status_subresource in the engine; tests use many tenants


def _rules_fingerprint(config: SyncConfig, tenant: Tenant, status_subresource: bool) -> bytes:
    """What to_host's result depends on besides the source: the rules (without where they were written, so editing a
    comment in a mapping rewrites nothing), the tenant and crdsync's version (translation may change between them).
    Cached on the config (translate.memo): rendering the rules costs more than the digest saves."""
    cache: dict[tuple[Tenant, bool], bytes] = config_cache(config, "rules_fingerprints")
    fingerprint = cache.get((tenant, status_subresource))
    if fingerprint is not None:
        return fingerprint
    from crdsync import __version__

    rules = _LOCATION.sub("", repr(config.rules))
    text = f"{__version__}|{tenant!r}|{status_subresource}|{rules}"
    fingerprint = hashlib.blake2b(text.encode(), digest_size=16).digest()
    if len(cache) >= _MAX_FINGERPRINTS:
        cache.clear()
    cache[(tenant, status_subresource)] = fingerprint
    return fingerprint


def source_digest(
    config: SyncConfig, rule: Rule, virtual_obj: Mapping[str, Any], tenant: Tenant, *, status_subresource: bool
) -> str | None:
    """A digest of every input of to_host(config, rule, virtual_obj, tenant, status_subresource): the rules, the
    tenant and the source as to_host reads it (forward_view, without status and server metadata other than uid and,
    when it is recorded, generation). Equal digests mean equal desired copies (to_host is pure). None when the source
    cannot be digested (the full path then decides)."""
    view = forward_view(rule, virtual_obj)
    meta = metadata_of(view)
    read = {k: meta.get(k) for k in ("name", "namespace", "labels", "annotations", "uid")}
    if maps_generations(rule, status_subresource):
        read["generation"] = meta.get("generation")
    body = {k: v for k, v in view.items() if k not in ("status", "metadata")}
    encoded = _canonical_json([read, body])
    if encoded is None:
        return None
    fingerprint = _rules_fingerprint(config, tenant, status_subresource)
    return hashlib.blake2b(fingerprint + encoded, digest_size=16).hexdigest()


def _canonical_json(value: Any) -> bytes | None:
    """Sorted-key compact JSON of `value`: orjson (the restart decides thousands of these), else json.dumps for what
    orjson refuses (integers beyond 64 bits, nesting past 254 levels); None when neither can (a lone surrogate, which
    no UTF-8 can hold). Deterministic: a given value always takes the same encoder."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        pass
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError, RecursionError):
        return None


def with_source_digest(copy: dict[str, Any], digest: str) -> dict[str, Any]:
    """`copy` (a to_host result, changed in place and returned) stamped with ANN_SOURCE_DIGEST: "<digest>.<fields>",
    the number of fields an apply of the stamped copy owns."""
    meta = copy["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}), ANN_SOURCE_DIGEST: digest}
    meta["annotations"][ANN_SOURCE_DIGEST] = f"{digest}.{applied_field_count(copy)}"
    return copy


def applied_field_count(obj: Mapping[str, Any]) -> int:
    """How many fields an apply (or create) of `obj` owns, counted as owned_field_count counts managedFields: every
    field path, maps included (a map, a list, a scalar each count one), without apiVersion, kind,
    metadata.name/namespace and status. Iterative."""
    meta = obj.get("metadata")
    body: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    if isinstance(meta, dict):
        owned = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
        if owned:
            body["metadata"] = owned
    count = 0
    stack: list[Mapping[str, Any]] = [body]
    while stack:
        for item in stack.pop().values():
            count += 1
            if isinstance(item, dict):
                stack.append(item)
    return count


def owned_field_count(obj: Mapping[str, Any], manager: str) -> int:
    """The field paths `manager`'s managedFields entries of the main resource name (every fieldsV1 key but the "."
    markers; a path two entries of ours both name counts once), or -1 when another manager has such an entry (someone
    else wrote the object) or they cannot be read.

    Equal to applied_field_count of what `manager` last wrote while nobody else touched the object, and smaller once
    anyone removed a field of it: the removed field's path leaves the set. Counting paths, not leaves, is what makes
    that hold: a map whose only owned field was removed stays in an entry that created it (an Update, or one converted
    from it, owns the map too), and would count as a leaf of its own in place of the field it lost. Two entries of
    ours (the Update record of our create beside the Apply record of a later change, writes.py) name what the last
    write set between them.

    -1 too for a keyed list (x-kubernetes-list-type map or set): its entries name each item and the item's fields,
    which applied_field_count (blind to the schema) reads as one list, so the count is over by as many, and that many
    fields removed by someone else (a removal leaves no entry) would bring it back to the recorded one."""
    meta = obj.get("metadata")
    entries = meta.get("managedFields") if isinstance(meta, dict) else None
    ours: list[Any] = []
    for entry in entries or []:
        if not isinstance(entry, dict):
            return -1
        if entry.get("subresource"):
            continue
        if entry.get("manager") != manager:
            return -1
        ours.append(entry.get("fieldsV1"))
    if len(ours) == 1:  # the common case, one record, needs no path set
        return _field_count(ours[0])
    paths: set[tuple[str, ...]] = set()
    stack: list[tuple[tuple[str, ...], Any]] = [((), fields) for fields in ours]
    while stack:
        prefix, fields = stack.pop()
        if not isinstance(fields, dict):
            return -1
        for name, sub in fields.items():
            if name == ".":
                continue
            if not isinstance(name, str) or not name.startswith("f:"):
                return -1  # an item of a keyed list (k:, v:, i:): applied_field_count reads a list as one field
            path = (*prefix, name)
            stack.append((path, sub))  # a path both name may hold different fields in each
            paths.add(path)
    return len(paths)


def _field_count(fields: Any) -> int:
    """owned_field_count of a single fieldsV1 record: its keys but ".", at every depth; -1 as there."""
    count = 0
    stack = [fields]
    while stack:
        fields = stack.pop()
        if not isinstance(fields, dict):
            return -1
        for name, sub in fields.items():
            if name == ".":
                continue
            if not isinstance(name, str) or not name.startswith("f:"):
                return -1
            stack.append(sub)
            count += 1
    return count
