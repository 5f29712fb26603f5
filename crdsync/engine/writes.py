"""The write decision: the one place that turns "desired vs current" into requests to an API server.

Everything else in the engine decides WHAT an object should be (reconcile, tohost, fromhost, with the tenancy proofs
of crdsync.translate.tenancy); this module decides HOW to get there, and nothing else in the engine sends a write.

Policy, verb by verb:
- create (POST) for a new host copy: the apiserver spends markedly less on a create than on an apply (measured by
  `crdsync bench`), and most writes of a bulk sync are creates. AlreadyExists (our cache was behind): the object there
  gets an apply only when it is provably our copy; anything else raises back into the whole ownership decision (as a
  Conflict: retried with fresh state), so a race never turns into a forced apply over somebody else's object.
- apply (server-side apply, force, our one field manager) for every update of a copy, and for every virtual write,
  creates included: fields the tenant or an operator owns are left alone, fields we stop setting are removed by the
  server. Force, because a copy is ours: a field someone else set on it is taken back. Nothing is written when
  `needs_write` says the apply would change nothing (a host copy is compared with the source digest it records, so a
  digest alone never costs a write).
- ownership conversion (JSON patch of managedFields, conditional on the version judged) of an object we created by
  POST, replaced by PUT, or adopted from vcluster's syncer: server-side apply removes a field we stop setting only when
  no other entry owns it, and their Update entries would keep owning every field they set (kubectl's csaupgrade does
  the same conversion). An adopted copy is converted at once; our own copy only before an apply that would otherwise
  leave a field behind (`apply_leaves_behind`: a field dropped, a list changed), so a plain change costs one write.
- replace (PUT, resourceVersion precondition) for conflict policy Overwrite: drops every field we do not set, whoever
  wrote it; a change made since we judged the object gives Conflict, never a silent overwrite of it. The records
  other managers keep of what the PUT left equal are then folded into ours, so the object is ours field by field.
- JSON patch (`test` of the resourceVersion, then `remove`s) to shed fields a tenant added to a read-only import:
  apply reverts fields we own, but a field someone else added is theirs until removed by path.
- merge patch for bookkeeping changes that apply cannot express for a field it does not own: finalizer add/remove and
  the orphan mark taken back (both conditional on the version judged: a concurrent change gives 409, not loss), and
  orphaning a copy under DeletionPolicy Orphan.
- delete, always with the uid judged as precondition, so an object that took the name meanwhile is never deleted: a
  released copy, a copy that belongs to an earlier object of the same name (deleted and created again: replaced, the
  new copy created once the old one is gone), and under replaceOnConflict a copy the host refused to update (422).
- the finalizer on a source comes off only once the server, not the cache, says its copy is gone.
- the mirrored CRD in the virtual cluster: a forced apply when it differs.

Dry runs (`dry`): every request goes through `client`, which refuses it with WouldWrite on a dry thread, as does
`begin_write` where a reconcile has decided to write before it computes what; the restart's settle pass
(Reconciler.settled) judges keys this way without a single request.

Every successful write is reported to `on_write(side, verb)` (metrics only: nothing reads it back to decide) and
remembered in the write overlay (crdsync.engine.overlay) for the key being reconciled on this thread. Failure modes:
ApiErrors propagate to the reconciler (which maps them to retries and Events), except NotFound where the object going
away already achieves the write (orphaning, finalizers) and the AlreadyExists fallback above.

Over 400 lines by design: every verb the engine sends is here, beside the policy that says when, so that changing how
crdsync writes means reading one file.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from crdsync.engine.keys import Key
from crdsync.engine.kinds import KindRuntime
from crdsync.engine.overlay import Slot, WriteOverlay
from crdsync.gvk import GroupVersionKind
from crdsync.kube.errors import AlreadyExists, ApiError, NotFound
from crdsync.kube.protocols import ClusterClient
from crdsync.kube.resource import Resource
from crdsync.spec.model import DeletionPolicy
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_DIGEST,
    LABEL_MANAGED_BY,
    LABEL_ORPHANED,
    LABEL_ROLE,
    LABEL_VCLUSTER,
    PREFIX,
    annotations_of,
)
from crdsync.translate.compare import apply_leaves_behind, needs_write, stray_paths
from crdsync.translate.tenancy import VCLUSTER_ANN_NAME

log = logging.getLogger("crdsync.writes")

Obj = dict[str, Any]
FINALIZER = "crdsync.io/host-copy"
NAMESPACE_GVK = GroupVersionKind("", "v1", "Namespace")


@dataclass(frozen=True)
class Sides:
    host: ClusterClient
    virtual: ClusterClient


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def slot_of(side: str, runtime: KindRuntime, namespace: str | None, name: str) -> Slot:
    return side, runtime.gvk.group, runtime.gvk.kind, namespace, name


class UpdateRefused(Exception):
    """The host refused an update of a copy as invalid (422): `error` is its answer. Not an ApiError, so only a
    caller that means to answer it (replaceOnConflict) catches it; the reconciler reports `error` otherwise."""

    @property
    def error(self) -> ApiError:
        error: ApiError = self.args[0]
        return error


class WouldWrite(Exception):
    """A dry run (Writer.dry) reached a request: the reconcile on this thread would write (or read the server)."""


class Writer:
    def __init__(self, sides: Sides, field_manager: str, overlay: WriteOverlay | None = None) -> None:
        self.sides = sides
        self.field_manager = field_manager
        self.overlay = overlay if overlay is not None else WriteOverlay()
        self.on_write: Callable[[str, str], None] = _uncounted
        self._for = threading.local()  # per worker: the key being reconciled (who a write is remembered for)
        self._ensured_namespaces: set[str] = set()

    # -- plumbing ------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing_for(self, key: Key) -> Iterator[None]:
        self._for.key = key
        try:
            yield
        finally:
            self._for.key = None

    @contextlib.contextmanager
    def dry(self) -> Iterator[None]:
        """Within: no request leaves this thread; the first one (or `begin_write`) raises WouldWrite instead."""
        self._for.dry = True
        try:
            yield
        finally:
            self._for.dry = False

    def begin_write(self) -> None:
        """The caller has decided to write: a dry run stops here, before computing what."""
        if getattr(self._for, "dry", False):
            raise WouldWrite

    def client(self, side: str) -> ClusterClient:
        """The client of `side`, "host" or "virtual" (any other side is a KeyError, never a guess); every request of
        the engine's reconciles goes through here, which is what makes `dry` hold."""
        self.begin_write()
        return {"host": self.sides.host, "virtual": self.sides.virtual}[side]

    @staticmethod
    def _res(side: str, runtime: KindRuntime) -> Resource:
        res = {"host": runtime.host_res, "virtual": runtime.virtual_res}[side]
        assert res is not None
        return res

    def _wrote(self, side: str, verb: str) -> None:
        self.on_write(side, verb)

    def _cached(self, side: str, runtime: KindRuntime, namespace: str | None, name: str) -> Obj | None:
        informer = runtime.informer(side)
        return informer.get(namespace, name) if informer is not None else None

    def current(self, side: str, runtime: KindRuntime, namespace: str | None, name: str) -> Obj | None:
        """What to decide from: the informer's cached object, or our own more recent write (overlay)."""
        cached = self._cached(side, runtime, namespace, name)
        return self.overlay.current(slot_of(side, runtime, namespace, name), cached)

    def _remember(self, side: str, runtime: KindRuntime, written: Obj) -> Obj:
        meta = _meta(written)
        namespace, name = meta.get("namespace"), meta.get("name", "")
        cached = self._cached(side, runtime, namespace, name)
        key = getattr(self._for, "key", None)
        return self.overlay.remember(slot_of(side, runtime, namespace, name), written, key, cached)

    # -- create, apply, replace ----------------------------------------------------------------------------------
    def create(self, side: str, runtime: KindRuntime, desired: Obj, ours: Callable[[Obj], bool]) -> Obj:
        """A new copy by POST; on AlreadyExists an apply only over our own copy (module policy)."""
        client, res = self.client(side), self._res(side, runtime)
        try:
            created = client.create(res, desired)
        except AlreadyExists:
            meta = desired["metadata"]
            existing = client.get(res, meta.get("namespace"), meta["name"])
            if existing is None or not ours(existing):
                raise
            applied = client.apply(res, desired, force=True)
            self._wrote(side, "apply")
            return self._remember(side, runtime, applied)
        self._wrote(side, "create")
        return self._remember(side, runtime, created)

    def update_host_copy(self, runtime: KindRuntime, desired: Obj, current: Obj) -> Obj | None:
        """Apply `desired` over our host copy `current` when it would change anything; the written object or None.
        A 422 on the apply is UpdateRefused (the caller may answer it with `replace_refused_copy`)."""
        if not needs_write(_digest_as_recorded(desired, current), current, self.field_manager):
            return None
        if apply_leaves_behind(desired, current, self.field_manager):
            self.convert_ownership("host", runtime, current)
        try:
            written = self.client("host").apply(self._res("host", runtime), desired, force=True)
        except ApiError as exc:
            if exc.status == 422:
                raise UpdateRefused(exc) from exc
            raise
        self._wrote("host", "apply")
        return self._remember("host", runtime, written)

    def apply_virtual(
        self, runtime: KindRuntime, body: Obj, current: Obj | None, subresource: str | None = None
    ) -> Obj:
        """Apply `body` (a whole copy, or a partial object: fields, status) to the virtual side when it would change
        `current`; the written object, else `current`."""
        if current is not None and not needs_write(body, current, self.field_manager, subresource):
            return current
        written = self.client("virtual").apply(self._res("virtual", runtime), body, force=True, subresource=subresource)
        self._wrote("virtual", "apply")
        return self._remember("virtual", runtime, written)

    def overwrite(self, side: str, runtime: KindRuntime, desired: Obj, target: Obj) -> Obj:
        """Conflict policy Overwrite: PUT `desired` in place of `target`, conditional on the version judged; then
        every field of it is ours. A PUT leaves a field it did not change owned by whoever set it (the value was
        equal), so the other managers' records of the main resource are folded into ours, as a create's record is;
        otherwise a field the source drops later would stay, kept by a record of the object we replaced."""
        version = _meta(target).get("resourceVersion")
        body = {**desired, "metadata": {**desired["metadata"], "resourceVersion": version}}
        written = self.client(side).replace(self._res(side, runtime), body)
        self._wrote(side, "replace")
        written = self._remember(side, runtime, written)
        others = _other_managers(written, self.field_manager)
        taken = self.convert_ownership(side, runtime, written, also=others) if others else None
        return taken if taken is not None else written

    def replace_refused_copy(
        self, runtime: KindRuntime, current: Obj, desired: Obj, ours: Callable[[Obj], bool]
    ) -> bool:
        """replaceOnConflict: delete our copy the host refused to update (uid precondition) and create it again; False
        when a host finalizer still holds the old one (created on a later reconcile, once its DELETED event came)."""
        meta = _meta(current)
        namespace, name = meta.get("namespace"), meta["name"]
        self.delete("host", runtime, current)
        if self.client("host").get(self._res("host", runtime), namespace, name) is not None:
            return False
        self.create("host", runtime, desired, ours)
        return True

    def renew_earlier_copy(
        self, runtime: KindRuntime, copy: Obj, recorded_uid: str | None, source_uid: str | None
    ) -> bool:
        """A copy recording another source uid than the source's now belongs to an earlier object of that name (it
        was deleted and created again): the copy is deleted (uid precondition) and True returned; its replacement is
        created once it is gone. False: the copy is the source's own."""
        if recorded_uid == source_uid:
            return False
        log.info(
            "host copy %s belongs to an earlier object (uid %s); replacing it", _meta(copy).get("name"), recorded_uid
        )
        self.delete("host", runtime, copy)
        return True

    # -- patches -------------------------------------------------------------------------------------------------
    def convert_ownership(
        self, side: str, runtime: KindRuntime, obj: Mapping[str, Any], *, also: Collection[str] = ()
    ) -> Obj | None:
        """Turn our manager's Update entry (and `also` managers' ones) into our Apply entry (module policy); the
        patched object, or None when there was nothing to convert. Only managedFields change, so the apiserver
        records no new entry for this patch."""
        meta = _meta(obj)
        upgraded = _converted_entries(meta.get("managedFields") or [], self.field_manager, also)
        if upgraded is None:
            return None
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
            {"op": "replace", "path": "/metadata/managedFields", "value": upgraded},
        ]
        client = self.client(side)
        patched = client.patch(self._res(side, runtime), meta.get("namespace"), meta["name"], patch, patch_type="json")
        self._wrote(side, "patch")
        return self._remember(side, runtime, patched)

    def adopt_vcluster_copy(self, runtime: KindRuntime, copy: Obj) -> Obj:
        """What vcluster's syncer owned of its copy becomes ours (as a create's record does), so the next apply adds
        our bookkeeping and sheds what crdsync does not set: vcluster's keys and its owner reference to the vcluster."""
        adopted = self.convert_ownership("host", runtime, copy, also=_vcluster_managers(copy))
        return adopted if adopted is not None else copy

    def take_back_orphan(self, runtime: KindRuntime, copy: Obj) -> Obj:
        """The orphan mark goes first (conditional on the version judged); apply alone would keep a label it does not
        own."""
        meta = _meta(copy)
        unmark = {"metadata": {"labels": {LABEL_ORPHANED: None}, "resourceVersion": meta.get("resourceVersion")}}
        unmarked = self.client("host").patch(self._res("host", runtime), meta.get("namespace"), meta["name"], unmark)
        self._wrote("host", "patch")
        return self._remember("host", runtime, unmarked)

    def shed_stray_fields(self, runtime: KindRuntime, desired: Obj, current: Obj) -> Obj:
        """Remove what someone else added to a read-only import, by a JSON patch conditional on the version judged."""
        stray = stray_paths(desired, current, self.field_manager)
        if not stray:
            return current
        meta = _meta(current)
        patch: list[Obj] = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}]
        patch += [{"op": "remove", "path": _json_pointer(path)} for path in stray]
        res = self._res("virtual", runtime)
        written = self.client("virtual").patch(res, meta.get("namespace"), meta["name"], patch, patch_type="json")
        self._wrote("virtual", "patch")
        return self._remember("virtual", runtime, written)

    def set_finalizer(self, runtime: KindRuntime, source: Obj, *, present: bool) -> None:
        """Add or remove our finalizer on a virtual source (a merge patch conditional on the version judged)."""
        meta = _meta(source)
        finalizers = [f for f in (meta.get("finalizers") or []) if f != FINALIZER]
        if present:
            finalizers.append(FINALIZER)
        patch = {"metadata": {"finalizers": finalizers or None, "resourceVersion": meta.get("resourceVersion")}}
        try:
            written = self.client("virtual").patch(
                self._res("virtual", runtime), meta.get("namespace"), meta["name"], patch
            )
        except NotFound:
            return
        self._wrote("virtual", "patch")
        self._remember("virtual", runtime, written)

    def release_finalizer(self, runtime: KindRuntime, source: Obj, deleted_copy: Mapping[str, Any] | None) -> bool:
        """Take our finalizer off `source` once its copy is gone; with `deleted_copy` (a copy just deleted), confirmed
        with the server, not the cache: the finalizer's promise is that the copy is really gone. False: not yet."""
        if deleted_copy is not None:
            meta = _meta(deleted_copy)
            if self.client("host").get(self._res("host", runtime), meta.get("namespace"), meta["name"]) is not None:
                return False
        self.set_finalizer(runtime, source, present=False)
        return True

    # -- letting go ----------------------------------------------------------------------------------------------
    def delete(self, side: str, runtime: KindRuntime, obj: Mapping[str, Any]) -> None:
        """Delete `obj`, preconditioned on the uid judged; it leaves the overlay (nothing of ours stands there)."""
        meta = _meta(obj)
        namespace, name = meta.get("namespace"), meta["name"]
        if self.client(side).delete(self._res(side, runtime), namespace, name, uid=meta.get("uid")):
            self._wrote(side, "delete")
        self.overlay.forget(slot_of(side, runtime, namespace, name))

    def release(self, side: str, runtime: KindRuntime, deletion: DeletionPolicy, obj: Obj, vcluster: str) -> None:
        """Let go of a copy: delete it, or under DeletionPolicy Orphan leave it in place, unmanaged.

        A host copy left behind keeps crdsync.io/vcluster and its source annotations and gains crdsync.io/orphaned, so
        an admin can list and remove what a tenant left (`crdsync gc`) and the same source, selected again, takes it
        back (tenancy.is_orphan_of). A virtual copy (the tenant's own cluster) just loses all our keys.
        """
        if deletion is not DeletionPolicy.ORPHAN:
            self.delete(side, runtime, obj)
            return
        meta = _meta(obj)
        patch: Obj
        if side == "host":
            marks = {LABEL_MANAGED_BY: None, LABEL_ROLE: None, LABEL_ORPHANED: "true"}
            patch = {"metadata": {"labels": {**marks, LABEL_VCLUSTER: vcluster}}}
        else:
            labels = {k: None for k in (meta.get("labels") or {}) if k.startswith(PREFIX)}
            annotations = {k: None for k in (meta.get("annotations") or {}) if k.startswith(PREFIX)}
            patch = {"metadata": {"labels": labels or None, "annotations": annotations or None}}
        with contextlib.suppress(NotFound):
            self.client(side).patch(self._res(side, runtime), meta.get("namespace"), meta["name"], patch)
            self._wrote(side, "patch")

    # -- cluster objects -----------------------------------------------------------------------------------------
    def ensure_virtual_namespace(self, namespace: str) -> None:
        """A copy's namespace exists in the virtual cluster before the copy is applied (created once if missing)."""
        if namespace in self._ensured_namespaces:
            return
        client = self.client("virtual")
        res = client.resource_for(NAMESPACE_GVK)
        if res is not None and client.get(res, None, namespace) is None:
            try:
                client.create(res, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
                self._wrote("virtual", "create")
            except ApiError as exc:
                if exc.status != 409:
                    raise
        self._ensured_namespaces.add(namespace)

    def mirror_crd(self, crd_res: Resource, desired: Obj) -> bool:
        """Apply the mirrored CRD `desired` in the virtual cluster when it differs from what is there; True if
        written."""
        current = self.client("virtual").get(crd_res, None, desired["metadata"]["name"])
        if not needs_write(desired, current, self.field_manager):
            return False
        self.client("virtual").apply(crd_res, desired, force=True)
        self._wrote("virtual", "apply")
        return True


def _uncounted(side: str, verb: str) -> None:
    """What a Writer reports its writes to until the engine gives it its metrics: nothing."""


def _digest_as_recorded(desired: Obj, host_obj: Mapping[str, Any]) -> Obj:
    """`desired` for the question "is there anything to write?": with the digest the copy records (none if it has
    none). A digest alone never costs a write (a copy written before digests, a new crdsync version); a copy takes the
    fresh one with its next real change, and until then the fast path simply does not apply to it."""
    recorded = annotations_of(host_obj).get(ANN_SOURCE_DIGEST)
    annotations = dict(_meta(desired).get("annotations") or {})
    if recorded is None:
        annotations.pop(ANN_SOURCE_DIGEST, None)
    else:
        annotations[ANN_SOURCE_DIGEST] = recorded
    return {**desired, "metadata": {**_meta(desired), "annotations": annotations}}


def _converted_entries(entries: list[Any], manager: str, also: Collection[str]) -> list[Obj] | None:
    """managedFields with `manager`'s main-resource Update entries and every main-resource entry of the `also`
    managers folded into `manager`'s Apply entry (one per manager: the first folded entry becomes it when there is
    none); None when there is nothing to fold."""
    ours = [
        e
        for e in entries
        if not e.get("subresource")
        and ((e.get("manager") == manager and e.get("operation") == "Update") or e.get("manager") in also)
    ]
    if not ours:
        return None
    applied = next(
        (
            e
            for e in entries
            if e.get("manager") == manager and e.get("operation") == "Apply" and not e.get("subresource")
        ),
        None,
    )
    if applied is None:
        applied = {**ours[0], "manager": manager, "operation": "Apply"}
        entries = [applied if e is ours[0] else e for e in entries]
        ours = ours[1:]
    upgraded: list[Obj] = []
    for entry in entries:
        if entry in ours:
            continue  # its fields are folded into our Apply entry
        if entry is applied:
            fields: dict[str, Any] = dict(applied.get("fieldsV1") or {})
            for extra in ours:
                fields = _merge_fields(fields, extra.get("fieldsV1") or {})
            upgraded.append({**applied, "fieldsV1": fields})
        else:
            upgraded.append(entry)
    return upgraded


def _other_managers(obj: Mapping[str, Any], manager: str) -> frozenset[str]:
    """Every field manager but `manager` with a record of the main resource."""
    return frozenset(
        e["manager"]
        for e in _meta(obj).get("managedFields") or []
        if isinstance(e, Mapping) and not e.get("subresource") and isinstance(e.get("manager"), str)
        and e["manager"] != manager
    )


def _vcluster_managers(host_obj: Mapping[str, Any]) -> frozenset[str]:
    """The field managers that wrote vcluster's object-name annotation with an update: vcluster's syncer, under
    whatever name its client sent."""
    owner_path = ("f:metadata", "f:annotations", f"f:{VCLUSTER_ANN_NAME}")
    found = set()
    for entry in _meta(host_obj).get("managedFields") or []:
        if not isinstance(entry, Mapping) or entry.get("operation") != "Update" or entry.get("subresource"):
            continue
        fields: Any = entry.get("fieldsV1")
        for step in owner_path:
            fields = fields.get(step) if isinstance(fields, Mapping) else None
        if fields is not None and isinstance(entry.get("manager"), str):
            found.add(entry["manager"])
    return frozenset(found)


def _merge_fields(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge_fields(out[key], value)
        else:
            out.setdefault(key, value)
    return out


def _json_pointer(path: tuple[str, ...]) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)
