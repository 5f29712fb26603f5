"""Helpers for end-to-end sync tests: run `crdsync run` as a real subprocess, install CRDs, count apiserver writes.

A crdsync process that dies unexpectedly fails the test with its log tail. Write counts come from the apiservers' own
`apiserver_request_total` metric, so they include every write from anyone (tests must keep quiet while counting).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crdsync.spec.model import Naming
from crdsync.translate.names import Tenant, host_name

RestClient = Any  # e2e/conftest.py's RestClient, reached through fixtures
REPO = Path(__file__).resolve().parent.parent
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"}
# The apiserver renews its own identity lease and may write leases for itself: not ours, not counted.
IGNORED_RESOURCES = {"leases"}


def crd(
    group: str, kind: str, *, plural: str | None = None, scope: str = "Namespaced", versions: tuple[str, ...] = ("v1",)
) -> dict[str, Any]:
    """A permissive CRD (any fields preserved) with a status subresource in every version; the first is stored."""
    plural = plural or kind.lower() + "s"
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [
                {"name": v, "served": True, "storage": i == 0, "subresources": {"status": {}}, "schema": schema}
                for i, v in enumerate(versions)
            ],
        },
    }


def install_crd(client: RestClient, definition: dict[str, Any], wait: Callable[..., None]) -> None:
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    name = definition["metadata"]["name"]
    if client.status_of("GET", f"{path}/{name}") == 404:
        client.create(path, definition)

    def established() -> bool:
        conditions = (client.get(f"{path}/{name}").get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait(established, 60, f"CRD {name} established")
    group, version = definition["spec"]["group"], definition["spec"]["versions"][0]["name"]
    plural = definition["spec"]["names"]["plural"]
    wait(lambda: client.status_of("GET", f"/apis/{group}/{version}/{plural}") == 200, 60, f"{plural} served")


def ensure_namespace(client: RestClient, name: str, labels: dict[str, str] | None = None) -> None:
    if client.status_of("GET", f"/api/v1/namespaces/{name}") == 404:
        client.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}},
        )


def get_or_none(client: RestClient, path: str) -> dict[str, Any] | None:
    """The object, or None when it does not exist (one request: no race between a check and a read)."""
    try:
        result: dict[str, Any] = client.get(path)
    except Exception as exc:  # conftest's ApiStatusError; not importable from a conftest module
        if getattr(exc, "status", None) == 404:
            return None
        raise
    return result


def host_name_for(
    vcluster: str, host_namespace: str, namespace: str | None, name: str, naming: Naming | None = None
) -> str:
    return host_name(Tenant(vcluster, host_namespace), namespace, name, naming or Naming())


def write_count(client: RestClient) -> int:
    """Mutating requests this apiserver has served since start, leases excluded."""
    text = client.request("GET", "/metrics")
    total = 0
    for line in str(text).splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if labels.get("verb") in WRITE_VERBS and labels.get("resource") not in IGNORED_RESOURCES:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


class Crdsync:
    """`python -m crdsync run ...` as a child process with its log in a file."""

    def __init__(
        self,
        *,
        mappings: list[Path],
        host_kubeconfig: Path,
        virtual_kubeconfig: Path,
        host_namespace: str,
        vcluster: str,
        log_path: Path,
        extra: list[str] | None = None,
    ) -> None:
        self.log_path = log_path
        self.command = [
            sys.executable,
            "-m",
            "crdsync",
            "-v",
            "run",
            *[arg for m in mappings for arg in ("--mapping", str(m))],
            "--host-kubeconfig",
            str(host_kubeconfig),
            "--virtual-kubeconfig",
            str(virtual_kubeconfig),
            "--host-namespace",
            host_namespace,
            "--vcluster",
            vcluster,
            *(extra or []),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Crdsync:
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True
        )
        log.close()
        return self

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def assert_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"crdsync exited with {self.process.returncode}:\n{self.log_tail()}")

    def wait_log(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_alive()
            if self.log_path.exists() and re.search(pattern, self.log_path.read_text(errors="replace")):
                return
            time.sleep(0.2)
        raise AssertionError(f"crdsync log never matched {pattern!r}:\n{self.log_tail()}")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise AssertionError(f"crdsync did not stop within {timeout}s:\n{self.log_tail()}") from None
        return self.process.returncode

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
