"""`crdsync gc`: which objects are a tenant's orphans (judged from plain dicts), and the command end to end against a
scripted apiserver (tests/kube/stub.py) reached through a real kubeconfig and KubeClient.

The in-memory apiserver (tests/fakeapi) answers Python calls, not HTTP, and gc's point is what it sends (discovery
documents, label selector, delete preconditions), so the end-to-end tests script the few routes gc uses instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crdsync import cli
from crdsync.engine.gc import (
    ORPHAN,
    UNPROVEN,
    ClaimedSource,
    Report,
    Target,
    judge,
    orphan_selector,
    settle,
    targets_from_config,
    targets_from_discovery,
)
from crdsync.gvk import GroupVersionKind
from crdsync.kube.resource import Resource
from crdsync.spec.model import Naming, SyncConfig
from crdsync.translate.bookkeeping import (
    LABEL_MANAGED_BY,
    LABEL_ORPHANED,
    LABEL_ROLE,
    LABEL_VCLUSTER,
    MANAGER,
    SIDE_VIRTUAL,
    bookkeeping_annotations,
)
from crdsync.translate.names import Tenant, host_name
from tests.kube.stub import Reply, Request, StubServer, status_body

TENANT = Tenant("team-a", "vc-team-a")
VERBS = frozenset({"get", "list", "watch", "create", "patch", "delete"})
CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps", namespaced=True, verbs=VERBS)
WIDGET = Resource("example.com", "v1", "Widget", "widgets", namespaced=True, verbs=VERBS)
GADGET = Resource("example.com", "v1", "Gadget", "gadgets", namespaced=False, verbs=VERBS)
Obj = dict[str, Any]


def orphan(
    res: Resource,
    source_namespace: str | None,
    source_name: str,
    *,
    tenant: Tenant = TENANT,
    naming: Naming | None = None,
    name: str | None = None,
    uid: str = "u-1",
    extra_labels: dict[str, str] | None = None,
) -> Obj:
    """A host copy as the engine releases it under DeletionPolicy Orphan (name: the tenant's naming rule, unless
    `name` forges another)."""
    host = name or host_name(tenant, source_namespace, source_name, naming or Naming())
    meta: Obj = {
        "name": host,
        "uid": uid,
        "resourceVersion": "7",
        "labels": {LABEL_VCLUSTER: tenant.vcluster, LABEL_ORPHANED: "true", **(extra_labels or {})},
        "annotations": bookkeeping_annotations(SIDE_VIRTUAL, res.gvk, source_namespace, source_name, "src-uid"),
    }
    if res.namespaced:
        meta["namespace"] = tenant.host_namespace
    return {"apiVersion": res.api_version, "kind": res.kind, "metadata": meta}


# ---------------------------------------------------------------------------------------------------------------------
# judge: plain dicts in, verdicts out


def test_an_orphan_at_its_tenant_name_is_proven() -> None:
    (finding,) = judge(TENANT, Target(CONFIGMAP), [orphan(CONFIGMAP, "app", "settings")])
    assert finding.verdict == ORPHAN
    assert (finding.namespace, finding.name) == ("vc-team-a", host_name(TENANT, "app", "settings", Naming()))
    assert str(finding.claimed) == "virtual /ConfigMap app/settings"
    assert (finding.uid, finding.resource_version) == ("u-1", "7")


def test_forged_orphan_labels_copied_from_tenant_input_are_not_proof() -> None:
    # An operator copied labels and annotations the tenant chose (cert-manager's secretTemplate) onto an object it
    # named itself: the mark and the claimed source are all there, but the name is not the one the claim gives.
    forged = orphan(CONFIGMAP, "app", "settings", name="shared-operator-config", uid="u-forged")
    (finding,) = judge(TENANT, Target(CONFIGMAP), [forged])
    assert finding.verdict == UNPROVEN
    assert finding.name == "shared-operator-config"


def test_a_claim_the_name_does_not_match_is_not_proof() -> None:
    # The name is a real tenant name, but of another source than the one claimed.
    obj = orphan(CONFIGMAP, "app", "settings", name=host_name(TENANT, "app", "other", Naming()))
    assert [f.verdict for f in judge(TENANT, Target(CONFIGMAP), [obj])] == [UNPROVEN]
    # A claim of another kind at the right name proves nothing about this kind either.
    obj = orphan(WIDGET, "app", "settings")
    assert [f.verdict for f in judge(TENANT, Target(CONFIGMAP), [obj])] == [UNPROVEN]


def test_a_still_managed_copy_is_not_an_orphan() -> None:
    obj = orphan(CONFIGMAP, "app", "settings", extra_labels={LABEL_MANAGED_BY: MANAGER, LABEL_ROLE: "copy"})
    assert [f.verdict for f in judge(TENANT, Target(CONFIGMAP), [obj])] == [UNPROVEN]


def test_other_tenants_and_other_namespaces_are_not_findings() -> None:
    other = Tenant("team-b", "vc-team-a")  # shares the host namespace
    theirs = orphan(CONFIGMAP, "app", "settings", tenant=other)
    elsewhere = orphan(CONFIGMAP, "app", "settings")
    elsewhere["metadata"]["namespace"] = "kube-system"
    unmarked = orphan(CONFIGMAP, "app", "settings")
    del unmarked["metadata"]["labels"][LABEL_ORPHANED]
    assert judge(TENANT, Target(CONFIGMAP), [theirs, elsewhere, unmarked]) == []
    assert [f.verdict for f in judge(other, Target(CONFIGMAP), [theirs])] == [ORPHAN]


def test_naming_of_the_rule_decides() -> None:
    naming = Naming(max_length=63, hash_length=20)
    obj = orphan(WIDGET, "app", "w", naming=naming)
    assert [f.verdict for f in judge(TENANT, Target(WIDGET, naming), [obj])] == [ORPHAN]
    assert [f.verdict for f in judge(TENANT, Target(WIDGET), [obj])] == [UNPROVEN]


def test_cluster_scoped_orphans() -> None:
    obj = orphan(GADGET, None, "g")
    (finding,) = judge(TENANT, Target(GADGET), [obj])
    assert (finding.verdict, finding.namespace) == (ORPHAN, None)
    # A namespaced claim on a cluster-scoped kind is not this tenant's copy.
    assert [f.verdict for f in judge(TENANT, Target(GADGET), [orphan(GADGET, "app", "g")])] == [UNPROVEN]


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"metadata": None},
        {"metadata": {"labels": {LABEL_ORPHANED: "true", LABEL_VCLUSTER: "team-a"}}},  # no name
        {
            "metadata": {
                "name": "x",
                "namespace": "vc-team-a",
                "labels": {LABEL_ORPHANED: "true", LABEL_VCLUSTER: "team-a"},
            }
        },
        {"metadata": {"name": "x", "labels": ["not", "a", "map"], "annotations": 5}},
    ],
)
def test_malformed_objects_never_raise_and_are_never_proven(obj: Obj) -> None:
    assert all(f.verdict == UNPROVEN for f in judge(TENANT, Target(CONFIGMAP), [obj]))


def test_discovery_targets_are_namespaced_list_and_delete_able_kinds_once() -> None:
    readonly = Resource("", "v1", "Event", "events", namespaced=True, verbs=frozenset({"list"}))
    widget_v2 = Resource("example.com", "v2", "Widget", "widgets", namespaced=True, verbs=VERBS)
    targets = targets_from_discovery([CONFIGMAP, readonly, GADGET, WIDGET, widget_v2])
    assert [t.resource for t in targets] == [CONFIGMAP, WIDGET]
    assert all(t.naming == Naming() for t in targets)


def test_selector() -> None:
    assert orphan_selector("team-a") == "crdsync.io/orphaned=true,crdsync.io/vcluster=team-a"


# ---------------------------------------------------------------------------------------------------------------------
# The command end to end: cli.main -> kubeconfig -> KubeClient -> a scripted apiserver


class Apiserver:
    """Discovery, label-selected lists and deletes with preconditions for a few resources, on a StubServer."""

    def __init__(self, stub: StubServer, resources: list[Resource]) -> None:
        self.stub = stub
        self.kubeconfig = ""  # written by the fixture
        self.objects: dict[str, Obj] = {}  # object path -> object
        self.fail: dict[tuple[str, str], Reply] = {}  # (method, path) -> reply instead
        groups: dict[str, list[Resource]] = {}
        for res in resources:
            groups.setdefault(res.api_version, []).append(res)
        stub.route("GET", "/api", Reply(body={"kind": "APIVersions", "versions": ["v1"]}))
        stub.route(
            "GET",
            "/apis",
            Reply(
                body={
                    "kind": "APIGroupList",
                    "groups": [
                        {
                            "name": gv.split("/")[0],
                            "versions": [{"groupVersion": gv}],
                            "preferredVersion": {"groupVersion": gv},
                        }
                        for gv in groups
                        if "/" in gv
                    ],
                }
            ),
        )
        for gv, members in groups.items():
            path = f"/apis/{gv}" if "/" in gv else f"/api/{gv}"
            entries = [
                {"name": r.plural, "kind": r.kind, "namespaced": r.namespaced, "verbs": sorted(r.verbs)}
                for r in members
            ]
            stub.route("GET", path, Reply(body={"kind": "APIResourceList", "groupVersion": gv, "resources": entries}))
            for res in members:
                for collection in (res.path(TENANT.host_namespace), res.path()):
                    stub.route("GET", collection, self._lister(collection))

    def put(self, res: Resource, obj: Obj) -> None:
        path = res.path(obj["metadata"].get("namespace"), obj["metadata"]["name"])
        self.objects[path] = obj
        self.stub.route("DELETE", path, self._deleter(path))

    def _lister(self, collection: str) -> Any:
        def respond(request: Request) -> Reply:
            if ("GET", collection) in self.fail:
                return self.fail[("GET", collection)]
            wanted = dict(pair.split("=", 1) for pair in request.query.get("labelSelector", "").split(",") if pair)
            items = [
                obj
                for path, obj in self.objects.items()
                if path.rsplit("/", 1)[0] == collection
                and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
            ]
            return Reply(body={"kind": "List", "metadata": {"resourceVersion": "9"}, "items": items})

        return respond

    def _deleter(self, path: str) -> Any:
        def respond(request: Request) -> Reply:
            current = self.objects.get(path)
            if current is None:
                return Reply(404, status_body(404, "NotFound", "not found"))
            pre = request.json().get("preconditions", {})
            meta = current["metadata"]
            if pre.get("uid", meta["uid"]) != meta["uid"] or pre.get("resourceVersion", "7") != meta["resourceVersion"]:
                return Reply(409, status_body(409, "Conflict", "Precondition failed"))
            del self.objects[path]
            return Reply(body={"kind": "Status", "status": "Success"})

        return respond


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[Apiserver]:
    with StubServer() as stub:
        server = Apiserver(stub, [CONFIGMAP, WIDGET, GADGET])
        kubeconfig = tmp_path / "host.kubeconfig"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "host", "cluster": {"server": stub.url}}],
                    "users": [{"name": "admin", "user": {}}],
                    "contexts": [{"name": "host", "context": {"cluster": "host", "user": "admin"}}],
                    "current-context": "host",
                }
            )
        )
        server.kubeconfig = str(kubeconfig)
        yield server


def gc(capsys: pytest.CaptureFixture[str], server: Apiserver, *extra: str) -> tuple[int, str, str]:
    argv = ["gc", "--vcluster", "team-a", "--host-namespace", "vc-team-a", "--host-kubeconfig", server.kubeconfig]
    code = cli.main([*argv, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def seed(server: Apiserver) -> tuple[Obj, Obj]:
    proven = orphan(CONFIGMAP, "app", "settings", uid="u-proven")
    forged = orphan(CONFIGMAP, "app", "victim", name="operator-made", uid="u-forged")
    server.put(CONFIGMAP, proven)
    server.put(CONFIGMAP, forged)
    # Another tenant's orphan in the same namespace: not even listed.
    server.put(CONFIGMAP, orphan(CONFIGMAP, "app", "settings", tenant=Tenant("team-b", "vc-team-a"), uid="u-b"))
    return proven, forged


def test_dry_run_lists_and_touches_nothing(apiserver: Apiserver, capsys: pytest.CaptureFixture[str]) -> None:
    proven, _ = seed(apiserver)
    code, out, err = gc(capsys, apiserver)
    assert code == 0, err
    lines = out.splitlines()
    assert any(
        proven["metadata"]["name"] in line
        and "source: virtual /ConfigMap app/settings" in line
        and "would be deleted" in line
        for line in lines
    ), out
    assert any("operator-made" in line and "not provably this tenant's; left alone" in line for line in lines), out
    assert "team-b" not in out
    assert lines[-1] == (
        "team-a in vc-team-a: 1 orphaned copy (1 would be deleted), 1 not provably this tenant's (left alone), 0 errors"
    )
    assert apiserver.stub.requests_to("DELETE", CONFIGMAP.path("vc-team-a", proven["metadata"]["name"])) == []
    lists = apiserver.stub.requests_to("GET", CONFIGMAP.path("vc-team-a"))
    assert lists and lists[0].query["labelSelector"] == orphan_selector("team-a")
    # Without a mapping only namespaced kinds are searched.
    assert apiserver.stub.requests_to("GET", GADGET.path()) == []


def test_delete_removes_only_proven_orphans_with_preconditions(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    proven, _ = seed(apiserver)
    code, out, err = gc(capsys, apiserver, "--delete", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    by_name = {o["name"]: o for o in doc["objects"]}
    assert by_name[proven["metadata"]["name"]]["action"] == "deleted"
    assert by_name[proven["metadata"]["name"]]["claimedSource"] == {
        "side": "virtual",
        "kind": "/ConfigMap",
        "namespace": "app",
        "name": "settings",
    }
    assert by_name["operator-made"]["verdict"] == "unproven" and by_name["operator-made"]["action"] == "leftAlone"
    assert doc["errors"] == [] and doc["delete"] is True
    remaining = {o["metadata"]["name"] for o in apiserver.objects.values()}
    assert proven["metadata"]["name"] not in remaining and "operator-made" in remaining
    (delete,) = apiserver.stub.requests_to("DELETE", CONFIGMAP.path("vc-team-a", proven["metadata"]["name"]))
    assert delete.json()["preconditions"] == {"uid": "u-proven", "resourceVersion": "7"}
    assert apiserver.stub.requests_to("DELETE", CONFIGMAP.path("vc-team-a", "operator-made")) == []


def test_an_object_changed_since_listing_is_left_alone_and_exit_1(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    proven, _ = seed(apiserver)
    path = CONFIGMAP.path("vc-team-a", proven["metadata"]["name"])
    original = apiserver._deleter(path)

    def taken_back_meanwhile(request: Request) -> Reply:
        apiserver.objects[path]["metadata"]["resourceVersion"] = "8"
        return original(request)  # type: ignore[no-any-return]

    apiserver.stub.route("DELETE", path, taken_back_meanwhile)
    code, out, err = gc(capsys, apiserver, "--delete")
    assert code == 1
    assert "changed since it was listed; left alone" in out and "changed since it was listed" in err
    assert path in apiserver.objects
    assert "Traceback" not in err


def test_mapping_searches_its_to_host_kinds_with_their_naming(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: m}\nspec:\n  toHost:\n"
        "    - {apiVersion: example.com/v1, kind: Widget, naming: {maxLength: 63, hashLength: 20}}\n"
        "    - {apiVersion: example.com/v1, kind: Gadget, scope: Cluster}\n"
        "    - {apiVersion: example.com/v1, kind: Missing}\n"
    )
    widget = orphan(WIDGET, "app", "w", naming=Naming(63, 20), uid="u-w")
    gadget = orphan(GADGET, None, "g", uid="u-g")
    apiserver.put(WIDGET, widget)
    apiserver.put(GADGET, gadget)
    seed(apiserver)  # ConfigMaps: not a kind of this mapping, not searched
    code, out, err = gc(capsys, apiserver, "--mapping", str(mapping), "--delete")
    assert code == 0, err
    assert "Missing.example.com/v1 is not served by the host" in err
    assert f"Widget.example.com/v1 vc-team-a/{widget['metadata']['name']}" in out
    assert f"Gadget.example.com/v1 {gadget['metadata']['name']}  source: virtual example.com/Gadget g" in out
    assert out.splitlines()[-1].startswith("team-a in vc-team-a: 2 orphaned copies (2 deleted), 0 not provably")
    assert {o["kind"] for o in apiserver.objects.values()} == {"ConfigMap"}
    assert apiserver.stub.requests_to("GET", CONFIGMAP.path("vc-team-a")) == []


def test_a_failed_list_is_an_error_but_the_rest_is_done(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    proven, _ = seed(apiserver)
    apiserver.fail[("GET", WIDGET.path("vc-team-a"))] = Reply(403, status_body(403, "Forbidden", "widgets forbidden"))
    code, out, err = gc(capsys, apiserver, "--delete")
    assert code == 1
    assert ("error: list widgets.example.com/v1" in err and "Forbidden" in err) or "forbidden" in err
    assert CONFIGMAP.path("vc-team-a", proven["metadata"]["name"]) not in apiserver.objects
    assert out.splitlines()[-1].endswith("1 error")
    assert "Traceback" not in err


def test_nothing_to_collect_exits_0(apiserver: Apiserver, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = gc(capsys, apiserver, "--delete")
    assert code == 0
    assert out.splitlines() == [
        "team-a in vc-team-a: 0 orphaned copies (0 deleted), 0 not provably this tenant's (left alone), 0 errors"
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--vcluster", "Team_A", "--host-namespace", "ns"], "--vcluster 'Team_A' must be a DNS-1123 label"),
        (["--vcluster", "a", "--host-namespace", "NS!"], "--host-namespace 'NS!' must be a DNS-1123 label"),
        (["--vcluster", "a", "--host-namespace", "ns", "--host-kubeconfig", "/nonexistent/k"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gc", *argv]) == 2
    _, err = capsys.readouterr()
    assert message in err and "Traceback" not in err


def test_invalid_mapping_exits_2_with_located_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text(
        "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: m}\nspec:\n  toHost:\n"
        "    - {apiVersion: v1, kind: ConfigMap, naming: {hashLength: 12}}\n"
    )
    argv = ["gc", "--vcluster", "a", "--host-namespace", "ns", "--mapping", str(mapping)]
    assert cli.main(argv) == 2
    _, err = capsys.readouterr()
    assert f"{mapping}:6:" in err and "must be at least 13" in err
    assert "nothing was searched" in err


def test_gvk_helper_is_version_free_in_claims() -> None:
    # The claim names group/kind, not a version: a Widget copy judged through another served version is still proven.
    obj = orphan(WIDGET, "app", "w")
    v2 = Resource("example.com", "v2", "Widget", "widgets", namespaced=True, verbs=VERBS)
    assert [f.verdict for f in judge(TENANT, Target(v2), [obj])] == [ORPHAN]
    assert GroupVersionKind("example.com", "v2", "Widget") == v2.gvk


def test_a_group_whose_discovery_fails_is_an_error_naming_it_and_the_rest_is_searched(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    """An API group the host cannot describe (an aggregated API that is down) leaves its kinds unsearched: gc says
    which group and exits 1, and still collects what the other groups hold."""
    proven, _ = seed(apiserver)
    forbidden = Reply(403, status_body(403, "Forbidden", "example.com/v1 is down"))
    apiserver.stub.route("GET", "/apis/example.com/v1", forbidden)
    code, out, err = gc(capsys, apiserver, "--delete")
    assert code == 1
    assert "crdsync gc: error: discovery of example.com/v1: " in err and "Traceback" not in err
    assert CONFIGMAP.path("vc-team-a", proven["metadata"]["name"]) not in apiserver.objects
    assert out.splitlines()[-1].endswith("1 error")


def test_a_mapping_kind_whose_discovery_fails_is_an_error_naming_it(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: m}\nspec:\n  toHost:\n"
        "    - {apiVersion: example.com/v1, kind: Widget}\n    - {apiVersion: v1, kind: ConfigMap}\n"
    )
    proven, _ = seed(apiserver)
    apiserver.stub.route("GET", "/apis/example.com/v1", Reply(403, status_body(403, "Forbidden", "no")))
    code, _, err = gc(capsys, apiserver, "--mapping", str(mapping), "--delete")
    assert code == 1
    assert "crdsync gc: error: discovery of Widget.example.com/v1: " in err
    assert CONFIGMAP.path("vc-team-a", proven["metadata"]["name"]) not in apiserver.objects


def test_a_group_without_a_preferred_version_is_searched_in_its_first(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    widget = orphan(WIDGET, "app", "w", uid="u-w")
    apiserver.put(WIDGET, widget)
    groups = {
        "kind": "APIGroupList",
        "groups": [
            "not a group",
            {
                "name": "example.com",
                "versions": [{"groupVersion": "example.com/v1"}, {"groupVersion": "example.com/v2"}],
            },
        ],
    }
    apiserver.stub.route("GET", "/apis", Reply(body=groups))
    code, out, err = gc(capsys, apiserver, "--delete")
    assert code == 0, err
    assert f"vc-team-a/{widget['metadata']['name']}" in out
    assert WIDGET.path("vc-team-a", widget["metadata"]["name"]) not in apiserver.objects


def test_a_proven_orphan_deleted_meanwhile_is_reported_as_already_gone(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    proven, _ = seed(apiserver)
    path = CONFIGMAP.path("vc-team-a", proven["metadata"]["name"])
    apiserver.stub.route("DELETE", path, Reply(404, status_body(404, "NotFound", "gone")))
    code, out, err = gc(capsys, apiserver, "--delete", "-o", "json")
    assert code == 0, err
    actions = {o["name"]: o["action"] for o in json.loads(out)["objects"]}
    assert actions[proven["metadata"]["name"]] == "alreadyGone"


def test_a_delete_the_host_refuses_is_an_error_naming_the_object(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    proven, _ = seed(apiserver)
    name = proven["metadata"]["name"]
    apiserver.stub.route(
        "DELETE", CONFIGMAP.path("vc-team-a", name), Reply(403, status_body(403, "Forbidden", "cannot delete"))
    )
    code, out, _ = gc(capsys, apiserver, "--delete", "-o", "json")
    assert code == 1
    doc = json.loads(out)
    (outcome,) = [o for o in doc["objects"] if o["name"] == name]
    assert outcome["action"] == "failed" and "cannot delete" in outcome["error"]
    assert doc["errors"] == [f"delete ConfigMap vc-team-a/{name}: {outcome['error']}"]


def test_judge_skips_what_is_not_a_finding_and_goes_on_to_the_rest() -> None:
    unmarked = orphan(CONFIGMAP, "app", "a")
    del unmarked["metadata"]["labels"][LABEL_ORPHANED]
    theirs = orphan(CONFIGMAP, "app", "b", tenant=Tenant("team-b", "vc-team-a"))
    nameless = orphan(CONFIGMAP, "app", "c")
    nameless["metadata"]["name"] = ""
    elsewhere = orphan(CONFIGMAP, "app", "d")
    elsewhere["metadata"]["namespace"] = "kube-system"
    later = orphan(CONFIGMAP, "app", "z-later")
    earlier = orphan(CONFIGMAP, "app", "a-earlier")
    found = judge(TENANT, Target(CONFIGMAP), [{"metadata": 5}, unmarked, theirs, nameless, elsewhere, later, earlier])
    names = [f.name for f in found]
    assert names == sorted([later["metadata"]["name"], earlier["metadata"]["name"]])
    assert all(f.verdict == ORPHAN for f in found)


def test_a_cluster_scoped_finding_is_deleted_by_name_alone_and_malformed_versions_are_no_preconditions() -> None:
    obj = orphan(GADGET, None, "g")
    obj["metadata"].update(namespace="stray", uid=5, resourceVersion=7)
    (finding,) = judge(TENANT, Target(GADGET), [obj])
    assert (finding.verdict, finding.namespace, finding.uid, finding.resource_version) == (ORPHAN, None, "", "")

    class Host:
        def __init__(self) -> None:
            self.deleted: list[tuple[Any, ...]] = []

        def delete(self, res: Resource, namespace: str | None, name: str, **kw: Any) -> bool:
            self.deleted.append((res, namespace, name, kw))
            return True

    report = Report()
    host = Host()
    settle(host, [finding], delete=True, report=report)  # type: ignore[arg-type]
    assert host.deleted == [(GADGET, None, finding.name, {"uid": None, "resource_version": None})]
    assert [o.action for o in report.outcomes] == ["deleted"]


def test_claimed_sources_missing_parts_show_as_such() -> None:
    assert str(ClaimedSource(None, None, None, None)) == "none"
    assert str(ClaimedSource(None, None, None, "x")) == "? ? x"
    assert str(ClaimedSource("virtual", "/ConfigMap", "app", "x")) == "virtual /ConfigMap app/x"


def test_config_targets_are_its_served_to_host_kinds_in_any_order() -> None:
    from crdsync.spec.model import Direction, Rule

    gadget_import = Rule(Direction.FROM_HOST, GADGET.gvk, naming=Naming(hash_length=20))
    missing = Rule(Direction.TO_HOST, GroupVersionKind("example.com", "v1", "Missing"))
    widget = Rule(Direction.TO_HOST, WIDGET.gvk, naming=Naming(hash_length=20))
    config = SyncConfig(name="m", rules=(gadget_import, missing, widget))
    served = {GADGET.gvk: GADGET, missing.gvk: None, WIDGET.gvk: WIDGET}
    assert targets_from_config(config, served) == [Target(WIDGET, Naming(hash_length=20))]


def test_a_kind_that_can_exactly_be_listed_and_deleted_is_searched() -> None:
    minimal = Resource("", "v1", "ConfigMap", "configmaps", namespaced=True, verbs=frozenset({"list", "delete"}))
    assert [t.resource for t in targets_from_discovery([minimal])] == [minimal]


def test_the_preferred_version_of_a_group_is_searched_and_no_other(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    widget = orphan(WIDGET, "app", "w", uid="u-w")
    apiserver.put(WIDGET, widget)
    groups = {
        "kind": "APIGroupList",
        "groups": [
            {"name": "empty.io", "versions": []},
            {
                "name": "example.com",
                "versions": [{"groupVersion": "example.com/v1beta1"}, {"groupVersion": "example.com/v1"}],
                "preferredVersion": {"groupVersion": "example.com/v1"},
            },
        ],
    }
    apiserver.stub.route("GET", "/apis", Reply(body=groups))
    apiserver.stub.route("GET", "/apis/example.com/v1beta1", Reply(403, status_body(403, "Forbidden", "old")))
    code, _, err = gc(capsys, apiserver, "--delete")
    assert code == 0, err
    assert WIDGET.path("vc-team-a", widget["metadata"]["name"]) not in apiserver.objects
    assert apiserver.stub.requests_to("GET", "/apis/example.com/v1beta1") == []


def test_a_host_whose_discovery_fails_is_an_error_and_nothing_is_searched(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    proven, _ = seed(apiserver)
    apiserver.stub.route("GET", "/api", Reply(403, status_body(403, "Forbidden", "no discovery")))
    code, _, err = gc(capsys, apiserver, "--delete")
    assert code == 1
    assert "crdsync gc: error: discovery: " in err and "no discovery" in err
    assert CONFIGMAP.path("vc-team-a", proven["metadata"]["name"]) in apiserver.objects


def test_one_kind_failing_leaves_the_kinds_after_it_searched(
    apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(apiserver)
    widget = orphan(WIDGET, "app", "w", uid="u-w")
    apiserver.put(WIDGET, widget)
    apiserver.fail[("GET", CONFIGMAP.path("vc-team-a"))] = Reply(403, status_body(403, "Forbidden", "no configmaps"))
    code, _, _ = gc(capsys, apiserver, "--delete")
    assert code == 1
    assert WIDGET.path("vc-team-a", widget["metadata"]["name"]) not in apiserver.objects


@pytest.mark.parametrize(("status", "action"), [(409, "changed"), (403, "failed")])
def test_a_delete_that_fails_is_reported_with_the_hosts_reason_and_the_next_one_still_happens(
    status: int, action: str, apiserver: Apiserver, capsys: pytest.CaptureFixture[str]
) -> None:
    first = orphan(CONFIGMAP, "app", "a", uid="u-a")
    second = orphan(CONFIGMAP, "app", "b", uid="u-b")
    unproven = orphan(CONFIGMAP, "app", "victim", name="0-operator-made", uid="u-forged")
    for obj in (first, second, unproven):
        apiserver.put(CONFIGMAP, obj)
    names = sorted([first["metadata"]["name"], second["metadata"]["name"]])
    reply = Reply(status, status_body(status, "Conflict" if status == 409 else "Forbidden", "the host says no"))
    apiserver.stub.route("DELETE", CONFIGMAP.path("vc-team-a", names[0]), reply)
    code, out, _ = gc(capsys, apiserver, "--delete", "-o", "json")
    assert code == 1
    outcomes = {o["name"]: o for o in json.loads(out)["objects"]}
    assert outcomes[names[0]]["action"] == action and "the host says no" in outcomes[names[0]]["error"]
    assert outcomes[names[1]]["action"] == "deleted"
    assert outcomes["0-operator-made"]["action"] == "leftAlone"


class FakeHost:
    """A HostClient stand-in for the library calls: serves `resources`, lists `objects`, records deletes."""

    def __init__(self, resources: list[Resource], objects: list[Obj]) -> None:
        self.resources = {r.gvk: r for r in resources}
        self.objects = objects
        self.deleted: list[str] = []

    def resource_for(self, gvk: GroupVersionKind) -> Resource | None:
        return self.resources.get(gvk)

    def list(self, res: Resource, namespace: str | None = None, **_: Any) -> tuple[list[Obj], str]:
        return [o for o in self.objects if o["kind"] == res.kind], "1"

    def delete(self, res: Resource, namespace: str | None, name: str, **_: Any) -> bool:
        self.deleted.append(name)
        return True


def test_gc_without_delete_is_a_dry_run_and_searches_each_to_host_kind_whatever_the_rule_order() -> None:
    from crdsync.engine.gc import gc as collect_garbage
    from crdsync.spec.model import Direction, Rule

    widget = orphan(WIDGET, "app", "w")
    host = FakeHost([WIDGET, GADGET], [widget])
    config = SyncConfig(name="m", rules=(Rule(Direction.FROM_HOST, GADGET.gvk), Rule(Direction.TO_HOST, WIDGET.gvk)))
    report = collect_garbage(host, TENANT, config)  # type: ignore[arg-type]
    assert [(o.finding.name, o.action) for o in report.outcomes] == [(widget["metadata"]["name"], "wouldDelete")]
    assert host.deleted == []
    report = collect_garbage(host, TENANT, config, delete=True)  # type: ignore[arg-type]
    assert host.deleted == [widget["metadata"]["name"]]


def test_a_dry_run_lists_every_proven_orphan(apiserver: Apiserver, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b"):
        apiserver.put(CONFIGMAP, orphan(CONFIGMAP, "app", name, uid=f"u-{name}"))
    code, out, err = gc(capsys, apiserver, "-o", "json")
    assert code == 0, err
    assert [o["action"] for o in json.loads(out)["objects"]] == ["wouldDelete", "wouldDelete"]
