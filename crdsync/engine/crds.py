"""The host CRD of each synced kind, mirrored into the virtual cluster so tenants can create (toHost) or see (fromHost)
its resources, and kept in step with the host's (new versions, schema changes).

`mirror_crd` is pure: all served versions are kept; a conversion webhook cannot run against the virtual cluster's
API server (its service lives in the host), so it is dropped and a warning logged; server-owned metadata and status
never cross. `CrdMirror` watches the host CRD by name (a fieldSelector on metadata.name: one watch per kind, so a quiet
host sees no requests for it but that watch) and mirrors it when its resourceVersion changes (compared for equality
only); its events wake the engine's kinds loop. Where the watch is forbidden (RBAC generated before it: it needs
list/watch on that CRD by name), the CRD is re-read every `refresh_seconds` instead. The write itself is
crdsync.engine.writes' (`Writer.mirror_crd`).

Failure modes: ApiErrors of a refresh are logged and retried on the next tick; those of the first mirror propagate to
the kinds loop (the kind then waits).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from crdsync.engine.kinds import KindRuntime
from crdsync.engine.writes import Writer
from crdsync.gvk import GroupVersionKind
from crdsync.kube.errors import ApiError, Forbidden
from crdsync.kube.protocols import ClusterClient, ClusterInformer
from crdsync.kube.resource import Resource
from crdsync.translate.bookkeeping import LABEL_MANAGED_BY, MANAGER

log = logging.getLogger("crdsync.engine")

CRD_GROUP = "apiextensions.k8s.io"
CRD_VERSION = "v1"
CRD_KIND = "CustomResourceDefinition"
CRD_GVK = GroupVersionKind(CRD_GROUP, CRD_VERSION, CRD_KIND)


def mirror_crd(host_crd: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The CRD to apply in the virtual cluster, and warnings about what could not be carried over."""
    warnings: list[str] = []
    metadata = host_crd["metadata"]
    spec = copy.deepcopy(dict(host_crd["spec"]))
    conversion = spec.get("conversion") or {}
    if conversion.get("strategy") == "Webhook":
        warnings.append(
            f"CRD {metadata['name']}: conversion webhook dropped in the virtual cluster (strategy None); "
            "objects are served in each version without field conversion"
        )
        spec["conversion"] = {"strategy": "None"}
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    labels = dict(metadata.get("labels") or {})
    labels[LABEL_MANAGED_BY] = MANAGER
    mirrored: dict[str, Any] = {
        "apiVersion": f"{CRD_GROUP}/{CRD_VERSION}",
        "kind": CRD_KIND,
        "metadata": {"name": metadata["name"], "labels": labels},
        "spec": spec,
    }
    if annotations:
        mirrored["metadata"]["annotations"] = annotations
    return mirrored, warnings


def crd_name(res: Resource) -> str:
    return f"{res.plural}.{res.group}"


class CrdMirror:
    def __init__(
        self,
        host: ClusterClient,
        writer: Writer,
        informer_factory: Callable[..., ClusterInformer],
        *,
        refresh_seconds: float,
        wake: Callable[[], None],
    ) -> None:
        self.host = host
        self.writer = writer
        self._informer_factory = informer_factory
        self._refresh = refresh_seconds
        self._wake = wake

    def mirror(self, runtime: KindRuntime, host_res: Resource, crd: Mapping[str, Any] | None = None) -> bool:
        """Copy the host's CRD for this kind (`crd`, else read now) into the virtual cluster; False when the kind is
        not a CRD."""
        crd_res = self.host.resource_for(CRD_GVK)
        if crd_res is None or not host_res.group:
            return False
        if crd is None:
            crd = self.host.get(crd_res, None, crd_name(host_res))
        if crd is None:
            return False
        desired, warnings = mirror_crd(crd)
        for warning in warnings:
            log.warning("%s", warning)
        virtual_crd_res = self.writer.sides.virtual.resource_for(CRD_GVK)
        if virtual_crd_res is None:
            return False
        if self.writer.mirror_crd(virtual_crd_res, desired):
            log.info("%s: CRD %s installed in the virtual cluster", runtime.gvk, desired["metadata"]["name"])
        runtime.crd_checked_at = time.monotonic()
        return True

    def refresh(self, runtime: KindRuntime) -> None:
        """Keep the mirrored CRD in step with the host's: from the watch when there is one, else on a timer."""
        host_res = runtime.host_res
        if host_res is None or not host_res.group:
            return
        if runtime.crd is None and not runtime.crd_watch_refused:
            self._watch(runtime, host_res)
        watch = runtime.crd
        if watch is not None and isinstance(watch.last_error, Forbidden):
            log.warning(
                "%s: may not watch the host CRD (%s); re-reading it every %.0fs instead (regenerate the RBAC)",
                runtime.gvk,
                watch.last_error,
                self._refresh,
            )
            watch.stop()
            runtime.crd, runtime.crd_watch_refused = None, True
            watch = None
        if watch is not None:
            self._from_watch(runtime, host_res, watch)
            return
        if time.monotonic() - runtime.crd_checked_at < self._refresh:
            return
        try:
            self.mirror(runtime, host_res)
        except ApiError as exc:
            log.warning("%s: could not refresh the virtual CRD: %s", runtime.gvk, exc)
        runtime.crd_checked_at = time.monotonic()

    def _from_watch(self, runtime: KindRuntime, host_res: Resource, watch: ClusterInformer) -> None:
        if not watch.has_synced.is_set():
            return
        crd = watch.get(None, crd_name(host_res))
        version = str((crd or {}).get("metadata", {}).get("resourceVersion") or "")
        if crd is None or version == runtime.crd_seen:
            return
        try:
            if self.mirror(runtime, host_res, crd):
                runtime.crd_seen = version
        except ApiError as exc:
            log.warning("%s: could not refresh the virtual CRD: %s", runtime.gvk, exc)

    def _watch(self, runtime: KindRuntime, host_res: Resource) -> None:
        crd_res = self.host.resource_for(CRD_GVK)
        if crd_res is None:
            runtime.crd_watch_refused = True  # not a CRD the host serves through the API: nothing to watch
            return
        name = crd_name(host_res)
        runtime.crd = self._informer_factory(
            self.host,
            crd_res,
            field_selector=f"metadata.name={name}",
            on_event=lambda etype, key, obj: self._wake(),
            name=f"host CRD {name}",
        )
        runtime.crd.start()
