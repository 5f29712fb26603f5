"""The seams between crdsync's logic and cluster IO, as Protocols: what the engine, events, leases and gc call.

KubeClient and Informer satisfy them (checked by mypy in tests/kube/test_protocols.py), and so does the in-memory
apiserver the unit tests use (tests/fakeapi), so a fake that drifts from the real client fails type checking rather
than passing tests the real client would fail. Each Protocol is the narrowest surface one caller needs; type a
parameter with the smallest one that covers its calls.

Objects in and out are plain JSON dicts. Failures are crdsync.kube.errors.ApiError subclasses (NotFound, Conflict,
AlreadyExists, Invalid, ...) exactly as KubeClient raises them; `get` answers None instead of raising NotFound, and
`delete` False.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, Self

from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import PatchType
from crdsync.kube.resource import Resource

JSONDict = dict[str, Any]


class Reader(Protocol):
    def get(self, res: Resource, namespace: str | None, name: str) -> JSONDict | None: ...


class Creator(Protocol):
    def create(self, res: Resource, obj: JSONDict, *, namespace: str | None = None) -> JSONDict: ...


class Replacer(Protocol):
    def replace(self, res: Resource, obj: JSONDict, *, subresource: str | None = None) -> JSONDict: ...


class Patcher(Protocol):
    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> JSONDict: ...


class Writer(Creator, Replacer, Patcher, Protocol):
    """Every write verb: create, server-side apply, replace, merge/JSON patch, delete with preconditions."""

    def apply(
        self, res: Resource, obj: JSONDict, *, force: bool = True, subresource: str | None = None
    ) -> JSONDict: ...

    def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation: str | None = "Background",
    ) -> bool: ...


class Discovery(Protocol):
    def resource_for(self, gvk: GroupVersionKind) -> Resource | None: ...

    def invalidate_discovery(self) -> None: ...


class EventClient(Reader, Creator, Patcher, Protocol):
    """What crdsync.kube.events records Events with."""


class LeaseClient(Reader, Creator, Replacer, Protocol):
    """What crdsync.kube.lease elects a leader with."""


class ClusterClient(Reader, Writer, Discovery, Protocol):
    """What the engine needs of one cluster: discovery, reads of single objects, every write, and a gated view."""

    def with_write_gate(self, gate: Callable[[str, str], None] | None) -> Self: ...


class ClusterInformer(Protocol):
    """What the engine needs of an informer: lifecycle, the cache, and the counters its liveness check reads."""

    has_synced: threading.Event
    on_relist: Callable[[], None] | None
    last_error: BaseException | None

    def start(self) -> object: ...

    def stop(self, timeout: float | None = 10.0) -> None: ...

    def get(self, namespace: str | None, name: str) -> JSONDict | None: ...

    def list(self) -> list[JSONDict]: ...

    @property
    def running(self) -> bool: ...

    @property
    def stopped(self) -> bool: ...

    @property
    def resource_version(self) -> str: ...

    @property
    def list_count(self) -> int: ...

    @property
    def watch_count(self) -> int: ...

    @property
    def error_count(self) -> int: ...


__all__ = [
    "ClusterClient",
    "ClusterInformer",
    "Creator",
    "Discovery",
    "EventClient",
    "LeaseClient",
    "Patcher",
    "Reader",
    "Replacer",
    "Writer",
]
