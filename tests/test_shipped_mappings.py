"""The shipped mappings hold the tenant boundary against hostile tenant objects.

crdsync acts on the host with host privileges for tenants it does not trust, and a mapping decides what of a tenant's
object reaches the host. Each test feeds a hostile object through the pure translation path (`to_host` with the
mapping as `crdsync run` loads it) and checks that the attack does not reach the host copy; the Certificate one also
checks the rendered `crdsync plan` output, what an admin reviewing the mapping sees.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crdsync.cli import main
from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_files
from crdsync.spec.model import Direction, SyncConfig
from crdsync.translate import bookkeeping
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant
from crdsync.translate.objects import shared_references, to_host

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = sorted((ROOT / "mappings").glob("*.yaml"))
CERT_MANAGER = ROOT / "mappings" / "cert-manager.yaml"
WIDGETS = ROOT / "mappings" / "example-widgets.yaml"
TENANT = Tenant("team-a", "vc-shared")  # a host namespace other tenants may share

CERTIFICATE = GroupVersionKind("cert-manager.io", "v1", "Certificate")
ISSUER = GroupVersionKind("cert-manager.io", "v1", "Issuer")
WIDGET = GroupVersionKind("widgets.example.com", "v1", "Widget")
WIDGET_CLASS = GroupVersionKind("widgets.example.com", "v1", "WidgetClass")

# Every crdsync.io/ key any crdsync reads on a host object: the bookkeeping keys, and the host admin's sharing label.
# Taken from the module, so a bookkeeping key added later fails this file until the mapping strips it too.
BOOKKEEPING_KEYS = frozenset(
    value
    for value in vars(bookkeeping).values()
    if isinstance(value, str) and value.startswith(bookkeeping.PREFIX) and value != bookkeeping.PREFIX
) | {bookkeeping.PREFIX + "shared"}
BOOKKEEPING_NAMES = (
    "managed-by vcluster role orphaned shared source-side source-kind source-name source-namespace source-uid "
    "source-generation"
)
assert {bookkeeping.PREFIX + name for name in BOOKKEEPING_NAMES.split()} <= BOOKKEEPING_KEYS


def forged(vcluster: str = "team-b") -> dict[str, dict[str, str]]:
    """labels/annotations claiming the object is another tenant's copy, plus keys of the tenant's own."""
    values = {
        bookkeeping.LABEL_MANAGED_BY: bookkeeping.MANAGER,
        bookkeeping.LABEL_VCLUSTER: vcluster,
        bookkeeping.LABEL_ROLE: bookkeeping.ROLE_FOLLOWER,
        bookkeeping.ANN_SOURCE_SIDE: bookkeeping.SIDE_VIRTUAL,
        bookkeeping.ANN_SOURCE_KIND: "/Secret",
        bookkeeping.ANN_SOURCE_NAME: "victim-tls",
        bookkeeping.ANN_SOURCE_NAMESPACE: "prod",
    }
    hostile = {key: values.get(key, "true") for key in BOOKKEEPING_KEYS}
    return {"labels": {**hostile, "app": "web"}, "annotations": {**hostile, "team": "a"}}


def ours(values: dict[str, str]) -> list[str]:
    return sorted(key for key in values if key.startswith(bookkeeping.PREFIX))


def config_of(path: Path) -> SyncConfig:
    loaded = load_files([str(path)])
    assert loaded.config is not None, loaded.errors
    return loaded.config


def host_copy(path: Path, gvk: GroupVersionKind, obj: dict[str, Any]) -> dict[str, Any]:
    config = config_of(path)
    rule = config.rule_for(Direction.TO_HOST, gvk)
    assert rule is not None
    return to_host(config, rule, obj, TENANT)


def hostile_issuer() -> dict[str, Any]:
    pod_template = {
        "metadata": forged(),
        "spec": {
            # Host nodes the platform reserves (control plane, another tenant's dedicated pool, GPU nodes...).
            "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
            "tolerations": [{"operator": "Exists"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["team-b"]}]}
                        ]
                    }
                },
                "podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "payments"}}, "topologyKey": "kubernetes.io/hostname"}
                    ]
                },
            },
            "priorityClassName": "system-node-critical",
            "resources": {"requests": {"cpu": "10m"}},
        },
    }
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": "acme", "namespace": "apps"},
        "spec": {
            "acme": {
                "server": "https://acme.example.test/directory",
                "privateKeySecretRef": {"name": "acme-account"},
                "solvers": [
                    {
                        "selector": {"dnsNames": ["web.example.test"]},
                        "http01": {
                            "ingress": {
                                # Another tenant's Ingress in the shared host namespace (its host name is guessable).
                                "name": "web-x-prod-x-team-b",
                                "podTemplate": pod_template,
                                "ingressTemplate": {"metadata": forged()},
                            }
                        },
                    },
                    {
                        "http01": {
                            "gatewayHTTPRoute": {
                                "parentRefs": [
                                    {"name": "public", "namespace": "gateway-system", "sectionName": "http"},
                                    {"name": "shop", "namespace": "vc-team-b", "kind": "Gateway"},
                                    {"name": "web-x-prod-x-team-b"},  # another tenant's Gateway in this namespace
                                ],
                                "labels": forged()["labels"],
                                "podTemplate": pod_template,
                            }
                        }
                    },
                ],
            }
        },
    }


def solvers(host_issuer: dict[str, Any]) -> list[dict[str, Any]]:
    return [solver["http01"] for solver in host_issuer["spec"]["acme"]["solvers"]]


# --- every mapping ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_every_shipped_mapping_passes_validate(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err


def test_the_shipped_mappings_are_the_ones_tested() -> None:
    assert {p.name for p in MAPPINGS} >= {CERT_MANAGER.name, WIDGETS.name}


# --- cert-manager: Certificate ---------------------------------------------------------------------------------------


def hostile_certificate() -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "secretName": "web-tls",
            "dnsNames": ["web.example.test"],
            "issuerRef": {"name": "shared-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
            # cert-manager copies these onto the Secret it writes in the (shared) host namespace.
            "secretTemplate": forged(),
        },
    }


def test_secret_template_cannot_carry_bookkeeping_to_the_host(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    host = host_copy(CERT_MANAGER, CERTIFICATE, hostile_certificate())
    template = host["spec"]["secretTemplate"]
    assert ours(template["labels"]) == []
    assert ours(template["annotations"]) == []
    # The tenant's own keys still reach its Secret.
    assert template == {"labels": {"app": "web"}, "annotations": {"team": "a"}}

    # What an admin sees with `crdsync plan` is the same.
    buffer = io.StringIO()
    YAML(typ="safe", pure=True).dump(hostile_certificate(), buffer)
    monkeypatch.setattr("sys.stdin", io.StringIO(buffer.getvalue()))
    argv = ["plan", "--mapping", str(CERT_MANAGER), "--host-namespace", TENANT.host_namespace]
    code = main([*argv, "--vcluster", TENANT.vcluster, "-f", "-"])
    out, err = capsys.readouterr()
    assert code == 0, err
    planned = [d for d in YAML(typ="safe", pure=True).load_all(out) if d and d["kind"] == "Certificate"]
    assert [d["spec"]["secretTemplate"] for d in planned] == [{"labels": {"app": "web"}, "annotations": {"team": "a"}}]


# --- cert-manager: Issuer solvers ------------------------------------------------------------------------------------


def test_solver_templates_cannot_carry_bookkeeping_to_the_host() -> None:
    # cert-manager creates solver Pods, Ingresses and HTTPRoutes in the host namespace with these labels/annotations.
    ingress, gateway = solvers(host_copy(CERT_MANAGER, ISSUER, hostile_issuer()))
    maps = {
        "ingress.podTemplate.metadata.labels": ingress["ingress"]["podTemplate"]["metadata"]["labels"],
        "ingress.podTemplate.metadata.annotations": ingress["ingress"]["podTemplate"]["metadata"]["annotations"],
        "ingress.ingressTemplate.metadata.labels": ingress["ingress"]["ingressTemplate"]["metadata"]["labels"],
        "ingress.ingressTemplate.metadata.annotations": ingress["ingress"]["ingressTemplate"]["metadata"][
            "annotations"
        ],
        "gatewayHTTPRoute.labels": gateway["gatewayHTTPRoute"]["labels"],
        "gatewayHTTPRoute.podTemplate.metadata.labels": gateway["gatewayHTTPRoute"]["podTemplate"]["metadata"][
            "labels"
        ],
        "gatewayHTTPRoute.podTemplate.metadata.annotations": gateway["gatewayHTTPRoute"]["podTemplate"]["metadata"][
            "annotations"
        ],
    }
    assert {where: ours(values) for where, values in maps.items()} == {where: [] for where in maps}
    assert maps["ingress.podTemplate.metadata.labels"] == {"app": "web"}  # the tenant's own keys stay
    assert maps["gatewayHTTPRoute.labels"] == {"app": "web"}


def test_http01_ingress_name_does_not_reach_the_host() -> None:
    ingress, _ = solvers(host_copy(CERT_MANAGER, ISSUER, hostile_issuer()))
    # Without a name cert-manager creates an Ingress of its own for the challenge instead of editing an existing one.
    assert "name" not in ingress["ingress"]


def test_solver_scheduling_fields_do_not_reach_the_host() -> None:
    ingress, gateway = solvers(host_copy(CERT_MANAGER, ISSUER, hostile_issuer()))
    for solver in (ingress["ingress"], gateway["gatewayHTTPRoute"]):
        spec = solver["podTemplate"]["spec"]
        for field in ("nodeSelector", "tolerations", "affinity", "priorityClassName", "serviceAccountName"):
            assert field not in spec, field
        assert spec == {"resources": {"requests": {"cpu": "10m"}}}  # what does not choose host nodes stays


def test_gateway_parent_refs_cannot_name_other_namespaces() -> None:
    _, gateway = solvers(host_copy(CERT_MANAGER, ISSUER, hostile_issuer()))
    route = gateway["gatewayHTTPRoute"]
    # Not another namespace's Gateway, and not (by its guessable host name) another tenant's Gateway in a shared host
    # namespace either: the HTTPRoute cert-manager creates attaches to nothing the tenant names.
    assert "parentRefs" not in route
    assert route["labels"] == {"app": "web"}


# --- example-widgets: WidgetClass shared by name ---------------------------------------------------------------------


def widget(class_ref: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "widgets.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "apps", "uid": "u-1", "labels": {"tier": "frontend"}},
        "spec": {"classRef": class_ref},
    }


def widget_rules() -> tuple[SyncConfig, Any, Any]:
    config = config_of(WIDGETS)
    widgets = config.rule_for(Direction.TO_HOST, WIDGET)
    classes = config.rule_for(Direction.FROM_HOST, WIDGET_CLASS)
    assert widgets is not None and classes is not None
    return config, widgets, classes


def test_widget_class_cannot_be_checked_in_one_namespace_and_resolved_in_another() -> None:
    # The attack: the "is this class shared" check looks in one namespace while the host operator resolves the name in
    # another (the Widget's own, where a tenant's look-alike could be), so an unshared host object passes the check.
    config, widgets, classes = widget_rules()
    (host_namespace,) = classes.host.namespaces
    landing = classes.host.virtual_namespace
    assert landing is not None and landing != "apps"

    for written in ({"name": "class-gold", "namespace": landing}, {"name": "class-gold"}):
        # Checked where the shared classes are, whatever the Widget's namespace: the host object the rule shares...
        checked = [
            (r.gvk, r.virtual_namespace, r.host_namespace, r.name, r.shared_by)
            for r in shared_references(config, widgets, widget(written))
        ]
        assert checked == [(WIDGET_CLASS, landing, host_namespace, "class-gold", classes)]
        # ...and the host operator is told exactly that namespace, never the tenant's own.
        host = to_host(config, widgets, widget(written), TENANT)
        assert host["spec"]["classRef"] == {"name": "class-gold", "namespace": host_namespace}

    # A class named in any other namespace is not a shared one: no host copy at all.
    for elsewhere in ("apps", "kube-system", TENANT.host_namespace):
        with pytest.raises(TranslationError):
            to_host(config, widgets, widget({"name": "class-gold", "namespace": elsewhere}), TENANT)
