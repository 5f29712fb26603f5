"""The invariants, decided from the apiservers' own state, metrics and audit logs only (never from crdsync's view).

`converged(host, virtual, namespaces)` compares what the final virtual state implies with what both clusters hold:
- every selected Task (label sync=yes, not being deleted) has exactly one host copy, under the name the naming rule
  gives it, with the Task's latest spec value (`lost`, `duplicated`, `stale`); no other host Task claims this tenant
  (`orphaned`);
- every selected Task shows the operator's status for its latest spec: echo == spec.value and observedGeneration ==
  its own generation (crdsync translates the host copy's generation back);
- the credentials Secret a selected Task names is on the host under the name its copy names, with the same data; the
  output Secret it names is imported into its namespace with the operator's latest data; no exported or imported
  Secret is left that no selected Task references (`orphaned`).

`non_leader_writes(audit, lease)` replays the audit logs: Lease writes give the holder history (a successful write
by identity X makes X the holder from its completion); a crdsync write (User-Agent `crdsync/... (<identity>)`,
Leases excluded) received while another identity held the Lease, or before its own first acquisition, is a violation.

Failure modes: a cluster that cannot be read raises (callers polling during faults catch ApiStatus/OSError).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crdsync.spec.model import Naming
from crdsync.translate.bookkeeping import SIDE_HOST, SIDE_VIRTUAL, source_of
from crdsync.translate.names import Tenant, host_name
from e2e.chaos.cluster import Api
from e2e.chaos.workload import HOST_NS, VCLUSTER, output_data, secrets_path, tasks_path

Obj = dict[str, Any]
TENANT = Tenant(vcluster=VCLUSTER, host_namespace=HOST_NS)
_CRDSYNC_AGENT = re.compile(r"^crdsync/\S+ \((?P<identity>[^)]+)\)")


def copy_name(namespace: str, name: str) -> str:
    return host_name(TENANT, namespace, name, Naming())


@dataclass
class Verdict:
    objects: int = 0  # Tasks and Secrets checked
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # copies or sources not showing the latest spec/status/data

    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.orphaned or self.stale)

    def summary(self) -> dict[str, Any]:
        return {
            "objects_checked": self.objects,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "orphaned": len(self.orphaned),
            "stale": len(self.stale),
            "examples": (self.lost + self.duplicated + self.orphaned + self.stale)[:8],
        }


def _selected(obj: Obj) -> bool:
    meta = obj["metadata"]
    return (meta.get("labels") or {}).get("sync") == "yes" and not meta.get("deletionTimestamp")


def converged(host: Api, virtual: Api, namespaces: Iterable[str]) -> Verdict:
    verdict = Verdict()
    virtual_tasks: dict[tuple[str, str], Obj] = {}
    virtual_secrets: dict[tuple[str, str], Obj] = {}
    for ns in namespaces:
        for obj in virtual.items(tasks_path(ns)):
            virtual_tasks[(ns, obj["metadata"]["name"])] = obj
        for obj in virtual.items(secrets_path(ns)):
            virtual_secrets[(ns, obj["metadata"]["name"])] = obj
    host_tasks = {o["metadata"]["name"]: o for o in host.items(tasks_path(HOST_NS))}
    host_secrets = {o["metadata"]["name"]: o for o in host.items(secrets_path(HOST_NS))}
    verdict.objects = len(virtual_tasks) + len(virtual_secrets) + len(host_tasks) + len(host_secrets)

    selected = {key: obj for key, obj in virtual_tasks.items() if _selected(obj)}
    # Host Tasks: each claims a source through bookkeeping; one per source, only for selected sources.
    claims: dict[tuple[str | None, str], list[str]] = {}
    for name, obj in host_tasks.items():
        source = source_of(obj)
        if source is None or source.side != SIDE_VIRTUAL:
            verdict.orphaned.append(f"host Task {name} (no bookkeeping of this tenant)")
            continue
        claims.setdefault((source.namespace, source.name), []).append(name)
    for (claimed_ns, claimed), names in claims.items():
        if len(names) > 1:
            verdict.duplicated.append(f"{claimed_ns}/{claimed}: host copies {sorted(names)}")
        if (claimed_ns or "", claimed) not in selected:
            verdict.orphaned.extend(f"host Task {n} (copy of {claimed_ns}/{claimed}, not selected)" for n in names)

    referenced_exports: set[str] = set()
    referenced_imports: set[tuple[str, str]] = set()
    for (ns, name), task in selected.items():
        spec = task.get("spec") or {}
        copy = host_tasks.get(copy_name(ns, name))
        if copy is None:
            verdict.lost.append(f"{ns}/{name}: no host copy")
            continue
        copy_spec = copy.get("spec") or {}
        if copy_spec.get("value") != spec.get("value"):
            verdict.stale.append(f"{ns}/{name}: host spec value {copy_spec.get('value')} != {spec.get('value')}")
        status, generation = task.get("status") or {}, task["metadata"].get("generation")
        if status.get("echo") != spec.get("value") or status.get("observedGeneration") != generation:
            verdict.stale.append(
                f"{ns}/{name}: status {status.get('echo')}@{status.get('observedGeneration')} for "
                f"{spec.get('value')}@{generation}"
            )
        credentials = virtual_secrets.get((ns, spec.get("credentialsSecret", "")))
        exported_name = copy_spec.get("credentialsSecret")
        if credentials is not None and isinstance(exported_name, str):
            referenced_exports.add(exported_name)
            exported = host_secrets.get(exported_name)
            if exported is None:
                verdict.lost.append(f"{ns}/{spec.get('credentialsSecret')}: not exported")
            elif exported.get("data") != credentials.get("data"):
                verdict.stale.append(f"{ns}/{spec.get('credentialsSecret')}: exported data stale")
        output = spec.get("outputSecret")
        if isinstance(output, str):
            referenced_imports.add((ns, output))
            imported = virtual_secrets.get((ns, output))
            if imported is None:
                verdict.lost.append(f"{ns}/{output}: not imported")
            elif imported.get("data") != output_data(spec.get("value")):
                verdict.stale.append(f"{ns}/{output}: imported data stale")

    for secret_name, obj in host_secrets.items():
        ref = source_of(obj)
        if ref is not None and ref.side == SIDE_VIRTUAL and secret_name not in referenced_exports:
            verdict.orphaned.append(f"host Secret {secret_name} (export of {ref.namespace}/{ref.name}, unreferenced)")
    for (secret_ns, secret_name), obj in virtual_secrets.items():
        ref = source_of(obj)
        if ref is not None and ref.side == SIDE_HOST and (secret_ns, secret_name) not in referenced_imports:
            verdict.orphaned.append(f"virtual Secret {secret_ns}/{secret_name} (import, unreferenced)")
    return verdict


# -- audit logs ---------------------------------------------------------------------------------------------------


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class AuditWrite:
    received: float  # epoch seconds (apiserver clock)
    completed: float
    identity: str
    verb: str
    resource: str
    name: str
    code: int
    plane: str


def crdsync_writes(audit_log: Path, plane: str) -> list[AuditWrite]:
    """Every write a crdsync replica sent to this apiserver (Leases included), from its audit log."""
    found: list[AuditWrite] = []
    if not audit_log.exists():
        return found
    for line in audit_log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut by a restart
        match = _CRDSYNC_AGENT.match(event.get("userAgent") or "")
        if match is None or event.get("stage") != "ResponseComplete":
            continue
        ref = event.get("objectRef") or {}
        found.append(
            AuditWrite(
                received=_time(event["requestReceivedTimestamp"]),
                completed=_time(event["stageTimestamp"]),
                identity=match["identity"],
                verb=event.get("verb", ""),
                resource=ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else ""),
                name=ref.get("name", ""),
                code=int((event.get("responseStatus") or {}).get("code") or 0),
                plane=plane,
            )
        )
    return found


@dataclass
class LeaderAudit:
    holders: list[tuple[float, str]]  # (from, identity): who held the Lease from when (acquisitions only)
    writes: dict[str, int]  # identity -> writes (Leases excluded)
    violations: list[str]

    def holder_at(self, when: float) -> str | None:
        current = None
        for since, identity in self.holders:
            if since > when:
                break
            current = identity
        return current


def leader_audit(writes: list[AuditWrite], lease_name: str) -> LeaderAudit:
    lease_writes = sorted(
        (w for w in writes if w.resource == "leases" and w.name == lease_name and 200 <= w.code < 300),
        key=lambda w: w.completed,
    )
    holders: list[tuple[float, str]] = []
    for write in lease_writes:
        if not holders or holders[-1][1] != write.identity:
            holders.append((write.completed, write.identity))
    audit = LeaderAudit(holders=holders, writes={}, violations=[])
    for write in writes:
        if write.resource == "leases":
            continue
        audit.writes[write.identity] = audit.writes.get(write.identity, 0) + 1
        holder = audit.holder_at(write.received)
        if holder != write.identity:
            audit.violations.append(
                f"{write.plane}: {write.verb} {write.resource} {write.name} by {write.identity} at "
                f"{write.received:.3f} while the Lease was held by {holder}"
            )
    return audit


def writes_by_after(writes: list[AuditWrite], identity: str, after: float, until: float | None = None) -> list[str]:
    """Writes (Leases included) `identity` sent that the apiserver received in [after, until)."""
    return [
        f"{w.plane}: {w.verb} {w.resource} {w.name} at {w.received:.3f}"
        for w in writes
        if w.identity == identity and w.received >= after and (until is None or w.received < until)
    ]
