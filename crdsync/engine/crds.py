"""Mirroring a host CRD into the virtual cluster so tenants can create (toHost) or see (fromHost) its resources.

`mirror_crd` is pure: all served versions are kept; a conversion webhook cannot run against the virtual cluster's
API server (its service lives in the host), so it is dropped and the caller logs a warning; server-owned metadata and
status never cross. Failure modes: none raised by the pure part; IO errors surface from the caller's client.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from crdsync.translate.bookkeeping import LABEL_MANAGED_BY, MANAGER

CRD_GROUP = "apiextensions.k8s.io"
CRD_VERSION = "v1"
CRD_KIND = "CustomResourceDefinition"

_KEEP_METADATA = ("name", "labels", "annotations")


def mirror_crd(host_crd: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The CRD to apply in the virtual cluster, and warnings about what could not be carried over."""
    warnings: list[str] = []
    metadata = host_crd.get("metadata", {})
    spec = copy.deepcopy(dict(host_crd.get("spec", {})))
    conversion = spec.get("conversion") or {}
    if conversion.get("strategy") == "Webhook":
        warnings.append(
            f"CRD {metadata.get('name')}: conversion webhook dropped in the virtual cluster (strategy None); "
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
        "metadata": {"name": metadata.get("name"), "labels": labels},
        "spec": spec,
    }
    if annotations:
        mirrored["metadata"]["annotations"] = annotations
    return mirrored, warnings
