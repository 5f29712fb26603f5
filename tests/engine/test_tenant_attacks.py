"""A hostile tenant against the engine: each test is one attack from the tenant-isolation review, carried out through
what a tenant controls (its virtual objects, and fields a host operator copies), against in-memory clusters that model
managedFields, patch types, AlreadyExists and delayed watch delivery, reordered across informers (tests/fakeapi).

The boundary these pin down (crdsync/translate/tenancy.py): host writes only in the tenant's host namespace and only
to copies whose name proves they are this tenant's; nothing the tenant writes is trusted as bookkeeping; imports only
of what a rule selects for this tenant; Events only on the tenant's virtual objects; one poison object costs one
Event. The same attacks run for real in e2e/test_tenant_isolation.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdsync.engine import reconcile as reconcile_module
from crdsync.engine.engine import Engine
from crdsync.spec.model import (
    ConflictPolicy,
    DeletionPolicy,
    Direction,
    FollowDirection,
    HostSelection,
    LabelSelector,
    Reference,
    Rule,
    Scope,
    SyncConfig,
    SyncMode,
)
from crdsync.translate import bookkeeping as bk
from crdsync.translate.names import Tenant, host_name
from tests.engine.kinds import EVENTS, NAMESPACES, SECRET, SECRETS, SHARED, SHAREDS, WIDGET, WIDGETS
from tests.fakeapi import FakeCluster, FakeInformer
from tests.fakeapi.settle import settle

HOST_NS = "tenants"
HONEST = Tenant(vcluster="honest", host_namespace=HOST_NS)
HOSTILE = Tenant(vcluster="hostile", host_namespace=HOST_NS)

WIDGET_REFERENCES = (
    Reference(path="$.spec.secretName", kind="Secret", api_version="v1", follow=FollowDirection.FROM_HOST),
    Reference(path="$.spec.caSecret", kind="Secret", api_version="v1", follow=FollowDirection.TO_HOST),
    Reference(path="$.spec.issuer", kind="SharedThing", api_version="example.com/v1"),
)


def config(
    *,
    widget: Rule | None = None,
    secret_to_host: Rule | None = None,
    shared_conflict: ConflictPolicy = ConflictPolicy.ABORT,
    extra: tuple[Rule, ...] = (),
) -> SyncConfig:
    rules = (
        widget or Rule(direction=Direction.TO_HOST, gvk=WIDGET, references=WIDGET_REFERENCES),
        secret_to_host or Rule(direction=Direction.TO_HOST, gvk=SECRET, mode=SyncMode.REFERENCED),
        Rule(direction=Direction.FROM_HOST, gvk=SECRET, mode=SyncMode.REFERENCED),
        Rule(
            direction=Direction.FROM_HOST,
            gvk=SHARED,
            scope=Scope.CLUSTER,
            selector=LabelSelector(match_labels=(("shared", "true"),)),
            host=HostSelection(),
            conflict=shared_conflict,
        ),
        *extra,
    )
    return SyncConfig(name="attacks", rules=rules)


class Tenancy:
    """One host shared by tenants, each with its own virtual cluster and engine; every Event recorded, by side."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, delay: float = 0.0, jitter: float = 0.0) -> None:
        """`delay`, `jitter`: watch delivery of every cluster (tests/fakeapi/delivery.py); with jitter, each cluster's
        informers see events in a different order, drawn from a generator seeded per cluster (reproducible)."""
        self.host = FakeCluster("host", [WIDGETS, SECRETS, SHAREDS, NAMESPACES], seed=0)
        self.host.delay, self.host.jitter = delay, jitter
        self.delay, self.jitter = delay, jitter
        self.virtual: dict[str, FakeCluster] = {}
        self.engines: dict[str, Engine] = {}
        self.events: list[tuple[str, str, dict[str, Any], str, str]] = []  # (side, vcluster, involved, reason, msg)

        def record(client: Any, involved: dict[str, Any], reason: str, message: str, **_: Any) -> None:
            side = "host" if client is self.host else "virtual"
            vcluster = next((name for name, v in self.virtual.items() if v is client), "?")
            self.events.append((side, vcluster, involved, reason, message))

        monkeypatch.setattr(reconcile_module, "record_event", record)

    def start(self, tenant: Tenant, cfg: SyncConfig) -> FakeCluster:
        seed = len(self.virtual) + 1
        virtual = FakeCluster(f"virtual-{tenant.vcluster}", [WIDGETS, SECRETS, SHAREDS, NAMESPACES], seed=seed)
        virtual.delay, virtual.jitter = self.delay, self.jitter
        self.virtual[tenant.vcluster] = virtual
        engine = Engine(cfg, tenant, self.host, virtual, workers=2, informer_factory=FakeInformer)
        self.engines[tenant.vcluster] = engine
        engine.start()
        assert engine.wait_initial_sync(5)
        self.settle()
        return virtual

    def settle(self, timeout: float = 8.0) -> None:
        clusters = [self.host, *self.virtual.values()]
        settle(self.engines.values(), clusters, timeout=timeout)

    def stop(self) -> None:
        for engine in self.engines.values():
            engine.stop()

    def reasons(self, vcluster: str) -> list[str]:
        return [reason for _, v, _, reason, _ in self.events if v == vcluster]


@pytest.fixture
def tenancy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenancy]:
    t = Tenancy(monkeypatch, delay=0.02, jitter=0.03)
    yield t
    t.stop()


def widget(name: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def secret(name: str, ns: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns, **metadata}, "data": {}}


def shared_thing(name: str, *, shared: bool, **metadata: Any) -> dict[str, Any]:
    labels = {"shared": "true"} if shared else {}
    return {
        "apiVersion": "example.com/v1",
        "kind": "SharedThing",
        "metadata": {"name": name, "labels": {**labels, **metadata.pop("labels", {})}, **metadata},
        "spec": {"private": not shared},
    }


def copy_name(tenant: Tenant, namespace: str | None, name: str) -> str:
    return host_name(tenant, namespace, name, Rule(direction=Direction.TO_HOST, gvk=WIDGET).naming)


def forged_bookkeeping(
    *, side: str, kind: str, name: str, vcluster: str, namespace: str | None = None
) -> dict[str, Any]:
    """Labels and annotations claiming crdsync made an object (what a hostile tenant writes)."""
    annotations = {bk.ANN_SOURCE_SIDE: side, bk.ANN_SOURCE_KIND: kind, bk.ANN_SOURCE_NAME: name}
    if namespace is not None:
        annotations[bk.ANN_SOURCE_NAMESPACE] = namespace
    labels = {bk.LABEL_MANAGED_BY: bk.MANAGER, bk.LABEL_VCLUSTER: vcluster, bk.LABEL_ROLE: bk.ROLE_COPY}
    return {"labels": labels, "annotations": annotations}


# -- 1. forged shared object ----------------------------------------------------------------------------------------


def test_forged_shared_object_does_not_unlock_an_unshared_host_object(tenancy: Tenancy) -> None:
    tenancy.host.put(SHAREDS, shared_thing("corp-internal-ca", shared=False))
    virtual = tenancy.start(HOSTILE, config())
    # The tenant's own object of that name, dressed up as crdsync's import of a decoy.
    forged = shared_thing(
        "corp-internal-ca",
        shared=True,
        **forged_bookkeeping(side="host", kind="example.com/SharedThing", name="some-decoy", vcluster="hostile"),
    )
    virtual.put(SHAREDS, forged, manager="tenant")
    virtual.put(WIDGETS, widget("cert", issuer="corp-internal-ca"), manager="tenant")
    tenancy.settle()

    assert tenancy.host.get(WIDGETS, HOST_NS, copy_name(HOSTILE, "default", "cert")) is None
    assert "ReferenceNotShared" in tenancy.reasons("hostile")
    # The forged import is collected like any copy whose source the host does not share (the decoy does not save it).
    assert virtual.get(SHAREDS, None, "corp-internal-ca") is None


# -- 2. cross-tenant delete through operator-written metadata --------------------------------------------------------


@pytest.mark.parametrize("role", [bk.ROLE_COPY, bk.ROLE_FOLLOWER])
@pytest.mark.parametrize("claimed", ["ca", "not-there"])
def test_operator_copied_bookkeeping_cannot_make_another_tenant_delete_its_secret(
    tenancy: Tenancy, role: str, claimed: str
) -> None:
    honest = tenancy.start(HONEST, config())
    tenancy.start(HOSTILE, config())
    honest.put(SECRETS, secret("ca", "default"), manager="tenant")
    honest.put(WIDGETS, widget("web", caSecret="ca"), manager="tenant")
    tenancy.settle()
    honest_ca = copy_name(HONEST, "default", "ca")
    assert tenancy.host.get(SECRETS, HOST_NS, honest_ca) is not None
    before = len(tenancy.host.writes)

    # The hostile tenant's Secret as the host operator writes it, with the labels the tenant asked it to copy
    # (cert-manager's secretTemplate): they name the honest tenant's CA Secret.
    metadata = forged_bookkeeping(side="virtual", kind="/Secret", name=claimed, namespace="default", vcluster="honest")
    metadata["labels"][bk.LABEL_ROLE] = role
    issued = secret(copy_name(HOSTILE, "default", "tls"), HOST_NS, **metadata)
    for _ in range(3):  # repeatable at will: every rewrite is a new event
        tenancy.host.put(SECRETS, issued, manager="cert-manager")
        tenancy.settle()

    touched = [w for w in tenancy.host.writes[before:] if w[3] == honest_ca or w[0] == "delete"]
    assert touched == [], f"the honest tenant's host objects were written: {touched}"
    assert tenancy.host.get(SECRETS, HOST_NS, honest_ca) is not None


# -- 3. follow: fromHost to a kind shared by name ---------------------------------------------------------------------


def test_follow_from_host_to_a_shared_kind_cannot_import_an_unshared_object(tenancy: Tenancy) -> None:
    grab = Reference(
        path="$.spec.grab", kind="SharedThing", api_version="example.com/v1", follow=FollowDirection.FROM_HOST
    )
    widget_rule = Rule(direction=Direction.TO_HOST, gvk=WIDGET, references=(*WIDGET_REFERENCES, grab))
    tenancy.host.put(SHAREDS, shared_thing("db-credentials", shared=False))
    virtual = tenancy.start(HOSTILE, config(widget=widget_rule))
    virtual.put(WIDGETS, widget("w", grab="db-credentials"), manager="tenant")
    tenancy.settle()
    assert virtual.get(SHAREDS, None, "db-credentials") is None
    # The name would cross unchanged too: no copy names it.
    assert tenancy.host.get(WIDGETS, HOST_NS, copy_name(HOSTILE, "default", "w")) is None
    assert "ReferenceNotShared" in tenancy.reasons("hostile")


# -- 4. Events only where the tenant lives ---------------------------------------------------------------------------


def test_no_event_is_ever_written_on_the_host(tenancy: Tenancy) -> None:
    """Failures of every task (toHost, import, fromHost) report on the tenant's virtual objects, never on the host."""
    tenancy.host.put(SHAREDS, shared_thing("shared", shared=True))
    # The tenant's virtual namespace is named like the host namespace, and an unrelated host Secret sits where the
    # virtual identity of its import would point if keys were confused.
    tenancy.host.put(SECRETS, secret("tls", HOST_NS))
    virtual = tenancy.start(HOSTILE, config())
    virtual.put(WIDGETS, widget("w", ns=HOST_NS, secretName="tls", issuer="nope"), manager="tenant")
    virtual.put(SHAREDS, shared_thing("shared", shared=True), manager="tenant")  # blocks the fromHost import
    # An import whose host Secret carries bookkeeping this tenant cannot prove: refused.
    stolen = secret(
        copy_name(HOSTILE, HOST_NS, "stolen"),
        HOST_NS,
        **forged_bookkeeping(side="virtual", kind="/Secret", name="x", namespace="y", vcluster="honest"),
    )
    tenancy.host.put(SECRETS, stolen)
    virtual.put(WIDGETS, widget("v", ns=HOST_NS, secretName="stolen"), manager="tenant")
    tenancy.settle()

    reasons = set(tenancy.reasons("hostile"))
    assert {"ReferenceNotShared", "TargetExists", "ImportRefused"} <= reasons, tenancy.events
    assert all(side == "virtual" for side, *_ in tenancy.events)
    assert not tenancy.host.list(EVENTS)
    # The import refusal is reported on the object that asked for it, not on anything named like a host object.
    refusals = [inv for _, _, inv, reason, _ in tenancy.events if reason == "ImportRefused"]
    assert refusals and all(inv["kind"] == "Widget" and inv["metadata"]["name"] == "v" for inv in refusals)
    assert virtual.get(SECRETS, HOST_NS, "stolen") is None


# -- 5. references that escape ----------------------------------------------------------------------------------------


def test_exported_followers_pass_the_shared_name_check(tenancy: Tenancy) -> None:
    by_annotation = Reference(path="$.metadata.annotations.issuer", kind="SharedThing", api_version="example.com/v1")
    follower = Rule(direction=Direction.TO_HOST, gvk=SECRET, mode=SyncMode.REFERENCED, references=(by_annotation,))
    tenancy.host.put(SHAREDS, shared_thing("private", shared=False))
    virtual = tenancy.start(HOSTILE, config(secret_to_host=follower))
    virtual.put(SECRETS, secret("ca", "default", annotations={"issuer": "private"}), manager="tenant")
    virtual.put(WIDGETS, widget("w", caSecret="ca"), manager="tenant")
    tenancy.settle()
    assert tenancy.host.get(SECRETS, HOST_NS, copy_name(HOSTILE, "default", "ca")) is None
    assert "ReferenceNotShared" in tenancy.reasons("hostile")


# -- 6. poison objects ------------------------------------------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth):
        value = {"n": value}
    return value


@pytest.mark.parametrize("depth", [150, 800, 3000])
def test_deeply_nested_object_is_one_event_and_never_blocks_the_others(tenancy: Tenancy, depth: int) -> None:
    virtual = tenancy.start(HOSTILE, config())
    virtual.put(WIDGETS, widget("poison", config=nested(depth)), manager="tenant")
    virtual.put(WIDGETS, widget("honest", size=1), manager="tenant")
    tenancy.settle()
    assert tenancy.host.get(WIDGETS, HOST_NS, copy_name(HOSTILE, "default", "honest")) is not None
    assert tenancy.host.get(WIDGETS, HOST_NS, copy_name(HOSTILE, "default", "poison")) is None
    assert "TranslationFailed" in tenancy.reasons("hostile")
    # Not retried in a loop: the poison object's key settles like any translation error.
    processed = tenancy.engines["hostile"].processed
    time.sleep(0.3)
    assert tenancy.engines["hostile"].processed - processed <= 1


# -- 7. provenance of imports ----------------------------------------------------------------------------------------


def test_import_refuses_a_host_object_carrying_another_tenants_bookkeeping(tenancy: Tenancy) -> None:
    """At a tenant-named host name stands another tenant's copy (what a hash collision would give): not handed over."""
    virtual = tenancy.start(HOSTILE, config())
    name = copy_name(HOSTILE, "default", "tls")
    theirs = secret(
        name,
        HOST_NS,
        **forged_bookkeeping(side="virtual", kind="/Secret", name="key", namespace="default", vcluster="honest"),
    )
    theirs["data"] = {"tls.key": "c2VjcmV0"}
    tenancy.host.put(SECRETS, theirs)
    virtual.put(WIDGETS, widget("w", secretName="tls"), manager="tenant")
    tenancy.settle()
    assert virtual.get(SECRETS, "default", "tls") is None
    assert "ImportRefused" in tenancy.reasons("hostile")


# -- 9. deselect + Orphan --------------------------------------------------------------------------------------------


def test_deselected_orphans_stay_marked_for_the_admin(tenancy: Tenancy) -> None:
    rule = Rule(
        direction=Direction.TO_HOST,
        gvk=WIDGET,
        selector=LabelSelector(match_labels=(("sync", "yes"),)),
        deletion=DeletionPolicy.ORPHAN,
    )
    virtual = tenancy.start(HOSTILE, config(widget=rule))
    for i in range(3):
        obj = widget(f"w{i}")
        obj["metadata"]["labels"] = {"sync": "yes"}
        virtual.put(WIDGETS, obj, manager="tenant")
    tenancy.settle()
    for i in range(3):  # relabel out of the rule, then delete: the copies stay, but marked
        obj = widget(f"w{i}")
        virtual.put(WIDGETS, obj, manager="tenant")
        tenancy.settle()
        virtual.remove(WIDGETS, "default", f"w{i}")
    tenancy.settle()
    left = tenancy.host.list(WIDGETS, HOST_NS)
    assert len(left) == 3
    for copy in left:
        labels = copy["metadata"]["labels"]
        assert labels[bk.LABEL_ORPHANED] == "true" and labels[bk.LABEL_VCLUSTER] == "hostile"
        assert bk.source_of(copy) is None


# -- the law: every host write lands in the tenant's namespace under a name of its naming rule -----------------------

_names = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)
_keys = st.sampled_from(
    [
        bk.LABEL_MANAGED_BY,
        bk.LABEL_VCLUSTER,
        bk.LABEL_ROLE,
        bk.LABEL_ORPHANED,
        bk.ANN_SOURCE_SIDE,
        bk.ANN_SOURCE_NAME,
        bk.ANN_SOURCE_NAMESPACE,
        bk.ANN_SOURCE_KIND,
        "app",
        "shared",
    ]
)
_values = st.sampled_from(
    [
        "crdsync",
        "honest",
        "hostile",
        "virtual",
        "host",
        "copy",
        "follower",
        "true",
        "default",
        "ca",
        "/Secret",
        "example.com/Widget",
        HOST_NS,
    ]
)
_tenant_widget = st.fixed_dictionaries(
    {
        "name": _names,
        "namespace": st.sampled_from(["default", HOST_NS, "kube-system"]),
        "labels": st.dictionaries(_keys, _values, max_size=4),
        "annotations": st.dictionaries(_keys, _values, max_size=4),
        "secretName": st.one_of(st.none(), _names),
        "caSecret": st.one_of(st.none(), _names),
        "issuer": st.one_of(st.none(), st.sampled_from(["shared", "private", "corp-internal-ca"])),
        "depth": st.integers(0, 130),
    }
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objects=st.lists(_tenant_widget, min_size=1, max_size=4, unique_by=lambda o: (o["namespace"], o["name"])))
def test_every_host_write_targets_the_tenant_namespace_and_a_name_of_its_naming_rule(
    monkeypatch: pytest.MonkeyPatch, objects: list[dict[str, Any]]
) -> None:
    t = Tenancy(monkeypatch)
    t.host.put(SHAREDS, shared_thing("shared", shared=True))
    t.host.put(SHAREDS, shared_thing("private", shared=False))
    try:
        virtual = t.start(HOSTILE, config())
        allowed: set[str] = set()
        for o in objects:
            spec = {k: o[k] for k in ("secretName", "caSecret", "issuer") if o[k] is not None}
            obj = widget(o["name"], ns=o["namespace"], config=nested(o["depth"]), **spec)
            obj["metadata"].update(labels=o["labels"], annotations=o["annotations"])
            virtual.put(WIDGETS, obj, manager="tenant")
            if o["caSecret"]:
                virtual.put(SECRETS, secret(o["caSecret"], o["namespace"], labels=o["labels"]), manager="tenant")
            allowed |= {copy_name(HOSTILE, o["namespace"], n) for n in (o["name"], o["caSecret"]) if n}
        t.settle()
        writes = t.host.our_writes()
        for verb, kind, namespace, name in writes:
            assert namespace == HOST_NS, (verb, kind, namespace, name)
            assert name in allowed, (verb, kind, namespace, name)
            assert kind in ("Widget", "Secret"), (verb, kind, namespace, name)
    finally:
        t.stop()
