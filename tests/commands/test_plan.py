"""`crdsync plan` end to end through the CLI: what is printed, what is reported, and the exit status."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crdsync.cli import main
from crdsync.spec.model import Naming
from crdsync.translate.bookkeeping import ANN_SOURCE_GENERATION, ANN_SOURCE_NAME, ANN_SOURCE_NAMESPACE, LABEL_ROLE
from crdsync.translate.names import Tenant, host_name

ROOT = Path(__file__).resolve().parents[2]
CERT_MANAGER = str(ROOT / "mappings" / "cert-manager.yaml")
WIDGETS = str(ROOT / "mappings" / "example-widgets.yaml")
TENANT = Tenant("t1", "vc-t1")

CERTIFICATE = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
  namespace: apps
  uid: 0b5e-virtual
  resourceVersion: "812"
  labels: {app: web, answer: "yes"}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: public-ca, kind: ClusterIssuer, group: cert-manager.io}
status:
  conditions: [{type: Ready, status: "False"}]
"""


def plan(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    objects: str,
    *extra: str,
    mapping: str = CERT_MANAGER,
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(objects))
    argv = ["plan", "--mapping", mapping, "--host-namespace", TENANT.host_namespace, "--vcluster", TENANT.vcluster]
    code = main([*argv, "-f", "-", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def documents(text: str) -> list[dict[str, Any]]:
    docs = [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]
    for doc in docs:  # what kubectl apply needs of every document
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]
    return docs


def hashed(namespace: str, name: str) -> str:
    return host_name(TENANT, namespace, name, Naming())


def test_certificate_to_host_with_imported_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = plan(capsys, monkeypatch, CERTIFICATE)
    assert code == 0, err
    host_cert, secret = documents(out)
    assert host_cert["kind"] == "Certificate"
    assert host_cert["metadata"]["name"] == hashed("apps", "web")
    assert host_cert["metadata"]["namespace"] == "vc-t1"
    assert host_cert["spec"]["issuerRef"] == {"name": "public-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert host_cert["spec"]["secretName"] == hashed("apps", "web-tls")
    assert "status" not in host_cert and "uid" not in host_cert["metadata"]
    assert host_cert["metadata"]["labels"]["answer"] == "yes"  # quoted: kubectl's YAML 1.1 would read a boolean
    assert "answer: 'yes'" in out

    assert (secret["kind"], secret["metadata"]["namespace"], secret["metadata"]["name"]) == (
        "Secret",
        "apps",
        "web-tls",
    )
    annotations = secret["metadata"]["annotations"]
    assert annotations["crdsync.io/plan"] == "follower"
    assert annotations[ANN_SOURCE_NAME] == hashed("apps", "web-tls")
    assert annotations[ANN_SOURCE_NAMESPACE] == "vc-t1"
    assert secret["metadata"]["labels"][LABEL_ROLE] == "follower"
    assert "# virtual <- host Secret vc-t1/" in out and "# host <- virtual Certificate apps/web" in out
    assert "1 translated, 1 followers, 0 unmatched, 0 errors" in err


def test_issuer_reference_is_translated_and_exported_secret_printed_in_full(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = """\
apiVersion: v1
kind: Secret
metadata: {name: ca-key, namespace: apps}
data: {tls.key: a2V5}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca, namespace: apps}
spec: {ca: {secretName: ca-key}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: apps}
spec: {secretName: web-tls, issuerRef: {name: ca}}
"""
    code, out, err = plan(capsys, monkeypatch, objects)
    assert code == 0, err
    docs = documents(out)
    assert [(d["kind"], d["metadata"]["namespace"]) for d in docs] == [
        ("Issuer", "vc-t1"),
        ("Secret", "vc-t1"),
        ("Certificate", "vc-t1"),
        ("Secret", "apps"),
    ]
    issuer, exported, cert, _imported = docs
    assert issuer["spec"]["ca"]["secretName"] == exported["metadata"]["name"] == hashed("apps", "ca-key")
    assert exported["data"] == {"tls.key": "a2V5"}
    assert "crdsync.io/plan-stub" not in exported["metadata"]["annotations"]
    assert cert["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"] == hashed("apps", "ca")


def test_host_copy_records_the_virtual_generation_for_observed_generation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_generation = CERTIFICATE.replace('  resourceVersion: "812"\n', '  resourceVersion: "812"\n  generation: 3\n')
    code, out, err = plan(capsys, monkeypatch, with_generation)
    assert code == 0, err
    host_cert = documents(out)[0]
    assert host_cert["metadata"]["annotations"][ANN_SOURCE_GENERATION] == "3"
    assert "generation" not in host_cert["metadata"]  # server-owned: the host assigns its own
    code, out, err = plan(capsys, monkeypatch, CERTIFICATE)  # no generation yet (never stored): nothing recorded
    assert code == 0, err
    assert ANN_SOURCE_GENERATION not in documents(out)[0]["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("issuer_ref", "renamed"),
    [
        ("{name: ca}", True),
        ("{name: ca, kind: Issuer, group: cert-manager.io}", True),
        ("{name: ca, kind: '', group: ''}", True),  # cert-manager reads empty as unset
        ("{name: ca, kind: Issuer, group: example.com}", False),  # an external issuer whose kind is "Issuer"
        ("{name: ca, kind: AWSPCAClusterIssuer, group: awspca.cert-manager.io}", False),
        ("{name: ca, kind: ClusterIssuer}", False),  # shared by name
    ],
)
def test_issuer_reference_is_renamed_only_for_cert_managers_own_issuer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, issuer_ref: str, renamed: bool
) -> None:
    objects = (
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: web, namespace: apps}\n"
        f"spec: {{secretName: web-tls, issuerRef: {issuer_ref}}}\n"
    )
    code, out, err = plan(capsys, monkeypatch, objects)
    assert code == 0, err
    cert = documents(out)[0]
    assert cert["spec"]["issuerRef"]["name"] == (hashed("apps", "ca") if renamed else "ca")


def test_exported_secret_not_in_input_is_a_marked_stub(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: ca}\nspec: {ca: {secretName: ca-key}}\n"
    code, out, _ = plan(capsys, monkeypatch, objects, "-n", "team")
    assert code == 0
    _issuer, stub = documents(out)
    assert stub["metadata"]["name"] == hashed("team", "ca-key")
    assert "not in the input" in stub["metadata"]["annotations"]["crdsync.io/plan-stub"]


def test_json_output_is_a_v1_list(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = plan(capsys, monkeypatch, CERTIFICATE, "-o", "json")
    assert code == 0
    document = json.loads(out)
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    assert [i["kind"] for i in document["items"]] == ["Certificate", "Secret"]
    assert document["items"][1]["metadata"]["annotations"]["crdsync.io/plan"] == "follower"


def test_unmatched_objects_are_reported_not_dropped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = CERTIFICATE + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray, namespace: apps}\n"
    objects += "---\napiVersion: v1\nkind: Secret\nmetadata: {name: lonely, namespace: apps}\n"
    code, out, err = plan(capsys, monkeypatch, objects)
    assert code == 1
    assert [d["kind"] for d in documents(out)] == ["Certificate", "Secret"]
    assert "unmatched: <stdin>:16:1: ConfigMap apps/stray: no toHost rule for ConfigMap.v1" in err
    assert "Secret apps/lonely: the toHost rule for Secret.v1 at " in err and "mode referenced" in err
    assert "2 unmatched" in err


def test_translation_errors_are_located(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    objects = (
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a, namespace: b}\nspec: {secretName: 5}\n"
    )
    code, _, err = plan(capsys, monkeypatch, objects)
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "<stdin>:1:1: Certificate b/a: " in lines[0]
    assert "cert-manager.yaml:" in lines[0] and "(at $.spec.secretName)" in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        ("kind: [", "<stdin>:1:8: YAML syntax error"),
        ("", "no objects in the input"),
        ("- 1\n", "expected a Kubernetes object (a map), found a list"),
        ("apiVersion: v1\nkind: Secret\nmetadata: {}\n", "Secret has no metadata.name"),
        ("kind: Secret\nmetadata: {name: a}\n", "object has no apiVersion"),
    ],
)
def test_bad_input_is_located(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, objects: str, message: str
) -> None:
    code, _, err = plan(capsys, monkeypatch, objects)
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_mapping_errors_print_like_validate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: x}\nspec: {toHost: [{kind: 5}]}\n"
    )
    code, out, err = plan(capsys, monkeypatch, CERTIFICATE, mapping=str(bad))
    assert code == 1
    assert out == ""
    assert f"{bad}:4:" in err
    assert "invalid mapping" in err


def test_from_host_shared_cluster_issuer(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    objects = """\
apiVersion: v1
kind: List
items:
  - apiVersion: cert-manager.io/v1
    kind: ClusterIssuer
    metadata: {name: public-ca, uid: h-1, labels: {crdsync.io/shared: "true"}}
    spec: {acme: {server: https://acme.example/dir}}
    status: {conditions: [{type: Ready, status: "True"}]}
  - apiVersion: cert-manager.io/v1
    kind: ClusterIssuer
    metadata: {name: internal}
    spec: {ca: {secretName: root}}
"""
    code, out, err = plan(capsys, monkeypatch, objects, "--from", "host")
    assert code == 1
    (issuer,) = documents(out)
    assert issuer["metadata"]["name"] == "public-ca"
    assert issuer["status"] == {"conditions": [{"type": "Ready", "status": "True"}]}
    assert "crdsync.io/shared" not in issuer["metadata"]["labels"]
    assert "<stdin>:9:5: ClusterIssuer internal: its labels do not match the selector" in err


def test_namespace_selector_reads_namespaces_from_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    widget = "apiVersion: widgets.example.com/v1\nkind: Widget\n"
    widget += "metadata: {name: w, namespace: apps, labels: {tier: frontend}}\nspec: {replicas: 2}\n"
    namespace = (
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {widgets.example.com/enabled: 'true'}}\n"
    )
    code, _, err = plan(capsys, monkeypatch, widget, mapping=WIDGETS)
    assert code == 1
    assert "input has no Namespace apps" in err
    code, out, err = plan(capsys, monkeypatch, widget + "---\n" + namespace, mapping=WIDGETS)
    assert code == 0, err
    (host_widget,) = documents(out)
    assert host_widget["metadata"]["name"] == host_name(TENANT, "apps", "w", Naming(63, 20))
    assert "Namespace apps: used as namespace context" in err


def test_invalid_tenant_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--mapping", CERT_MANAGER, "--host-namespace", "Bad_NS", "--vcluster", "t1", "-f", "-"]
    assert main(argv) == 2
    assert "--host-namespace 'Bad_NS' is not a valid DNS-1123 label" in capsys.readouterr().err
