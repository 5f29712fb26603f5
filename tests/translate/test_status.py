"""Status: paths and filters, observedGeneration mapped from host generations to virtual ones (the tenant sees
"current" exactly when the host operator has caught up), and no feedback between status and to_host."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import (
    Condition,
    Direction,
    Patch,
    PatchOp,
    Rule,
    StatusSync,
    SyncConfig,
)
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_GENERATION,
    MANAGER,
)
from crdsync.translate.compare import needs_write
from crdsync.translate.errors import TranslationError
from crdsync.translate.objects import to_host
from crdsync.translate.status import virtual_status
from tests.fakeapi import applied as server_applied
from tests.translate.certs import (
    CERT,
    CERT_RULE,
    CONFIG,
    HERE,
    RULES,
    TENANT,
    cert,
    certificates,
    host_after_apply,
)
from tests.translate.strategies import json_values


@settings(max_examples=100, deadline=None)
@given(certificates(), json_values(), json_values(), st.integers(0, 3))
def test_virtual_status_ignores_what_to_host_writes(
    virtual: dict[str, Any], status: Any, other_spec: Any, observed: int
) -> None:
    host = host_after_apply(
        to_host(CONFIG, CERT_RULE, virtual, TENANT), status={"conditions": [status], "observedGeneration": observed}
    )
    rewritten = copy.deepcopy(host)
    rewritten["spec"] = other_spec
    rewritten["metadata"]["labels"] = {"changed": "yes"}
    rewritten["metadata"]["annotations"] = {
        k: v for k, v in host["metadata"]["annotations"].items() if k == ANN_SOURCE_GENERATION
    }
    rewritten["metadata"]["resourceVersion"] = "99999"
    assert virtual_status(CERT_RULE, host, virtual) == virtual_status(CERT_RULE, rewritten, virtual)
    # Only the recorded generation (to_host's one input to this mapping) and the host generation decide the value.
    generation = virtual["metadata"].get("generation")
    expected = observed if generation is None else generation if observed == 1 else max(generation - 1, 0)
    assert virtual_status(CERT_RULE, host, virtual) == {"conditions": [status], "observedGeneration": expected}


def test_virtual_status_paths_filters_and_patches() -> None:
    rule = Rule(
        Direction.TO_HOST,
        CERT,
        status=StatusSync(paths=("$.status.conditions[?(@.type == 'Ready')]", "$.status.notAfter")),
        patches_to_virtual=(Patch(PatchOp.COPY, "$.status.hostName", from_path="$.metadata.name"),),
    )
    host = {
        "metadata": {"name": "web-x"},
        "spec": {},
        "status": {"conditions": [{"type": "Issuing"}, {"type": "Ready", "status": "True"}], "notAfter": "t", "x": 1},
    }
    status = virtual_status(rule, host, cert())
    assert status == {"conditions": [{"type": "Ready", "status": "True"}], "notAfter": "t", "hostName": "web-x"}
    assert virtual_status(Rule(Direction.TO_HOST, CERT, status=StatusSync(enabled=False)), host, cert()) is None
    assert virtual_status(CERT_RULE, {"spec": {}}, cert()) == {}


def test_status_path_outside_status_is_a_located_error() -> None:
    rule = Rule(Direction.TO_HOST, CERT, status=StatusSync(paths=("$.spec",)), location=HERE)
    with pytest.raises(TranslationError, match=r"inside \$\.status") as info:
        virtual_status(rule, {"spec": {}}, cert())
    assert (info.value.path, info.value.location) == ("$.spec", HERE)


# --- observedGeneration ----------------------------------------------------------------------------------------------

GEN_RULE = Rule(Direction.TO_HOST, CERT, patches_to_host=(Patch(PatchOp.REMOVE, "$.spec.ignored"),))
GEN_CONFIG = SyncConfig("gen", (GEN_RULE,))


def generation_cert(generation: int, **spec: Any) -> dict[str, Any]:
    obj = cert(**spec)
    obj["metadata"]["generation"] = generation
    return obj


def host_copy(virtual: dict[str, Any], host_generation: int, status: Any) -> dict[str, Any]:
    host = server_applied(to_host(GEN_CONFIG, GEN_RULE, virtual, TENANT), MANAGER, status=status)
    host["metadata"]["generation"] = host_generation
    return host


observed = st.one_of(st.integers(0, 12), st.none(), st.booleans(), st.text(max_size=2), st.just(3.0))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    observed,
    st.lists(st.fixed_dictionaries({"type": st.just("Ready")}, optional={"observedGeneration": observed}), max_size=3),
)
def test_observed_generations_map_to_the_recorded_virtual_generation(
    source_gen: int, host_gen: int, top: Any, conditions: list[dict[str, Any]]
) -> None:
    virtual = generation_cert(source_gen)
    status = {"observedGeneration": top, "conditions": conditions, "other": {"observedGeneration": host_gen}}
    host = host_copy(virtual, host_gen, status)
    assert host["metadata"]["annotations"][ANN_SOURCE_GENERATION] == str(source_gen)
    out = virtual_status(GEN_RULE, host, virtual)
    assert out is not None

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def mapped(value: Any) -> Any:
        if not is_int(value):
            return value  # not a generation: left alone
        return source_gen if value == host_gen else max(source_gen - 1, 0)

    assert out["observedGeneration"] == mapped(top)
    assert out["conditions"] == [
        {**c, **({"observedGeneration": mapped(c["observedGeneration"])} if "observedGeneration" in c else {})}
        for c in conditions
    ]
    assert out["other"] == {"observedGeneration": host_gen}  # not one of the observedGeneration paths
    # "Current" for the tenant's tools exactly when the host operator has seen this host generation.
    reported = out["observedGeneration"]
    assert (is_int(reported) and reported == source_gen) is (is_int(top) and top == host_gen)
    assert reported is top or 0 <= reported <= source_gen


@pytest.mark.parametrize(
    ("annotation", "host_generation"),
    [(None, 4), ("x", 4), ("-1", 4), ("٣", 4), ("1" * 30, 4), ("7", None), ("7", True), ("7", "4")],
)
def test_without_a_recorded_or_host_generation_values_are_left_as_they_are(
    annotation: str | None, host_generation: Any
) -> None:
    host = host_copy(generation_cert(7), 4, {"observedGeneration": 4, "conditions": [{"observedGeneration": 3}]})
    if annotation is None:
        del host["metadata"]["annotations"][ANN_SOURCE_GENERATION]
    else:
        host["metadata"]["annotations"][ANN_SOURCE_GENERATION] = annotation
    if host_generation is None:
        del host["metadata"]["generation"]
    else:
        host["metadata"]["generation"] = host_generation
    assert virtual_status(GEN_RULE, host, generation_cert(7)) == host["status"]


def test_mapping_off_records_nothing_and_copies_values_verbatim() -> None:
    virtual = generation_cert(7)
    status = {"observedGeneration": 4, "conditions": [{"type": "Ready", "observedGeneration": 4}]}
    off = dataclasses.replace(GEN_RULE, status=StatusSync(observed_generation_paths=()))
    not_synced = dataclasses.replace(GEN_RULE, status=StatusSync(enabled=False))
    for rule, subresource in ((off, True), (not_synced, True), (GEN_RULE, False)):
        host = to_host(GEN_CONFIG, rule, virtual, TENANT, status_subresource=subresource)
        assert ANN_SOURCE_GENERATION not in host["metadata"]["annotations"]
    host = host_copy(virtual, 4, status)  # recorded by the default rule, so only the switches can turn mapping off
    assert virtual_status(off, host, virtual) == status
    assert virtual_status(GEN_RULE, host, virtual, status_subresource=False) == status
    mapped = virtual_status(GEN_RULE, host, virtual)
    assert mapped is not None and mapped["observedGeneration"] == 7
    # Exported followers never have status flowing back: no annotation either.
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca", "namespace": "apps", "generation": 2}}
    assert ANN_SOURCE_GENERATION not in to_host(CONFIG, RULES[4], secret, TENANT)["metadata"]["annotations"]


def test_custom_observed_generation_paths_and_patches_run_after_the_mapping() -> None:
    rule = dataclasses.replace(
        GEN_RULE,
        status=StatusSync(observed_generation_paths=("$.status.components[*].observedGeneration",)),
        patches_to_virtual=(Patch(PatchOp.COPY, "$.status.hostGeneration", from_path="$.metadata.generation"),),
    )
    virtual = generation_cert(9)
    host = host_copy(virtual, 2, {"observedGeneration": 2, "components": [{"observedGeneration": 2}, {}]})
    assert virtual_status(rule, host, virtual) == {
        "observedGeneration": 2,  # not listed: verbatim
        "components": [{"observedGeneration": 9}, {}],
        "hostGeneration": 2,
    }


def test_observed_generation_path_outside_status_is_a_located_error() -> None:
    status = StatusSync(observed_generation_paths=("$.metadata.name",))
    rule = dataclasses.replace(GEN_RULE, status=status, location=HERE)
    with pytest.raises(TranslationError, match=r"inside \$\.status") as info:
        virtual_status(rule, host_copy(generation_cert(1), 1, {}), generation_cert(1))
    assert info.value.location == HERE


def test_recording_the_generation_writes_only_when_the_spec_changes() -> None:
    virtual = generation_cert(3, x=1, ignored=1)
    current = server_applied(to_host(GEN_CONFIG, GEN_RULE, virtual, TENANT), MANAGER)
    # A status write (status subresource): same generation, nothing to write.
    with_status = {**virtual, "status": {"observedGeneration": 3}}
    assert not needs_write(to_host(GEN_CONFIG, GEN_RULE, with_status, TENANT), current, MANAGER)
    # A spec change bumps the generation: the write that carries the spec carries the annotation.
    edited = generation_cert(4, x=2, ignored=1)
    desired = to_host(GEN_CONFIG, GEN_RULE, edited, TENANT)
    assert needs_write(desired, current, MANAGER)
    assert desired["spec"]["x"] == 2 and desired["metadata"]["annotations"][ANN_SOURCE_GENERATION] == "4"
    # A spec change the copy does not carry (a patch removes the field) still records the generation: one write.
    unseen = to_host(GEN_CONFIG, GEN_RULE, generation_cert(4, x=1, ignored=2), TENANT)
    assert unseen["spec"] == {"x": 1}
    assert needs_write(unseen, current, MANAGER)
    assert not needs_write(unseen, server_applied(unseen, MANAGER), MANAGER)


class _Cluster:
    """A toHost rule's sync loop on one object, against apiservers that bump metadata.generation on spec changes and
    never on metadata or status writes (the status subresource), with a host operator that catches up when told."""

    def __init__(self) -> None:
        self.virtual = generation_cert(1, x=0, ignored=0)
        self.host: dict[str, Any] | None = None
        self.host_body: Any = None  # what the host copy holds besides metadata and status
        self.observed_body: Any = None  # the host body as the operator last saw it
        self.written = 0

    def edit(self, field: str) -> None:
        self.virtual["spec"][field] += 1
        self.virtual["metadata"]["generation"] += 1

    def sync(self) -> None:
        desired = to_host(GEN_CONFIG, GEN_RULE, self.virtual, TENANT)
        if self.host is not None and not needs_write(desired, self.host, MANAGER):
            return
        self.written += 1
        body = {k: v for k, v in desired.items() if k not in ("metadata", "status")}
        generation = 1 if self.host is None else self.host["metadata"]["generation"] + (body != self.host_body)
        status = self.host.get("status") if self.host is not None else None
        self.host = server_applied(desired, MANAGER, status=status or {})
        self.host["metadata"]["generation"] = generation
        self.host_body = body

    def operator_catches_up(self) -> None:
        if self.host is not None:
            generation = self.host["metadata"]["generation"]
            self.host["status"] = {"observedGeneration": generation, "conditions": [{"observedGeneration": generation}]}
            self.observed_body = self.host_body

    def status_back(self) -> None:
        if self.host is not None:
            before = to_host(GEN_CONFIG, GEN_RULE, self.virtual, TENANT)
            self.virtual["status"] = virtual_status(GEN_RULE, self.host, self.virtual)
            # No ping-pong: taking the status back changes nothing to_host writes.
            assert to_host(GEN_CONFIG, GEN_RULE, self.virtual, TENANT) == before


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["edit", "edit-ignored", "sync", "observe", "status-back"]), max_size=30))
def test_the_tenant_sees_current_exactly_when_the_host_operator_has_caught_up(steps: list[str]) -> None:
    cluster = _Cluster()
    reported: list[int] = []
    for step in steps:
        if step == "edit":
            cluster.edit("x")
        elif step == "edit-ignored":
            cluster.edit("ignored")
        elif step == "sync":
            cluster.sync()
        elif step == "observe":
            cluster.operator_catches_up()
        else:
            cluster.status_back()
        if cluster.host is None or "observedGeneration" not in cluster.host["status"]:
            continue
        status = virtual_status(GEN_RULE, cluster.host, cluster.virtual)
        assert status is not None
        value = status["observedGeneration"]
        assert status["conditions"] == [{"observedGeneration": value}]
        generation = cluster.virtual["metadata"]["generation"]
        synced = cluster.host["metadata"]["annotations"][ANN_SOURCE_GENERATION] == str(generation)
        assert (value == generation) is (synced and cluster.observed_body == cluster.host_body)
        assert 0 <= value <= generation
        assert not reported or value >= reported[-1], reported  # never goes back
        reported.append(value)
    # Only the first sync and syncs after an edit write; observing and taking status back never cause a write.
    assert cluster.written <= 1 + sum(1 for step in steps if step.startswith("edit"))


def test_a_poison_host_object_is_refused_before_its_status_is_read() -> None:
    deep: dict[str, Any] = {}
    for _ in range(200):
        deep = {"n": deep}
    host = {"metadata": {"name": "web-x"}, "spec": deep, "status": {"conditions": []}}
    with pytest.raises(TranslationError, match="deeper than") as info:
        virtual_status(CERT_RULE, host, cert())
    assert info.value.message.startswith("host object ")


@pytest.mark.parametrize(
    ("api_version", "converted"), [("cert-manager.io/v1", True), ("cert-manager.io/v1beta1", False)]
)
def test_status_patches_can_test_the_virtual_objects_api_version(api_version: str, converted: bool) -> None:
    """A toVirtual patch guarded by the version the tenant's object is served at: one version's status shape is
    converted, the other's left alone."""
    rule = Rule(
        Direction.TO_HOST,
        CERT,
        patches_to_virtual=(
            Patch(
                PatchOp.SET,
                "$.status.converted",
                value=True,
                when=(Condition("$.apiVersion", in_=("cert-manager.io/v1",)),),
            ),
        ),
    )
    host = {"metadata": {"name": "web-x"}, "spec": {}, "status": {"ready": True}}
    virtual = {**cert(), "apiVersion": api_version}
    expected = {"ready": True, "converted": True} if converted else {"ready": True}
    assert virtual_status(rule, host, virtual) == expected
    # A virtual object listed without apiVersion reads as the rule's version.
    assert virtual_status(rule, host, {k: v for k, v in virtual.items() if k != "apiVersion"}) == {
        "ready": True,
        "converted": True,
    }


def test_status_patches_that_leave_no_map_are_a_located_error_and_no_status_is_empty() -> None:
    def rule(*patches: Patch) -> Rule:
        return Rule(Direction.TO_HOST, CERT, patches_to_virtual=patches, location=HERE)

    host = {"metadata": {"name": "web-x"}, "spec": {}, "status": {"ready": True}}
    with pytest.raises(TranslationError, match="status must be a map, found a list") as info:
        virtual_status(rule(Patch(PatchOp.SET, "$.status", value=[1])), host, cert())
    assert (info.value.path, info.value.location) == ("$.status", HERE)
    assert virtual_status(rule(Patch(PatchOp.REMOVE, "$.status")), host, cert()) == {}


def test_status_patches_can_test_the_virtual_objects_kind_and_labels() -> None:
    def flagged(path: str, value: str, virtual: dict[str, Any]) -> Any:
        patch = Patch(PatchOp.SET, "$.status.flag", value=True, when=(Condition(path, in_=(value,)),))
        rule = Rule(Direction.TO_HOST, CERT, patches_to_virtual=(patch,))
        status = virtual_status(rule, {"metadata": {"name": "h"}, "status": {}}, virtual)
        return status is not None and status.get("flag") is True

    labelled = {**cert(), "metadata": {"name": "web", "namespace": "apps", "labels": {"tier": "gold"}}}
    assert flagged("$.kind", "Certificate", cert())
    assert flagged("$.kind", "Certificate", {k: v for k, v in cert().items() if k != "kind"})  # the rule's kind
    assert flagged("$.metadata.labels.tier", "gold", labelled)
    assert not flagged("$.metadata.labels.tier", "gold", {**labelled, "metadata": "nonsense"})
