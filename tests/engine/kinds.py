"""The kinds the engine tests sync, as the in-memory clusters serve them (one definition for every engine test)."""

from __future__ import annotations

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
