"""Kinds coming and going: each tick of the engine's kinds loop starts the informers of every kind both sides serve
now, mirroring the host CRD into the virtual cluster where the virtual cluster lacks it, and stops a kind whose
informer reported it gone (its CRD removed) so the next tick waits for it again.

A kind's state lives in its KindRuntime (crdsync.engine.kinds), changed here under `runtime.lock`. Events of the
informers started here go to the engine's handlers. Failure modes: an ApiError while activating a kind makes it wait
(logged once per reason); nothing about one kind stops the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from crdsync.engine.crds import CrdMirror
from crdsync.engine.kinds import KindRuntime, Kinds
from crdsync.engine.metrics import Metrics
from crdsync.gvk import GroupVersionKind
from crdsync.kube.errors import ApiError
from crdsync.kube.protocols import ClusterClient, ClusterInformer
from crdsync.kube.resource import Resource
from crdsync.translate.names import Tenant

log = logging.getLogger("crdsync.engine")

Handler = Callable[[KindRuntime, str, Any], None]  # (runtime, event type, object) on an informer thread


class KindActivator:
    def __init__(
        self,
        *,
        kinds: Kinds,
        host: ClusterClient,
        virtual: ClusterClient,
        tenant: Tenant,
        crds: CrdMirror,
        informer_factory: Callable[..., ClusterInformer],
        metrics: Metrics,
        stop: threading.Event,
        on_host_event: Handler,
        on_virtual_event: Handler,
    ) -> None:
        self.kinds = kinds
        self._host, self._virtual, self._tenant = host, virtual, tenant
        self._crds = crds
        self._informer_factory = informer_factory
        self._metrics = metrics
        self._stop = stop
        self._on_host_event, self._on_virtual_event = on_host_event, on_virtual_event

    def activate(self) -> list[KindRuntime]:
        """One tick: the kinds started now (their first lists are running)."""
        started: list[KindRuntime] = []
        for runtime in self.kinds.values():
            if self._stop.is_set():
                break
            with runtime.lock:
                if runtime.gone:
                    self.stop_informers(runtime)
                    runtime.gone = False
                    # Discovery caches hits; without a refresh the vanished kind would look served again.
                    self._host.invalidate_discovery()
                    self._virtual.invalidate_discovery()
                if runtime.active:
                    self._crds.refresh(runtime)
                    continue
                try:
                    if self._try_activate(runtime):
                        started.append(runtime)
                        self._crds.refresh(runtime)  # starts the CRD watch with the kind's informers (one list, once)
                except ApiError as exc:
                    self._set_waiting(runtime, f"API error: {exc}")
        return started

    def _set_waiting(self, runtime: KindRuntime, reason: str) -> None:
        if reason != runtime.waiting_reason:
            log.warning("%s: waiting — %s", runtime.gvk, reason)
            runtime.waiting_reason = reason

    def _try_activate(self, runtime: KindRuntime) -> bool:
        gvk = runtime.gvk
        host_res = self._host.resource_for(gvk)
        if host_res is None:
            self._set_waiting(runtime, "the host does not serve this kind (CRD not installed?)")
            return False
        virtual_res = self._virtual.resource_for(gvk)
        if virtual_res is None:
            if not self._crds.mirror(runtime, host_res):
                self._set_waiting(runtime, "the virtual cluster does not serve this kind and it is not a host CRD")
                return False
            virtual_res = self._await_virtual_kind(gvk)
            if virtual_res is None:
                self._set_waiting(runtime, "CRD copied to the virtual cluster; waiting for it to be served")
                return False
        runtime.host_res, runtime.virtual_res = host_res, virtual_res
        self._start_informers(runtime, host_res, virtual_res)
        if runtime.waiting_reason:
            log.info("%s: available now; syncing", gvk)
        runtime.waiting_reason = ""
        return True

    def _start_informers(self, runtime: KindRuntime, host_res: Resource, virtual_res: Resource) -> None:
        gvk = runtime.gvk
        host_namespace = self._tenant.host_namespace if host_res.namespaced and runtime.host_namespace_only else None
        runtime.host = self._informer_factory(
            self._host,
            host_res,
            namespace=host_namespace,
            on_event=lambda etype, key, obj, rt=runtime: self._on_host_event(rt, etype, obj),
            on_gone=lambda rt=runtime: self._on_gone(rt),
            name=f"host {gvk}",
        )
        runtime.virtual = self._informer_factory(
            self._virtual,
            virtual_res,
            on_event=lambda etype, key, obj, rt=runtime: self._on_virtual_event(rt, etype, obj),
            on_gone=lambda rt=runtime: self._on_gone(rt),
            name=f"virtual {gvk}",
        )
        runtime.host.on_relist = lambda kind=gvk.kind: self._metrics.relisted("host", kind)
        runtime.virtual.on_relist = lambda kind=gvk.kind: self._metrics.relisted("virtual", kind)
        runtime.host.start()
        runtime.virtual.start()

    def _await_virtual_kind(self, gvk: GroupVersionKind, timeout: float = 10.0) -> Resource | None:
        """A freshly mirrored CRD is served within a second or two; waiting here saves a whole poll interval."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            self._virtual.invalidate_discovery()
            res = self._virtual.resource_for(gvk)
            if res is not None or time.monotonic() > deadline:
                return res
            self._stop.wait(0.25)
        return None

    def _on_gone(self, runtime: KindRuntime) -> None:
        log.warning("%s: no longer served on one side (CRD removed?); stopping this kind", runtime.gvk)
        runtime.gone = True

    def stop_informers(self, runtime: KindRuntime) -> None:
        for informer in (runtime.host, runtime.virtual, runtime.crd):
            if informer is not None:
                informer.stop()
        runtime.host = runtime.virtual = runtime.crd = None
        runtime.crd_seen = ""
