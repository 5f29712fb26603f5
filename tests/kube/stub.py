"""A scripted local HTTP/1.1 server standing in for an apiserver in client unit tests.

Routes map (method, path) to a responder that gets the recorded request and returns a Reply; a Reply with `chunks`
streams them with chunked transfer encoding (as the apiserver does for watches), optionally pausing between chunks
and holding the connection open afterwards.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crdsync.kube.client import KubeClient


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes as is
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None  # stream these (chunked encoding)
    chunk_delay: float = 0.0
    hold: float = 0.0  # keep a stream open this long after the last chunk


Responder = Callable[[Request], Reply]


def client_for(url: str, *, token: str | None = None, **kwargs: Any) -> KubeClient:
    """A KubeClient for a plain URL (a StubServer's), optionally with a bearer token; `kwargs` go to KubeClient."""
    from kubernetes.client import Configuration

    configuration = Configuration(host=url)
    if token:
        configuration.api_key["BearerToken"] = f"Bearer {token}"
    return KubeClient(configuration, **kwargs)


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message}


def event_line(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"


# -- raw JSON for objects json.dumps cannot write (it recurses once per level and fails near 1,000) ------------------


def nested_json(depth: int, leaf: bytes = b'"leaf"') -> bytes:
    """JSON text `depth` containers deep (objects and arrays alternating) around `leaf`, built without recursion."""
    opens = b"".join(b'{"x":' if level % 2 == 0 else b"[" for level in range(depth))
    closes = b"".join(b"}" if level % 2 == 0 else b"]" for level in reversed(range(depth)))
    return opens + leaf + closes


def object_json(name: str, rv: str, ns: str = "ns1", spec: bytes = b"{}") -> bytes:
    """A Certificate as raw JSON whose spec is `spec` verbatim (e.g. `nested_json(20_000)`)."""
    meta = json.dumps({"name": name, "namespace": ns, "resourceVersion": rv}).encode()
    return b'{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":' + meta + b',"spec":' + spec + b"}"


def raw_event_line(event_type: str, obj: bytes) -> bytes:
    """A watch event line around an object given as raw JSON (or as any bytes at all, to send a broken event)."""
    return b'{"type":' + json.dumps(event_type).encode() + b',"object":' + obj + b"}\n"


def list_body(rv: str, *items: bytes) -> bytes:
    """A one-page list response around items given as raw JSON."""
    return b'{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"' + rv.encode() + b'"},"items":[' + (
        b",".join(items) + b"]}")


class ListWatch:
    """The responder for one collection path an informer lists and watches.

    Lists answer with the bodies in `lists` in turn (the last one repeats); watches with the event lines in
    `watches` in turn, each as one stream the server then ends; when they run out, a stream that sends nothing and
    stays open (a quiet, healthy watch). Records the resourceVersion each list and watch asked for.
    """

    def __init__(self, lists: list[bytes], watches: list[list[bytes]], hold: float = 60.0) -> None:
        self.lists = list(lists)
        self.watches = list(watches)
        self.hold = hold
        self.list_versions: list[str | None] = []
        self.watch_versions: list[str | None] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            if request.query.get("watch") == "true":
                self.watch_versions.append(request.query.get("resourceVersion"))
                if self.watches:
                    return Reply(chunks=self.watches.pop(0))
                return Reply(chunks=[], hold=self.hold)
            self.list_versions.append(request.query.get("resourceVersion"))
            body = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
            return Reply(body=body)


class StubServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.routes: dict[tuple[str, str], Responder] = {}
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else every reply waits ~40ms for a delayed ACK

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                request = Request(self.command, parts.path, query, {k.lower(): v for k, v in self.headers.items()},
                                  body)
                with stub._lock:
                    stub.requests.append(request)
                    responder = stub.routes.get((self.command, parts.path))
                reply = responder(request) if responder else Reply(404, status_body(404, "NotFound", "no route"))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.chunks is not None:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in reply.chunks:
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    if reply.hold:
                        time.sleep(reply.hold)
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                data = reply.body if isinstance(reply.body, bytes) else (
                    b"" if reply.body is None else json.dumps(reply.body).encode())
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"  # bound to 127.0.0.1 above

    def route(self, method: str, path: str, responder: Responder | Reply) -> None:
        fn = responder if callable(responder) else (lambda _req, r=responder: r)
        with self._lock:
            self.routes[(method, path)] = fn

    def requests_to(self, method: str, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
