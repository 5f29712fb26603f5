"""Pure pieces of the local control planes: command lines, kubeconfigs and the detached-state record.

No IO and no process handling here, so the flags the planes run with and the files they write can be unit-tested
without starting anything. `parse_state` is the one function that meets outside input (a state file a user may have
edited or truncated); it raises StateError naming the problem instead of a KeyError or TypeError.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ETCD_NAME = "etcd"
STATE_VERSION = 1

# A plane's name becomes a file name, an etcd prefix and a kubeconfig context, so keep it to a DNS-label-like shape.
_PLANE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


class StateError(ValueError):
    """The detached-state file is missing, unreadable or not what `python -m devkit up --detach` writes."""


def check_plane_name(name: str) -> str:
    """Return `name` if it can name a plane, else raise ValueError saying what is allowed."""
    if not _PLANE_NAME.match(name) or name == ETCD_NAME:
        raise ValueError(
            f"invalid plane name {name!r}: use 1-32 lowercase letters, digits or '-', starting and ending with a "
            f"letter or digit, and not {ETCD_NAME!r}"
        )
    return name


@dataclass(frozen=True)
class EtcdConfig:
    binary: Path
    data_dir: Path
    client_port: int
    peer_port: int
    quota_backend_bytes: int = 1 << 30  # 1 GiB: far above what tests write, well below etcd's 2 GiB default

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"


def etcd_args(config: EtcdConfig) -> list[str]:
    """The etcd command line: one member on loopback, plain HTTP (nothing leaves the machine)."""
    peer_url = f"http://127.0.0.1:{config.peer_port}"
    return [
        str(config.binary),
        "--name=crdsync",
        f"--data-dir={config.data_dir}",
        f"--listen-client-urls={config.client_url}",
        f"--advertise-client-urls={config.client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=crdsync={peer_url}",
        "--initial-cluster-state=new",
        f"--quota-backend-bytes={config.quota_backend_bytes}",
        # The data is thrown away with the planes; skipping fsync makes every write tens of times faster.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


@dataclass(frozen=True)
class ApiserverConfig:
    name: str
    binary: Path
    port: int
    etcd_url: str
    cert_dir: Path
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_public_key: Path
    service_account_private_key: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def apiserver_args(config: ApiserverConfig) -> list[str]:
    """The kube-apiserver command line for one plane sharing the etcd under its own key prefix."""
    return [
        str(config.binary),
        f"--etcd-servers={config.etcd_url}",
        # Each plane keeps its objects under its own prefix, so one etcd serves any number of isolated planes.
        f"--etcd-prefix=/{config.name}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={config.port}",
        f"--cert-dir={config.cert_dir}",
        f"--tls-cert-file={config.serving_cert}",
        f"--tls-private-key-file={config.serving_key}",
        f"--client-ca-file={config.ca_cert}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer=https://{config.name}.crdsync.invalid",
        f"--service-account-key-file={config.service_account_public_key}",
        f"--service-account-signing-key-file={config.service_account_private_key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        # No controller-manager creates the "default" ServiceAccount, so its admission check would refuse every Pod.
        "--disable-admission-plugins=ServiceAccount",
        # No kubelet or kube-proxy will ever read the kubernetes Service's endpoints; skip keeping them current.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_kubeconfig(name: str, server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """A self-contained kubeconfig (credentials embedded) whose cluster, user and current context are all `name`."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [
            {"name": name, "user": {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}}
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


@dataclass(frozen=True)
class ProcessRecord:
    """A process the planes started: enough to find it again and to be sure it is still the same process."""

    name: str
    pid: int
    start_time: int  # /proc/<pid>/stat starttime: tells a reused pid from ours
    url: str


def render_state(records: list[ProcessRecord]) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "processes": [{"name": r.name, "pid": r.pid, "startTime": r.start_time, "url": r.url} for r in records],
    }


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise StateError(f"{where}: must be a positive integer")
    return value


def parse_state(data: Any, source: str = "state") -> list[ProcessRecord]:
    """Read back what render_state wrote; raises StateError naming `source` and the bad field."""
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise StateError(f"{source}: not a crdsync planes state (version {STATE_VERSION}) file")
    processes = data.get("processes")
    if not isinstance(processes, list):
        raise StateError(f"{source}: 'processes' must be a list")
    records = []
    for index, item in enumerate(processes):
        where = f"{source}: processes[{index}]"
        if not isinstance(item, dict):
            raise StateError(f"{where}: must be a mapping")
        name, pid, start_time, url = item.get("name"), item.get("pid"), item.get("startTime"), item.get("url")
        if not isinstance(name, str) or not name:
            raise StateError(f"{where}.name: must be a non-empty string")
        if not isinstance(url, str):
            raise StateError(f"{where}.url: must be a string")
        records.append(
            ProcessRecord(
                name, _positive_int(pid, f"{where}.pid"), _positive_int(start_time, f"{where}.startTime"), url
            )
        )
    return records
