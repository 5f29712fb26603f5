"""The moving parts of a chaos run: a small apiserver client, toxiproxy and the crdsync replicas.

`Api` talks to one apiserver directly (never through the proxies) with the planes' admin certificate: what the
checks read is the apiservers' own state. `Toxiproxy` runs the toxiproxy server (built from its pinned Go module by
devkit.devplane.build) and drives its HTTP API: one proxy per apiserver, toxics added and removed by name.
`Replicas` runs crdsync with --leader-elect, each replica with its own log file and a kubeconfig pointing through the
proxies; a replica's identity (`hostname-pid`, in its User-Agent and its Lease writes) changes with every restart.

Failure modes: ApiStatus for a non-2xx answer, OSError when an apiserver cannot be reached (callers that poll during a
fault catch both); toxiproxy that does not answer within 10 s raises RuntimeError.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devkit.benchmark.procs import CrdsyncProcess, memory_kb
from devkit.devplane import process
from devkit.devplane.build import find_binary
from devkit.devplane.launcher import Planes

Obj = dict[str, Any]


class ApiStatus(Exception):
    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body.get('message') if isinstance(body, dict) else body}")
        self.status = status


class Api:
    """Dict-in/dict-out requests to one apiserver as its admin."""

    def __init__(self, planes: Planes, name: str, user_agent: str = "chaos-harness") -> None:
        self.url = planes.url(name)
        self.name = name
        self.user_agent = user_agent
        self._context = ssl.create_default_context(cafile=str(planes.ca_cert))
        self._context.load_cert_chain(str(planes.admin_cert), str(planes.admin_key))

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json", timeout: float = 10
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        req.add_header("User-Agent", self.user_agent)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode(errors="replace")
            try:
                decoded: Any = json.loads(raw)
            except ValueError:
                decoded = raw
            raise ApiStatus(method, path, exc.code, decoded) from None
        return json.loads(text) if text.startswith(("{", "[")) else text

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def get_or_none(self, path: str) -> Obj | None:
        try:
            found: Obj = self.get(path)
        except ApiStatus as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def items(self, path: str) -> list[Obj]:
        items: list[Obj] = self.get(path).get("items") or []
        return items

    def metrics(self) -> str:
        return str(self.request("GET", "/metrics", timeout=20))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Toxiproxy:
    """The toxiproxy server and its HTTP API (proxies, toxics)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "toxiproxy.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Toxiproxy:
        binary = find_binary("toxiproxy")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(binary), "-host", "127.0.0.1", "-port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                self._call("GET", "/version")
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"toxiproxy did not answer on {self.api}; see {self.log_path}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            process.stop_group(self._process.pid, process.start_time(self._process.pid) or 0)
        self._process = None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip().startswith(("{", "[")) else text

    def proxy(self, name: str, upstream: str) -> str:
        """Create proxy `name` to `upstream` (host:port); returns the address it listens on."""
        listen = f"127.0.0.1:{free_port()}"
        self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": True})
        return listen

    def add(self, proxy: str, toxic: str, kind: str, attributes: dict[str, int], stream: str = "downstream") -> None:
        body = {"name": toxic, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        self._call("POST", f"/proxies/{proxy}/toxics", body)

    def remove(self, proxy: str, toxic: str) -> None:
        with contextlib.suppress(urllib.error.HTTPError):  # already gone
            self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}")

    def enable(self, proxy: str, enabled: bool) -> None:
        """Disabled: the proxy closes its listener and every connection (the apiserver is unreachable)."""
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})


def proxied_kubeconfig(planes: Planes, name: str, listen: str, target: Path) -> Path:
    """The plane's kubeconfig with its server moved to the proxy (TLS still verifies: the proxy keeps 127.0.0.1)."""
    config = json.loads(planes.kubeconfig(name).read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://{listen}"
    target.write_text(json.dumps(config))
    return target


class Replica:
    """One crdsync replica slot; `restart()` starts a new process (a new identity) in the same slot."""

    def __init__(self, slot: str, factory: Any) -> None:
        self.slot = slot
        self._factory = factory
        self.process: CrdsyncProcess | None = None
        self.lives: list[int] = []  # pids, oldest first
        self.paused = False

    def start(self) -> Replica:
        self.process = self._factory(self.slot)
        assert self.process is not None
        self.process.start()
        self.lives.append(self.process.pid)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def alive(self) -> bool:
        return self.process is not None and self.process.process is not None and self.process.process.poll() is None

    def rss_kb(self) -> int:
        return memory_kb(self.pid)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.paused:
            self.resume()
        return self.process.stop(timeout=30)


def identity_pid(identity: str) -> int | None:
    """The pid in a replica identity (`<hostname>-<pid>`)."""
    tail = identity.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None
