"""The churn workload (tenants in the virtual cluster) and the test operator (on the host).

Tenants own Tasks in several virtual namespaces. A Task names two Secrets: `spec.credentialsSecret`, the tenant's own,
exported to the host while referenced, and `spec.outputSecret`, written on the host by the operator and imported back.
Only Tasks labelled `sync: "yes"` are synced, so flipping the label selects and deselects them. Every operation is
drawn from a seeded random generator: create (Task and its credentials Secret), update the spec value (and the
credentials Secret with it), flip the label, delete (Task, and its Secret half the time). The population hovers around
`target` Tasks per namespace.

The operator is a loop on the host (direct to the apiserver, never through the proxies, User-Agent chaos-operator):
for every Task copy in the tenant's host namespace whose status does not reflect its spec, it writes status
{phase, echo: spec.value, observedGeneration} through the status subresource and the output Secret {value: spec.value}
named by the copy's (translated) outputSecret. It writes nothing when everything is current, so a converged run is a
quiet one. Errors (apiserver restarting) are counted and retried on the next pass.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from e2e.chaos.cluster import Api, ApiStatus, b64

GROUP = "chaos.crdsync.io"
KIND = "Task"
PLURAL = "tasks"
VCLUSTER = "chaos"
HOST_NS = "vc-chaos"
Obj = dict[str, Any]

MAPPING = f"""
apiVersion: crdsync.io/v1alpha1
kind: SyncConfig
metadata: {{name: chaos}}
spec:
  toHost:
    - apiVersion: {GROUP}/v1
      kind: {KIND}
      selector: {{matchLabels: {{sync: "yes"}}}}
      references:
        - {{path: $.spec.credentialsSecret, kind: Secret, apiVersion: v1, follow: toHost}}
        - {{path: $.spec.outputSecret, kind: Secret, apiVersion: v1, follow: fromHost}}
    - {{apiVersion: v1, kind: Secret, mode: referenced}}
  fromHost:
    - {{apiVersion: v1, kind: Secret, mode: referenced}}
"""


def tasks_path(ns: str, name: str = "") -> str:
    return f"/apis/{GROUP}/v1/namespaces/{ns}/{PLURAL}" + (f"/{name}" if name else "")


def secrets_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/secrets" + (f"/{name}" if name else "")


def task(ns: str, name: str, value: int, selected: bool, index: int) -> Obj:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": KIND,
        "metadata": {"name": name, "namespace": ns, "labels": {"sync": "yes" if selected else "no"}},
        "spec": {"value": value, "credentialsSecret": f"cred-{index}", "outputSecret": f"out-{index}"},
    }


def credentials(ns: str, index: int, value: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"cred-{index}", "namespace": ns},
        "data": {"token": b64(f"token-{index}-{value}")},
    }


class Tenants:
    """Seeded churn over `namespaces`; `step()` performs one operation (call it from one thread)."""

    def __init__(self, virtual: Api, rng: random.Random, namespaces: list[str], target: int) -> None:
        self.virtual = virtual
        self.rng = rng
        self.namespaces = namespaces
        self.target = target
        self.next_index = 0
        self.ops: dict[str, int] = {"create": 0, "update": 0, "flip": 0, "delete": 0, "failed": 0}
        self.known: dict[tuple[str, str], int] = {}  # (ns, name) -> index, of Tasks we created and did not delete

    def seed(self) -> None:
        for ns in self.namespaces:
            for _ in range(self.target):
                self._create(ns)

    def _create(self, ns: str) -> None:
        index = self.next_index
        self.next_index += 1
        value = self.rng.randrange(1_000_000)
        self._upsert_secret(ns, index, value)
        self.virtual.request("POST", tasks_path(ns), task(ns, f"t-{index}", value, self.rng.random() < 0.8, index))
        self.known[(ns, f"t-{index}")] = index
        self.ops["create"] += 1

    def _upsert_secret(self, ns: str, index: int, value: int) -> None:
        body = credentials(ns, index, value)
        try:
            self.virtual.request("PUT", secrets_path(ns, f"cred-{index}"), body)
        except ApiStatus as exc:
            if exc.status != 404:
                raise
            self.virtual.request("POST", secrets_path(ns), body)

    def step(self) -> None:
        """One random operation; an apiserver that is down (a fault) counts as failed, not as an error."""
        ns = self.rng.choice(self.namespaces)
        mine = sorted(name for (n, name) in self.known if n == ns)
        roll = self.rng.random()
        try:
            if not mine or (len(mine) < self.target and roll < 0.35):
                self._create(ns)
            elif (len(mine) > self.target * 1.3 and roll < 0.5) or roll < 0.12:
                name = self.rng.choice(mine)
                index = self.known.pop((ns, name))
                self.virtual.request("DELETE", tasks_path(ns, name))
                if self.rng.random() < 0.5:
                    self.virtual.request("DELETE", secrets_path(ns, f"cred-{index}"))
                self.ops["delete"] += 1
            elif roll < 0.3:
                name = self.rng.choice(mine)
                current = self.virtual.get(tasks_path(ns, name))
                selected = current["metadata"].get("labels", {}).get("sync") == "yes"
                patch = {"metadata": {"labels": {"sync": "no" if selected else "yes"}}}
                self.virtual.request("PATCH", tasks_path(ns, name), patch, content_type="application/merge-patch+json")
                self.ops["flip"] += 1
            else:
                name = self.rng.choice(mine)
                index = self.known[(ns, name)]
                value = self.rng.randrange(1_000_000)
                self._upsert_secret(ns, index, value)
                self.virtual.request(
                    "PATCH",
                    tasks_path(ns, name),
                    {"spec": {"value": value}},
                    content_type="application/merge-patch+json",
                )
                self.ops["update"] += 1
        except (ApiStatus, OSError) as exc:
            if isinstance(exc, ApiStatus) and exc.status == 404:
                # Deleted meanwhile (a delete of ours that timed out but went through): forget it.
                for key in [k for k in self.known if k[0] == ns and k[1] not in self._names(ns)]:
                    self.known.pop(key, None)
            self.ops["failed"] += 1

    def _names(self, ns: str) -> set[str]:
        try:
            return {o["metadata"]["name"] for o in self.virtual.items(tasks_path(ns))}
        except (ApiStatus, OSError):
            return {name for (n, name) in self.known if n == ns}


class Operator:
    """The host operator: status and output Secrets for every Task copy in the tenant's host namespace."""

    def __init__(self, host: Api, period: float = 0.3) -> None:
        self.host = host
        self.period = period
        self.writes = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-operator", daemon=True)

    def start(self) -> Operator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.reconcile_all()
            except (ApiStatus, OSError):
                self.errors += 1

    def reconcile_all(self) -> None:
        for obj in self.host.items(tasks_path(HOST_NS)):
            meta, spec = obj["metadata"], obj.get("spec") or {}
            if meta.get("deletionTimestamp"):
                continue
            value, generation = spec.get("value"), meta.get("generation")
            output = spec.get("outputSecret")
            if isinstance(output, str) and output:
                self._ensure_output(output, value)
            status = obj.get("status") or {}
            if status.get("echo") != value or status.get("observedGeneration") != generation:
                body = {
                    **obj,
                    "status": {"phase": "Done", "echo": value, "observedGeneration": generation},
                }
                try:
                    self.host.request("PUT", tasks_path(HOST_NS, meta["name"]) + "/status", body)
                    self.writes += 1
                except ApiStatus as exc:
                    if exc.status not in (404, 409):
                        raise

    def _ensure_output(self, name: str, value: Any) -> None:
        data = {"value": b64(str(value))}
        current = self.host.get_or_none(secrets_path(HOST_NS, name))
        if current is not None and current.get("data") == data:
            return
        metadata: dict[str, str] = {"name": name, "namespace": HOST_NS}
        body: Obj = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": data}
        try:
            if current is None:
                self.host.request("POST", secrets_path(HOST_NS), body)
            else:
                metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
                self.host.request("PUT", secrets_path(HOST_NS, name), body)
            self.writes += 1
        except ApiStatus as exc:
            if exc.status != 409:
                raise


def output_data(value: Any) -> dict[str, str]:
    """What the operator writes into a Task's output Secret for spec value `value`."""
    return {"value": b64(str(value))}
