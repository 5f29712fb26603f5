"""crdsync.engine.rbac: the RBAC objects an operator reviews and applies, as reviewed, and what their reasons say.

The Role and ClusterRole objects `crdsync rbac` prints are what a platform team reads before granting a tenant's sync
anything: every rule, and the `crdsync.io/why` annotation explaining each verb by the engine action that needs it.
Both are checked in under golden/rbac/, as `crdsync rbac` prints them (tenant team-a in host namespace vc-team-a): for
the shipped cert-manager and example-widgets mappings, and every-policy.yaml for a mapping (golden/rbac/mappings/) that
switches on each policy those two leave off (toHost Orphan, fromHost Overwrite, reverse paths, readOnly off, a
cluster-scoped import of referenced objects). charts/crdsync/values.yaml is the same kind of golden for the chart
(tests/test_chart.py).

Regenerate after an intended change with `CRDSYNC_UPDATE_GOLDEN=1 pytest tests/engine/test_rbac.py`, then read the
diff: it is the change every tenant's RBAC goes through.

tests/commands/test_rbac.py checks the verbs against the engine's calls and the command's options; here, besides the
goldens, the reasons are checked to name the mapping setting or flag that a grant depends on, so an operator can tell
which line of the mapping to change to drop a grant.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from crdsync.commands.rbac import write_yaml
from crdsync.engine.rbac import WHY_ANNOTATION, Need, RbacError, needs, parse_plural, plural_of, rbac_objects
from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_files
from crdsync.spec.model import (
    ConflictPolicy,
    DeletionPolicy,
    Direction,
    LabelSelector,
    Rule,
    Scope,
    StatusSync,
    SyncConfig,
    SyncMode,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden" / "rbac"
TEST_MAPPINGS = GOLDEN / "mappings"
UPDATE_ENV = "CRDSYNC_UPDATE_GOLDEN"
HOST_NAMESPACE, VCLUSTER = "vc-team-a", "team-a"


# Between them, every branch of crdsync.engine.rbac (the other shipped mappings add no policy these leave off, and
# loading each takes a while: the whole engine suite runs once per mutant in `make mutation`).
SHIPPED = ("cert-manager.yaml", "example-widgets.yaml")


def mapping_files() -> list[Path]:
    return [ROOT / "mappings" / name for name in SHIPPED] + sorted(TEST_MAPPINGS.glob("*.yaml"))


def rbac_text(mapping: Path) -> str:
    loaded = load_files([str(mapping)])
    assert loaded.config is not None, loaded.errors
    out = io.StringIO()
    objects = rbac_objects(loaded.config, host_namespace=HOST_NAMESPACE, vcluster=VCLUSTER)
    write_yaml(objects, out, f"RBAC for crdsync with mapping {loaded.config.name} ({mapping.name})")
    return out.getvalue()


@pytest.mark.parametrize("mapping", mapping_files(), ids=lambda p: p.name)
def test_the_rbac_of_each_mapping_is_the_reviewed_one(mapping: Path) -> None:
    text = rbac_text(mapping)
    golden = GOLDEN / mapping.name
    if os.environ.get(UPDATE_ENV):
        golden.write_text(text)
        return
    assert golden.is_file(), f"no golden RBAC {golden.relative_to(ROOT)}; run with {UPDATE_ENV}=1 and review it"
    assert text == golden.read_text(), (
        f"RBAC of {mapping.name} differs from {golden.relative_to(ROOT)}; if intended, regenerate with {UPDATE_ENV}=1 "
        "and review the diff"
    )


def test_every_golden_has_a_mapping() -> None:
    names = {p.name for p in mapping_files()}
    stale = sorted(p.name for p in GOLDEN.glob("*.yaml") if p.name not in names)
    assert stale == [], f"golden RBAC of no mapping (delete them): {stale}"


# --- what the reasons name ------------------------------------------------------------------------------------------

WIDGET = GroupVersionKind("example.com", "v1", "Widget")
GADGET = GroupVersionKind("example.com", "v1", "Gadget")


def config(*rules: Rule) -> SyncConfig:
    return SyncConfig(name="t", rules=rules)


def reasons(found: list[Need], cluster: str, resource: str, verb: str) -> set[str]:
    return {n.why for n in found if (n.cluster, n.resource, n.verb) == (cluster, resource, verb)}


def added_by(policy: Rule, baseline: Rule, **kwargs: Any) -> set[tuple[str, str, str, str]]:
    """The (cluster, resource, verb, why) grants `policy` needs beyond what `baseline` (the same rule without the
    setting) needs."""
    with_it = {(n.cluster, n.resource, n.verb, n.why) for n in needs(config(policy), **kwargs)}
    without = {(n.cluster, n.resource, n.verb, n.why) for n in needs(config(baseline), **kwargs)}
    return with_it - without


@pytest.mark.parametrize(
    ("policy", "baseline", "grants", "named"),
    [
        (
            Rule(Direction.TO_HOST, WIDGET, deletion=DeletionPolicy.ORPHAN, status=StatusSync(enabled=False)),
            Rule(Direction.TO_HOST, WIDGET, status=StatusSync(enabled=False)),
            {("host", "widgets", "patch")},
            "deletion policy Orphan",
        ),
        (
            Rule(Direction.TO_HOST, WIDGET, conflict=ConflictPolicy.OVERWRITE),
            Rule(Direction.TO_HOST, WIDGET),
            {("host", "widgets", "update")},
            "conflict policy Overwrite",
        ),
        (
            Rule(Direction.TO_HOST, WIDGET, finalizer=True, status=StatusSync(enabled=False)),
            Rule(Direction.TO_HOST, WIDGET, status=StatusSync(enabled=False)),
            {("host", "widgets", "get"), ("virtual", "widgets", "patch")},
            "finalizer",
        ),
        (
            Rule(Direction.TO_HOST, WIDGET, namespace_selector=LabelSelector(match_labels=(("team", "a"),))),
            Rule(Direction.TO_HOST, WIDGET),
            {("virtual", "namespaces", "list"), ("virtual", "namespaces", "watch")},
            "namespaceSelector",
        ),
        (
            Rule(Direction.FROM_HOST, GADGET, read_only=True, deletion=DeletionPolicy.DELETE),
            Rule(Direction.FROM_HOST, GADGET, read_only=False, deletion=DeletionPolicy.DELETE),
            {("virtual", "gadgets", "patch")},
            "readOnly",
        ),
        (
            Rule(Direction.FROM_HOST, GADGET, read_only=False, deletion=DeletionPolicy.DELETE),
            Rule(Direction.FROM_HOST, GADGET, read_only=False, deletion=DeletionPolicy.ORPHAN),
            {("virtual", "gadgets", "delete")},
            "deletion policy Delete",
        ),
        (
            Rule(Direction.FROM_HOST, GADGET, read_only=False, deletion=DeletionPolicy.ORPHAN),
            Rule(Direction.FROM_HOST, GADGET, read_only=False, deletion=DeletionPolicy.DELETE),
            {("virtual", "gadgets", "patch")},
            "deletion policy Orphan",
        ),
        (
            Rule(Direction.FROM_HOST, GADGET, conflict=ConflictPolicy.OVERWRITE),
            Rule(Direction.FROM_HOST, GADGET),
            {("virtual", "gadgets", "update")},
            "conflict policy Overwrite",
        ),
    ],
    ids=[
        "toHost-orphan",
        "toHost-overwrite",
        "finalizer",
        "namespaceSelector",
        "readOnly",
        "fromHost-delete",
        "fromHost-orphan",
        "fromHost-overwrite",
    ],
)
def test_a_grant_that_a_mapping_setting_adds_names_that_setting(
    policy: Rule, baseline: Rule, grants: set[tuple[str, str, str]], named: str
) -> None:
    added = added_by(policy, baseline)
    assert {(cluster, resource, verb) for cluster, resource, verb, why in added if named in why} == grants, added


def test_the_lease_grants_name_the_flag_that_needs_them() -> None:
    rule = Rule(Direction.TO_HOST, WIDGET)
    leases = [n for n in needs(config(rule), vcluster=VCLUSTER) if n.resource == "leases"]
    assert {(n.cluster, n.namespaced, n.group, n.verb) for n in leases} == {
        ("host", True, "coordination.k8s.io", verb) for verb in ("create", "get", "update")
    }
    assert all("--leader-elect" in n.why for n in leases)
    # create cannot be limited to a name (the apiserver authorizes a create before the object has one); the rest can.
    assert {(n.verb, n.resource_name) for n in leases} == {
        ("create", None),
        ("get", "crdsync-team-a"),
        ("update", "crdsync-team-a"),
    }


def test_the_delete_of_a_host_copy_says_whether_the_deletion_policy_needs_it() -> None:
    """A copy of a recreated source is replaced under any policy; only under Delete is a source's deletion a reason."""
    orphan = needs(config(Rule(Direction.TO_HOST, WIDGET, deletion=DeletionPolicy.ORPHAN)))
    delete = needs(config(Rule(Direction.TO_HOST, WIDGET, deletion=DeletionPolicy.DELETE)))
    (orphan_why,) = reasons(orphan, "host", "widgets", "delete")
    (delete_why,) = reasons(delete, "host", "widgets", "delete")
    assert "deletion policy Delete" in delete_why and "Delete" not in orphan_why
    assert delete_why.startswith(orphan_why)


def test_a_kind_synced_both_ways_takes_its_scope_from_the_to_host_rule() -> None:
    """A kind exported and imported at once: the toHost rule's scope decides where the host informer lists."""
    to_host = Rule(Direction.TO_HOST, WIDGET)
    from_host = Rule(Direction.FROM_HOST, WIDGET, scope=Scope.CLUSTER, mode=SyncMode.REFERENCED)
    for rules in ((to_host, from_host), (from_host, to_host)):
        listed = [n for n in needs(config(*rules)) if (n.cluster, n.resource, n.verb) == ("host", "widgets", "list")]
        assert [n.namespaced for n in listed] == [True], rules


def test_only_a_role_in_the_host_namespace_says_so() -> None:
    """The header of each role's reasons says where it applies: the Role in the tenant's host namespace, the
    ClusterRoles cluster-wide."""
    objects = rbac_objects(config(Rule(Direction.TO_HOST, WIDGET)), host_namespace=HOST_NAMESPACE)
    headers = {
        (o["kind"], o["metadata"]["annotations"]["crdsync.io/cluster"]): o["metadata"]["annotations"][
            WHY_ANNOTATION
        ].splitlines()[0]
        for o in objects
        if o["kind"] in ("Role", "ClusterRole")
    }
    assert headers == {
        ("Role", "host"): "what crdsync's engine does with mapping t (host, the tenant's host namespace), per rule:",
        ("ClusterRole", "host"): "what crdsync's engine does with mapping t (host, cluster-wide), per rule:",
        ("ClusterRole", "virtual"): "what crdsync's engine does with mapping t (virtual, cluster-wide), per rule:",
    }


def test_virtual_grants_are_never_namespaced() -> None:
    """Need.namespaced is a host-side choice (Role or ClusterRole); every virtual grant is cluster-wide."""
    found = needs(load_files([str(GOLDEN / "mappings" / "every-policy.yaml")]).config or config())
    virtual = [n for n in found if n.cluster == "virtual"]
    assert virtual and all(n.namespaced is False for n in virtual)


@pytest.mark.parametrize(
    "text",
    [
        "=things",  # no kind
        ".example.com=things",  # no kind, a group
        "Thing=a=b",  # a plural is a DNS label: "a=b" is not one
        "Thing",  # no plural
        "Thing=Things",  # not lowercase
    ],
)
def test_a_malformed_plural_override_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected Kind\.group=plural"):
        parse_plural(text)


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Match", "matches"),
        ("ServiceMesh", "servicemeshes"),
        ("Buzz", "buzzes"),
        ("Ingress", "ingresses"),
        ("Proxy", "proxies"),
        ("Key", "keys"),
        ("Endpoints", "endpoints"),
        ("Gateway", "gateways"),
        ("Certificate", "certificates"),
    ],
)
def test_a_kinds_resource_is_its_lowercase_english_plural(kind: str, plural: str) -> None:
    """A wrong guess shows at run time as 403s on the misnamed resource, so the usual English endings are right."""
    assert plural_of(kind) == plural


def test_only_imports_into_virtual_namespaces_may_create_namespaces() -> None:
    """A mapping that only exports never creates namespaces in the tenant's cluster; an import of a namespaced kind
    may (its copy lands in a namespace the tenant may not have)."""
    exported = needs(config(Rule(Direction.TO_HOST, WIDGET)))
    assert [n for n in exported if n.resource == "namespaces"] == []
    imported = needs(config(Rule(Direction.TO_HOST, WIDGET), Rule(Direction.FROM_HOST, GADGET)))
    assert {(n.cluster, n.verb) for n in imported if n.resource == "namespaces"} == {
        ("virtual", "get"),
        ("virtual", "create"),
    }


def test_a_core_kind_without_status_gets_no_status_grant() -> None:
    """Secrets have no /status and no status: syncing status back grants nothing for them, where a custom kind
    gets its /status subresource."""
    secret = GroupVersionKind("", "v1", "Secret")
    found = needs(config(Rule(Direction.TO_HOST, secret), Rule(Direction.TO_HOST, WIDGET)))
    patched = {n.resource for n in found if (n.cluster, n.verb) == ("virtual", "patch")}
    assert {r for r in patched if r.startswith(("secrets", "widgets"))} == {"widgets", "widgets/status"}


def test_a_plural_override_names_the_resource_in_every_object() -> None:
    octopus = GroupVersionKind("example.com", "v1", "Octopus")
    objects = rbac_objects(
        config(Rule(Direction.TO_HOST, octopus)), host_namespace="ns", plurals={("example.com", "Octopus"): "octopi"}
    )
    granted = {
        r for o in objects for rule in o.get("rules", ()) for r in rule["resources"] + rule.get("resourceNames", [])
    }
    assert {"octopi", "octopi/status", "octopi.example.com"} <= granted
    assert not [r for r in granted if r.startswith("octopuses")]


def test_a_to_host_rule_for_a_cluster_scoped_kind_is_refused_with_its_location_and_reason() -> None:
    rule = Rule(Direction.TO_HOST, GADGET, scope=Scope.CLUSTER)
    with pytest.raises(RbacError) as refused:
        needs(config(rule))
    assert str(refused.value) == (
        f"{rule.location}: toHost rule for cluster-scoped Gadget: its host copies would be cluster-wide writes on the "
        "host, which a tenant's RBAC must not grant"
    )
