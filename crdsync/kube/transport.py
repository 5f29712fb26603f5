"""The transport to one apiserver: connection pool, credentials, client-side rate limit, retries, request counting.

The credentials come from crdsync.kube.kubeconfig or crdsync.kube.incluster: crdsync's own StaticCredentials
(crdsync.kube.credentials), which build the urllib3 pool themselves, or, for what only the official client can load
(exec plugins, auth providers, proxies), a `kubernetes.client.Configuration`, whose ApiClient builds the pool.
Requests are sent on that pool directly. Credentials are read from `configuration.auth_settings()` before every
request (under a lock: the official Configuration's refresh hook, used by exec plugins, mutates it; a token file is
re-read when due), so a rotated token is picked up without a new client.

Failure modes: `send` and `fetch` raise an `ApiError` subclass (crdsync.kube.errors) for every failure: HTTP errors by
status, `TransportError` (status 0) when no answer came, `Timeout` when the answer was slower than the read timeout.
Throttled requests (429) are retried after Retry-After, requests that never reached the server (connection refused,
connect timeout) are retried with backoff, up to `max_retries` times; nothing else is retried here, because only the
caller knows whether a write may be repeated.

Write gate: `with_write_gate(gate)` returns a view (same pool, credentials, rate limit) that calls `gate(method,
path)` immediately before every mutating attempt, retries included, after any throttling wait, so a write never
leaves once the gate says no (crdsync.engine.fence: a leader whose lease may have lapsed). The gate raises an ApiError
of its choosing; nothing is sent then. Reads and watches are never gated.

Per-request cost (issue 15: every microsecond here is taken per synced object): request bodies are encoded with
orjson (json.dumps for what orjson refuses: non-str keys, integers beyond 64 bits, nesting past 254 levels); requests
go straight to the host's connection pool, resolved once instead of per request by the PoolManager (which parses the
URL, builds a pool key and wraps the headers again every time); the fixed headers are built once per content type.
Response headers: http.client hands every response's header block to the email package's feed parser (about 10% of
a request's client CPU for the apiserver's eight headers). Importing this module replaces `http.client.parse_headers`
with `parse_headers`, which builds the very same HTTPMessage directly for a plain block (one "Name: value" line per
header, CRLF endings, not multipart/message) and hands anything else to the email parser as before (a test compares
the two message objects attribute by attribute).

Every HTTP attempt (retries included, watches included) is reported to the observer set with `observe_requests`
(method and status code, "<error>" when no response came back, as client-go's rest_client_requests_total counts
them); the observer must be cheap and must not raise (an exception from it is logged and swallowed).
"""

from __future__ import annotations

import copy
import email.parser
import functools
import http.client
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.url import parse_url

from crdsync import __version__
from crdsync.kube.errors import Timeout, TransportError, from_response

log = logging.getLogger(__name__)

USER_AGENT = f"crdsync/{__version__}"
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A request path of only these characters (and no "/." dot segment) is what the PoolManager's URL parsing would send
# unchanged; anything else (percent signs, spaces, non-ASCII, dot segments) still goes through that normalization.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~/:@!$&'()*+,;=]*")
# orjson refuses what it cannot encode exactly like json.dumps (TypeError); json.dumps then decides.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def encode_body(body: Any) -> bytes:
    """Compact JSON of a request body: orjson, else `json.dumps(separators=(",", ":"))` for what orjson refuses.

    orjson writes non-ASCII as UTF-8 where json.dumps escapes it (the same JSON to the apiserver), and NaN/Infinity
    (which are not JSON, and which the apiserver never sends) as null."""
    try:
        return orjson.dumps(body, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(body, separators=(",", ":")).encode()


# One "Name: value" header line as the feed parser reads it (a name of printable ASCII but ':', compat32's value: blanks
# after the colon stripped, the line ending dropped) and a whole block of them up to the empty line. A value holds no
# character str.splitlines breaks at (the feed parser splits its input with it).
_HEADER = re.compile(r"([\041-\071\073-\176]+):[ \t]*([^\r\n\x0b\x0c\x1c-\x1e\x85]*)\r\n")
_PLAIN_BLOCK = re.compile(r"(?:[\041-\071\073-\176]+:[^\r\n\x0b\x0c\x1c-\x1e\x85]*\r\n)*\r\n")
_COMPLEX_CONTENT = re.compile(r"(?im)^content-type:[ \t]*(?:multipart|message)/")
_read_headers: Callable[[Any], list[bytes]] | None = getattr(http.client, "_read_headers", None)


def parse_headers(fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage) -> http.client.HTTPMessage:
    """`http.client.parse_headers`, without the email feed parser for a plain header block (same message object)."""
    assert _read_headers is not None  # installed only when http.client has it
    lines = _read_headers(fp)
    text = b"".join(lines).decode("iso-8859-1")
    if _PLAIN_BLOCK.fullmatch(text) is None or _COMPLEX_CONTENT.search(text) is not None:
        return email.parser.Parser(_class=_class).parsestr(text)
    message = _class()
    # What the feed parser leaves: each header as compat32's header_source_parse gives it (set_raw appends exactly
    # this pair), and the empty body a header-only text has.
    message._headers = _HEADER.findall(text)  # type: ignore[attr-defined]
    message.set_payload("")
    return message


if _read_headers is not None and getattr(http.client.parse_headers, "__module__", None) == "http.client":
    http.client.parse_headers = parse_headers  # type: ignore[assignment]


class _PoolRef:
    """The connection pool of the transport's host, resolved once and shared by every view of the transport.

    `get()` is None when requests must go through the manager (a proxy decides how to reach the host)."""

    def __init__(self, manager: urllib3.PoolManager, host: str) -> None:
        self._manager = manager
        base = parse_url(host)
        self._base = base
        self.prefix = (base.path or "").rstrip("/")
        self._direct = type(manager) is urllib3.PoolManager and base.host is not None
        self._pool: urllib3.HTTPConnectionPool | None = None
        self._lock = threading.Lock()

    def get(self) -> urllib3.HTTPConnectionPool | None:
        pool = self._pool
        if pool is None and self._direct:
            with self._lock:
                if self._pool is None:
                    base = self._base
                    self._pool = self._manager.connection_from_host(base.host, port=base.port, scheme=base.scheme)
                pool = self._pool
        return pool

    def clear(self) -> None:
        with self._lock:
            self._pool = None
            self._manager.clear()


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


class Transport:
    """Sends requests to one apiserver from many threads; returns raw responses or bodies, never decoded objects."""

    def __init__(
        self,
        configuration: Any,
        *,
        qps: float | None = None,
        burst: int = 100,
        pool_maxsize: int = 32,
        request_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_retries: int = 5,
        user_agent: str = USER_AGENT,
    ) -> None:
        """`configuration` is StaticCredentials or a `kubernetes.client.Configuration` (host, TLS, credentials).

        `qps` None means no client-side rate limit (the apiserver's priority and fairness limits us; 429s are retried).
        `pool_maxsize` bounds the kept-alive connections per host: size it for informers (one watch each) plus workers.
        `user_agent` tells the apiserver's audit log who wrote (e.g. which replica).
        """
        configuration.connection_pool_maxsize = pool_maxsize
        self._configuration = configuration
        build_pool = getattr(configuration, "pool_manager", None)
        if callable(build_pool):  # crdsync.kube.credentials.StaticCredentials
            self._pool: urllib3.PoolManager = build_pool()
        else:  # the official Configuration: its ApiClient builds the pool (proxies, exec plugins' TLS material...)
            from kubernetes.client import ApiClient

            self._pool = ApiClient(configuration).rest_client.pool_manager
        self._host = str(configuration.host).rstrip("/")
        self._pool_ref = _PoolRef(self._pool, self._host)
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._max_retries = max_retries
        self._limiter = _TokenBucket(qps, burst) if qps else None
        self._auth_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._writes = 0
        self._requests = 0
        self._observer: Callable[[str, str], None] | None = None
        self._user_agent = user_agent
        self._fixed_headers: dict[str | None, dict[str, str]] = {}
        self._write_gate: Callable[[str, str], None] | None = None

    @property
    def host(self) -> str:
        return self._host

    def with_write_gate(self, gate: Callable[[str, str], None] | None) -> Transport:
        """A view of this transport whose writes first pass `gate(method, path)` (which raises to refuse one).

        The view shares the connection pool, credentials, rate limit and observer; its write and request counts are
        its own from the moment it is made.
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
        self._pool_ref.clear()

    def headers(self, content_type: str | None) -> dict[str, str]:
        """The headers of the next request: Accept, User-Agent, Content-Type and the current credentials."""
        fixed = self._fixed_headers.get(content_type)
        if fixed is None:
            fixed = {"Accept": "application/json", "User-Agent": self._user_agent}
            if content_type:
                fixed["Content-Type"] = content_type
            self._fixed_headers[content_type] = fixed
        headers = fixed.copy()
        # The kubeconfig loader's refresh hook (exec plugins, expiring tokens) mutates the configuration.
        with self._auth_lock:
            settings = self._configuration.auth_settings()
        for setting in settings.values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"])] = str(setting["value"])
        return headers

    def fetch(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: float | None,
    ) -> bytes:
        """Send one request and return the raw body of a successful response. Raises ApiError on any failure."""
        resp = self.send(method, path, query, body, content_type, timeout)
        try:
            data = resp.data
        except Exception as exc:
            raise TransportError(f"reading the response failed: {exc}", method=method, path=path) from None
        finally:
            resp.release_conn()
        if resp.status >= 400:
            raise from_response(resp.status, data, method=method, path=path)
        return bytes(data)

    def send(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: float | None,
    ) -> urllib3.BaseHTTPResponse:
        """Send with bounded retries for throttling and unreachable servers; returns the unread response.

        `method` must be upper case. `body` is sent as is when bytes or str, else as compact JSON. `timeout` (default:
        the request timeout) bounds the wait for each read. A response with an error status other than a final 429 is
        returned unread: the caller decides (a watch reads its error body, `fetch` raises it)."""
        encoded_query = _encode_query(query)
        target = path + "?" + encoded_query if encoded_query else path
        pool = self._pool_ref.get()
        if pool is not None and _PLAIN_PATH.fullmatch(path) and "/." not in path:
            target = self._pool_ref.prefix + target
        else:
            pool = None  # the manager parses (and normalizes) the whole URL, as for every request before
            target = self._host + target
        payload: bytes | None
        if body is None:
            payload = None
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = encode_body(body)
            content_type = content_type or "application/json"
        headers = self.headers(content_type)
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
                if pool is not None:
                    # What PoolManager.urlopen would call, minus its per-request URL parsing and pool lookup.
                    resp = pool.urlopen(
                        method,
                        target,
                        body=payload,
                        headers=headers,
                        timeout=http_timeout,
                        retries=False,
                        redirect=False,
                        assert_same_host=False,
                        preload_content=False,
                    )
                else:
                    resp = self._pool.request(
                        method,
                        target,
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


def _encode_query(query: Mapping[str, Any] | None) -> str:
    if not query:
        return ""
    items = tuple(query.items())
    for _, value in items:
        if value is not None and type(value) is not str:  # (True == 1 == 1.0 would share a cache entry)
            return _encode_query_items(items)
    # Writes repeat the same few queries (fieldManager, force): urlencode once per distinct query.
    return _encode_query_cached(items)


@functools.lru_cache(maxsize=256)
def _encode_query_cached(items: tuple[tuple[str, Any], ...]) -> str:
    return _encode_query_items(items)


def _encode_query_items(items: Iterable[tuple[str, Any]]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in items:
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
