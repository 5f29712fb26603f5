"""Observability of `crdsync run` as deployed: probes, /metrics and JSON logs of a real process on the real planes.

crdsync runs with the flags the Helm chart passes (--metrics-bind-address, --health-probe-bind-address on free
loopback ports, --log-format json). The test checks what a kubelet and a Prometheus would see: /readyz 503 while the
initial sync runs and 200 after, /healthz 200, /metrics parsed with prometheus-client's own parser with write and
reconcile counters equal to the work the test caused, and a log of which every line is one JSON object.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devkit.benchmark.procs import CrdsyncProcess
from e2e.harness import crd, ensure_namespace, get_or_none, host_name_for, install_crd
from e2e.helpers import RestClient, Wait, to_host_mapping

pytestmark = pytest.mark.timeout(600)

GROUP = "obs.e2e.crdsync.io"
KIND = "Beacon"
HOST_NS = "vc-obs"
VCLUSTER = "obs"
VIRTUAL_NS = "obs"
INITIAL = 20  # in the virtual cluster before crdsync starts: what the initial sync has to do
LATER = 5  # created while it runs

MAPPING = to_host_mapping("observability", GROUP, KIND)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str) -> tuple[int, str] | None:
    """(status, body), or None while nothing listens yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def beacons(ns: str, name: str = "") -> str:
    return f"/apis/{GROUP}/v1/namespaces/{ns}/beacons" + (f"/{name}" if name else "")


def beacon(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": KIND,
        "metadata": {"name": name, "namespace": VIRTUAL_NS},
        "spec": {"n": name},
    }


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as (name, sorted labels) -> value, parsed by prometheus-client."""
    answer = http_get(url)
    assert answer is not None and answer[0] == 200, answer
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer[1])
        for sample in family.samples
    }


def sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], metric: str, /, **labels: str) -> float:
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def test_probes_metrics_and_json_logs_of_a_running_crdsync(
    planes: Any,
    host_client: RestClient,
    virtual_client: RestClient,
    wait_for: Wait,
    tmp_path: Any,
) -> None:
    definition = crd(GROUP, KIND)
    install_crd(host_client, definition, wait_for)
    install_crd(virtual_client, definition, wait_for)  # so the tenant's objects exist before crdsync starts
    ensure_namespace(host_client, HOST_NS)
    ensure_namespace(virtual_client, VIRTUAL_NS)
    for i in range(INITIAL):
        virtual_client.create(beacons(VIRTUAL_NS), beacon(f"b{i}"))

    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    metrics_port, probe_port = free_port(), free_port()
    process = CrdsyncProcess(
        mappings=[mapping],
        host_kubeconfig=planes.kubeconfig("host"),
        virtual_kubeconfig=planes.kubeconfig("virtual"),
        host_namespace=HOST_NS,
        vcluster=VCLUSTER,
        log_path=tmp_path / "crdsync.log",
        extra=[
            "--metrics-bind-address",
            f"127.0.0.1:{metrics_port}",
            "--health-probe-bind-address",
            f"127.0.0.1:{probe_port}",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--workers",
            "2",
        ],
    ).start()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    probes = f"http://127.0.0.1:{probe_port}"
    try:
        # /readyz: the first answer comes before the initial sync is done, then it turns 200 and stays.
        readiness: list[int] = []
        deadline = time.monotonic() + 120
        while not readiness or readiness[-1] != 200:
            assert time.monotonic() < deadline, f"/readyz never 200: {readiness[-5:]}\n{process.log_tail()}"
            process.assert_alive()
            answer = http_get(probes + "/readyz")
            if answer is not None:
                readiness.append(answer[0])
            time.sleep(0.02)
        assert readiness[0] == 503, readiness[:5]
        assert set(readiness) == {503, 200}
        assert http_get(probes + "/readyz") == (200, "ok\n")
        assert http_get(probes + "/healthz") == (200, "ok\n")

        def host_copies() -> int:
            items = host_client.get(beacons(HOST_NS))["items"]
            return sum(1 for item in items if item["metadata"].get("annotations", {}).get("crdsync.io/source-name"))

        assert host_copies() == INITIAL  # ready means done: every copy exists
        samples = scrape(metrics_url)
        assert sample(samples, "crdsync_initial_sync_keys") == INITIAL
        assert sample(samples, "crdsync_initial_sync_keys_done") == INITIAL
        assert sample(samples, "crdsync_initial_sync_complete") == 1
        assert sample(samples, "crdsync_writes_total", side="host", verb="create") == INITIAL
        assert sample(samples, "crdsync_leader") == 1

        for i in range(INITIAL, INITIAL + LATER):
            virtual_client.create(beacons(VIRTUAL_NS), beacon(f"b{i}"))
        last = host_name_for(VCLUSTER, HOST_NS, VIRTUAL_NS, f"b{INITIAL + LATER - 1}")
        wait_for(lambda: get_or_none(host_client, beacons(HOST_NS, last)) is not None, 60, "the last host copy")
        wait_for(lambda: host_copies() == INITIAL + LATER, 60, "every host copy")
        for i in range(2):
            virtual_client.delete(beacons(VIRTUAL_NS, f"b{i}"))
        wait_for(lambda: host_copies() == INITIAL + LATER - 2, 60, "two host copies deleted")

        total = INITIAL + LATER
        controller = f"{KIND.lower()}.{GROUP}"

        def settled() -> bool:
            s = scrape(metrics_url)
            return (
                sample(s, "workqueue_depth", name="crdsync") == 0
                and sample(s, "crdsync_objects_in_sync", kind=KIND, direction="toHost") == total - 2
            )

        wait_for(settled, 30, "queue drained and objects in sync")
        samples = scrape(metrics_url)
        # Writes are exactly the work done: one create per object, one delete per deleted source, nothing else.
        assert sample(samples, "crdsync_writes_total", side="host", verb="create") == total
        assert sample(samples, "crdsync_writes_total", side="host", verb="delete") == 2
        assert sample(samples, "crdsync_writes_total", side="host", verb="apply") == 0
        assert (
            sample(samples, "crdsync_writes_total", side="virtual", verb="apply") <= 1
        )  # the mirrored CRD, if it differed
        # Every source was reconciled successfully at least once (copies' own events reconcile them again).
        successes = sample(samples, "controller_runtime_reconcile_total", controller=controller, result="success")
        assert successes >= total + 2
        assert sample(samples, "controller_runtime_reconcile_total", controller=controller, result="error") == 0
        assert sample(samples, "controller_runtime_reconcile_errors_total", controller=controller) == 0
        assert sample(samples, "crdsync_sync_lag_seconds_count") >= total
        assert sample(samples, "workqueue_adds_total", name="crdsync") >= total
        assert sample(samples, "workqueue_work_duration_seconds_count", name="crdsync") >= total
        # The apiserver answered each create with 201 and each delete with 200, as counted per request.
        host = planes.url("host").split("://", 1)[1]
        assert sample(samples, "rest_client_requests_total", code="201", method="POST", host=host) == total
        assert sample(samples, "rest_client_requests_total", code="200", method="DELETE", host=host) == 2
        assert sample(samples, "crdsync_informer_relists_total", side="host", kind=KIND) == 0
        assert http_get(probes + "/healthz") == (200, "ok\n")
    finally:
        code = process.stop()
    assert code == 0, process.log_tail()

    lines = (tmp_path / "crdsync.log").read_text().splitlines()
    assert lines
    entries = [json.loads(line) for line in lines]  # every line, no exceptions
    for entry in entries:
        assert {"time", "level", "logger", "msg"} <= set(entry), entry
    messages = [e["msg"] for e in entries]
    assert any(m.startswith(f"initial sync complete: {INITIAL} keys") for m in messages)
    assert any(m.startswith("serving /healthz, /readyz") for m in messages)
    keyed = [e for e in entries if e.get("kind") == KIND]
    assert all(e["namespace"] == VIRTUAL_NS and e["name"].startswith("b") for e in keyed)
