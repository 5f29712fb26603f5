"""A thread-safe, dict-based Kubernetes API client: discovery, list/watch, get/create/apply/patch/replace/delete.

The official client is used only for what it does well — loading kubeconfigs (TLS material, client certificates,
tokens, exec plugins) and building the urllib3 pool from them. Requests are sent on that pool directly and bodies are
decoded into plain dicts by `crdsync.kube.decode` (`json.loads`, with a non-recursive fallback for objects nested
deeper than Python's recursion limit); the generated model classes are never built (they are slow and lossy for
custom resources).

Failure modes: every failed request raises an `ApiError` subclass from `crdsync.kube.errors` (HTTP errors by status,
transport failures as `TransportError`, status 0). Requests the server throttled (429) are retried after Retry-After,
and requests that never reached the server (connection refused) are retried a few times with backoff; nothing else is
retried here, because only the caller knows whether a write may be repeated. A kubeconfig that cannot be loaded raises
`ConfigError` naming the file. Programming errors (an object without a name, a namespaced path without a namespace)
raise `ValueError`. A watch event that cannot be decoded (for any reason) ends its stream with `UndecodableEvent`,
a TransportError naming the kind and, when recoverable, the object: the caller must relist, because a new watch from
the same resourceVersion would deliver the same event again.

Write gate: `with_write_gate(gate)` returns a view of the client (same connections, discovery cache and credentials)
that calls `gate(method, path)` immediately before every mutating attempt, retries included, so a write never leaves
once the gate says no (crdsync.engine.fence: a leader whose lease may have lapsed). The gate raises an ApiError of its
choosing; nothing is sent then. Reads and watches are never gated.

Every HTTP attempt (retries included, watches included) is reported to the observer set with `observe_requests`
(method and status code, "<error>" when no response came back, as client-go's rest_client_requests_total counts
them); the observer must be cheap and must not raise.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from crdsync import __version__
from crdsync.gvk import GroupVersionKind
from crdsync.kube.decode import decode_body, decode_event, decode_list_page
from crdsync.kube.errors import (
    ApiError,
    ConfigError,
    Gone,
    NotFound,
    Timeout,
    TransportError,
    from_response,
    from_status,
)

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
PatchType = Literal["merge", "json", "strategic", "apply"]

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_USER_AGENT = f"crdsync/{__version__}"


@dataclass(frozen=True)
class Resource:
    """One served resource (a kind in one group/version) as discovery reports it."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    has_status: bool = False
    verbs: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind(self.group, self.version, self.kind)

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection (no name) or of one object (and its subresource).

        For a namespaced resource, no namespace means the all-namespaces collection; naming an object then is an error.
        A cluster-scoped resource ignores `namespace`, so callers can pass an object's metadata.namespace unchecked.
        """
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if self.namespaced and namespace:
            parts.append("namespaces/" + quote(namespace, safe=""))
        elif self.namespaced and name is not None:
            raise ValueError(f"{self.kind} {name!r}: a namespaced object needs a namespace")
        parts.append(self.plural)
        if name is not None:
            if not name:
                raise ValueError(f"{self.kind}: empty object name")
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        elif subresource:
            raise ValueError(f"{self.kind}: subresource {subresource!r} needs an object name")
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.api_version}" if self.group else f"{self.plural}.{self.version}"


@dataclass
class _DiscoveryEntry:
    resources: dict[str, Resource]  # kind -> resource; empty when the group/version is not served
    fetched_at: float


class _TokenBucket:
    """Client-side rate limit (qps with a burst), shared by all threads; callers wait for their token."""

    def __init__(self, qps: float, burst: int) -> None:
        self._rate = qps
        self._capacity = float(max(1, burst))
        self._tokens = self._capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            self._tokens -= 1.0  # reserve now, so concurrent callers queue up behind each other
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


class WatchStream(Iterator[tuple[str, JSONDict]]):
    """The events of one watch request as (type, object) pairs, decoded line by line as they arrive.

    Types are ADDED, MODIFIED, DELETED and BOOKMARK. An ERROR event raises: `Gone` for 410 (resourceVersion too
    old: relist), another `ApiError` otherwise. A line that cannot be decoded closes the stream and raises
    `UndecodableEvent` (relist: the same resourceVersion would replay it). A read that waits longer than the read
    timeout raises `Timeout`. The iteration ends when the server closes the stream (its timeoutSeconds passed).
    `close()` may be called from any thread and makes a blocked reader return promptly.
    """

    _READ_SIZE = 64 * 1024

    def __init__(self, response: urllib3.BaseHTTPResponse, resource: Resource, path: str) -> None:
        self._resp = response
        self._resource = resource
        self._path = path
        self._buf = bytearray()
        self._eof = False
        self._closed = False
        self._released = False
        self._lock = threading.Lock()
        self.events = 0

    def __iter__(self) -> WatchStream:
        return self

    def __next__(self) -> tuple[str, JSONDict]:
        while True:
            if self._closed:
                self._release()
                raise StopIteration
            newline = self._buf.find(b"\n")
            if newline >= 0:
                line = bytes(self._buf[:newline])
                del self._buf[: newline + 1]
                if line.strip():
                    return self._decode(line)
                continue
            if self._eof:
                if self._buf.strip():
                    # The connection was cut mid-event. Dropping the fragment is safe: the caller's
                    # resourceVersion has not moved past it, so a new watch delivers the event again.
                    log.debug("watch %s: dropping %d bytes of a truncated event", self._path, len(self._buf))
                self._release()
                raise StopIteration
            self._fill()

    def _fill(self) -> None:
        try:
            chunk = self._resp.read1(self._READ_SIZE)
        except ReadTimeoutError as exc:
            self._release()
            if self._closed:
                raise StopIteration from None
            raise Timeout(f"watch stream silent past the read timeout: {exc}", method="GET", path=self._path) from None
        except Exception as exc:  # urllib3 / http.client / socket errors while streaming
            self._release()
            if self._closed:
                raise StopIteration from None
            raise TransportError(f"watch stream broke: {exc}", method="GET", path=self._path) from None
        if chunk:
            self._buf.extend(chunk)
        else:
            self._eof = True

    def _decode(self, line: bytes) -> tuple[str, JSONDict]:
        try:
            kind, obj = decode_event(line, kind=self._resource.kind, path=self._path)
        except Exception:
            self.close()
            raise
        if kind == "ERROR":
            self.close()
            raise from_status(obj, method="GET", path=self._path)
        if kind != "BOOKMARK":
            # Watch events carry apiVersion/kind today; filling them keeps callers independent of encoders.
            obj.setdefault("apiVersion", self._resource.api_version)
            obj.setdefault("kind", self._resource.kind)
        self.events += 1
        return kind, obj

    def close(self) -> None:
        """Stop the stream. Safe from another thread while one is blocked reading it, and idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # SHUT_RD wakes a thread blocked in recv() with EOF; closing the socket under it would not.
        try:
            self._resp.shutdown()
        except Exception:
            sock = getattr(getattr(self._resp, "connection", None), "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)

    def _release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        # The connection has unread data (or is shut down): close it rather than return it to the pool.
        try:
            self._resp.close()
        finally:
            self._resp.release_conn()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
        self._release()

    def __del__(self) -> None:
        # An abandoned stream must not keep its socket; errors at interpreter exit are irrelevant.
        try:
            if not self._released:
                self._closed = True
                self._release()
        except Exception:
            pass


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
        user_agent: str = _USER_AGENT,
    ) -> None:
        """`configuration` is a `kubernetes.client.Configuration` (host, TLS files, api_key, ...).

        `qps` None means no client-side rate limit (the apiserver's priority and fairness limits us; 429s are retried).
        `pool_maxsize` bounds the kept-alive connections per host: size it for informers (one watch each) plus workers.
        `user_agent` tells the apiserver's audit log who wrote (e.g. which replica).
        """
        from kubernetes.client import ApiClient

        configuration.connection_pool_maxsize = pool_maxsize
        self._configuration = configuration
        self._api_client = ApiClient(configuration)
        self._pool: urllib3.PoolManager = self._api_client.rest_client.pool_manager
        self._host = str(configuration.host).rstrip("/")
        self.field_manager = field_manager
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._max_retries = max_retries
        self._limiter = _TokenBucket(qps, burst) if qps else None
        self._auth_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._writes = 0
        self._requests = 0
        self._discovery_lock = threading.Lock()
        self._discovery: dict[str, _DiscoveryEntry] = {}
        self._discovery_refresh_interval = discovery_refresh_interval
        self._observer: Callable[[str, str], None] | None = None
        self._user_agent = user_agent
        self._write_gate: Callable[[str, str], None] | None = None

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
        user_agent: str = _USER_AGENT,
    ) -> KubeClient:
        """A client for the kubeconfig at `path` (None: $KUBECONFIG, else ~/.kube/config, else in-cluster)."""
        from kubernetes.client import Configuration
        from kubernetes.config import incluster_config, kube_config

        # The loaders are untyped; calling them through Any keeps mypy --strict quiet without ignores.
        load_incluster: Any = incluster_config.load_incluster_config
        load_kubeconfig: Any = kube_config.load_kube_config
        configuration = Configuration()
        default_file = os.path.expanduser("~/.kube/config")
        if path is None and not os.environ.get("KUBECONFIG") and not os.path.exists(default_file):
            try:
                load_incluster(client_configuration=configuration)
            except Exception as exc:
                raise ConfigError(
                    f"no kubeconfig given, $KUBECONFIG unset, ~/.kube/config missing and not in a pod ({exc})"
                ) from None
        else:
            shown = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
            if path is not None and not os.path.exists(os.path.expanduser(path)):
                raise ConfigError(f"{path}: kubeconfig file does not exist")
            try:
                load_kubeconfig(
                    config_file=path, context=context, client_configuration=configuration, persist_config=False
                )
            except Exception as exc:
                where = f" (context {context!r})" if context else ""
                raise ConfigError(f"{shown}{where}: cannot load kubeconfig: {exc}") from None
        return cls(
            configuration,
            field_manager=field_manager,
            qps=qps,
            burst=burst,
            pool_maxsize=pool_maxsize,
            request_timeout=request_timeout,
            user_agent=user_agent,
        )

    @classmethod
    def for_url(cls, url: str, *, token: str | None = None, **kwargs: Any) -> KubeClient:
        """A client for a plain URL (tests, local stubs); TLS verification follows the default CA bundle."""
        from kubernetes.client import Configuration

        configuration = Configuration(host=url)
        if token:
            configuration.api_key["BearerToken"] = f"Bearer {token}"
        return cls(configuration, **kwargs)

    @property
    def host(self) -> str:
        return self._host

    def with_write_gate(self, gate: Callable[[str, str], None] | None) -> KubeClient:
        """A view of this client whose writes first pass `gate(method, path)` (which raises to refuse one).

        The view shares the connection pool, credentials, discovery cache and observer; its write and request counts
        are its own from the moment it is made.
        """
        view = copy.copy(self)
        view._write_gate = gate
        return view

    @property
    def write_count(self) -> int:
        """Mutating requests (POST/PUT/PATCH/DELETE) sent so far, retries included."""
        with self._count_lock:
            return self._writes

    @property
    def request_count(self) -> int:
        """All requests sent so far (reads, watches and writes)."""
        with self._count_lock:
            return self._requests

    def observe_requests(self, observer: Callable[[str, str], None] | None) -> None:
        """Call `observer(method, code)` after every HTTP attempt from now on (None: stop)."""
        self._observer = observer

    def _observe(self, method: str, code: str) -> None:
        observer = self._observer
        if observer is not None:
            try:
                observer(method, code)
            except Exception:  # counting must never fail a request
                log.debug("request observer failed", exc_info=True)

    def close(self) -> None:
        """Drop pooled connections. Open watch streams keep working until they end."""
        self._pool.clear()

    # -- discovery ----------------------------------------------------------------------------------------------------

    def resource_for(self, gvk: GroupVersionKind) -> Resource | None:
        """The served resource for a kind, or None when the apiserver does not serve it (yet).

        Hits are cached until `invalidate_discovery()`. A miss refetches the group/version's resource list, but at most
        once per refresh interval, so callers waiting for a CRD to become established can simply poll.
        Raises ApiError when discovery itself fails (other than 404 for an unserved group/version).
        """
        api_version = gvk.api_version
        with self._discovery_lock:
            entry = self._discovery.get(api_version)
            if entry is not None:
                found = entry.resources.get(gvk.kind)
                if found is not None:
                    return found
                if time.monotonic() - entry.fetched_at < self._discovery_refresh_interval:
                    return None
        resources = self._fetch_group_version(api_version)
        with self._discovery_lock:
            self._discovery[api_version] = _DiscoveryEntry(resources, time.monotonic())
        return resources.get(gvk.kind)

    def resources_in(self, api_version: str) -> tuple[Resource, ...]:
        """Every resource served in a group/version (empty when it is not served), through the same cache."""
        with self._discovery_lock:
            entry = self._discovery.get(api_version)
        if entry is None or (
            not entry.resources and time.monotonic() - entry.fetched_at >= self._discovery_refresh_interval
        ):
            resources = self._fetch_group_version(api_version)
            with self._discovery_lock:
                self._discovery[api_version] = entry = _DiscoveryEntry(resources, time.monotonic())
        return tuple(entry.resources.values())

    def invalidate_discovery(self) -> None:
        """Forget everything discovered (call after a CRD changed or an informer reported its kind gone)."""
        with self._discovery_lock:
            self._discovery.clear()

    def _fetch_group_version(self, api_version: str) -> dict[str, Resource]:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            doc = self.request("GET", path)
        except NotFound:
            return {}
        return parse_resource_list(doc, group, version)

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
        data = self._fetch(method, path, query, body, content_type, timeout)
        if not data:
            return {}
        return decode_body(data, method=method, path=path)

    def _fetch(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: float | None,
    ) -> bytes:
        """Send one request and return the raw body of a successful response. Raises ApiError on any failure."""
        resp = self._send(method, path, query, body, content_type, timeout)
        try:
            data = resp.data
        except Exception as exc:
            raise TransportError(f"reading the response failed: {exc}", method=method, path=path) from None
        finally:
            resp.release_conn()
        if resp.status >= 400:
            raise from_response(resp.status, data, method=method, path=path)
        return bytes(data)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        # The kubeconfig loader's refresh hook (exec plugins, expiring tokens) mutates the configuration.
        with self._auth_lock:
            settings = self._configuration.auth_settings()
        for setting in settings.values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"])] = str(setting["value"])
        return headers

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: float | None,
    ) -> urllib3.BaseHTTPResponse:
        """Send with bounded retries for throttling and unreachable servers; returns the unread response."""
        url = self._host + path
        encoded_query = _encode_query(query)
        if encoded_query:
            url += "?" + encoded_query
        payload: bytes | None
        if body is None:
            payload = None
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
            content_type = content_type or "application/json"
        headers = self._headers(content_type)
        read_timeout = self._request_timeout if timeout is None else timeout
        http_timeout = urllib3.Timeout(connect=self._connect_timeout, read=read_timeout)
        attempt = 0
        while True:
            attempt += 1
            if self._limiter is not None:
                self._limiter.take()
            gate = self._write_gate
            if gate is not None and method in _MUTATING:
                # Last thing before the request leaves (after any throttling wait): a retry is judged afresh.
                gate(method, path)
            with self._count_lock:
                self._requests += 1
                if method in _MUTATING:
                    self._writes += 1
            try:
                resp = self._pool.request(
                    method,
                    url,
                    body=payload,
                    headers=headers,
                    timeout=http_timeout,
                    retries=False,
                    redirect=False,
                    preload_content=False,
                )
            except (NewConnectionError, ConnectTimeoutError) as exc:
                self._observe(method, "<error>")
                # Never reached the server, so even a write is safe to send again.
                if attempt > self._max_retries:
                    raise TransportError(f"cannot connect to {self._host}: {exc}", method=method, path=path) from None
                delay = min(0.1 * 2 ** (attempt - 1), 2.0) * random.uniform(0.5, 1.0)
                log.debug("%s %s: cannot connect (%s), retry in %.2fs", method, path, exc, delay)
                time.sleep(delay)
                continue
            except ReadTimeoutError as exc:
                self._observe(method, "<error>")
                raise Timeout(f"no answer within {read_timeout}s: {exc}", method=method, path=path) from None
            except urllib3.exceptions.HTTPError as exc:
                self._observe(method, "<error>")
                raise TransportError(f"request failed: {exc}", method=method, path=path) from None
            self._observe(method, str(resp.status))
            if resp.status == 429 and attempt <= self._max_retries:
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                try:
                    resp.drain_conn()
                finally:
                    resp.release_conn()
                delay = min(retry_after if retry_after is not None else 0.5 * attempt, 10.0)
                log.debug("%s %s: throttled (429), retry in %.2fs", method, path, delay)
                time.sleep(delay)
                continue
            if resp.status == 429:
                data = resp.data
                resp.release_conn()
                raise from_response(
                    429, data, method=method, path=path, retry_after=_retry_after(resp.headers.get("Retry-After"))
                )
            return resp

    # -- reads --------------------------------------------------------------------------------------------------------

    def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> tuple[list[JSONDict], str]:
        """All objects (every page, following `continue`) and the list's resourceVersion to watch from.

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
        resp = self._send("GET", path, query, None, None, silence)
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
        ns, name = _object_key(res, obj)
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
        ns, name = _object_key(res, obj)
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


def parse_resource_list(doc: JSONDict, group: str, version: str) -> dict[str, Resource]:
    """kind -> Resource from an APIResourceList document (subresources only mark `has_status`)."""
    entries = [e for e in doc.get("resources") or () if isinstance(e, dict) and isinstance(e.get("name"), str)]
    subresources = {e["name"] for e in entries if "/" in e["name"]}
    found: dict[str, Resource] = {}
    for entry in entries:
        plural = entry["name"]
        kind = entry.get("kind")
        if "/" in plural or not isinstance(kind, str) or kind in found:
            continue
        found[kind] = Resource(
            group=group,
            version=version,
            kind=kind,
            plural=plural,
            namespaced=bool(entry.get("namespaced")),
            has_status=f"{plural}/status" in subresources,
            verbs=frozenset(v for v in entry.get("verbs") or () if isinstance(v, str)),
        )
    return found


def _encode_query(query: Mapping[str, Any] | None) -> str:
    if not query:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((key, str(value)))
    return urlencode(pairs)


def _retry_after(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None  # an HTTP-date; the apiserver only sends seconds


def _metadata(obj: JSONDict) -> JSONDict:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _object_key(res: Resource, obj: JSONDict) -> tuple[str | None, str]:
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


__all__ = ["ApiError", "KubeClient", "Resource", "WatchStream", "parse_resource_list"]
