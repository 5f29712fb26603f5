"""Fixtures for end-to-end tests against real local control planes (etcd + `host` and `virtual` kube-apiservers).

The planes are started once per session (building the binaries on first use, which takes minutes on a cold cache)
and stopped at the end whatever happens. If they cannot be built or started the tests fail with the processes' log
tails; they never skip. Every test under e2e/ is marked `e2e` automatically.

`RestClient` is a deliberately small dict-in/dict-out client over urllib so these tests depend on nothing but the
planes; crdsync.kube.client can replace it once the engine tests want the real thing.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest

from devkit.devplane import certmanager, externalsecrets
from devkit.devplane.build import BuildError
from devkit.devplane.certmanager import CertManager
from devkit.devplane.externalsecrets import ExternalSecrets
from devkit.devplane.launcher import Planes, PlanesError, local_planes
from devkit.devplane.operator_files import OperatorError
from devkit.devplane.operators import Controller
from devkit.devplane.process import tail

_E2E_DIR = Path(__file__).resolve().parent
_C = TypeVar("_C", bound=Controller)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


class ApiStatusError(Exception):
    """A non-2xx answer; `status` is the HTTP code and `body` the decoded Status object (or raw text)."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status
        self.body = body


class RestClient:
    """Minimal JSON client for one apiserver, authenticating with the planes' admin client certificate."""

    def __init__(self, base_url: str, ca_cert: Path, client_cert: Path, client_key: Path) -> None:
        self.base_url = base_url.rstrip("/")
        self._context = ssl.create_default_context(cafile=str(ca_cert))
        self._context.load_cert_chain(str(client_cert), str(client_key))

    @classmethod
    def for_plane(cls, planes: Planes, name: str) -> RestClient:
        return cls(planes.url(name), planes.ca_cert, planes.admin_cert, planes.admin_key)

    def _url(self, path: str, query: dict[str, Any] | None) -> str:
        return f"{self.base_url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self._url(path, query), data=data, method=method)
        req.add_header("Accept", "application/json")
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
            raise ApiStatusError(method, path, exc.code, decoded) from None
        return json.loads(text) if text.startswith(("{", "[")) else text

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query or None)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body)

    def replace(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PUT", path, body)

    def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def status_of(self, method: str, path: str, body: Any = None) -> int:
        """The HTTP status a request gets (2xx or error), for asserting on refusals and absences."""
        try:
            self.request(method, path, body)
        except ApiStatusError as exc:
            return exc.status
        return 200

    def watch(
        self, path: str, *, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 30, **query: Any
    ) -> list[dict[str, Any]]:
        """Watch `path` and collect events until `until(events)` holds or the server ends the watch after `timeout`.

        Events are the raw watch events: {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}.
        """
        query = {"watch": "true", "timeoutSeconds": int(timeout), **query}
        req = urllib.request.Request(self._url(path, query), headers={"Accept": "application/json"})
        events: list[dict[str, Any]] = []
        with urllib.request.urlopen(req, timeout=timeout + 10, context=self._context) as response:
            for line in response:
                if line.strip():
                    events.append(json.loads(line))
                    if until(events):
                        break
        return events


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def wait_for() -> Callable[[Callable[[], bool], float, str], None]:
    """`wait_for(condition, timeout_seconds, what)`: poll until true, else fail naming `what`."""
    return _wait_for


def _log_tails(directory: Path) -> str:
    return "\n".join(f"--- {log} ---\n{tail(log, 40)}" for log in sorted(directory.glob("*.log"))) or "(no logs)"


@pytest.fixture(scope="session")
def planes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planes]:
    """Running host and virtual planes for the whole session (built on first use; a cold build takes minutes)."""
    directory = tmp_path_factory.mktemp("planes")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with ExitStack() as stack:
        try:
            # Build and start-up progress goes straight to the terminal: minutes of silence look like a hang.
            with capture.global_and_fixture_disabled() if capture else ExitStack():
                running = stack.enter_context(local_planes(directory))
        except (BuildError, PlanesError) as exc:
            pytest.fail(f"local control planes did not start: {exc}\n\n{_log_tails(directory)}", pytrace=False)
        yield running


@pytest.fixture(scope="session")
def host_kubeconfig(planes: Planes) -> Path:
    return planes.kubeconfig("host")


@pytest.fixture(scope="session")
def virtual_kubeconfig(planes: Planes) -> Path:
    return planes.kubeconfig("virtual")


@pytest.fixture(scope="session")
def host_client(planes: Planes) -> RestClient:
    return RestClient.for_plane(planes, "host")


@pytest.fixture(scope="session")
def virtual_client(planes: Planes) -> RestClient:
    return RestClient.for_plane(planes, "virtual")


@pytest.fixture(scope="session")
def rest_client() -> type[RestClient]:
    """The client class, to build one from explicit credentials: rest_client(url, ca, cert, key)."""
    return RestClient


@pytest.fixture(scope="session")
def client_for(planes: Planes) -> Callable[[str], RestClient]:
    """A client for any running plane by name, including planes added later with `planes.add_apiserver`."""
    return lambda name: RestClient.for_plane(planes, name)


def _host_operator(
    planes: Planes,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    install: Callable[[Path], None],
    run: Callable[[Path, Path], AbstractContextManager[_C]],
) -> Iterator[_C]:
    """Install an operator's CRDs on the host plane and run its controller (log in a fresh temporary directory)."""
    log_path = tmp_path_factory.mktemp(name) / f"{name}.log"
    try:
        install(planes.kubeconfig("host"))
        with run(planes.kubeconfig("host"), log_path) as running:
            yield running
    except (BuildError, OperatorError) as exc:
        pytest.fail(f"{name} did not start on the host plane: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def cert_manager(planes: Planes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertManager]:
    """The real cert-manager controller running against the host plane for one test module (CRDs installed)."""
    yield from _host_operator(
        planes, tmp_path_factory, "cert-manager", certmanager.install_crds, certmanager.run_cert_manager
    )


@pytest.fixture(scope="module")
def external_secrets(planes: Planes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExternalSecrets]:
    """The real external-secrets controller on the host plane for one test module (CRDs installed)."""
    yield from _host_operator(
        planes, tmp_path_factory, "external-secrets", externalsecrets.install_crds, externalsecrets.run_external_secrets
    )
