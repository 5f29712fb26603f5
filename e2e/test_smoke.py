"""Smoke tests of the local control planes: each plane is a real, isolated Kubernetes API.

Covers what the sync engine relies on: CRDs with a status subresource, create/update/status/delete of a custom
resource, watches (including the bookmark that ends the initial events), /metrics with apiserver_request_total,
namespaces and Pods creatable without controllers, isolation between planes, extra planes on the shared etcd, and
`python -m devkit up/down` leaving no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devkit.devplane import process
from devkit.devplane.build import KUBE_VERSION
from devkit.devplane.launcher import Planes, local_planes, read_state

# The first test to run pays for building the binaries on a cold cache.
pytestmark = pytest.mark.timeout(1800)

PLANES = ["host", "virtual"]
GROUP = "smoke.crdsync.io"
CRD_NAME = f"widgets.{GROUP}"
WIDGETS = f"/apis/{GROUP}/v1/namespaces/default/widgets"
Wait = Callable[[Callable[[], bool], float, str], None]
RestClient = Any  # e2e/conftest.py's RestClient, reached through fixtures (conftest modules are not for importing)

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                        },
                    }
                },
            }
        ],
    },
}


def _established(client: RestClient) -> bool:
    crd = client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
    conditions = (crd.get("status") or {}).get("conditions") or []  # null until the controller first looks
    if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
        return False
    # Established is reported a moment before the new resource is served.
    return bool(client.status_of("GET", WIDGETS) == 200)


def _install_crd(client: RestClient, wait_for: Wait) -> None:
    status = client.status_of("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD)
    assert status in (200, 409), status  # 409: installed by an earlier test of this session
    wait_for(lambda: _established(client), 60, f"CRD {CRD_NAME} to be established")


def _widget(name: str, size: int) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": size}}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_version_is_the_pinned_release(host_client: RestClient, virtual_client: RestClient) -> None:
    for client in (host_client, virtual_client):
        assert client.get("/version")["gitVersion"] == KUBE_VERSION


@pytest.mark.parametrize("plane", PLANES)
def test_custom_resource_lifecycle_with_status_subresource_and_watch(
    plane: str, client_for: Callable[[str], RestClient], wait_for: Wait
) -> None:
    client = client_for(plane)
    _install_crd(client, wait_for)
    start_rv = client.get(WIDGETS)["metadata"]["resourceVersion"]
    name = _unique("w")
    path = f"{WIDGETS}/{name}"

    created = client.create(WIDGETS, _widget(name, 1))
    assert created["spec"] == {"size": 1}
    assert created["metadata"]["generation"] == 1

    updated = client.merge_patch(path, {"spec": {"size": 2}})
    assert updated["spec"] == {"size": 2}
    assert updated["metadata"]["generation"] == 2

    # With a status subresource, the main endpoint ignores status and /status ignores spec.
    ignored = client.merge_patch(path, {"status": {"phase": "Sneaky"}})
    assert "status" not in ignored
    with_status = client.merge_patch(f"{path}/status", {"status": {"phase": "Ready"}, "spec": {"size": 99}})
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["spec"] == {"size": 2}
    assert with_status["metadata"]["generation"] == 2  # status writes do not bump the generation

    client.delete(path)
    assert client.status_of("GET", path) == 404

    events = client.watch(
        WIDGETS,
        resourceVersion=start_rv,
        allowWatchBookmarks="true",
        until=lambda evs: any(e["type"] == "DELETED" and e["object"]["metadata"]["name"] == name for e in evs),
    )
    ours = [
        (e["type"], e["object"].get("spec"), e["object"].get("status"))
        for e in events
        if e["type"] != "BOOKMARK" and e["object"]["metadata"]["name"] == name
    ]
    assert ours == [
        ("ADDED", {"size": 1}, None),
        ("MODIFIED", {"size": 2}, None),
        ("MODIFIED", {"size": 2}, {"phase": "Ready"}),
        ("DELETED", {"size": 2}, {"phase": "Ready"}),
    ]


@pytest.mark.parametrize("plane", PLANES)
def test_watch_list_ends_initial_events_with_a_bookmark(
    plane: str, client_for: Callable[[str], RestClient], wait_for: Wait
) -> None:
    client = client_for(plane)
    _install_crd(client, wait_for)
    name = _unique("b")
    client.create(WIDGETS, _widget(name, 3))
    try:
        events = client.watch(
            WIDGETS,
            sendInitialEvents="true",
            resourceVersionMatch="NotOlderThan",
            allowWatchBookmarks="true",
            until=lambda evs: evs[-1]["type"] == "BOOKMARK",
        )
    finally:
        client.delete(f"{WIDGETS}/{name}")
    bookmark = events[-1]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
    assert ("ADDED", name) in [(e["type"], e["object"]["metadata"]["name"]) for e in events[:-1]]


def _requests_total(client: RestClient, verb: str, resource: str) -> float:
    total = 0.0
    for line in client.get("/metrics").splitlines():
        if (
            line.startswith("apiserver_request_total{")
            and f'verb="{verb}"' in line
            and f'resource="{resource}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("plane", PLANES)
def test_metrics_count_writes(plane: str, client_for: Callable[[str], RestClient]) -> None:
    client = client_for(plane)
    before = _requests_total(client, "POST", "configmaps")
    names = [_unique("m") for _ in range(3)]
    for name in names:
        client.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": name}, "data": {"k": "v"}})
    for name in names:
        client.delete(f"/api/v1/namespaces/default/configmaps/{name}")
    assert _requests_total(client, "POST", "configmaps") - before == 3


@pytest.mark.parametrize("plane", PLANES)
def test_namespaces_and_pods_need_no_controllers(plane: str, client_for: Callable[[str], RestClient]) -> None:
    client = client_for(plane)
    namespace = _unique("ns")
    created = client.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    assert created["status"]["phase"] == "Active"
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "example.invalid/none"}]}}
    # No controller-manager makes a "default" ServiceAccount; ServiceAccount admission must not refuse the Pod.
    assert client.create(f"/api/v1/namespaces/{namespace}/pods", pod)["metadata"]["name"] == "p"
    client.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/p", query={"gracePeriodSeconds": 0})
    for system in ("default", "kube-system", "kube-public"):
        assert client.get(f"/api/v1/namespaces/{system}")["status"]["phase"] == "Active"


def test_objects_created_in_virtual_are_not_visible_in_host(
    host_client: RestClient, virtual_client: RestClient, wait_for: Wait
) -> None:
    name = _unique("only-virtual")
    virtual_client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    virtual_client.create(f"/api/v1/namespaces/{name}/configmaps", {"metadata": {"name": name}})
    _install_crd(virtual_client, wait_for)
    virtual_client.create(WIDGETS, _widget(name, 1))
    try:
        assert virtual_client.get(f"/api/v1/namespaces/{name}")["metadata"]["name"] == name
        assert host_client.status_of("GET", f"/api/v1/namespaces/{name}") == 404
        assert host_client.status_of("GET", f"/api/v1/namespaces/{name}/configmaps/{name}") == 404
        host_widgets = host_client.status_of("GET", f"{WIDGETS}/{name}")
        assert host_widgets == 404  # either the CRD or the object is missing in host; never the tenant's object
        host_names = {cm["metadata"]["name"] for cm in host_client.get("/api/v1/configmaps")["items"]}
        assert name not in host_names
    finally:
        virtual_client.delete(f"{WIDGETS}/{name}")
        virtual_client.delete(f"/api/v1/namespaces/{name}")


def test_another_virtual_plane_can_join_the_shared_etcd(
    planes: Planes, client_for: Callable[[str], RestClient], virtual_client: RestClient
) -> None:
    kubeconfig = planes.add_apiserver("virtual2")
    try:
        assert kubeconfig == planes.directory / "virtual2.kubeconfig" and kubeconfig.is_file()
        second = client_for("virtual2")
        name = _unique("tenant2")
        second.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": name}})
        assert second.get(f"/api/v1/namespaces/default/configmaps/{name}")["metadata"]["name"] == name
        assert virtual_client.status_of("GET", f"/api/v1/namespaces/default/configmaps/{name}") == 404
        assert {"etcd", "host", "virtual", "virtual2"} <= set(planes.pids)
    finally:
        pid = planes.pids["virtual2"]
        planes.stop_apiserver("virtual2")
    assert process.start_time(pid) is None
    assert "virtual2" not in {r.name for r in read_state(planes.directory)}


def _our_processes(directory: Path) -> list[str]:
    """Command lines of running etcd and kube-apiserver processes that use `directory` (in their flags)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            running = process.start_time(int(entry.name)) is not None
            if running and Path(argv[0]).name in ("etcd", "kube-apiserver") and str(directory) in " ".join(argv):
                found.append(" ".join(argv))
    return found


# devkit is not installed (the wheel ships crdsync only): run it from the checkout.
CHECKOUT = Path(__file__).resolve().parents[1]


def _devkit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=CHECKOUT,
    )


def test_dev_up_detach_then_down_leaves_nothing_behind(
    tmp_path: Path, planes: Planes, rest_client: Callable[..., RestClient]
) -> None:
    directory = tmp_path / "dev"
    up = _devkit("up", "--dir", str(directory), "--detach")
    assert up.returncode == 0, up.stderr
    kubeconfigs = dict(line.split("=", 1) for line in up.stdout.splitlines())
    assert set(kubeconfigs) == {"host", "virtual"}
    records = {r.name: r for r in read_state(directory)}
    try:
        assert len(_our_processes(directory)) == 3  # etcd and two apiservers, outliving the `up` command
        for name, path in kubeconfigs.items():
            assert Path(path) == directory / f"{name}.kubeconfig"
        pki = directory / "pki"
        for name in ("host", "virtual"):
            client = rest_client(records[name].url, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
            assert client.get("/api/v1/namespaces/default")["metadata"]["name"] == "default"
        again = _devkit("up", "--dir", str(directory), "--detach")
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = _devkit("down", "--dir", str(directory))
        left = _our_processes(directory)
        # Detached planes have no parent-death signal: if `down` is broken, stop them here rather than leak them.
        process.stop_groups([(r.pid, r.start_time) for r in records.values()])
    assert down.returncode == 0, down.stderr
    assert "stopped host, virtual, etcd" in down.stderr
    assert left == []
    assert not (directory / "planes.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_dev_up_in_the_foreground_leaves_nothing_behind_when_signalled(
    tmp_path: Path, planes: Planes, signum: signal.Signals, wait_for: Wait
) -> None:
    directory = tmp_path / "fg"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devkit", "up", "--dir", str(directory), "--plane", "solo"],
        cwd=CHECKOUT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As typed at a terminal: Ctrl-C must work even if whoever started pytest ignores SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once ready
        assert line.strip() == f"solo={directory / 'solo.kubeconfig'}"
        assert len(_our_processes(directory)) == 2
        proc.send_signal(signum)
        # SIGKILL gives Python no chance to clean up: the kernel's parent-death signal must stop the children.
        assert proc.wait(timeout=60) == (-signal.SIGKILL if signum == signal.SIGKILL else 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_for(lambda: _our_processes(directory) == [], 10, "etcd and the apiserver to stop")


def test_an_exception_inside_local_planes_stops_every_process(tmp_path: Path, planes: Planes) -> None:
    pids: dict[str, int] = {}
    with pytest.raises(RuntimeError, match="boom"), local_planes(tmp_path / "exc", names=("solo",)) as solo:
        pids = solo.pids
        assert set(pids) == {"etcd", "solo"}
        raise RuntimeError("boom")
    time.sleep(0.1)
    assert all(process.start_time(pid) is None for pid in pids.values())
    assert os.path.exists(tmp_path / "exc" / "solo.log")


def test_planes_never_closed_are_stopped_when_python_exits(tmp_path: Path, planes: Planes) -> None:
    script = (
        "import sys; from pathlib import Path; from devkit.devplane.launcher import local_planes\n"
        f"manager = local_planes(Path({str(tmp_path / 'open')!r}), names=('solo',))\n"
        "planes = manager.__enter__()\n"
        "print(len(planes.pids), flush=True)\n"
        "sys.exit(0)  # without leaving the with block: atexit must stop them\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False, cwd=CHECKOUT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert _our_processes(tmp_path / "open") == []
    # Removed by an orderly close at exit (the parent-death signal alone would have left it).
    assert not (tmp_path / "open" / "planes.json").exists()
