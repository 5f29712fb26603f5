"""`crdsync rbac`: the least-privilege RBAC derived from a mapping (crdsync.engine.rbac) and its command
(crdsync.commands.rbac).

The goldens spell out the rules for the two shipped mappings. They depend on the mappings' kinds, scopes, modes and
policies (deletion, conflict, finalizer, readOnly, status sync, namespaceSelector), never on their patches; the
policies they rely on are asserted first, so a failure names the changed premise rather than a verb.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crdsync import cli
from crdsync.engine.rbac import (
    CLUSTER_ANNOTATION,
    READ_VERBS,
    WHY_ANNOTATION,
    RbacError,
    needs,
    parse_plural,
    plural_of,
    rbac_objects,
)
from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_files
from crdsync.spec.model import ConflictPolicy, DeletionPolicy, Direction, SyncConfig

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})

# Every verb the engine issues, by the client call that issues it (crdsync/kube/client.py):
#   list, watch   Informer (engine._try_activate, namespace informer)
#   get           KubeClient.get: host CRD and virtual CRD (engine._mirror_crd), virtual Namespace
#                 (reconcile._ensure_virtual_namespace), host copy under a finalizer (reconcile._retire_host_copy) or
#                 whose create found the name taken (reconcile._create), Event read back after AlreadyExists
#                 (events._Recorder), Lease (lease.LeaderElector)
#   create        KubeClient.create (POST): host copy (reconcile._create), Namespace, Event, Lease; and
#                 KubeClient.apply when the object does not exist yet (the apiserver authorizes that as create too)
#   patch         KubeClient.apply / patch: every server-side apply, ownership upgrade, finalizer, Orphan release,
#                 read-only shedding, status, Event repeat counts
#   update        KubeClient.replace (PUT): conflict policy Overwrite, Lease renewal
#   delete        KubeClient.delete: Delete policy, a copy of a recreated source
# Never: deletecollection, escalate, bind, impersonate, or any wildcard. Events are written only in the virtual
# cluster (reconcile._report reports on the tenant's objects), so the host Role has none.
ENGINE_VERBS = frozenset({"get", "list", "watch", "create", "patch", "update", "delete"})


def load(name: str) -> SyncConfig:
    result = load_files([str(MAPPINGS / name)])
    assert result.config is not None, result.errors
    return result.config


def rule_of(config: SyncConfig, direction: Direction, kind: str) -> Any:
    found = [r for r in config.rules if r.direction is direction and r.gvk.kind == kind]
    assert len(found) == 1, f"{direction.value} {kind}"
    return found[0]


def by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(o["metadata"]["annotations"][CLUSTER_ANNOTATION], o["kind"], o["metadata"]["name"]): o for o in objects}


def rules_table(role: dict[str, Any]) -> dict[tuple[str, str, str | None], set[str]]:
    out: dict[tuple[str, str, str | None], set[str]] = {}
    for rule in role["rules"]:
        assert len(rule["apiGroups"]) == len(rule["resources"]) == 1
        names = rule.get("resourceNames") or [None]
        assert len(names) == 1
        key = (rule["apiGroups"][0], rule["resources"][0], names[0])
        assert key not in out, f"two rules for {key}"
        out[key] = set(rule["verbs"])
    return out


CRD = "apiextensions.k8s.io"
CM = "cert-manager.io"
W = "widgets.example.com"
LIST_WATCH = {"list", "watch"}
MIRROR = {"get", "create", "patch"}
EVENTS = {"create", "patch", "get"}


# --- goldens ---------------------------------------------------------------------------------------------------------


def test_cert_manager_golden() -> None:
    config = load("cert-manager.yaml")
    # Premises the verbs below rest on.
    assert {(r.direction, r.gvk.kind) for r in config.rules} == {
        (Direction.TO_HOST, "Certificate"),
        (Direction.TO_HOST, "Issuer"),
        (Direction.TO_HOST, "Secret"),
        (Direction.FROM_HOST, "ClusterIssuer"),
        (Direction.FROM_HOST, "Secret"),
    }
    assert not any(r.finalizer or r.conflict is ConflictPolicy.OVERWRITE for r in config.rules)
    assert not any(r.namespace_selector for r in config.rules)
    assert rule_of(config, Direction.FROM_HOST, "ClusterIssuer").deletion is DeletionPolicy.DELETE
    assert rule_of(config, Direction.FROM_HOST, "Secret").deletion is DeletionPolicy.ORPHAN

    objects = by_kind(rbac_objects(config, host_namespace="vc-team-a", vcluster="team-a"))
    assert set(objects) == {
        ("host", "ServiceAccount", "crdsync"),
        ("host", "Role", "crdsync"),
        ("host", "RoleBinding", "crdsync"),
        ("host", "ClusterRole", "crdsync:vc-team-a"),
        ("host", "ClusterRoleBinding", "crdsync:vc-team-a"),
        ("virtual", "ServiceAccount", "crdsync"),
        ("virtual", "ClusterRole", "crdsync"),
        ("virtual", "ClusterRoleBinding", "crdsync"),
    }
    # toHost copies: POST, GET when the name is taken, apply, replace a recreated source's copy / Delete, informer
    copies = {"create", "get", "patch", "delete", "list", "watch"}
    assert rules_table(objects["host", "Role", "crdsync"]) == {
        ("", "secrets", None): copies,  # toHost referenced + fromHost referenced: one informer in the namespace
        (CM, "certificates", None): copies,
        (CM, "issuers", None): copies,
        ("coordination.k8s.io", "leases", None): {"create"},
        ("coordination.k8s.io", "leases", "crdsync-team-a"): {"get", "update"},
    }
    assert rules_table(objects["host", "ClusterRole", "crdsync:vc-team-a"]) == {
        (CRD, "customresourcedefinitions", "certificates.cert-manager.io"): {"get", "list", "watch"},
        (CRD, "customresourcedefinitions", "issuers.cert-manager.io"): {"get", "list", "watch"},
        (CRD, "customresourcedefinitions", "clusterissuers.cert-manager.io"): {"get", "list", "watch"},
        (CM, "clusterissuers", None): LIST_WATCH,  # fromHost mode all, cluster-scoped
    }
    assert rules_table(objects["virtual", "ClusterRole", "crdsync"]) == {
        ("", "events", None): EVENTS,
        ("", "namespaces", None): {"get", "create"},  # imported Secrets land in namespaces that may be missing
        ("", "secrets", None): {"list", "watch", "create", "patch"},  # imports: apply (Orphan: no delete)
        (CRD, "customresourcedefinitions", "certificates.cert-manager.io"): MIRROR,
        (CRD, "customresourcedefinitions", "issuers.cert-manager.io"): MIRROR,
        (CRD, "customresourcedefinitions", "clusterissuers.cert-manager.io"): MIRROR,
        (CM, "certificates", None): {"list", "watch", "patch"},  # patch: status when a kind has no /status
        (CM, "certificates/status", None): {"patch"},
        (CM, "issuers", None): {"list", "watch", "patch"},
        (CM, "issuers/status", None): {"patch"},
        (CM, "clusterissuers", None): {"list", "watch", "create", "patch", "delete"},
        (CM, "clusterissuers/status", None): {"patch"},
    }
    for key, role_kind in (
        (("host", "RoleBinding", "crdsync"), "Role"),
        (("host", "ClusterRoleBinding", "crdsync:vc-team-a"), "ClusterRole"),
    ):
        binding = objects[key]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": key[2]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "crdsync", "namespace": "vc-team-a"}]
    assert objects["virtual", "ClusterRoleBinding", "crdsync"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "crdsync", "namespace": "kube-system"}
    ]


def test_example_widgets_golden() -> None:
    config = load("example-widgets.yaml")
    assert {(r.direction, r.gvk.kind) for r in config.rules} == {
        (Direction.TO_HOST, "Widget"),
        (Direction.TO_HOST, "ConfigMap"),
        (Direction.FROM_HOST, "WidgetClass"),
        (Direction.FROM_HOST, "WidgetReport"),
    }
    widget = rule_of(config, Direction.TO_HOST, "Widget")
    assert widget.finalizer and widget.namespace_selector is not None and widget.status.enabled
    assert rule_of(config, Direction.TO_HOST, "ConfigMap").conflict is ConflictPolicy.OVERWRITE
    widget_class = rule_of(config, Direction.FROM_HOST, "WidgetClass")
    assert widget_class.deletion is DeletionPolicy.ORPHAN and not widget_class.read_only
    assert rule_of(config, Direction.FROM_HOST, "WidgetReport").deletion is DeletionPolicy.DELETE

    objects = by_kind(rbac_objects(config, host_namespace="vc-t1", vcluster="t1", name="sync"))
    assert set(objects) == {
        ("host", "ServiceAccount", "sync"),
        ("host", "Role", "sync"),
        ("host", "RoleBinding", "sync"),
        ("host", "ClusterRole", "sync:vc-t1"),
        ("host", "ClusterRoleBinding", "sync:vc-t1"),
        ("virtual", "ServiceAccount", "sync"),
        ("virtual", "ClusterRole", "sync"),
        ("virtual", "ClusterRoleBinding", "sync"),
    }
    assert rules_table(objects["host", "Role", "sync"]) == {
        ("", "configmaps", None): {"create", "get", "patch", "delete", "list", "watch", "update"},  # update: Overwrite
        (W, "widgets", None): {"create", "patch", "delete", "list", "watch", "get"},
        (W, "widgetreports", None): LIST_WATCH,  # fromHost referenced: the tenant's namespace only
        ("coordination.k8s.io", "leases", None): {"create"},
        ("coordination.k8s.io", "leases", "crdsync-t1"): {"get", "update"},
    }
    assert rules_table(objects["host", "ClusterRole", "sync:vc-t1"]) == {
        (CRD, "customresourcedefinitions", "widgets.widgets.example.com"): {"get", "list", "watch"},
        (CRD, "customresourcedefinitions", "widgetclasses.widgets.example.com"): {"get", "list", "watch"},
        (CRD, "customresourcedefinitions", "widgetreports.widgets.example.com"): {"get", "list", "watch"},
        # fromHost mode all: the engine lists every host namespace, though host.namespaces names widget-system only.
        (W, "widgetclasses", None): LIST_WATCH,
    }
    assert rules_table(objects["virtual", "ClusterRole", "sync"]) == {
        ("", "events", None): EVENTS,
        ("", "namespaces", None): {"get", "create", "list", "watch"},  # list/watch: namespaceSelector
        ("", "configmaps", None): LIST_WATCH,  # exported only: read in the virtual cluster
        (CRD, "customresourcedefinitions", "widgets.widgets.example.com"): MIRROR,
        (CRD, "customresourcedefinitions", "widgetclasses.widgets.example.com"): MIRROR,
        (CRD, "customresourcedefinitions", "widgetreports.widgets.example.com"): MIRROR,
        (W, "widgets", None): {"list", "watch", "patch"},  # patch: finalizer, status without /status
        (W, "widgets/status", None): {"patch"},
        (W, "widgetclasses", None): {"list", "watch", "create", "patch"},  # Orphan: no delete
        (W, "widgetclasses/status", None): {"patch"},
        (W, "widgetreports", None): {"list", "watch", "create", "patch", "delete"},
        (W, "widgetreports/status", None): {"patch"},
    }


# --- properties over both mappings ----------------------------------------------------------------------------------


@pytest.fixture(params=["cert-manager.yaml", "example-widgets.yaml"])
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return rbac_objects(load(request.param), host_namespace="vc-x", vcluster="x")


def test_host_writes_only_in_the_tenant_namespace(objects: list[dict[str, Any]]) -> None:
    """Every host write comes from a Role in the tenant's host namespace, bound there by a RoleBinding to a Role."""
    for obj in objects:
        if obj["metadata"]["annotations"][CLUSTER_ANNOTATION] != "host":
            continue
        if obj["kind"] == "Role":
            assert obj["metadata"]["namespace"] == "vc-x"
            # The engine reports on the tenant's objects in the virtual cluster only, never into host namespaces.
            assert ["events"] not in [rule["resources"] for rule in obj["rules"]]
        if obj["kind"] == "RoleBinding":
            assert obj["metadata"]["namespace"] == "vc-x"
            assert obj["roleRef"]["kind"] == "Role"  # a ClusterRole bound here could still carry cluster-wide intent
        if obj["kind"] == "ClusterRole":
            verbs = {v for rule in obj["rules"] for v in rule["verbs"]}
            assert verbs <= READ_VERBS, f"host ClusterRole grants {verbs - READ_VERBS}"
            assert not verbs & WRITE_VERBS


def test_verbs_are_the_engines(objects: list[dict[str, Any]]) -> None:
    """Only the verbs the engine issues (ENGINE_VERBS, justified call by call above), no wildcard anywhere, and only
    the resources the mapping's kinds, Events, Leases, Namespaces and CRDs."""
    for obj in objects:
        for rule in obj.get("rules", ()):
            assert set(rule["verbs"]) <= ENGINE_VERBS
            assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]


def test_every_object_and_rule_says_why(objects: list[dict[str, Any]]) -> None:
    """The why annotation has a section per rule, and every verb of the rule is explained in it."""
    for obj in objects:
        why = obj["metadata"]["annotations"][WHY_ANNOTATION]
        assert why.strip()
        sections: dict[str, set[str]] = {}
        heading = ""
        for line in why.splitlines()[1:]:
            if not line.startswith("  "):
                heading = line.rstrip(":")
                sections[heading] = set()
            else:
                sections[heading] |= set(line.strip().split(":")[0].split(","))
        for rule in obj.get("rules", ()):
            group, resource = rule["apiGroups"][0], rule["resources"][0]
            plural, _, sub = resource.partition("/")
            shown = (f"{plural}.{group}" if group else plural) + (f"/{sub}" if sub else "")
            shown += f" {rule['resourceNames'][0]}" if "resourceNames" in rule else ""
            assert sections.get(shown) == set(rule["verbs"]), shown


# --- edge cases ------------------------------------------------------------------------------------------------------


def _config(*rules: Any) -> SyncConfig:
    return SyncConfig(name="t", rules=tuple(rules))


def test_to_host_cluster_scoped_kind_is_refused() -> None:
    from crdsync.spec.model import Rule, Scope

    rule = Rule(Direction.TO_HOST, GroupVersionKind("example.com", "v1", "Thing"), scope=Scope.CLUSTER)
    with pytest.raises(RbacError, match="cluster-scoped Thing"):
        rbac_objects(_config(rule), host_namespace="ns")


def test_without_vcluster_and_leader_election() -> None:
    from crdsync.spec.model import Rule

    rule = Rule(Direction.TO_HOST, GroupVersionKind("", "v1", "ConfigMap"))
    unnamed = {(n.resource, n.verb, n.resource_name) for n in needs(_config(rule)) if n.resource == "leases"}
    assert unnamed == {("leases", "create", None), ("leases", "get", None), ("leases", "update", None)}
    assert not [n for n in needs(_config(rule), leader_elect=False) if n.resource == "leases"]
    # A core kind has no CRD to mirror, and a toHost-only mapping writes no host Events.
    assert not [
        n
        for n in needs(_config(rule))
        if "customresourcedefinitions" in n.resource or (n.resource == "events" and n.cluster == "host")
    ]


def test_reverse_paths_need_patch_on_the_virtual_object_without_status() -> None:
    """Reverse paths are written by a server-side apply of the tenant's object itself (reconcile._sync_back), so the
    virtual `patch` on the main resource is granted, with its own reason, even when status does not sync."""
    from crdsync.spec.model import Rule, StatusSync

    gvk = GroupVersionKind("example.com", "v1", "Widget")
    plain = Rule(Direction.TO_HOST, gvk, status=StatusSync(enabled=False))
    reverse = Rule(Direction.TO_HOST, gvk, status=StatusSync(enabled=False), reverse_paths=("$.spec.assignedPort",))

    def virtual_widget_verbs(rule: Rule) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for need in needs(_config(rule)):
            if need.cluster == "virtual" and need.resource.startswith("widgets"):
                out.setdefault(f"{need.resource} {need.verb}", []).append(need.why)
        return out

    assert set(virtual_widget_verbs(plain)) == {"widgets list", "widgets watch"}
    verbs = virtual_widget_verbs(reverse)
    assert set(verbs) == {"widgets list", "widgets watch", "widgets patch"}  # no /status: status does not sync
    (why,) = verbs["widgets patch"]
    assert "reverse paths" in why

    objects = by_kind(rbac_objects(_config(reverse), host_namespace="ns"))
    role = objects["virtual", "ClusterRole", "crdsync"]
    assert rules_table(role)[("example.com", "widgets", None)] == {"list", "watch", "patch"}
    assert f"  patch: {why}" in role["metadata"]["annotations"][WHY_ANNOTATION]
    # With status syncing as well, the same grant carries both reasons.
    both = needs(_config(Rule(Direction.TO_HOST, gvk, reverse_paths=("$.spec.assignedPort",))))
    whys = {n.why for n in both if n.cluster == "virtual" and n.resource == "widgets" and n.verb == "patch"}
    assert why in whys and len(whys) == 2


def test_plurals() -> None:
    assert [plural_of(k) for k in ("Certificate", "WidgetClass", "Policy", "Gateway", "Endpoints", "Box")] == [
        "certificates",
        "widgetclasses",
        "policies",
        "gateways",
        "endpoints",
        "boxes",
    ]
    assert parse_plural("Octopus.example.com=octopi") == (("example.com", "Octopus"), "octopi")
    assert parse_plural("Thing=things") == (("", "Thing"), "things")
    with pytest.raises(ValueError):
        parse_plural("Thing")
    from crdsync.spec.model import Rule

    rule = Rule(Direction.FROM_HOST, GroupVersionKind("example.com", "v1", "Octopus"))
    resources = {
        n.resource_name or n.resource for n in needs(_config(rule), plurals={("example.com", "Octopus"): "octopi"})
    }
    assert {"octopi", "octopi/status", "octopi.example.com"} <= resources


# --- the command -----------------------------------------------------------------------------------------------------


def test_command_prints_the_objects_as_a_yaml_stream(capsys: pytest.CaptureFixture[str]) -> None:
    mapping = str(MAPPINGS / "cert-manager.yaml")
    code = cli.main(["rbac", "--mapping", mapping, "--host-namespace", "vc-team-a", "--vcluster", "team-a"])
    out = capsys.readouterr().out
    assert code == 0
    docs = list(YAML(typ="safe").load_all(io.StringIO(out)))
    assert docs == rbac_objects(load("cert-manager.yaml"), host_namespace="vc-team-a", vcluster="team-a")
    assert "# host cluster: Role vc-team-a/crdsync\n" in out
    assert "# virtual cluster: ClusterRole crdsync\n" in out

    code = cli.main(["rbac", "--mapping", mapping, "--cluster", "host", "--no-leader-elect"])
    host_docs = list(YAML(typ="safe").load_all(io.StringIO(capsys.readouterr().out)))
    assert code == 0
    assert {d["metadata"]["annotations"][CLUSTER_ANNOTATION] for d in host_docs} == {"host"}
    assert host_docs[0]["metadata"]["namespace"] == "default"
    assert "leases" not in str(host_docs)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host-namespace", "Bad_NS"], "--host-namespace 'Bad_NS' must be a DNS-1123 label"),
        (["--plural", "Thing"], "--plural 'Thing': expected Kind.group=plural"),
    ],
)
def test_command_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["rbac", "--mapping", str(MAPPINGS / "cert-manager.yaml"), *argv])
    assert code == 1
    assert message in capsys.readouterr().err


def test_command_reports_mapping_errors_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rbac", "--mapping", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml" in capsys.readouterr().err
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: m}\nspec:\n  toHost:\n"
        "    - {apiVersion: example.com/v1, kind: Thing, scope: Cluster}\n"
    )
    assert cli.main(["rbac", "--mapping", str(mapping)]) == 1
    err = capsys.readouterr().err
    assert "cluster-scoped Thing" in err
    assert "Traceback" not in err
