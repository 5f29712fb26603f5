"""HTTP endpoints of `crdsync run`: /metrics, /healthz and /readyz on stdlib http.server, each in a daemon thread.

- /healthz (liveness): 200 "ok" while every worker, the kinds loop and every informer thread are alive and moving;
  500 with one reason per line otherwise (the kubelet then restarts the pod).
- /readyz (readiness): 503 with the reason until the initial sync is complete, 200 after; a standby replica under
  --leader-elect is ready (it serves, and takes over when the leader goes) and says so in the body.
- /metrics: Prometheus text format from the process's own registry.

Bind addresses follow controller-runtime's flags: ":8080" is every interface, "127.0.0.1:8080" or "[::1]:8080" one
address, port 0 a free port (the bound address is logged), and "0" disables the server.

Every request runs on a thread of its own (ThreadingHTTPServer) and only reads engine state through short locks, so
a slow or stuck client can never hold up a worker. Failure modes: an address that cannot be parsed is a ValueError;
one that cannot be bound is an OSError from `serve` (the caller reports it and exits 1); a route that raises answers
500 with the exception's type, and the server carries on.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("crdsync.health")

Response = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[], Response]
TEXT = "text/plain; charset=utf-8"


def parse_bind_address(text: str) -> tuple[str, int] | None:
    """(host, port) to bind, "" meaning every interface; None for "0" (disabled). ValueError when malformed."""
    text = text.strip()
    if text == "0":
        return None
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"bind address {text!r}: expected [host]:port, or 0 to disable")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bind address {text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"bind address {text!r}: port {port} out of range")
    return host, port


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging client must not keep the process alive at shutdown
    routes: Mapping[str, Route] = {}


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            status, content_type, body = 404, TEXT, b"not found\n"
        else:
            try:
                status, content_type, body = route()
            except Exception as exc:  # a broken route answers 500; the server and the engine go on
                log.exception("%s failed", self.path)
                status, content_type, body = 500, TEXT, f"{type(exc).__name__}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # The default writes every request to stderr: probes every few seconds would drown the log.
        log.debug("%s %s", self.address_string(), format % args)


class Endpoint:
    """One running server; `address` is what it bound (port 0 resolved)."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve(address: tuple[str, int], routes: Mapping[str, Route], name: str) -> Endpoint:
    """Start serving `routes` on `address` in a daemon thread. OSError when the address cannot be bound."""
    host, port = address
    server_class = _IPv6Server if ":" in host else _Server
    server = server_class((host, port), _Handler)
    server.routes = dict(routes)
    thread = threading.Thread(target=server.serve_forever, name=f"crdsync-http-{name}", daemon=True)
    thread.start()
    endpoint = Endpoint(server, thread)
    bound_host, bound_port = endpoint.address
    log.info("serving %s on %s:%d", ", ".join(sorted(routes)), bound_host or "*", bound_port)
    return endpoint


def healthz(problems: Callable[[], list[str]]) -> Route:
    def route() -> Response:
        found = problems()
        if found:
            return 500, TEXT, ("\n".join(found) + "\n").encode()
        return 200, TEXT, b"ok\n"

    return route


def readyz(ready: Callable[[], tuple[bool, str]]) -> Route:
    def route() -> Response:
        ok, why = ready()
        return (200 if ok else 503), TEXT, (why + "\n").encode()

    return route


def metrics_route(exposition: Callable[[], tuple[bytes, str]]) -> Route:
    def route() -> Response:
        body, content_type = exposition()
        return 200, content_type, body

    return route
