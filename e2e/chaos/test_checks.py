"""The chaos invariants are not vacuous: each kind of damage is seen, from fake apiserver state and audit lines."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from crdsync.translate.bookkeeping import (
    ANN_SOURCE_KIND,
    ANN_SOURCE_NAME,
    ANN_SOURCE_NAMESPACE,
    ANN_SOURCE_SIDE,
    LABEL_MANAGED_BY,
    LABEL_VCLUSTER,
    MANAGER,
)
from e2e.chaos import checks
from e2e.chaos.workload import HOST_NS, VCLUSTER, output_data, secrets_path, task, tasks_path

Obj = dict[str, Any]


class FakeApi:
    def __init__(self, objects: dict[str, list[Obj]]) -> None:
        self.objects = objects

    def items(self, path: str) -> list[Obj]:
        return self.objects.get(path, [])


def bookkeeping(obj: Obj, side: str, kind: str, ns: str, name: str) -> Obj:
    meta = obj["metadata"]
    meta["labels"] = {**meta.get("labels", {}), LABEL_MANAGED_BY: MANAGER, LABEL_VCLUSTER: VCLUSTER}
    meta["annotations"] = {
        ANN_SOURCE_SIDE: side,
        ANN_SOURCE_KIND: kind,
        ANN_SOURCE_NAMESPACE: ns,
        ANN_SOURCE_NAME: name,
    }
    return obj


def world() -> tuple[dict[str, list[Obj]], dict[str, list[Obj]]]:
    source = task("ns-a", "t-1", 7, True, 1)
    source["metadata"]["generation"] = 3
    source["status"] = {"echo": 7, "observedGeneration": 3}
    credentials = {"metadata": {"name": "cred-1", "namespace": "ns-a"}, "data": {"token": "dA=="}}
    imported = bookkeeping(
        {"metadata": {"name": "out-1", "namespace": "ns-a"}, "data": output_data(7)},
        "host",
        "/Secret",
        HOST_NS,
        checks.copy_name("ns-a", "out-1"),
    )
    copy_obj = bookkeeping(
        {
            "metadata": {"name": checks.copy_name("ns-a", "t-1"), "namespace": HOST_NS},
            "spec": {"value": 7, "credentialsSecret": checks.copy_name("ns-a", "cred-1")},
        },
        "virtual",
        "chaos.crdsync.io/Task",
        "ns-a",
        "t-1",
    )
    exported = bookkeeping(
        {"metadata": {"name": checks.copy_name("ns-a", "cred-1"), "namespace": HOST_NS}, "data": {"token": "dA=="}},
        "virtual",
        "/Secret",
        "ns-a",
        "cred-1",
    )
    virtual = {tasks_path("ns-a"): [source], secrets_path("ns-a"): [credentials, imported]}
    host = {tasks_path(HOST_NS): [copy_obj], secrets_path(HOST_NS): [exported]}
    return host, virtual


def verdict(host: dict[str, list[Obj]], virtual: dict[str, list[Obj]]) -> checks.Verdict:
    return checks.converged(FakeApi(host), FakeApi(virtual), ["ns-a"])  # type: ignore[arg-type]


def test_a_converged_world_passes() -> None:
    assert verdict(*world()).ok()


def test_each_kind_of_damage_is_seen() -> None:
    host, virtual = world()
    lost = copy.deepcopy(host)
    lost[tasks_path(HOST_NS)] = []
    assert verdict(lost, virtual).lost

    duplicated = copy.deepcopy(host)
    twin = copy.deepcopy(host[tasks_path(HOST_NS)][0])
    twin["metadata"]["name"] = "twin"
    duplicated[tasks_path(HOST_NS)].append(twin)
    assert verdict(duplicated, virtual).duplicated

    deselected = copy.deepcopy(virtual)
    deselected[tasks_path("ns-a")][0]["metadata"]["labels"]["sync"] = "no"
    found = verdict(host, deselected)
    assert found.orphaned and any("Secret" in o for o in found.orphaned)  # the copy and both referenced Secrets

    stale_spec = copy.deepcopy(host)
    stale_spec[tasks_path(HOST_NS)][0]["spec"]["value"] = 6
    assert verdict(stale_spec, virtual).stale

    stale_status = copy.deepcopy(virtual)
    stale_status[tasks_path("ns-a")][0]["metadata"]["generation"] = 4
    assert verdict(host, stale_status).stale

    stale_import = copy.deepcopy(virtual)
    stale_import[secrets_path("ns-a")][1]["data"] = output_data(6)
    assert verdict(host, stale_import).stale

    missing_export = copy.deepcopy(host)
    missing_export[secrets_path(HOST_NS)] = []
    assert verdict(missing_export, virtual).lost


def audit_line(agent: str, verb: str, resource: str, name: str, received: str, completed: str, code: int = 200) -> str:
    return json.dumps(
        {
            "stage": "ResponseComplete",
            "userAgent": agent,
            "verb": verb,
            "objectRef": {"resource": resource, "name": name},
            "responseStatus": {"code": code},
            "requestReceivedTimestamp": received,
            "stageTimestamp": completed,
        }
    )


def test_a_write_while_another_replica_holds_the_lease_is_a_violation(tmp_path: Path) -> None:
    a, b = "crdsync/0.1 (node-1)", "crdsync/0.1 (node-2)"
    lines = [
        audit_line(a, "create", "leases", "crdsync-chaos", "2026-01-01T00:00:00.0Z", "2026-01-01T00:00:00.01Z"),
        audit_line(a, "patch", "tasks", "x", "2026-01-01T00:00:01.000000Z", "2026-01-01T00:00:01.010000Z"),
        audit_line(b, "update", "leases", "crdsync-chaos", "2026-01-01T00:00:10.0Z", "2026-01-01T00:00:10.01Z"),
        audit_line(b, "patch", "tasks", "x", "2026-01-01T00:00:11.000000Z", "2026-01-01T00:00:11.010000Z"),
        audit_line(a, "patch", "tasks", "y", "2026-01-01T00:00:12.000000Z", "2026-01-01T00:00:12.010000Z"),
        audit_line("chaos-operator", "update", "tasks", "x", "2026-01-01T00:00:13.0Z", "2026-01-01T00:00:13.1Z"),
        "{cut by a restart",
    ]
    log = tmp_path / "host-audit.log"
    log.write_text("\n".join(lines) + "\n")
    writes = checks.crdsync_writes(log, "host")
    audit = checks.leader_audit(writes, "crdsync-chaos")
    assert [who for _since, who in audit.holders] == ["node-1", "node-2"]
    assert len(audit.violations) == 1 and "tasks y by node-1" in audit.violations[0]
    assert audit.writes == {"node-1": 2, "node-2": 1}
    woke = writes[3].received
    assert checks.writes_by_after(writes, "node-1", woke) == ["host: patch tasks y at " + f"{writes[4].received:.3f}"]
