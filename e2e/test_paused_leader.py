"""A leader frozen (SIGSTOP) for longer than its Lease makes zero writes after it wakes (crdsync.engine.fence).

Two replicas with --leader-elect and a short lease run between their own planes (the host and virtual apiservers
write an audit log of every write; each replica's User-Agent carries its identity, so the apiservers themselves say
who wrote what and when). While a tenant keeps changing objects, the leader is stopped for longer than the lease
duration: the standby takes over and keeps syncing. The old leader is then continued — its informers deliver what
piled up, its workers have keys to write — and the audit logs must show no write from it after it woke, the Lease
holder history must be old leader → standby, no write by anyone while another held the Lease, and the final state
converged.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.benchmark.cluster import crd_definition
from devkit.devplane.launcher import Planes, local_planes
from e2e.chaos import checks
from e2e.chaos.cluster import Api, ApiStatus
from e2e.harness import Crdsync, host_name_for

pytestmark = pytest.mark.timeout(600)

GROUP = "pause.crdsync.io"
HOST_NS, VCLUSTER, NS = "vc-pause", "pause", "app"
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 5.0, 3.0, 0.5
PAUSE = LEASE_DURATION + 4
OBJECTS = 12


def path(ns: str, name: str = "") -> str:
    return f"/apis/{GROUP}/v1/namespaces/{ns}/gadgets" + (f"/{name}" if name else "")


@pytest.fixture(scope="module")
def audited_planes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planes]:
    with local_planes(tmp_path_factory.mktemp("paused-planes"), audit=True) as planes:
        yield planes


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def test_paused_leader_makes_no_write_after_it_wakes(audited_planes: Planes, tmp_path: Path) -> None:
    planes = audited_planes
    host, virtual = Api(planes, "host"), Api(planes, "virtual", user_agent="tenant")
    host.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd_definition(GROUP, "Gadget"))
    wait(lambda: _served(host), 60, "Gadget served on the host")
    host.request("POST", "/api/v1/namespaces", {"metadata": {"name": HOST_NS}})
    virtual.request("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: pause}\n"
        f"spec:\n  toHost:\n    - {{apiVersion: {GROUP}/v1, kind: Gadget}}\n"
    )

    def replica(name: str) -> Crdsync:
        return Crdsync(
            mappings=[mapping],
            host_kubeconfig=planes.kubeconfig("host"),
            virtual_kubeconfig=planes.kubeconfig("virtual"),
            host_namespace=HOST_NS,
            vcluster=VCLUSTER,
            log_path=tmp_path / f"{name}.log",
            extra=[
                "--leader-elect",
                f"--lease-duration={LEASE_DURATION}",
                f"--renew-deadline={RENEW_DEADLINE}",
                f"--retry-period={RETRY_PERIOD}",
                "--workers=4",
                "--metrics-bind-address=0",
                "--health-probe-bind-address=0",
            ],
        ).start()

    old = replica("old-leader")
    standby: Crdsync | None = None
    values: dict[str, int] = {}
    churning = threading.Event()
    try:
        old.wait_log(r"leading as", 60)
        standby = replica("standby")
        wait(lambda: _served(virtual), 60, "Gadget mirrored into the virtual cluster")
        for i in range(OBJECTS):
            values[f"g{i}"] = 0
            body = {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": f"g{i}"}, "spec": {"v": 0}}
            virtual.request("POST", path(NS), body)
        wait(lambda: _in_sync(host, values), 60, "initial sync by the leader")

        def churn() -> None:
            n = 0
            while not churning.wait(0.1):
                n += 1
                name = f"g{n % OBJECTS}"
                values[name] = n
                patch = {"spec": {"v": n}}
                virtual.request("PATCH", path(NS, name), patch, content_type="application/merge-patch+json")

        churning.clear()
        tenant = threading.Thread(target=churn, daemon=True)
        tenant.start()
        time.sleep(2)
        assert old.process is not None
        old_identity = _holder(host)
        assert old_identity.endswith(f"-{old.pid}")
        paused_at = time.time()
        old.process.send_signal(signal.SIGSTOP)
        time.sleep(PAUSE)  # longer than the lease: the standby takes over while the tenant keeps writing
        standby.wait_log(r"leading as", 5)
        new_identity = _holder(host)
        assert new_identity.endswith(f"-{standby.pid}")
        woke_at = time.time()
        old.process.send_signal(signal.SIGCONT)
        time.sleep(6)  # the old leader's informers deliver the backlog; its workers have keys to write
        churning.set()
        tenant.join()
        wait(lambda: _in_sync(host, values), 60, "final state converged by the new leader")
        old.assert_alive()
        ended_at = time.time()
        old.wait_log(r"leadership term over", 10)

        writes = checks.crdsync_writes(planes.audit_log("host"), "host")
        writes += checks.crdsync_writes(planes.audit_log("virtual"), "virtual")
        # A renewal read before the pause may still go out after waking, as client-go's does: the apiserver refuses it
        # (409, its resourceVersion is stale), which is the Lease fencing the stale leader. Anything else is a write.
        fenced = [w for w in writes if not (w.resource == "leases" and w.code == 409)]
        after_wake = checks.writes_by_after(fenced, old_identity, woke_at, ended_at)
        assert after_wake == [], f"the stale leader wrote after waking: {after_wake[:5]}"
        before_pause = checks.writes_by_after([w for w in writes if w.resource != "leases"], old_identity, 0, paused_at)
        assert before_pause, "the audit log must show the old leader's writes before the pause (identity check)"
        by_new = checks.writes_by_after([w for w in writes if w.resource != "leases"], new_identity, woke_at)
        assert by_new, "the new leader synced the tenant's changes"
        audit = checks.leader_audit(writes, f"crdsync-{VCLUSTER}")
        assert [identity for _since, identity in audit.holders] == [old_identity, new_identity]
        assert audit.holders[1][0] > paused_at + RENEW_DEADLINE
        assert audit.violations == []
    finally:
        churning.set()
        if old.process is not None and old.process.poll() is None:
            old.process.send_signal(signal.SIGCONT)
        for process in (old, standby):
            if process is not None:
                process.stop()


def _served(api: Api) -> bool:
    try:
        api.get(f"/apis/{GROUP}/v1/gadgets")
        return True
    except (ApiStatus, OSError):
        return False


def _holder(host: Api) -> str:
    lease = host.get(f"/apis/coordination.k8s.io/v1/namespaces/{HOST_NS}/leases/crdsync-{VCLUSTER}")
    holder: str = lease["spec"]["holderIdentity"]
    return holder


def _in_sync(host: Api, values: dict[str, int]) -> bool:
    for name, value in dict(values).items():
        try:
            copy = host.get_or_none(path(HOST_NS, host_name_for(VCLUSTER, HOST_NS, NS, name)))
        except (ApiStatus, OSError):
            return False
        if copy is None or copy.get("spec", {}).get("v") != value:
            return False
    return True
