"""One in-memory apiserver for unit tests (cluster.py), its informers (informer.py) and what it computes with
(fields.py: field sets, patches; delivery.py: watch delivery). `applied` answers "what does the server hand back after
a manager applied this object and an operator wrote status", for pure tests that need a realistic current object."""

from __future__ import annotations

from typing import Any

from tests.fakeapi.cluster import FakeCluster, Write, resource
from tests.fakeapi.fields import Obj
from tests.fakeapi.informer import FakeInformer

__all__ = ["FakeCluster", "FakeInformer", "Write", "applied", "resource"]


def _default_spec(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("defaultedByServer", "yes")


def applied(desired: Obj, manager: str, status: Any = None) -> Obj:
    """The object read back after `manager` applied `desired` (a CRD kind with a status subresource, whose schema
    defaults spec.defaultedByServer) and an operator wrote `status` (default {"observedGeneration": 1})."""
    group, _, version = str(desired.get("apiVersion", "v1")).rpartition("/")
    kind = str(desired.get("kind", "Thing"))
    namespaced = bool((desired.get("metadata") or {}).get("namespace"))
    res = resource(group, version, kind, kind.lower() + "s", namespaced=namespaced)
    server = FakeCluster("server", [res])
    server.defaults[(group, kind)] = _default_spec
    server.field_manager = manager
    written = server.apply(res, desired)
    server.field_manager = "operator"
    written["status"] = status if status is not None else {"observedGeneration": 1}
    return server.replace(res, written, subresource="status")
