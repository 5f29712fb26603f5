"""The discovery cache: which resource serves a kind, asked of the apiserver once per group/version and remembered.

Each group/version's APIResourceList is fetched through the `get(path)` the caller passes (the client's `request`, so
a fetch is counted, throttled and retried like any read) and kept until `invalidate()`. A kind that is not served
(yet) is asked again at most once per refresh interval, so callers waiting for a CRD to become established can simply
poll. Thread-safe; the lock is never held across a request (two threads may fetch the same group/version at once,
the later answer wins, both are the server's truth).

Failure modes: 404 for a group/version means "not served" (no resources, no error); any other failure of `get`
propagates (an ApiError from the client), and nothing is cached for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.kube.errors import NotFound
from crdsync.kube.resource import Resource, parse_resource_list

Get = Callable[[str], dict[str, Any]]  # GET a path, return the decoded JSON object; raises ApiError


@dataclass
class _Entry:
    resources: dict[str, Resource]  # kind -> resource; empty when the group/version is not served
    fetched_at: float


class DiscoveryCache:
    """group/version -> served resources, shared by a client and its write-gated views."""

    def __init__(self, refresh_interval: float = 2.0) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._refresh_interval = refresh_interval

    def resource_for(self, gvk: GroupVersionKind, get: Get) -> Resource | None:
        """The served resource for a kind, or None when the apiserver does not serve it (yet).

        Hits are cached until `invalidate()`. A miss refetches the group/version's resource list, but at most once
        per refresh interval. Raises what `get` raises when discovery itself fails (other than 404).
        """
        api_version = gvk.api_version
        with self._lock:
            entry = self._entries.get(api_version)
            if entry is not None:
                found = entry.resources.get(gvk.kind)
                if found is not None:
                    return found
                if time.monotonic() - entry.fetched_at < self._refresh_interval:
                    return None
        resources = _fetch_group_version(api_version, get)
        with self._lock:
            self._entries[api_version] = _Entry(resources, time.monotonic())
        return resources.get(gvk.kind)

    def resources_in(self, api_version: str, get: Get) -> tuple[Resource, ...]:
        """Every resource served in a group/version (empty when it is not served), through the same cache."""
        with self._lock:
            entry = self._entries.get(api_version)
        if entry is None or (not entry.resources and time.monotonic() - entry.fetched_at >= self._refresh_interval):
            resources = _fetch_group_version(api_version, get)
            with self._lock:
                self._entries[api_version] = entry = _Entry(resources, time.monotonic())
        return tuple(entry.resources.values())

    def invalidate(self) -> None:
        """Forget everything discovered."""
        with self._lock:
            self._entries.clear()


def _fetch_group_version(api_version: str, get: Get) -> dict[str, Resource]:
    group, _, version = api_version.rpartition("/")
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    try:
        doc = get(path)
    except NotFound:
        return {}
    return parse_resource_list(doc, group, version)
