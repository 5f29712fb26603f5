"""Cluster IO for benchmarks and e2e tests: the bench CRD and mapping, setup, concurrent creates, timed observation
of a resource through an informer, and the apiserver's own metrics.

All requests go through `crdsync.kube.client.KubeClient` (the client crdsync itself uses), except /metrics, which is
Prometheus text rather than JSON and is fetched on the same kind of connection pool the kubeconfig configures.

Failure modes: API errors propagate as `crdsync.kube.errors.ApiError` (the caller names the step); waits that run out
raise `WaitTimeout`; `MetricsUnavailable` when /metrics cannot be read (RBAC on a user's cluster, usually).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import AlreadyExists, ApiError, ConfigError
from crdsync.kube.informer import Informer
from crdsync.kube.resource import Resource
from devkit.benchmark.metrics import RequestKey, parse_request_totals
from devkit.benchmark.procs import WaitTimeout

JSONDict = dict[str, Any]

GROUP = "bench.crdsync.io"
KIND = "Item"
ITEM_GVK = GroupVersionKind(GROUP, "v1", KIND)
CRD_GVK = GroupVersionKind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
NAMESPACE_GVK = GroupVersionKind("", "v1", "Namespace")

MAPPING = f"""\
apiVersion: crdsync.io/v1alpha1
kind: SyncConfig
metadata: {{name: bench}}
spec:
  toHost:
    - apiVersion: {GROUP}/v1
      kind: {KIND}
"""

_ITEM_SCHEMA: JSONDict = {
    "openAPIV3Schema": {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"value": {"type": "integer"}, "text": {"type": "string"}},
            },
            "status": {
                "type": "object",
                "properties": {"value": {"type": "integer"}, "phase": {"type": "string"}},
            },
        },
    }
}
_PERMISSIVE_SCHEMA: JSONDict = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


class MetricsUnavailable(Exception):
    """The apiserver's /metrics could not be read; the message says why."""


def crd_definition(
    group: str,
    kind: str,
    *,
    plural: str | None = None,
    scope: str = "Namespaced",
    versions: tuple[str, ...] = ("v1",),
    schema: JSONDict | None = None,
) -> JSONDict:
    """A CRD with a status subresource in every version (the first is stored); any fields preserved by default."""
    plural = plural or kind.lower() + "s"
    validation = schema or _PERMISSIVE_SCHEMA
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [
                {"name": v, "served": True, "storage": i == 0, "subresources": {"status": {}}, "schema": validation}
                for i, v in enumerate(versions)
            ],
        },
    }


def item_crd() -> JSONDict:
    """The small benchmark CRD: Item with spec {value, text} and status {value, phase}."""
    return crd_definition(GROUP, KIND, schema=_ITEM_SCHEMA)


def item(namespace: str, name: str, value: int = 0) -> JSONDict:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "crdsync-bench"}},
        "spec": {"value": value, "text": f"benchmark item {name}"},
    }


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def require_resource(client: KubeClient, gvk: GroupVersionKind, timeout: float = 0.0) -> Resource:
    """The served resource for `gvk`, waiting up to `timeout` seconds for discovery to show it."""
    found: list[Resource] = []

    def served() -> bool:
        res = client.resource_for(gvk)
        if res is None:
            client.invalidate_discovery()
            return False
        found.append(res)
        return True

    wait_until(served, timeout, f"{gvk} to be served by {client.host}", interval=0.5)
    return found[0]


def install_crd(client: KubeClient, definition: JSONDict, timeout: float = 60.0) -> Resource:
    """Create the CRD unless it exists, wait until it is established and served; returns the served resource."""
    crds = require_resource(client, CRD_GVK)
    name = definition["metadata"]["name"]
    if client.get(crds, None, name) is None:
        with contextlib.suppress(AlreadyExists):  # someone else created it meanwhile: just as good
            client.create(crds, definition)

    def established() -> bool:
        current = client.get(crds, None, name) or {}
        conditions = (current.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    wait_until(established, timeout, f"CRD {name} established on {client.host}")
    spec = definition["spec"]
    gvk = GroupVersionKind(spec["group"], spec["versions"][0]["name"], spec["names"]["kind"])
    return require_resource(client, gvk, timeout)


def ensure_namespace(client: KubeClient, name: str) -> None:
    namespaces = require_resource(client, NAMESPACE_GVK)
    if client.get(namespaces, None, name) is None:
        with contextlib.suppress(AlreadyExists):
            client.create(namespaces, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def delete_namespace(client: KubeClient, name: str) -> None:
    namespaces = require_resource(client, NAMESPACE_GVK)
    client.delete(namespaces, None, name)


def delete_all(client: KubeClient, res: Resource, namespace: str, timeout: float = 300.0) -> None:
    """Delete every object of `res` in `namespace` with one DELETECOLLECTION and wait until none is left."""
    client.request("DELETE", res.path(namespace), body={"kind": "DeleteOptions", "apiVersion": "v1"})
    wait_until(lambda: not client.list(res, namespace, limit=1)[0], timeout, f"{res} in {namespace} deleted")


def run_concurrently(
    action: Callable[[JSONDict], object], objects: Sequence[JSONDict], concurrency: int
) -> float:
    """Apply `action` to every object from `concurrency` threads; returns the wall seconds it took.

    The first failure stops all threads and is raised.
    """
    if not objects:
        return 0.0
    counter = itertools.count()
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        while not failures:
            with lock:
                index = next(counter)
            if index >= len(objects):
                return
            try:
                action(objects[index])
            except BaseException as exc:
                failures.append(exc)
                return

    threads = [threading.Thread(target=work, name=f"bench-{i}", daemon=True) for i in range(max(1, concurrency))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise failures[0]
    return elapsed


class Expectation:
    """A condition over an observer's cache and the monotonic time at which it first held."""

    def __init__(self, check: Callable[[], bool], what: str) -> None:
        self.check = check
        self.what = what
        self.at: float | None = None
        self._event = threading.Event()
        self._lock = threading.Lock()

    def fire(self, now: float) -> None:
        with self._lock:
            if self.at is None:
                self.at = now
                self._event.set()

    def wait(self, timeout: float) -> float:
        if not self._event.wait(timeout):
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {self.what}")
        assert self.at is not None
        return self.at


class Observer:
    """An informer on one resource (optionally one namespace) that timestamps when expectations come true.

    Conditions are evaluated on the informer thread right after each event updates the cache, so the recorded time is
    when the watch delivered the change to us, not when a poll happened to notice it.
    """

    def __init__(self, client: KubeClient, res: Resource, namespace: str | None, name: str) -> None:
        self._lock = threading.Lock()
        self._pending: list[Expectation] = []
        self.informer = Informer(client, res, namespace=namespace, on_event=self._on_event, name=name)

    def start(self, timeout: float = 120.0) -> Observer:
        self.informer.start()
        if not self.informer.wait_for_sync(timeout):
            raise WaitTimeout(f"{self.informer.name}: first list not done within {timeout:.0f}s")
        return self

    def stop(self) -> None:
        self.informer.stop()

    def __len__(self) -> int:
        return len(self.informer)

    def get(self, namespace: str | None, name: str) -> JSONDict | None:
        return self.informer.get(namespace, name)

    def expect(self, check: Callable[[], bool], what: str) -> Expectation:
        """Register a condition; it fires at once if it already holds."""
        expectation = Expectation(check, what)
        with self._lock:
            self._pending.append(expectation)
        if check():
            expectation.fire(time.monotonic())
            self._discard(expectation)
        return expectation

    def expect_count(self, count: int, what: str) -> Expectation:
        return self.expect(lambda: len(self.informer) == count, what)

    def expect_exists(self, namespace: str | None, name: str) -> Expectation:
        return self.expect(lambda: self.informer.get(namespace, name) is not None, f"{name} on {self.informer.name}")

    def expect_field(self, namespace: str | None, name: str, field: str, key: str, value: object) -> Expectation:
        """Fires when object `name` exists and its `field` map (spec, status) holds `key: value`."""

        def holds() -> bool:
            obj = self.informer.get(namespace, name)
            return obj is not None and (obj.get(field) or {}).get(key) == value

        return self.expect(holds, f"{name}.{field}.{key} == {value!r} on {self.informer.name}")

    def _discard(self, expectation: Expectation) -> None:
        with self._lock:
            if expectation in self._pending:
                self._pending.remove(expectation)

    def _on_event(self, event_type: str, key: tuple[str, str], obj: JSONDict) -> None:
        now = time.monotonic()
        with self._lock:
            pending = list(self._pending)
        for expectation in pending:
            if expectation.check():
                expectation.fire(now)
                self._discard(expectation)


class MetricsReader:
    """Reads an apiserver's /metrics (Prometheus text) with the credentials of a kubeconfig."""

    def __init__(self, kubeconfig: str, context: str | None = None) -> None:
        from kubernetes.client import ApiClient, Configuration
        from kubernetes.config import kube_config

        load: Any = kube_config.load_kube_config
        self._configuration: Any = Configuration()
        try:
            load(config_file=kubeconfig, context=context, client_configuration=self._configuration,
                 persist_config=False)
        except Exception as exc:
            raise ConfigError(f"{kubeconfig}: cannot load kubeconfig: {exc}") from None
        # The same pool the kubeconfig's TLS settings build for KubeClient; /metrics is text, so we read it raw.
        self._pool: Any = ApiClient(self._configuration).rest_client.pool_manager
        self._url = str(self._configuration.host).rstrip("/") + "/metrics"

    def text(self) -> str:
        headers = {"Accept": "text/plain"}
        for setting in self._configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"])] = str(setting["value"])
        try:
            response = self._pool.request("GET", self._url, headers=headers, timeout=30.0, retries=False)
        except Exception as exc:
            raise MetricsUnavailable(f"GET {self._url}: {exc}") from None
        if response.status != 200:
            raise MetricsUnavailable(
                f"GET {self._url}: HTTP {response.status} (the benchmark's user needs `get` on the non-resource URL"
                " /metrics to count writes)"
            )
        return str(response.data.decode(errors="replace"))

    def totals(self) -> dict[RequestKey, float]:
        return parse_request_totals(self.text())


def list_seconds(clients: Iterable[tuple[KubeClient, Resource, str | None]]) -> tuple[float, int]:
    """List each (client, resource, namespace) at the same time in its own thread, as the engine's informers list at
    start (from the apiserver's watch cache: resourceVersion 0); returns (wall seconds until all lists finished,
    objects listed)."""
    jobs = list(clients)
    counts = [0] * len(jobs)
    failures: list[ApiError] = []

    def one(index: int) -> None:
        client, res, namespace = jobs[index]
        try:
            counts[index] = len(client.list(res, namespace, resource_version="0")[0])
        except ApiError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(jobs))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise failures[0]
    return elapsed, sum(counts)
