"""The kinds the engine tests sync, as the in-memory clusters serve them (one definition for every engine test)."""

from __future__ import annotations

from typing import Any

from crdsync.gvk import GroupVersionKind
from tests.fakeapi import resource

WIDGET = GroupVersionKind("example.com", "v1", "Widget")
SECRET = GroupVersionKind("", "v1", "Secret")
SHARED = GroupVersionKind("example.com", "v1", "SharedThing")
WIDGETS = resource("example.com", "v1", "Widget", "widgets")
SECRETS = resource("", "v1", "Secret", "secrets", status=False)
SHAREDS = resource("example.com", "v1", "SharedThing", "sharedthings", namespaced=False)
NAMESPACES = resource("", "v1", "Namespace", "namespaces", namespaced=False, status=False)
EVENTS = resource("", "v1", "Event", "events", status=False)
CRDS = resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False)


def widget_crd(*versions: str) -> dict[str, Any]:
    """The Widget CRD serving `versions` (default v1), the first stored."""
    versions = versions or ("v1",)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [{"name": v, "served": True, "storage": v == versions[0]} for v in versions],
        },
    }
