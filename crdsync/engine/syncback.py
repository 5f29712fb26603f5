"""What flows back onto a toHost source from its host copy: status, and the fields its rule's reverse paths give
the host.

One apply of the source's own main resource for the host-owned fields (the forward translation never reads them, so
the two directions cannot feed each other), and status through the status subresource where the kind has one. Never
onto an object the host copy names: the host decides values here, never where they go. Failure modes: ApiErrors and
TranslationErrors propagate to crdsync.engine.reconcile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crdsync.engine.context import Context, Obj, meta_of
from crdsync.engine.keys import Key, Task
from crdsync.engine.kinds import KindRuntime
from crdsync.engine.writes import Writer
from crdsync.spec.model import Rule
from crdsync.translate.reverse_paths import reverse_fields
from crdsync.translate.status import virtual_status


def sync_back(ctx: Context, key: Key, rule: Rule, runtime: KindRuntime, host_obj: Obj, virtual_obj: Obj) -> None:
    """Status and the host-owned fields (rule.reverse_paths) of the host copy, onto the key's own virtual source (an
    export's source is the tenant's object a reference names: nothing flows back onto it).

    The host-owned fields go by server-side apply of the main resource under our field manager, so a field the host
    drops is removed again. Without a status subresource status is part of that same apply: two applies of one
    resource by one manager would each remove what the other set.
    """
    if key.task is Task.EXPORT or not (rule.status.enabled or rule.reverse_paths):
        return
    assert runtime.virtual_res is not None
    writer = ctx.writer
    fields = reverse_fields(rule, host_obj) if rule.reverse_paths else None
    together = fields is not None and not runtime.virtual_res.has_status
    status: Obj | None = None
    # Nothing to carry either way is the common case (most copies in a bulk sync, before the operator acts).
    if rule.status.enabled and (host_obj.get("status") or virtual_obj.get("status") or together):
        status = virtual_status(rule, host_obj, virtual_obj, status_subresource=runtime.status_both)
    if together:
        assert fields is not None
        _apply_fields(writer, runtime, virtual_obj, {**fields, "status": status} if status else fields)
        return
    if status is not None and (status or virtual_obj.get("status")):
        subresource = "status" if runtime.virtual_res.has_status else None
        writer.apply_virtual(runtime, partial(runtime, virtual_obj, {"status": status}), virtual_obj, subresource)
    if fields is not None:
        meta = meta_of(virtual_obj)
        current = ctx.current("virtual", runtime, meta.get("namespace"), meta["name"]) or virtual_obj
        _apply_fields(writer, runtime, current, fields)


def _apply_fields(writer: Writer, runtime: KindRuntime, current: Obj, fields: Obj) -> None:
    writer.apply_virtual(runtime, partial(runtime, current, fields), current)


def partial(runtime: KindRuntime, identity: Mapping[str, Any], fields: Obj) -> Obj:
    """A partial object for an apply: `fields` (spec fields, metadata keys, status) of the virtual object named like
    `identity`."""
    assert runtime.virtual_res is not None
    meta = meta_of(identity)
    extra_meta: Mapping[str, Any] = fields.get("metadata") or {}
    return {
        **{k: v for k, v in fields.items() if k != "metadata"},
        "apiVersion": identity.get("apiVersion") or runtime.virtual_res.api_version,
        "kind": identity.get("kind") or runtime.virtual_res.kind,
        "metadata": {**extra_meta, **{k: meta[k] for k in ("name", "namespace") if meta.get(k)}},
    }
