"""KubeClient: the verbs crdsync speaks to one apiserver (list, watch, get, create, apply, patch, replace, delete),
plain JSON dicts in and out; the generated model classes of the official client are never built (slow, and lossy
for custom resources).

The client composes the other modules of this package: crdsync.kube.transport sends (pool, credentials, rate limit,
retries, write gate, request counting), crdsync.kube.decode turns bodies into dicts, crdsync.kube.discovery maps kinds
to resources, crdsync.kube.watch reads watch streams, crdsync.kube.kubeconfig loads credentials. What is left here is
how each verb is spelled on the wire (paths, query parameters, patch content types, DeleteOptions).

Failure modes: every failed request raises an `ApiError` subclass from crdsync.kube.errors (see transport for what is
retried: throttling and unreachable servers only, never a write that reached the server). `get` and `delete` answer a
404 with None/False instead; `list` restarts once, unpaginated, when its continue token expires. A kubeconfig that
cannot be loaded raises `ConfigError` naming the file. Programming errors (an object without a name, a namespaced
path without a namespace, an unknown patch type) raise `ValueError` before anything is sent.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from crdsync.gvk import GroupVersionKind
from crdsync.kube import kubeconfig
from crdsync.kube.decode import decode_body, decode_list_page
from crdsync.kube.discovery import DiscoveryCache
from crdsync.kube.errors import Gone, NotFound, from_response
from crdsync.kube.resource import Resource
from crdsync.kube.transport import USER_AGENT, Transport
from crdsync.kube.watch import WatchStream

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
PatchType = Literal["merge", "json", "strategic", "apply"]

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class KubeClient:
    """One apiserver, many threads. All objects in and out are plain JSON dicts."""

    def __init__(
        self,
        configuration: Any,
        *,
        field_manager: str = "crdsync",
        qps: float | None = None,
        burst: int = 100,
        pool_maxsize: int = 32,
        request_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_retries: int = 5,
        discovery_refresh_interval: float = 2.0,
        user_agent: str = USER_AGENT,
    ) -> None:
        """`configuration` is a `kubernetes.client.Configuration` (host, TLS files, api_key, ...); the other arguments
        but `field_manager` and `discovery_refresh_interval` configure the `Transport` (see there)."""
        self._transport = Transport(
            configuration,
            qps=qps,
            burst=burst,
            pool_maxsize=pool_maxsize,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            max_retries=max_retries,
            user_agent=user_agent,
        )
        self.field_manager = field_manager
        self._discovery = DiscoveryCache(discovery_refresh_interval)

    # -- construction -------------------------------------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None,
        context: str | None = None,
        *,
        field_manager: str = "crdsync",
        qps: float | None = None,
        burst: int = 100,
        pool_maxsize: int = 32,
        request_timeout: float = 60.0,
        user_agent: str = USER_AGENT,
    ) -> KubeClient:
        """A client for the kubeconfig at `path` (None: $KUBECONFIG, else ~/.kube/config, else in-cluster)."""
        return cls(
            kubeconfig.load(path, context),
            field_manager=field_manager,
            qps=qps,
            burst=burst,
            pool_maxsize=pool_maxsize,
            request_timeout=request_timeout,
            user_agent=user_agent,
        )

    @property
    def host(self) -> str:
        return self._transport.host

    @property
    def transport(self) -> Transport:
        """Where this client's requests go (credentials, counts); for callers that need more than the verbs."""
        return self._transport

    def with_write_gate(self, gate: Callable[[str, str], None] | None) -> KubeClient:
        """A view of this client whose writes first pass `gate(method, path)` (which raises to refuse one).

        The view shares the connection pool, credentials, discovery cache and observer; its write and request counts
        are its own from the moment it is made.
        """
        view = copy.copy(self)
        view._transport = self._transport.with_write_gate(gate)
        return view

    @property
    def write_count(self) -> int:
        """Mutating requests (POST/PUT/PATCH/DELETE) sent so far, retries included."""
        return self._transport.write_count

    @property
    def request_count(self) -> int:
        """All requests sent so far (reads, watches and writes)."""
        return self._transport.request_count

    def observe_requests(self, observer: Callable[[str, str], None] | None) -> None:
        """Call `observer(method, code)` after every HTTP attempt from now on (None: stop)."""
        self._transport.observe_requests(observer)

    def close(self) -> None:
        """Drop pooled connections. Open watch streams keep working until they end."""
        self._transport.close()

    # -- discovery ----------------------------------------------------------------------------------------------------

    def resource_for(self, gvk: GroupVersionKind) -> Resource | None:
        """The served resource for a kind, or None when the apiserver does not serve it (yet); see DiscoveryCache."""
        return self._discovery.resource_for(gvk, self._get_json)

    def resources_in(self, api_version: str) -> tuple[Resource, ...]:
        """Every resource served in a group/version (empty when it is not served), through the same cache."""
        return self._discovery.resources_in(api_version, self._get_json)

    def invalidate_discovery(self) -> None:
        """Forget everything discovered (call after a CRD changed or an informer reported its kind gone)."""
        self._discovery.invalidate()

    def _get_json(self, path: str) -> JSONDict:
        return self.request("GET", path)

    def server_version(self) -> JSONDict:
        """The apiserver's /version document (gitVersion, major, minor, ...)."""
        return self.request("GET", "/version")

    # -- raw requests -------------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> JSONDict:
        """Send one request and return the decoded JSON body ({} when empty). Raises ApiError on any failure."""
        method = method.upper()
        data = self._transport.fetch(method, path, query, body, content_type, timeout)
        if not data:
            return {}
        return decode_body(data, method=method, path=path)

    # -- reads --------------------------------------------------------------------------------------------------------

    def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
        resource_version: str | None = None,
    ) -> tuple[list[JSONDict], str]:
        """All objects (every page, following `continue`) and the list's resourceVersion to watch from.

        `resource_version` "0": any version the apiserver has, served from its watch cache without a read of etcd
        (client-go's reflector lists so at first); None: the latest, read from etcd (or a cache proven as fresh).

        Items get apiVersion/kind filled in (list items usually omit them); an item that is not an object with a name
        is skipped and logged (failing on it would fail every relist). If a continue token expires between pages
        (410), the list restarts once as a single unpaginated request, which is consistent by construction.
        """
        items: list[JSONDict] = []
        token: str | None = None
        page_limit = limit
        restarted = False
        path = res.path(namespace)
        while True:
            query = {
                "labelSelector": label_selector or None,
                "fieldSelector": field_selector or None,
                "limit": page_limit or None,
                "continue": token,
                "resourceVersion": None if token else resource_version,  # a continued page takes the token's
            }
            try:
                page = self.request("GET", path, query=query)
            except Gone:
                if token is None or restarted:
                    raise
                log.info("list %s: continue token expired after %d items, listing again in one page", path, len(items))
                items, token, page_limit, restarted = [], None, 0, True
                continue
            page_items, metadata = decode_list_page(page, api_version=res.api_version, kind=res.kind, path=path)
            items.extend(page_items)
            token = metadata.get("continue") or None
            if token is None:
                return items, str(metadata.get("resourceVersion") or "")

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None,
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
        read_timeout: float | None = None,
    ) -> WatchStream:
        """Open a watch from `resource_version` (None or "": start with synthetic ADDED events for what exists).

        `read_timeout` (default: timeout_seconds + 30) bounds the silence between two reads, so a dead connection is
        noticed; with bookmarks enabled the server is rarely silent for long. Raises ApiError if the request itself
        fails (e.g. `Gone` when the resourceVersion is already too old, `NotFound` when the resource is not served).
        """
        path = res.path(namespace)
        query = {
            "watch": "true",
            "resourceVersion": resource_version or None,
            "allowWatchBookmarks": "true" if allow_bookmarks else None,
            "timeoutSeconds": timeout_seconds,
            "labelSelector": label_selector or None,
            "fieldSelector": field_selector or None,
        }
        silence = float(timeout_seconds + 30) if read_timeout is None else read_timeout
        resp = self._transport.send("GET", path, query, None, None, silence)
        if resp.status >= 400:
            try:
                data = resp.data
            finally:
                resp.release_conn()
            raise from_response(resp.status, data, method="GET", path=path)
        return WatchStream(resp, res, path)

    def get(self, res: Resource, namespace: str | None, name: str) -> JSONDict | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", res.path(namespace, name))
        except NotFound:
            return None

    # -- writes -------------------------------------------------------------------------------------------------------

    def create(self, res: Resource, obj: JSONDict, *, namespace: str | None = None) -> JSONDict:
        """POST the object (`namespace` defaults to its metadata.namespace); AlreadyExists when the name is taken."""
        ns = namespace or _metadata(obj).get("namespace")
        if res.namespaced and not ns:
            raise ValueError(f"create {res.kind}: a namespaced object needs a namespace")
        return self.request(
            "POST", res.path(ns), query={"fieldManager": self.field_manager}, body=_with_type(res, obj)
        )

    def apply(self, res: Resource, obj: JSONDict, *, force: bool = True, subresource: str | None = None) -> JSONDict:
        """Server-side apply of `obj` (the fields we own, by name and namespace in its metadata) as our field manager.

        `force` takes over fields another manager owns instead of failing with Conflict. The body must not carry
        metadata.resourceVersion unless an optimistic-concurrency check is wanted.
        """
        ns, name = _namespace_and_name(res, obj)
        return self.request(
            "PATCH",
            res.path(ns, name, subresource),
            query={"fieldManager": self.field_manager, "force": "true" if force else None},
            body=_with_type(res, obj),
            content_type=_PATCH_CONTENT_TYPES["apply"],
        )

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> JSONDict:
        """PATCH with a merge (RFC 7386), JSON (RFC 6902, a list of ops) or strategic-merge patch."""
        try:
            content_type = _PATCH_CONTENT_TYPES[patch_type]
        except KeyError:
            raise ValueError(f"unknown patch type {patch_type!r}") from None
        query: dict[str, Any] = {"fieldManager": self.field_manager}
        if patch_type == "apply":
            query["force"] = "true"
        return self.request(
            "PATCH", res.path(namespace, name, subresource), query=query, body=patch, content_type=content_type
        )

    def replace(self, res: Resource, obj: JSONDict, *, subresource: str | None = None) -> JSONDict:
        """PUT the whole object; its metadata.resourceVersion (if set) makes it conditional (Conflict when stale)."""
        ns, name = _namespace_and_name(res, obj)
        return self.request(
            "PUT",
            res.path(ns, name, subresource),
            query={"fieldManager": self.field_manager},
            body=_with_type(res, obj),
        )

    def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation: str | None = "Background",
    ) -> bool:
        """Delete the object; False when it was already gone. `uid`/`resource_version` are preconditions (Conflict
        when they no longer match, so a recreated object of the same name is never deleted by mistake)."""
        options: JSONDict = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            options["propagationPolicy"] = propagation
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            options["preconditions"] = preconditions
        try:
            self.request("DELETE", res.path(namespace, name), body=options)
        except NotFound:
            return False
        return True


def _metadata(obj: JSONDict) -> JSONDict:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _namespace_and_name(res: Resource, obj: JSONDict) -> tuple[str | None, str]:
    metadata = _metadata(obj)
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{res.kind}: object has no metadata.name")
    namespace = metadata.get("namespace") if res.namespaced else None
    if res.namespaced and not namespace:
        raise ValueError(f"{res.kind} {name!r}: a namespaced object needs metadata.namespace")
    return namespace, name


def _with_type(res: Resource, obj: JSONDict) -> JSONDict:
    if obj.get("apiVersion") and obj.get("kind"):
        return obj
    return {**obj, "apiVersion": obj.get("apiVersion") or res.api_version, "kind": obj.get("kind") or res.kind}


__all__ = ["KubeClient", "PatchType"]
