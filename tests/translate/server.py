"""A stand-in for what an apiserver does to an applied object: server metadata, field ownership, defaults, status."""

from __future__ import annotations

import copy
from typing import Any


def fields_v1(obj: Any) -> Any:
    """The fieldsV1 the server records for applying `obj` (maps by field, lists owned as a whole via their items)."""
    if isinstance(obj, dict):
        return {f"f:{k}": fields_v1(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return {".": {}, **{f"i:{i}": {} for i in range(len(obj))}}
    return {}


def applied(desired: dict[str, Any], manager: str, status: Any = None) -> dict[str, Any]:
    """What reading the object back returns after `manager` applied `desired` and an operator wrote `status`."""
    current = copy.deepcopy(desired)
    owned = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    owned["metadata"] = {k: v for k, v in desired.get("metadata", {}).items() if k not in ("name", "namespace")}
    meta = current.setdefault("metadata", {})
    meta.update(
        uid="3f1c-host",
        resourceVersion="4711",
        generation=1,
        creationTimestamp="2024-01-01T00:00:00Z",
        managedFields=[
            {"manager": manager, "operation": "Apply", "apiVersion": "v1", "fieldsV1": fields_v1(owned)},
            {"manager": "operator", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}},
        ],
    )
    spec = current.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("defaultedByServer", "yes")
    current["status"] = copy.deepcopy(status) if status is not None else {"observedGeneration": 1}
    return current
