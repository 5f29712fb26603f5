"""The watch stream: one watch response read incrementally and decoded event by event into (type, object) pairs.

The hot path of the informers: bytes are read as they arrive (`read1`, up to 64 KiB), split on newlines in a
bytearray, and each line is decoded by `crdsync.kube.decode.decode_event` (json.loads, with a non-recursive fallback
for deep objects). Nothing else is done per event but filling apiVersion/kind.

Failure modes (raised from `next()`): an ERROR event raises the ApiError it carries (`Gone` for 410: relist); a line
that cannot be decoded closes the stream and raises `UndecodableEvent` (relist: the same resourceVersion would
replay it); a read that waits past the read timeout raises `Timeout`; a broken connection raises `TransportError`.
An event cut short by a closed connection is dropped (the caller's resourceVersion has not passed it, so the next
watch delivers it again). The iteration ends when the server closes the stream or `close()` is called (from any
thread); the connection is then closed, never returned to the pool with unread data.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import urllib3
from urllib3.exceptions import ReadTimeoutError

from crdsync.kube.decode import decode_event
from crdsync.kube.errors import Timeout, TransportError, from_status
from crdsync.kube.resource import Resource

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]


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
