"""Tenant isolation end to end: a hostile tenant sharing a host namespace cannot reach another tenant or the host.

The job: crdsync acts on the host with host privileges for tenants it must not trust. Two tenants - two virtual API
servers, `honest` and `hostile`, each with its own `crdsync run` (mappings/cert-manager.yaml) - share ONE host
namespace with the real cert-manager. The host admin shares one SelfSigned ClusterIssuer (crdsync.io/shared=true) and
keeps the CA ClusterIssuer `corp-internal-ca` private. The honest tenant runs its own CA (Secret + CA Issuer +
Certificate), so its Secrets live on the host. A watch on host Secrets (all namespaces), started before either tenant
exists, records every deletion of the honest tenant's Secrets. Then the hostile tenant attacks, one test per attack
(numbered as in the threat list; there is no attack 3 here):

1. forged shared object: its own virtual ClusterIssuer `corp-internal-ca` dressed in crdsync's import bookkeeping,
   and a Certificate naming it;
2. cross-tenant delete through operator-written metadata: cert-manager's secretTemplate stamps bookkeeping that
   names the honest tenant's CA Secret onto a host Secret;
4. Events: failures provoked from a virtual namespace named exactly like the host namespace, so an engine that
   confuses the sides would write Events into host namespaces or about host objects it does not own;
5. escaping references: ACME solver fields naming host objects (the honest tenant's Ingress, a Gateway in
   kube-system), and a keystore password reference naming the honest tenant's host Secret;
6. poison object: an Issuer nested 2,000 levels deep (deeper than Python's json decodes), followed at once by
   ordinary objects that must still sync within normal latency.

The last test checks the aftermath: the honest tenant's host objects are exactly what they were, nothing crdsync
wrote is outside the tenant namespace, no honest Secret was ever deleted, and the forged Certificate stays refused.

The attacks assert properties (what the host holds, which Events exist), never the mechanism that provides them, so
they hold however the engine or the mapping is hardened.

Failure modes: planes, cert-manager or a crdsync that cannot start fail the module with their log tails (never a
skip); every assertion message starts with the attack's number and name and says what was observed; a crdsync that
died fails the test that notices it with its log tail. The poison Issuer is only ever read as raw bytes here: decoding
it would crash this process's json the way it is meant to crash crdsync's.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509

from crdsync.translate.bookkeeping import (
    ANN_SOURCE_KIND,
    ANN_SOURCE_NAME,
    ANN_SOURCE_NAMESPACE,
    ANN_SOURCE_SIDE,
    LABEL_MANAGED_BY,
    LABEL_ROLE,
    LABEL_VCLUSTER,
    MANAGER,
)
from devkit.devplane.certmanager import CertManager
from devkit.devplane.launcher import Planes, PlanesError
from e2e.certs import ca_secret, dns_sans, issued, signed_by
from e2e.harness import Crdsync, ensure_namespace, get_or_none, host_name_for
from e2e.helpers import (
    CM,
    MAPPINGS,
    Obj,
    RestClient,
    ca_issuer,
    certificate,
    cluster_issuer,
    cluster_issuer_ref,
    condition_true,
    events_about,
    tenant_crdsync,
    wait_served,
)

# A hang guard only: the module runs in about four minutes once the binaries are built.
pytestmark = pytest.mark.timeout(900)

MAPPING = MAPPINGS / "cert-manager.yaml"
HOST_NS = "vc-iso"  # the ONE host namespace both tenants' crdsync write into
HONEST, HOSTILE = "honest", "hostile"  # vcluster names, also the names of their virtual planes
SHARED = "iso-shared-selfsigned"  # shared by the host admin (labelled)
PRIVATE = "corp-internal-ca"  # the host's own CA: never shared
LATE = "iso-late-shared"  # shared only during attack 4, after the hostile tenant squatted its name
HONEST_NS = "payments"
HONEST_INGRESS = "web-x-shop-x-honest"  # the honest tenant's Ingress as its vcluster syncer put it on the host
READY_TIMEOUT = 120.0  # issuance on two busy cores; cert-manager usually takes seconds
SYNC_LATENCY = 15.0  # "normal latency" for a copy to reach the host, with everything else running
DECIDE_TIMEOUT = 30.0  # time for an engine to act on an attack (refuse it or, unfixed, carry it out)
# cert-manager may issue a second time right after the first (its trigger controller reads the Secret from a cache that
# has not yet seen the first issuance): the baseline is taken once the honest issuance has been still this long.
ISSUANCE_QUIET = 5.0
POISON_DEPTH = 2000
POISON_MARKER = "crdsync-poison-marker"


def honest_name(namespace: str, name: str) -> str:
    return host_name_for(HONEST, HOST_NS, namespace, name)


def hostile_name(namespace: str, name: str) -> str:
    return host_name_for(HOSTILE, HOST_NS, namespace, name)


HONEST_CA_SECRET = honest_name(HONEST_NS, "tenant-ca")
HONEST_TLS_SECRET = honest_name(HONEST_NS, "api-tls")
HONEST_SECRETS = frozenset({HONEST_CA_SECRET, HONEST_TLS_SECRET})
# The honest tenant's copies made by its crdsync: (plural, host name).
HONEST_COPIES = frozenset(
    {
        ("issuers", honest_name(HONEST_NS, "ca")),
        ("certificates", honest_name(HONEST_NS, "api")),
        ("secrets", HONEST_CA_SECRET),
    }
)


# -- small tools ---------------------------------------------------------------------------------------------------


def poll(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """True as soon as `condition()` holds, False once `timeout` seconds pass without it."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


class RawApi:
    """Bytes in, bytes out, for objects Python's json cannot decode (the poison Issuer) and for lists that might
    contain one: RestClient decodes every answer."""

    def __init__(self, planes: Planes, name: str) -> None:
        self.base_url = planes.url(name).rstrip("/")
        self._context = ssl.create_default_context(cafile=str(planes.ca_cert))
        self._context.load_cert_chain(str(planes.admin_cert), str(planes.admin_key))

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(f"{self.base_url}{path}", data=body, method=method)
        req.add_header("Accept", "application/json")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._context) as response:
                return response.status, bytes(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, bytes(exc.read())

    def items(self, path: str, what: str) -> list[Obj]:
        """A list's items; fails naming `what` when the poison is in it (it must never reach where we list)."""
        status, body = self.request("GET", path)
        assert status == 200, f"GET {path}: HTTP {status}: {body[:300]!r}"
        assert POISON_MARKER.encode() not in body, f"{what}: the poison Issuer is in {path}"
        items: list[Obj] = json.loads(body)["items"]
        return items


class SecretWatch:
    """Host Secrets in all namespaces, watched from before the tenants exist: records every DELETED event of the honest
    tenant's Secrets, and who wrote each change to them (for the failure message when one changes). A broken stream
    resumes from a fresh list (counted in `relists`); the aftermath also compares uids, so a deletion hidden in such a
    gap is still caught."""

    ROUND = 5  # seconds per watch request, so stop() returns promptly

    def __init__(self, client: RestClient) -> None:
        self._client = client
        self.deleted: list[str] = []
        self.writes: list[str] = []
        self.errors: list[str] = []
        self.relists = 0
        self.seen = 0
        self._rv = ""
        self._relist_needed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="honest-secret-watch", daemon=True)

    def start(self) -> SecretWatch:
        self._relist()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.ROUND + 15)

    def summary(self) -> str:
        return f"{self.seen} events seen, {self.relists} relists, errors: {self.errors[-3:] or 'none'}"

    def _relist(self) -> None:
        self._rv = self._client.get("/api/v1/secrets")["metadata"]["resourceVersion"]
        self._relist_needed = False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._relist_needed:
                    self._relist()
                    self.relists += 1
                self._client.watch(
                    "/api/v1/secrets",
                    until=self._on_events,
                    timeout=self.ROUND,
                    resourceVersion=self._rv,
                    allowWatchBookmarks="true",
                )
            except Exception as exc:  # a broken stream on a loaded machine: resume from a fresh list
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._relist_needed = True
                self._stop.wait(0.5)

    def _on_events(self, events: list[Obj]) -> bool:
        event = events[-1]
        obj = event.get("object") or {}
        if event.get("type") == "ERROR":  # 410 Gone: our resourceVersion is too old
            self.errors.append(str(obj.get("message")))
            self._relist_needed = True
            return True
        self.seen += 1
        meta = obj.get("metadata") or {}
        self._rv = meta.get("resourceVersion") or self._rv
        if meta.get("namespace") == HOST_NS and meta.get("name") in HONEST_SECRETS:
            self.writes.append(f"{time.strftime('%H:%M:%S')} {event.get('type')} {meta.get('name')}: {writers(obj)}")
            if event.get("type") == "DELETED":
                labels = meta.get("labels") or {}
                self.deleted.append(f"{meta.get('name')} (uid {meta.get('uid')}, labels {labels})")
        return self._stop.is_set()


def writers(obj: Obj) -> str:
    """The field managers of an object, newest write last: who changed it, with which operation, when."""
    entries = sorted((obj.get("metadata") or {}).get("managedFields") or [], key=lambda e: str(e.get("time")))
    return ", ".join(
        "/".join(str(part) for part in (e.get("manager"), e.get("operation"), e.get("subresource")) if part)
        + f"@{e.get('time')}"
        for e in entries
    )


def issuance_settled(host: RestClient, certificate_path: str, secret_path: str) -> Callable[[], bool]:
    """True once a host Certificate is Ready, not Issuing, and neither its revision nor its Secret has changed for
    ISSUANCE_QUIET seconds."""
    since: list[tuple[object, float]] = []

    def settled() -> bool:
        cert, secret = get_or_none(host, certificate_path), get_or_none(host, secret_path)
        conditions = {
            c.get("type"): c.get("status") for c in ((cert or {}).get("status") or {}).get("conditions") or []
        }
        state = None
        if cert and secret and conditions.get("Ready") == "True" and conditions.get("Issuing") != "True":
            state = (cert["status"].get("revision"), secret["metadata"]["resourceVersion"])
        now = time.monotonic()
        if state is None or not since or since[0][0] != state:
            since[:] = [(state, now)]
            return False
        return now - since[0][1] >= ISSUANCE_QUIET

    return settled


@dataclass
class TenantPlane:
    name: str
    client: RestClient
    raw: RawApi
    sync: Crdsync


@dataclass
class World:
    host: RestClient
    host_raw: RawApi
    honest: TenantPlane
    hostile: TenantPlane
    watch: SecretWatch
    cert_manager: CertManager
    honest_ca: x509.Certificate
    corp_ca: x509.Certificate
    # host path -> what must never change about the honest tenant's host objects
    baseline: dict[str, Obj] = field(default_factory=dict)
    # uids of crdsync Events already on the (session-shared) host before this module's tenants existed: other test
    # modules record Events on host objects on purpose (e2e/test_kube_io.py tests the recorder itself)
    earlier_events: frozenset[str] = frozenset()
    # the honest host Certificate's status.revision when the baseline was taken
    baseline_revision: int | None = None

    def logs(self) -> str:
        return (
            f"--- crdsync honest ---\n{self.honest.sync.log_tail(25)}\n"
            f"--- crdsync hostile ---\n{self.hostile.sync.log_tail(25)}"
        )

    def alive(self) -> None:
        self.honest.sync.assert_alive()
        self.hostile.sync.assert_alive()

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        if not poll(condition, timeout):
            self.alive()
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")


def has_tls(secret: Obj | None) -> bool:
    return bool(secret and (secret.get("data") or {}).get("tls.crt"))


def by_crdsync(event: Obj) -> bool:
    return MANAGER in ((event.get("source") or {}).get("component"), event.get("reportingComponent"))


def describe_event(event: Obj) -> str:
    involved = event.get("involvedObject") or {}
    return (
        f"Event {event['metadata'].get('namespace')}/{event['metadata'].get('name')} {event.get('reason')} about "
        f"{involved.get('kind')} {involved.get('namespace') or '-'}/{involved.get('name')}: "
        f"{str(event.get('message'))[:160]}"
    )


def exists(client: RestClient, path: str) -> Callable[[], bool]:
    return lambda: get_or_none(client, path) is not None


def create_if_absent(client: RestClient, collection: str, body: Obj) -> None:
    if client.status_of("GET", f"{collection}/{body['metadata']['name']}") == 404:
        client.create(collection, body)


def snapshot(obj: Obj) -> Obj:
    """What must not change about an honest host object: identity, bookkeeping and content (not status)."""
    meta = obj["metadata"]
    return {
        "uid": meta["uid"],
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
        "spec": obj.get("spec"),
        "data": obj.get("data"),
    }


def forged_bookkeeping(*, vcluster: str, role: str, side: str, kind: str, namespace: str | None, name: str) -> Obj:
    """crdsync's own labels and annotations, as a tenant would forge them."""
    annotations = {ANN_SOURCE_SIDE: side, ANN_SOURCE_KIND: kind, ANN_SOURCE_NAME: name}
    if namespace is not None:
        annotations[ANN_SOURCE_NAMESPACE] = namespace
    return {
        "labels": {LABEL_MANAGED_BY: MANAGER, LABEL_VCLUSTER: vcluster, LABEL_ROLE: role},
        "annotations": annotations,
    }


# -- the two tenants, the host and the honest flow -------------------------------------------------------------------


def _start_tenant(planes: Planes, name: str, client_for: Callable[[str], RestClient], directory: Path) -> TenantPlane:
    try:
        planes.add_apiserver(name)
    except PlanesError as exc:
        pytest.fail(f"virtual plane {name!r} did not start: {exc}\n\n{planes.log_tails()}", pytrace=False)
    sync = tenant_crdsync(planes, [MAPPING], HOST_NS, name, directory / f"crdsync-{name}.log", virtual=name)
    return TenantPlane(name, client_for(name), RawApi(planes, name), sync)


@pytest.fixture(scope="module")
def world(
    cert_manager: CertManager,
    planes: Planes,
    host_client: RestClient,
    client_for: Callable[[str], RestClient],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("isolation")
    with ExitStack() as cleanup:
        ensure_namespace(host_client, HOST_NS)
        earlier_events = frozenset(
            e["metadata"]["uid"] for e in host_client.get("/api/v1/events")["items"] if by_crdsync(e)
        )
        # Started before anything of the tenants exists: a deletion at any later moment is seen.
        watch = SecretWatch(host_client).start()
        cleanup.callback(watch.stop)

        honest = _start_tenant(planes, HONEST, client_for, directory)
        cleanup.callback(planes.stop_apiserver, HONEST)
        hostile = _start_tenant(planes, HOSTILE, client_for, directory)
        cleanup.callback(planes.stop_apiserver, HOSTILE)

        # The host admin's side: one shared SelfSigned issuer, the private corporate CA, a ClusterIssuer to share
        # later, and the honest tenant's Ingress (synced by its vcluster syncer, not by crdsync).
        issuers = f"{CM}/clusterissuers"
        create_if_absent(host_client, issuers, cluster_issuer(SHARED, shared=True))
        corp_secret, corp_ca = ca_secret(PRIVATE, cert_manager.namespace, "Corp Internal CA")
        create_if_absent(host_client, f"/api/v1/namespaces/{cert_manager.namespace}/secrets", corp_secret)
        create_if_absent(host_client, issuers, cluster_issuer(PRIVATE, ca_secret=PRIVATE))
        create_if_absent(host_client, issuers, cluster_issuer(LATE))
        create_if_absent(
            host_client,
            f"/apis/networking.k8s.io/v1/namespaces/{HOST_NS}/ingresses",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": HONEST_INGRESS},
                "spec": {
                    "rules": [
                        {
                            "host": "shop.example.test",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                    }
                                ]
                            },
                        }
                    ]
                },
            },
        )

        for tenant in (honest, hostile):
            tenant.sync.start()
            cleanup.callback(tenant.sync.kill)  # only if the orderly stop below never ran
        secret, honest_ca = ca_secret("tenant-ca", HONEST_NS, "Honest Tenant Root CA")
        result = World(
            host_client,
            RawApi(planes, "host"),
            honest,
            hostile,
            watch,
            cert_manager,
            honest_ca,
            corp_ca,
            earlier_events=earlier_events,
        )
        for tenant in (honest, hostile):
            plurals = ("certificates", "issuers", "clusterissuers")
            wait_served(tenant.client, CM, plurals, result.wait, f" in {tenant.name}'s virtual cluster")
            result.wait(
                exists(tenant.client, f"{CM}/clusterissuers/{SHARED}"),
                60,
                f"shared ClusterIssuer imported into {tenant.name}",
            )

        # The honest tenant's own CA: its key pair is exported to the host, the issued Secret comes back.
        virtual = honest.client
        ensure_namespace(virtual, HONEST_NS)
        virtual.create(f"/api/v1/namespaces/{HONEST_NS}/secrets", secret)
        virtual.create(f"{CM}/namespaces/{HONEST_NS}/issuers", ca_issuer("ca", HONEST_NS, "tenant-ca"))
        virtual.create(
            f"{CM}/namespaces/{HONEST_NS}/certificates",
            certificate("api", HONEST_NS, {"name": "ca"}, "api.payments.test"),
        )
        result.wait(
            lambda: (
                condition_true(get_or_none(virtual, f"{CM}/namespaces/{HONEST_NS}/certificates/api"))
                and has_tls(get_or_none(virtual, f"/api/v1/namespaces/{HONEST_NS}/secrets/api-tls"))
            ),
            READY_TIMEOUT,
            "the honest Certificate Ready with its Secret imported",
        )
        certificate_path = f"{CM}/namespaces/{HOST_NS}/certificates/{honest_name(HONEST_NS, 'api')}"
        tls_path = f"/api/v1/namespaces/{HOST_NS}/secrets/{HONEST_TLS_SECRET}"
        result.wait(issuance_settled(host_client, certificate_path, tls_path), READY_TIMEOUT, "cert-manager to settle")
        result.baseline_revision = host_client.get(certificate_path)["status"].get("revision")
        for plural, name in [*sorted(HONEST_COPIES), ("secrets", HONEST_TLS_SECRET)]:
            path = f"{CM if plural != 'secrets' else '/api/v1'}/namespaces/{HOST_NS}/{plural}/{name}"
            result.baseline[path] = snapshot(host_client.get(path))
        ingress_path = f"/apis/networking.k8s.io/v1/namespaces/{HOST_NS}/ingresses/{HONEST_INGRESS}"
        ingress = host_client.get(ingress_path)
        result.baseline[ingress_path] = {**snapshot(ingress), "rv": ingress["metadata"]["resourceVersion"]}

        yield result

        for tenant in (honest, hostile):
            code = tenant.sync.stop()
            assert code == 0, f"crdsync {tenant.name} exited with {code}:\n{tenant.sync.log_tail()}"


def test_honest_tenant_flow_is_green(world: World) -> None:
    """The baseline every attack is measured against: the honest tenant's CA issues through the host cert-manager."""
    secret = world.honest.client.get(f"/api/v1/namespaces/{HONEST_NS}/secrets/api-tls")
    leaf = issued(secret)[0]
    assert signed_by(leaf, world.honest_ca), "baseline: the honest leaf is not signed by the honest tenant's CA"
    assert dns_sans(leaf) == ["api.payments.test"]
    for plural, name in HONEST_COPIES:
        path = f"{CM if plural != 'secrets' else '/api/v1'}/namespaces/{HOST_NS}/{plural}/{name}"
        labels = world.host.get(path)["metadata"].get("labels") or {}
        assert labels.get(LABEL_VCLUSTER) == HONEST, f"baseline: {path} is not labelled as the honest tenant's copy"
    assert world.watch.deleted == [], f"baseline: honest Secrets deleted during setup: {world.watch.deleted}"


# -- attack 1 ---------------------------------------------------------------------------------------------------------


FORGE_NS = "forge"
FORGED_CERT = "grab-corp"


def test_attack1_forged_shared_clusterissuer_is_refused(world: World) -> None:
    """A tenant's own ClusterIssuer named like a private host one, carrying crdsync's import bookkeeping, must not make
    that private issuer usable: crdsync decides what is shared from the host, never from what a tenant wrote."""
    hostile, host = world.hostile.client, world.host
    forged = forged_bookkeeping(
        vcluster=HOSTILE,
        role="copy",
        side="host",
        kind="cert-manager.io/ClusterIssuer",
        namespace=None,
        name="some-decoy",
    )
    hostile.create(
        f"{CM}/clusterissuers",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": {"name": PRIVATE, **forged},
            "spec": {"selfSigned": {}},
        },
    )
    ensure_namespace(hostile, FORGE_NS)
    hostile.create(
        f"{CM}/namespaces/{FORGE_NS}/certificates",
        certificate(FORGED_CERT, FORGE_NS, cluster_issuer_ref(PRIVATE), "corp.example.test"),
    )

    def on_host() -> list[str]:
        certs: list[Obj] = host.get(f"{CM}/certificates")["items"]
        return [
            f"{c['metadata']['namespace']}/{c['metadata']['name']}"
            for c in certs
            if (c.get("spec") or {}).get("issuerRef", {}).get("name") == PRIVATE
        ]

    def refused() -> bool:
        return bool(events_about(hostile, FORGE_NS, FORGED_CERT, "ReferenceNotShared", warnings=True))

    # Either outcome is quick: the refusal Event, or (unfixed) a host copy that cert-manager then acts on.
    poll(lambda: refused() or bool(on_host()), DECIDE_TIMEOUT)
    world.alive()
    leaked = on_host()
    if leaked:
        # Evidence for the failure message: did cert-manager really sign with the corporate CA?
        secret_path = f"/api/v1/namespaces/{HOST_NS}/secrets/{hostile_name(FORGE_NS, f'{FORGED_CERT}-tls')}"
        poll(lambda: has_tls(get_or_none(host, secret_path)), 20)
        secret = get_or_none(host, secret_path)
        signed = has_tls(secret) and signed_by(issued(secret or {})[0], world.corp_ca)
        raise AssertionError(
            f"attack 1 (forged shared ClusterIssuer): the host got Certificate(s) {leaked} naming the private "
            f"ClusterIssuer {PRIVATE}; cert-manager issued a certificate signed by the corporate CA: {signed}"
        )
    requests: list[Obj] = host.get("/apis/cert-manager.io/v1/certificaterequests")["items"]
    from_private = [r["metadata"]["name"] for r in requests if r["spec"]["issuerRef"].get("name") == PRIVATE]
    assert not from_private, (
        f"attack 1 (forged shared ClusterIssuer): CertificateRequests for {PRIVATE}: {from_private}"
    )
    seen = [describe_event(e) for e in events_about(hostile, FORGE_NS, FORGED_CERT, warnings=True)]
    assert refused(), (
        f"attack 1 (forged shared ClusterIssuer): no ReferenceNotShared Warning on {FORGE_NS}/{FORGED_CERT} within "
        f"{DECIDE_TIMEOUT:.0f}s; its Warnings: {seen}"
    )


# -- attack 2 ---------------------------------------------------------------------------------------------------------


STEAL_NS = "mallory"


def test_attack2_operator_written_bookkeeping_cannot_delete_another_tenants_secrets(world: World) -> None:
    """cert-manager copies a Certificate's secretTemplate onto the Secret it writes: the hostile tenant makes it write
    crdsync's bookkeeping naming the honest tenant's CA Secret, as a copy and as a follower. No engine may take that
    for a copy of its own and delete or rewrite the honest tenant's Secrets."""
    hostile, host = world.hostile.client, world.host
    ensure_namespace(hostile, STEAL_NS)
    names = {"steal-copy": "copy", "steal-follower": "follower"}
    for name, role in names.items():
        template = forged_bookkeeping(
            vcluster=HONEST, role=role, side="virtual", kind="/Secret", namespace=HONEST_NS, name="tenant-ca"
        )
        hostile.create(
            f"{CM}/namespaces/{STEAL_NS}/certificates",
            certificate(name, STEAL_NS, cluster_issuer_ref(SHARED), f"{name}.example.test", secretTemplate=template),
        )
    host_secrets = [f"/api/v1/namespaces/{HOST_NS}/secrets/{hostile_name(STEAL_NS, f'{n}-tls')}" for n in names]
    world.wait(
        lambda: all(has_tls(get_or_none(host, p)) for p in host_secrets),
        READY_TIMEOUT,
        "attack 2: cert-manager to issue the hostile Secrets on the host",
    )
    stamped = {
        p.rsplit("/", 1)[1]: (host.get(p)["metadata"].get("labels") or {}).get(LABEL_VCLUSTER) for p in host_secrets
    }
    # The engines react to the host Secret events within a second; a deletion is caught at once, and the watch keeps
    # counting through every later test.
    poll(lambda: bool(world.watch.deleted), 5)
    world.alive()
    assert world.watch.deleted == [], (
        f"attack 2 (operator-written bookkeeping): honest Secrets deleted on the host: {world.watch.deleted}; "
        f"hostile host Secrets carried vcluster labels {stamped}\n{world.logs()}"
    )
    for path, before in world.baseline.items():
        if "/secrets/" in path:
            now = get_or_none(host, path)
            assert now is not None and now["metadata"]["uid"] == before["uid"], (
                f"attack 2 (operator-written bookkeeping): honest Secret {path} gone or replaced"
            )
    certificate_path = f"{CM}/namespaces/{HONEST_NS}/certificates/api"
    assert condition_true(world.honest.client.get(certificate_path)), (
        f"attack 2 (operator-written bookkeeping): the honest Certificate is no longer Ready: "
        f"{world.honest.client.get(certificate_path).get('status')}"
    )


# -- attack 4 ---------------------------------------------------------------------------------------------------------


def host_event_violations(world: World) -> list[str]:
    """crdsync Events on the host that break the rule: Events go on the tenant's own objects, so on the host at most
    in the tenant namespace and only about a crdsync copy. The honest tenant did nothing to earn an Event, so any
    crdsync Event about one of its host objects was written for (or by) the hostile tenant."""
    events: list[Obj] = world.host.get("/api/v1/events")["items"]
    honest_objects = {name for _, name in HONEST_COPIES} | HONEST_SECRETS | {HONEST_INGRESS}
    found: list[str] = []
    for event in filter(by_crdsync, events):
        if event["metadata"].get("uid") in world.earlier_events:
            continue
        namespace = event["metadata"].get("namespace")
        involved = event.get("involvedObject") or {}
        if namespace != HOST_NS:
            found.append(f"outside the tenant namespace: {describe_event(event)}")
        elif involved.get("name") in honest_objects:
            found.append(f"about the honest tenant's host object: {describe_event(event)}")
        elif not _crdsync_copy_on_host(world, involved):
            found.append(f"about a host object crdsync does not own: {describe_event(event)}")
    return found


def _crdsync_copy_on_host(world: World, involved: Obj) -> bool:
    plural = {"Secret": "secrets", "Certificate": "certificates", "Issuer": "issuers"}.get(str(involved.get("kind")))
    if plural is None or involved.get("namespace") != HOST_NS:
        return False
    prefix = "/api/v1" if plural == "secrets" else CM
    obj = get_or_none(world.host, f"{prefix}/namespaces/{HOST_NS}/{plural}/{involved.get('name')}")
    return obj is not None and (obj["metadata"].get("labels") or {}).get(LABEL_MANAGED_BY) == MANAGER


def test_attack4_provoked_failures_write_no_events_on_host_objects(world: World) -> None:
    """The hostile tenant works in a virtual namespace named exactly like the host namespace and provokes every
    failure it can: an unshared issuer, an import whose host Secret never appears, an import blocked by a forged
    virtual Secret named like the honest tenant's host CA Secret, and a squatted name of a ClusterIssuer the host
    admin shares later. The Events belong on its own virtual objects; none may land on the host."""
    hostile, host = world.hostile.client, world.host
    ns = HOST_NS  # the whole point: virtual (ns, name) == host (ns, name) of the honest tenant's objects
    ensure_namespace(hostile, ns)
    certs = f"{CM}/namespaces/{ns}/certificates"
    # (a) an unshared ClusterIssuer
    hostile.create(certs, certificate("unshared", ns, cluster_issuer_ref("not-shared-anywhere"), "u.example.test"))
    # (b) an import whose host Secret is missing: the Issuer does not exist, so nothing is ever issued
    hostile.create(certs, certificate("pending", ns, {"name": "missing-issuer"}, "p.example.test"))
    # (c) the import target is a virtual Secret named like the honest tenant's host CA Secret, carrying forged
    # bookkeeping, so the import conflicts and the engine reports on "the object at that name"
    squat = forged_bookkeeping(
        vcluster=HOSTILE, role="follower", side="host", kind="/Secret", namespace=ns, name="decoy"
    )
    hostile.create(
        f"/api/v1/namespaces/{ns}/secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": HONEST_CA_SECRET, **squat}, "data": {}},
    )
    imp = certificate("imp", ns, cluster_issuer_ref(SHARED), "imp.example.test")
    imp["spec"]["secretName"] = HONEST_CA_SECRET
    hostile.create(certs, imp)
    # (d) the hostile tenant squats the name of a ClusterIssuer before the host admin shares it
    hostile.create(f"{CM}/clusterissuers", cluster_issuer(LATE))
    host.merge_patch(f"{CM}/clusterissuers/{LATE}", {"metadata": {"labels": {"crdsync.io/shared": "true"}}})

    world.wait(
        lambda: bool(events_about(hostile, ns, "unshared", "ReferenceNotShared", warnings=True)),
        DECIDE_TIMEOUT,
        "attack 4: ReferenceNotShared on the hostile tenant's own Certificate",
    )
    imp_secret = f"/api/v1/namespaces/{HOST_NS}/secrets/{hostile_name(ns, HONEST_CA_SECRET)}"
    world.wait(lambda: has_tls(get_or_none(host, imp_secret)), READY_TIMEOUT, "attack 4: the hostile 'imp' issuance")
    world.wait(
        lambda: get_or_none(world.honest.client, f"{CM}/clusterissuers/{LATE}") is not None,
        DECIDE_TIMEOUT,
        "attack 4: the late-shared ClusterIssuer imported into the honest tenant",
    )
    # Every provocation has now reached the hostile engine; give it a moment to report, stopping at the first host
    # Event (an unfixed engine writes them within a second).
    poll(lambda: bool(host_event_violations(world)), 8)
    world.alive()
    violations = host_event_violations(world)
    assert not violations, "attack 4 (Events): crdsync wrote Events on the host:\n" + "\n".join(violations)
    squatted = hostile.get(f"/api/v1/namespaces/{ns}/secrets/{HONEST_CA_SECRET}")
    assert squatted.get("data") in (None, {}), "attack 4 (Events): the squatted virtual Secret received host data"


# -- attack 5 ---------------------------------------------------------------------------------------------------------


ESCAPE_NS = "web"


def test_attack5_references_cannot_escape_the_tenant(world: World) -> None:
    """Fields naming host objects directly (an existing Ingress to edit, Gateways in other namespaces) must not reach
    the host copy; a Secret reference (keystore password) is fine because it is translated into the tenant's names."""
    hostile, host = world.hostile.client, world.host
    ensure_namespace(hostile, ESCAPE_NS)
    hostile.create(
        f"{CM}/namespaces/{ESCAPE_NS}/issuers",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "acme-escape", "namespace": ESCAPE_NS},
            "spec": {
                "acme": {
                    "server": "https://127.0.0.1:9/directory",
                    "privateKeySecretRef": {"name": "acme-account"},
                    "solvers": [
                        {"http01": {"ingress": {"name": HONEST_INGRESS}}},
                        {
                            "http01": {
                                "gatewayHTTPRoute": {
                                    "parentRefs": [{"name": "gw", "namespace": "kube-system", "kind": "Gateway"}]
                                }
                            }
                        },
                    ],
                }
            },
        },
    )
    keystore = {"pkcs12": {"create": True, "passwordSecretRef": {"name": HONEST_CA_SECRET, "key": "password"}}}
    hostile.create(
        f"{CM}/namespaces/{ESCAPE_NS}/certificates",
        certificate("ks", ESCAPE_NS, cluster_issuer_ref(SHARED), "ks.example.test", keystores=keystore),
    )
    issuer_path = f"{CM}/namespaces/{HOST_NS}/issuers/{hostile_name(ESCAPE_NS, 'acme-escape')}"
    cert_path = f"{CM}/namespaces/{HOST_NS}/certificates/{hostile_name(ESCAPE_NS, 'ks')}"

    def decided() -> bool:
        refused = bool(events_about(hostile, ESCAPE_NS, "acme-escape", warnings=True))
        return (refused or get_or_none(host, issuer_path) is not None) and get_or_none(host, cert_path) is not None

    world.wait(decided, SYNC_LATENCY + DECIDE_TIMEOUT, "attack 5: the Issuer synced or refused, and the Certificate")
    copy = get_or_none(host, issuer_path)
    escaping: list[str] = []
    for index, solver in enumerate(((copy or {}).get("spec") or {}).get("acme", {}).get("solvers") or []):
        http01 = solver.get("http01") or {}
        if "name" in (http01.get("ingress") or {}):
            escaping.append(f"solvers[{index}].http01.ingress.name={http01['ingress']['name']}")
        if (http01.get("gatewayHTTPRoute") or {}).get("parentRefs"):
            escaping.append(
                f"solvers[{index}].http01.gatewayHTTPRoute.parentRefs={http01['gatewayHTTPRoute']['parentRefs']}"
            )
    assert not escaping, f"attack 5 (escaping references): the host Issuer {issuer_path} carries {escaping}"
    password_ref = host.get(cert_path)["spec"]["keystores"]["pkcs12"]["passwordSecretRef"]["name"]
    assert password_ref == hostile_name(ESCAPE_NS, HONEST_CA_SECRET), (
        f"attack 5 (escaping references): the keystore password reference became {password_ref!r} on the host, "
        f"not the hostile tenant's translated name"
    )


# -- attack 6 ---------------------------------------------------------------------------------------------------------


POISON_NS = "deep"


def poison_issuer(name: str) -> bytes:
    """An ACME Issuer whose webhook solver config (x-kubernetes-preserve-unknown-fields) nests POISON_DEPTH levels.

    Built as text: json.dumps recurses like json.loads and gives up near 1,000 levels, which is the point.
    """
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": name, "namespace": POISON_NS},
        "spec": {
            "acme": {
                "server": "https://127.0.0.1:9/directory",
                "privateKeySecretRef": {"name": "poison-account"},
                "solvers": [
                    {"dns01": {"webhook": {"groupName": "acme.example.test", "solverName": "deep", "config": "@@"}}}
                ],
            }
        },
    }
    nested = '{"n":' * POISON_DEPTH + json.dumps(POISON_MARKER) + "}" * POISON_DEPTH
    return json.dumps(issuer).replace('"@@"', nested).encode()


def test_attack6_poison_object_neither_syncs_nor_stalls_its_kind(world: World) -> None:
    """One absurdly nested Issuer costs one Warning Event: it never reaches the host, the tenant's ordinary objects
    created right after it sync within normal latency, and the kind keeps syncing after the poison is deleted."""
    hostile, raw, host = world.hostile.client, world.hostile.raw, world.host
    ensure_namespace(hostile, POISON_NS)
    status, body = raw.request("POST", f"{CM}/namespaces/{POISON_NS}/issuers", poison_issuer("poison"))
    assert status == 201, (
        f"attack 6 (poison): the virtual apiserver refused the poison Issuer: HTTP {status} {body[:300]!r}"
    )
    started = time.monotonic()
    hostile.create(
        f"{CM}/namespaces/{POISON_NS}/issuers",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "plain", "namespace": POISON_NS},
            "spec": {"selfSigned": {}},
        },
    )
    hostile.create(
        f"{CM}/namespaces/{POISON_NS}/certificates",
        certificate("after", POISON_NS, {"name": "plain"}, "after.example.test"),
    )
    issuer_copy = f"{CM}/namespaces/{HOST_NS}/issuers/{hostile_name(POISON_NS, 'plain')}"
    cert_copy = f"{CM}/namespaces/{HOST_NS}/certificates/{hostile_name(POISON_NS, 'after')}"
    copies = {"Issuer deep/plain": issuer_copy, "Certificate deep/after": cert_copy}

    def present() -> list[str]:
        return [what for what, path in copies.items() if get_or_none(host, path) is not None]

    synced = poll(lambda: len(present()) == len(copies), SYNC_LATENCY)
    elapsed = time.monotonic() - started
    world.alive()
    assert synced, (
        f"attack 6 (poison): {elapsed:.1f}s after the poison only {present() or 'nothing'} of {sorted(copies)} "
        f"reached the host (limit {SYNC_LATENCY:.0f}s)\n{world.hostile.sync.log_tail(30)}"
    )

    poison_copy = f"{CM}/namespaces/{HOST_NS}/issuers/{hostile_name(POISON_NS, 'poison')}"
    status, _ = world.host_raw.request("GET", poison_copy)
    assert status == 404, f"attack 6 (poison): the poison Issuer reached the host ({poison_copy}: HTTP {status})"
    world.host_raw.items(f"{CM}/namespaces/{HOST_NS}/issuers", "attack 6 (poison)")
    warned = poll(lambda: bool(events_about(hostile, POISON_NS, "poison", warnings=True)), DECIDE_TIMEOUT)
    assert warned, f"attack 6 (poison): no Warning Event on the poison Issuer within {DECIDE_TIMEOUT:.0f}s"

    # The kind is not frozen: the deletion is taken in, and Issuers created afterwards (one under the very same name)
    # sync as usual.
    status, body = raw.request("DELETE", f"{CM}/namespaces/{POISON_NS}/issuers/poison")
    assert status == 200, f"attack 6 (poison): deleting the poison Issuer: HTTP {status} {body[:200]!r}"
    world.wait(
        lambda: raw.request("GET", f"{CM}/namespaces/{POISON_NS}/issuers/poison")[0] == 404,
        30,
        "attack 6: the poison Issuer gone from the virtual cluster",
    )
    for name in ("later", "poison"):
        hostile.create(
            f"{CM}/namespaces/{POISON_NS}/issuers",
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Issuer",
                "metadata": {"name": name, "namespace": POISON_NS},
                "spec": {"selfSigned": {}},
            },
        )
    later = {n: f"{CM}/namespaces/{HOST_NS}/issuers/{hostile_name(POISON_NS, n)}" for n in ("later", "poison")}
    recovered = poll(lambda: all(raw_exists(world, p) for p in later.values()), SYNC_LATENCY)
    world.alive()
    assert recovered, (
        f"attack 6 (poison): Issuers created after the poison was deleted did not reach the host within "
        f"{SYNC_LATENCY:.0f}s: missing {[n for n, p in later.items() if not raw_exists(world, p)]}"
        f"\n{world.hostile.sync.log_tail(30)}"
    )


def describe_change(before: Obj, after: Obj, changed: list[str]) -> str:
    """Which parts changed: the keys only for data (the values are key material), before and after for the rest."""
    parts = []
    for part in changed:
        if part == "data":
            old, new = before["data"] or {}, after["data"] or {}
            keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            parts.append(f"data keys {keys}")
        else:
            parts.append(f"{part} {before[part]!r} -> {after.get(part)!r}")
    return "; ".join(parts)


def raw_exists(world: World, path: str) -> bool:
    return world.host_raw.request("GET", path)[0] == 200


# -- aftermath --------------------------------------------------------------------------------------------------------


def test_aftermath_the_honest_tenant_and_the_host_are_untouched(world: World) -> None:
    """After every attack: the honest tenant's host objects are the same objects with the same content, its crdsync
    copies are exactly the expected ones, crdsync wrote nothing outside the tenant namespace, no honest Secret was
    ever deleted, and the forged Certificate of attack 1 stays refused with a clear Event."""
    host = world.host
    world.alive()
    problems: list[str] = []

    if world.watch.deleted:
        problems.append(f"honest Secrets deleted on the host: {world.watch.deleted} ({world.watch.summary()})")
    for path, before in world.baseline.items():
        now = get_or_none(host, path)
        if now is None:
            problems.append(f"{path} is gone")
            continue
        after = snapshot(now)
        if "rv" in before:  # the Ingress: nobody may have written it at all
            after["rv"] = now["metadata"]["resourceVersion"]
        changed = sorted(k for k in before if before[k] != after.get(k))
        if changed:
            problems.append(f"{path} changed: {describe_change(before, after, changed)}; written by {writers(now)}")
    if any("/secrets/" in p for p in problems):
        certificate = host.get(f"{CM}/namespaces/{HOST_NS}/certificates/{honest_name(HONEST_NS, 'api')}")
        problems.append(
            f"the honest host Certificate is at revision {certificate.get('status', {}).get('revision')} (baseline "
            f"{world.baseline_revision}); writes to honest host Secrets since the start: {world.watch.writes}"
        )

    # The honest tenant's copies: host objects whose bookkeeping claims the honest tenant AND that stand at the name
    # the honest naming rule gives their claimed source (forged claims stand elsewhere and are not its copies).
    copies: set[tuple[str, str]] = set()
    lists = {
        "issuers": world.host_raw.items(f"{CM}/namespaces/{HOST_NS}/issuers", "aftermath"),
        "certificates": host.get(f"{CM}/namespaces/{HOST_NS}/certificates")["items"],
        "secrets": host.get(f"/api/v1/namespaces/{HOST_NS}/secrets")["items"],
    }
    for plural, items in lists.items():
        for obj in items:
            meta = obj["metadata"]
            annotations = meta.get("annotations") or {}
            if (meta.get("labels") or {}).get(LABEL_VCLUSTER) != HONEST:
                continue
            source_ns, source_name = annotations.get(ANN_SOURCE_NAMESPACE), annotations.get(ANN_SOURCE_NAME)
            if source_name and source_ns and meta["name"] == honest_name(source_ns, source_name):
                copies.add((plural, meta["name"]))
    if copies != HONEST_COPIES:
        problems.append(f"honest copies on the host are {sorted(copies)}, expected {sorted(HONEST_COPIES)}")

    # Nothing labelled for these two tenants outside the tenant namespace, no cluster-scoped copies, no misplaced
    # Events. (The host plane is shared by the whole e2e session: other modules' tenants have copies elsewhere.)
    ours = f"{LABEL_VCLUSTER} in ({HONEST},{HOSTILE})"
    for collection in (f"{CM}/certificates", f"{CM}/issuers", "/api/v1/secrets", "/api/v1/configmaps"):
        for selector in (f"{LABEL_MANAGED_BY},{ours}", ours):
            if collection.endswith("issuers"):
                items = world.host_raw.items(f"{collection}?labelSelector={quote(selector)}", "aftermath")
            else:
                items = host.get(collection, labelSelector=selector)["items"]
            outside = [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in items]
            outside = [o for o in outside if not o.startswith(f"{HOST_NS}/")]
            if outside:
                problems.append(f"crdsync-labelled {collection} outside {HOST_NS}: {outside}")
    cluster_copies = host.get(f"{CM}/clusterissuers", labelSelector=ours)["items"]
    if cluster_copies:
        problems.append(
            f"crdsync-labelled ClusterIssuers on the host: {[c['metadata']['name'] for c in cluster_copies]}"
        )
    problems += host_event_violations(world)

    refusal = events_about(world.hostile.client, FORGE_NS, FORGED_CERT, "ReferenceNotShared", warnings=True)
    if not refusal or PRIVATE not in str(refusal[0].get("message")):
        problems.append(
            f"the forged Certificate {FORGE_NS}/{FORGED_CERT} has no ReferenceNotShared Event naming {PRIVATE}"
        )
    if not condition_true(world.honest.client.get(f"{CM}/namespaces/{HONEST_NS}/certificates/api")):
        problems.append("the honest Certificate is not Ready")

    assert not problems, "aftermath:\n" + "\n".join(f"- {p}" for p in problems)
