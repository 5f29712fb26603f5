"""Pieces several e2e modules share: a tenant's `crdsync run`, waits on what it serves and on Ready conditions, small
mappings, and the cert-manager objects the tests create.

Fixtures stay in conftest.py (the planes, clients, and the operators on the host); this module holds plain functions
that take those fixtures' values, so a test module imports what it uses by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devkit.devplane.launcher import Planes
from e2e.harness import Crdsync, get_or_none

Wait = Callable[[Callable[[], bool], float, str], None]  # conftest's `wait_for(condition, timeout_seconds, what)`
RestClient = Any  # e2e/conftest.py's RestClient, reached through fixtures
Obj = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
MAPPINGS = REPO / "mappings"
CM = "/apis/cert-manager.io/v1"


# -- crdsync for one tenant ------------------------------------------------------------------------------------------


def tenant_crdsync(
    planes: Planes,
    mappings: Sequence[Path],
    host_namespace: str,
    vcluster: str,
    log_path: Path,
    *,
    virtual: str = "virtual",
    extra: Sequence[str] | None = None,
) -> Crdsync:
    """`crdsync run` (not started yet) syncing the plane `virtual` into `host_namespace` on the host plane."""
    return Crdsync(
        mappings=list(mappings),
        host_kubeconfig=planes.kubeconfig("host"),
        virtual_kubeconfig=planes.kubeconfig(virtual),
        host_namespace=host_namespace,
        vcluster=vcluster,
        log_path=log_path,
        extra=extra,
    )


@contextmanager
def running_tenant(
    planes: Planes,
    mapping: Path,
    host_namespace: str,
    vcluster: str,
    directory: Path,
    *,
    virtual: str = "virtual",
    add_plane: bool = False,
) -> Iterator[Crdsync]:
    """A started `crdsync run` for one tenant (log: directory/crdsync-<vcluster>.log) until the block ends.

    With `add_plane` the virtual plane `virtual` is added first and stopped after crdsync. On a clean exit from the
    block crdsync must stop with status 0 (else the assertion carries its log tail); when the block raises, it is
    stopped and the block's error is the one reported.
    """
    if add_plane:
        planes.add_apiserver(virtual)
    try:
        process = tenant_crdsync(
            planes, [mapping], host_namespace, vcluster, directory / f"crdsync-{vcluster}.log", virtual=virtual
        ).start()
        try:
            yield process
        except BaseException:
            process.stop()
            raise
        assert process.stop() == 0, process.log_tail()
    finally:
        if add_plane:
            planes.stop_apiserver(virtual)


def wait_served(
    client: RestClient, api: str, plurals: Iterable[str], wait_for: Wait, where: str = "", timeout: float = 90
) -> None:
    """Wait until the virtual cluster serves each of `plurals` under `api` (crdsync mirrors a CRD as it starts it)."""
    for plural in plurals:

        def served(plural: str = plural) -> bool:
            return bool(client.status_of("GET", f"{api}/{plural}") == 200)

        wait_for(served, timeout, f"{plural} served{where}")


# -- conditions ------------------------------------------------------------------------------------------------------


def condition_true(obj: Obj | None, kind: str = "Ready") -> bool:
    """Whether the object (None: absent) reports the condition `kind` with status True."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def ready(client: RestClient, path: str) -> bool:
    """Whether the object at `path` exists and is Ready=True."""
    return condition_true(get_or_none(client, path))


def events_about(
    client: RestClient, namespace: str, name: str | None = None, reason: str | None = None, *, warnings: bool = False
) -> list[Obj]:
    """The Events in `namespace` about object `name` (None: any) with `reason` (None: any); Warnings only if asked."""
    events: list[Obj] = client.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    return [
        e
        for e in events
        if (name is None or (e.get("involvedObject") or {}).get("name") == name)
        and (reason is None or e.get("reason") == reason)
        and (not warnings or e.get("type") == "Warning")
    ]


# -- mappings --------------------------------------------------------------------------------------------------------


def to_host_mapping(name: str, group: str, kind: str, *rule_lines: str) -> str:
    """A SyncConfig with one toHost rule for `group`/v1 `kind`; `rule_lines` are further keys of that rule."""
    rule = "".join(f"      {line}\n" for line in rule_lines)
    return (
        f"apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {{name: {name}}}\n"
        f"spec:\n  toHost:\n    - apiVersion: {group}/v1\n      kind: {kind}\n{rule}"
    )


# -- cert-manager objects --------------------------------------------------------------------------------------------


def cluster_issuer(name: str, *, shared: bool = False, ca_secret: str | None = None) -> Obj:
    """A ClusterIssuer: SelfSigned, or CA signing with `ca_secret`; `shared` labels it for tenants to use."""
    metadata: Obj = {"name": name}
    if shared:
        metadata["labels"] = {"crdsync.io/shared": "true"}
    spec = {"ca": {"secretName": ca_secret}} if ca_secret else {"selfSigned": {}}
    return {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": metadata, "spec": spec}


def ca_issuer(name: str, namespace: str, secret_name: str) -> Obj:
    """A namespaced CA Issuer signing with the key pair in Secret `secret_name`."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ca": {"secretName": secret_name}},
    }


def cluster_issuer_ref(name: str) -> dict[str, str]:
    return {"name": name, "kind": "ClusterIssuer", "group": "cert-manager.io"}


def certificate(
    name: str, namespace: str, issuer_ref: dict[str, str], *dns: str, common_name: bool = True, **spec: Any
) -> Obj:
    """A Certificate for `dns` into Secret <name>-tls (commonName: the first DNS name unless `common_name` is off)."""
    body: Obj = {"secretName": f"{name}-tls", "dnsNames": list(dns)}
    if common_name:
        body["commonName"] = dns[0]
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**body, "issuerRef": issuer_ref, **spec},
    }


__all__ = [
    "CM",
    "MAPPINGS",
    "REPO",
    "Obj",
    "RestClient",
    "Wait",
    "ca_issuer",
    "certificate",
    "cluster_issuer",
    "cluster_issuer_ref",
    "condition_true",
    "events_about",
    "ready",
    "running_tenant",
    "tenant_crdsync",
    "to_host_mapping",
    "wait_served",
]
