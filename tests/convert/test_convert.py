"""crdsync convert: every input form, every v1beta1 and plugin op/field -> a mapping fragment or a located finding."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crdsync.cli import main
from crdsync.convert.emit import scalar
from crdsync.convert.inputs import Source
from crdsync.convert.mapping import Result, schema_has_vcluster_naming
from crdsync.convert.report import Finding
from crdsync.convert.texts import convert_texts
from crdsync.convert.vcluster.config import convert_source
from crdsync.engine.rbac import needs
from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_text
from crdsync.spec.model import Direction, Location
from crdsync.translate.names import Tenant, host_name

SAMPLES = Path(__file__).resolve().parent / "samples"


def convert(text: str, filename: str = "values.yaml", naming: bool = False) -> tuple[Result, list[Finding]]:
    result, findings, errors = convert_texts([(filename, text)], "converted", naming)
    assert not errors, errors
    assert result is not None
    loaded = load_text(result.text, "<converted>")
    assert loaded.ok, "\n".join(str(e) for e in loaded.errors) + "\n" + result.text
    assert not [f for f in findings if "does not load" in f.reason]
    return result, findings


def sample(name: str, naming: bool = False) -> tuple[Result, list[Finding]]:
    return convert((SAMPLES / name).read_text(), name, naming)


def spec(result: Result) -> dict[str, Any]:
    data = YAML(typ="safe", pure=True).load(result.text)
    assert isinstance(data, dict)
    out: dict[str, Any] = data["spec"]
    return out


def rule(result: Result, direction: str, kind: str) -> dict[str, Any]:
    matches = [r for r in spec(result).get(direction, []) if r["kind"] == kind]
    assert len(matches) == 1, result.text
    found: dict[str, Any] = matches[0]
    return found


def at(findings: list[Finding], field: str) -> list[Finding]:
    return [f for f in findings if f.field == field]


def where(finding: Finding) -> tuple[int, int]:
    return finding.location.line, finding.location.column


# --- the bare v1beta1 config -----------------------------------------------------------------------------------------


def test_export_selector_and_references() -> None:
    result, _ = sample("generic-bare.yaml")
    widget = rule(result, "toHost", "Widget")
    assert widget["selector"] == {"matchLabels": {"team": "blue"}}
    refs = widget["references"]
    assert {"path": "$.spec.configName", "kind": "ConfigMap", "apiVersion": "v1", "follow": "toHost"} in refs
    assert {
        "path": "$.spec.gadgetRef.name",
        "kind": "Gadget",
        "apiVersion": "example.com/v1",
        "follow": "none",
        "when": [{"path": "$.spec.gadgetRef.kind", "equal": "Gadget"}],
    } in refs
    # namePath/namespacePath: relative to each item (a list match stands for its items), as in vcluster.
    assert {
        "path": "$.spec.secretRefs",
        "namePath": "$.name",
        "namespacePath": "$.namespace",
        "kind": "Secret",
        "apiVersion": "v1",
        "follow": "toHost",
    } in refs
    # regex $NAME is a plain name
    assert any(r["path"] == "$.spec.gadgetName" and r["kind"] == "Gadget" for r in refs)
    assert rule(result, "toHost", "ConfigMap")["mode"] == "referenced"
    assert rule(result, "toHost", "Secret")["mode"] == "referenced"


def test_export_patches() -> None:
    result, findings = sample("generic-bare.yaml")
    to_host = rule(result, "toHost", "Widget")["patches"]["toHost"]
    # add, replace and vcluster's conditions convert as they are (crdsync has their semantics)
    assert {"op": "add", "path": "$.spec.owner", "value": "platform"} in to_host
    assert {
        "op": "replace",
        "path": "$.spec.replicas",
        "value": 1,
        "when": [{"path": "$.spec.mode", "notEqual": "manual"}],
    } in to_host
    assert {"op": "remove", "path": "$.spec.debug", "when": [{"path": "$.spec.keepDebug", "empty": True}]} in to_host
    assert {
        "op": "remove",
        "path": "$.spec.items[*].secret",
        "when": [{"subPath": "$.local", "equal": "true"}],
    } in to_host
    # a reverse-patched path that is host-owned (reverse.paths) is never sent: no remove is needed
    assert {"op": "remove", "path": "$.spec.clusterIP"} not in to_host
    assert at(findings, "export[0].patches[6]") == []  # add is carried over whole
    assert at(findings, "export[0].patches[13].conditions") == []  # subPath too


def test_regex_of_literal_text_becomes_a_format() -> None:
    _, findings = sample("generic-bare.yaml")
    (note,) = [f for f in at(findings, "export[0].patches[3]") if "format" in f.reason]
    assert note.severity == "note" and "'$NAME.$NAMESPACE.svc'" in note.reason


def test_label_key_ops_convert_with_vcluster_naming() -> None:
    source = Source(
        "generic",
        "sync.generic.config",
        {
            "version": "v1beta1",
            "export": [
                {
                    "apiVersion": "example.com/v1",
                    "kind": "Widget",
                    "patches": [
                        {"op": "rewriteLabelKey", "path": "spec.key"},
                        {"op": "rewriteLabelSelector", "path": "spec.selector"},
                        {"op": "rewriteLabelExpressionsSelector", "path": "spec.podSelector"},
                    ],
                }
            ],
        },
        lambda path: Location("v.yaml", 1, 1),
    )
    out = convert_source(source, vcluster_naming=True)
    patches = out.rules[0].body["patches"]["toHost"]
    assert [(p.value["op"], p.value["keyStyle"]) for p in patches] == [
        ("rewriteLabelKey", "vclusterLegacy"),
        ("rewriteLabelKeys", "vclusterLegacy"),
        ("rewriteLabelSelector", "vclusterLegacy"),
    ]
    assert all(f.severity == "note" for f in out.findings)


def test_export_reverse_patches_into_status() -> None:
    result, findings = sample("generic-bare.yaml")
    widget = rule(result, "toHost", "Widget")
    assert "status" not in widget  # vcluster's implicit whole-status copy is crdsync's default
    assert widget["patches"]["toVirtual"] == [
        {"op": "copy", "path": "$.status.address", "from": "$.spec.assignedAddress"}
    ]
    # a copy of a host field into the same field outside status: host-owned, flows back (reverse.paths)
    assert widget["reverse"] == {"paths": ["$.spec.clusterIP"]}
    assert at(findings, "export[0].reversePatches[2]") == []
    assert (
        "# from generic-bare.yaml:68:9 export[0].reversePatches[2] copyFromObject: host-owned, flows back\n"
        "          - $.spec.clusterIP\n" in result.text
    )


@pytest.mark.parametrize(
    ("field", "words", "line", "column"),
    [
        ("export[0].patches[3]", "which kind", 25, 9),
        ("export[0].patches[5]", "which kind", 31, 9),
        ("export[0].patches[9]", "copyFromObject", 47, 9),
        ("export[0].patches[10]", "rewriteLabelKey", 50, 9),
        ("export[0].patches[11]", "rewriteLabelSelector", 52, 9),
        ("export[0].patches[12]", "rewriteLabelExpressionsSelector", 54, 9),
        ("import[1]", "namespaced Report", 76, 5),
        ("import[1].reversePatches[0]", "never writes host objects", 83, 9),
        ("hooks.hostToVirtual[0]", "vCluster Pro hook", 88, 7),
    ],
)
def test_reported_and_located(field: str, words: str, line: int, column: int) -> None:
    _, findings = sample("generic-bare.yaml")
    found = [f for f in at(findings, field) if words in f.reason]
    assert found, [str(f) for f in findings]
    assert found[0].severity == "todo"
    assert where(found[0]) == (line, column)
    assert str(found[0]).startswith(f"generic-bare.yaml:{line}:{column}: todo: ")
    assert "; " in str(found[0])


def test_replace_on_conflict_converts() -> None:
    result, findings = sample("generic-bare.yaml")
    assert rule(result, "toHost", "Widget")["replaceOnConflict"] is True
    assert at(findings, "export[0].replaceOnConflict") == []
    assert "replaceOnConflict" not in rule(result, "toHost", "Gadget")


def test_replace_on_conflict_on_an_import_or_not_a_bool_is_reported() -> None:
    text = """\
version: v1beta1
export:
  - apiVersion: example.com/v1
    kind: Widget
    replaceOnConflict: "yes"
import:
  - apiVersion: example.com/v1
    kind: ClusterWidgetClass
    replaceOnConflict: true
"""
    result, findings = convert(text, "v.yaml")
    assert "replaceOnConflict" not in rule(result, "toHost", "Widget")
    assert "replaceOnConflict" not in rule(result, "fromHost", "ClusterWidgetClass")
    (bad,) = at(findings, "export[0].replaceOnConflict")
    assert bad.severity == "todo" and "true or false" in bad.reason and where(bad) == (5, 24)
    (imported,) = at(findings, "import[0].replaceOnConflict")
    assert imported.severity == "todo" and "only host copies" in imported.reason and where(imported) == (9, 24)


# --- reverse patches outside status -----------------------------------------------------------------------------------

REVERSE = """\
version: v1beta1
export:
  - apiVersion: example.com/v1
    kind: Widget
    patches:
      - {{op: rewriteName, path: spec.secretName}}
{forward}    reversePatches:
      - {patch}
"""


def reverse(patch: str, forward: str = "") -> tuple[dict[str, Any], list[Finding]]:
    """The Widget rule and the findings of one export whose only reverse patch is `patch` (a flow mapping)."""
    text = REVERSE.format(patch=patch, forward=forward)
    result, findings = convert(text, "v.yaml")
    return rule(result, "toHost", "Widget"), findings


@pytest.mark.parametrize(
    "patch",
    [
        "{op: copyFromObject, fromPath: spec.assignedPort, path: spec.assignedPort}",
        "{op: copyFromObject, path: spec.assignedPort}",  # vcluster copies the same path without fromPath
        "{op: copyFromObject, path: .spec.assignedPort, ignore: false}",  # generic: ignore false = left out too
    ],
)
def test_reverse_copy_of_the_same_spec_field_becomes_a_reverse_path(patch: str) -> None:
    widget, findings = reverse(patch)
    assert widget["reverse"] == {"paths": ["$.spec.assignedPort"]}
    # crdsync never sends a reverse path, so vcluster's removal from the host copy is not written as a patch
    assert "patches" not in widget
    assert "status" not in widget  # the implicit whole-status copy stays the default
    assert not [f for f in findings if f.severity == "todo"], [str(f) for f in findings]


def test_reverse_copy_of_an_annotation_becomes_a_reverse_path() -> None:
    widget, findings = reverse("{op: copyFromObject, path: \"metadata.annotations['example.com/endpoint']\"}")
    assert widget["reverse"] == {"paths": ["$.metadata.annotations['example.com/endpoint']"]}
    assert at(findings, "export[0].reversePatches[0]") == []


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ("{op: copyFromObject, path: metadata.labels.zone}", "is a label"),
        ("{op: copyFromObject, path: 'spec.ports[0].nodePort'}", "plain chain of field names"),
        ("{op: copyFromObject, path: spec}", "must be a field under $.spec"),
        ("{op: copyFromObject, path: \"metadata.annotations['crdsync.io/x']\"}", "reserves"),
        ("{op: copyFromObject, fromPath: spec.hostPort, path: spec.port}", "into the same field"),
        ("{op: copyFromObject, path: spec.port, conditions: [{path: spec.mode, equal: auto}]}", "under conditions"),
        ("{op: replace, path: spec.port, value: 1}", "reverse replace of $.spec.port"),
        ("{op: remove, path: spec.port}", "reverse remove of $.spec.port"),
        # a field a reference reads can never be host-owned: it would come back as a host name
        ("{op: copyFromObject, path: spec.secretName}", "must never be read as a name"),
    ],
)
def test_reverse_patch_that_cannot_be_a_reverse_path_is_reported(patch: str, words: str) -> None:
    widget, findings = reverse(patch)
    assert "reverse" not in widget
    (finding,) = at(findings, "export[0].reversePatches[0]")
    assert finding.severity == "todo" and words in finding.reason, str(finding)
    assert where(finding) == (8, 9)
    assert finding.instead
    # as in vcluster, the reverse-patched field is left out of the host copy
    assert widget["patches"]["toHost"][0]["path"].startswith("$.")
    assert widget["patches"]["toHost"][0]["op"] == "remove"


def test_reverse_copy_kept_in_the_host_copy_is_reported() -> None:
    """ignore: true (generic) kept the field in vcluster's host copy: it went both ways, crdsync's reverse paths are
    host-owned only, so a human decides."""
    widget, findings = reverse("{op: copyFromObject, path: spec.port, ignore: true}")
    assert "reverse" not in widget and "patches" not in widget
    (finding,) = at(findings, "export[0].reversePatches[0]")
    assert finding.severity == "todo" and "both ways" in finding.reason and "ignore: true" in finding.reason


def test_a_forward_remove_of_a_host_owned_field_is_moot() -> None:
    forward = "      - {op: remove, path: spec.port.extra}\n      - {op: add, path: spec.owner, value: me}\n"
    widget, findings = reverse("{op: copyFromObject, path: spec.port}", forward)
    assert widget["reverse"] == {"paths": ["$.spec.port"]}
    assert widget["patches"]["toHost"] == [{"op": "add", "path": "$.spec.owner", "value": "me"}]
    (note,) = at(findings, "export[0].reversePatches[0]")
    assert note.severity == "note" and "$.spec.port.extra" in note.reason and "moot" in note.reason
    # a toHost patch that sets the field cannot go with a reverse path: reported
    setter = "      - {op: add, path: spec.port, value: 1}\n"
    widget, findings = reverse("{op: copyFromObject, path: spec.port}", setter)
    assert "reverse" not in widget
    (finding,) = at(findings, "export[0].reversePatches[0]")
    assert finding.severity == "todo" and "overlaps reverse path" in finding.reason


def test_plugin_reverse_copy_outside_status_with_status_off() -> None:
    """The plugin had no implicit status copy: a reverse path alone still flows back (status stays off), and the RBAC
    crdsync derives for it lets crdsync apply the tenant's object."""
    text = """\
version: v1beta1
mappings:
  - fromVirtualCluster:
      apiVersion: example.com/v1
      kind: Widget
      reversePatches:
        - {op: copyFromObject, fromPath: spec.assignedPort, path: spec.assignedPort}
"""
    result, findings = convert(text, "plugin.yaml")
    widget = rule(result, "toHost", "Widget")
    assert widget["reverse"] == {"paths": ["$.spec.assignedPort"]} and widget["status"] == {"sync": False}
    assert not [f for f in findings if f.severity == "todo"], [str(f) for f in findings]
    config = load_text(result.text).raise_for_errors()
    grants = {(n.cluster, n.resource, n.verb) for n in needs(config)}
    assert ("virtual", "widgets", "patch") in grants and ("virtual", "widgets/status", "patch") not in grants


def test_optional_is_a_note() -> None:
    _, findings = sample("generic-bare.yaml")
    (note,) = at(findings, "export[0].optional")
    assert note.severity == "note" and "optional: true" in note.reason


def test_imports() -> None:
    result, _ = sample("generic-bare.yaml")
    assert rule(result, "fromHost", "IngressClass") == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "scope": "Cluster",
    }
    # the namespaced import is written commented out, with its patches, for a human to choose host namespaces
    assert all(r["kind"] != "Report" for r in spec(result)["fromHost"])
    assert "#   kind: Report" in result.text
    assert "#         path: \"$.metadata.annotations['internal/debug']\"" in result.text


def test_rule_comments_say_where_from() -> None:
    result, _ = sample("generic-bare.yaml")
    assert (
        "    # from generic-bare.yaml:4:5 export[0]\n    - apiVersion: example.com/v1\n      kind: Widget"
        in result.text
    )
    assert "# from generic-bare.yaml:12:9 export[0].patches[0] rewriteName" in result.text


# --- Helm values ------------------------------------------------------------------------------------------------------


def test_values_with_config_string_positions_inside_the_string() -> None:
    result, findings = sample("values-v0.19.yaml")
    certificate = rule(result, "toHost", "Certificate")
    assert certificate["references"] == [
        {"path": "$.spec.secretName", "kind": "Secret", "apiVersion": "v1", "follow": "toHost"}
    ]
    assert rule(result, "toHost", "Issuer")["references"][0]["follow"] == "toHost"
    # a field inside the YAML string is located in the file
    (note,) = at(findings, "sync.generic.config.export[1].patches[0].sync")
    assert where(note) == (25, 17)
    assert "# from values-v0.19.yaml:14:11 sync.generic.config.export[0]" in result.text
    (rbac,) = at(findings, "sync.generic.role.extraRules")
    assert rbac.severity == "note" and "crdsync rbac" in rbac.instead
    assert not [f for f in findings if f.severity == "todo"]


def test_values_with_generic_sync_object_and_multi_namespace_mode() -> None:
    result, findings = sample("values-v0.20.yaml")
    assert rule(result, "toHost", "Widget") == {"apiVersion": "example.com/v1", "kind": "Widget"}
    assert rule(result, "fromHost", "ClusterWidgetClass")["scope"] == "Cluster"
    (multi,) = [f for f in findings if f.reason.startswith("multi-namespace mode")]
    assert multi.severity == "todo" and where(multi) == (6, 5)
    (labels,) = at(findings, "experimental.genericSync.export[0].patches[0]")
    assert labels.severity == "note"  # multi-namespace mode kept label keys


def test_bad_yaml_inside_the_config_string_is_located_in_the_file() -> None:
    text = "sync:\n  generic:\n    config: |-\n      version: v1beta1\n      export: [\n"
    result, _findings, errors = convert_texts([("v.yaml", text)], "x", False)
    assert result is None
    (error,) = errors
    assert error.location.file == "v.yaml" and error.location.line >= 4
    assert "sync.generic.config" in error.message


# --- the plugin -------------------------------------------------------------------------------------------------------

PLUGIN = """\
version: v1beta1
mappings:
  - fromVirtualCluster:
      apiVersion: example.com/v1
      kind: Widget
      id: widgets
      selector:
        labelSelector: {skip: "yes"}
      patches:
        - {op: rewriteName, path: spec.secretName}
      reversePatches:
        - {op: copyFromObject, fromPath: status.phase, path: status.phase}
        - {op: copyFromObject, fromPath: spec.note, path: spec.note, ignore: false}
      syncBack:
        - apiVersion: v1
          kind: Secret
          selectors:
            - name: {rewrittenPath: spec.secretName}
            - name: {rewrittenPath: metadata.name}
          reversePatches:
            - {op: copyFromObject, fromPath: data, path: data}
  - fromVirtualCluster:
      apiVersion: example.com/v1
      kind: Gizmo
      selector:
        labelSelector: {a: "1", b: "2"}
  - fromHostCluster:
      apiVersion: example.com/v1
      kind: Shared
      nameMapping: {rewriteName: KeepName, namespace: shared}
"""


def test_plugin_config() -> None:
    result, findings = convert(PLUGIN, "plugin.yaml")
    widget = rule(result, "toHost", "Widget")
    # the plugin excluded objects matching its selector
    assert widget["selector"] == {"matchExpressions": [{"key": "skip", "operator": "NotIn", "values": ["yes"]}]}
    assert widget["references"] == [
        {"path": "$.spec.secretName", "kind": "Secret", "apiVersion": "v1", "follow": "fromHost"}
    ]
    assert widget["status"] == {"paths": ["$.status.phase"]}  # no implicit whole-status copy in the plugin
    assert "patches" not in widget  # ignore: false kept spec.note in the plugin's host copy
    assert rule(result, "fromHost", "Secret")["mode"] == "referenced"
    assert rule(result, "toHost", "Gizmo")["status"] == {"sync": False}
    fields = {f.field: f for f in findings}
    assert fields["mappings[0].fromVirtualCluster.selector"].severity == "todo"
    assert "NOT match all" in fields["mappings[1].fromVirtualCluster.selector"].reason
    assert "rewriteName" in fields["mappings[0].fromVirtualCluster.syncBack[0].selectors[1]"].instead
    assert fields["mappings[0].fromVirtualCluster.syncBack[0].reversePatches[0]"].severity == "todo"
    # ignore: false kept spec.note in the plugin's host copy: the field went both ways, not host-owned
    assert "both ways" in fields["mappings[0].fromVirtualCluster.reversePatches[1]"].reason
    assert fields["mappings[0].fromVirtualCluster.id"].severity == "note"
    assert "never run" in fields["mappings[2].fromHostCluster"].reason
    assert "#   kind: Shared" in result.text and "#   host:" in result.text


def test_plugin_cert_manager_example() -> None:
    naming = schema_has_vcluster_naming()
    result, findings = sample("plugin-cert-manager.yaml", naming)
    issuer = rule(result, "toHost", "Issuer")
    assert issuer["references"] == [
        {"path": "$.spec.ca.secretName", "kind": "Secret", "apiVersion": "v1", "follow": "toHost"}
    ]
    certificate = rule(result, "toHost", "Certificate")
    by_path = {r["path"]: r for r in certificate["references"]}
    assert by_path["$.spec.issuerRef.name"]["kind"] == "Issuer"
    assert by_path["$.spec.keystores.pkcs12.passwordSecretRef.name"]["follow"] == "toHost"
    assert by_path["$.spec.secretName"]["follow"] == "fromHost"
    secret_back = rule(result, "fromHost", "Secret")
    assert [r["kind"] for r in secret_back["references"]] == ["Certificate", "Issuer"]
    assert ("naming" in certificate) is naming
    assert not [f for f in findings if f.severity == "todo"], [str(f) for f in findings]
    assert where(at(findings, 'plugin["cert-manager"].env[0].value.mappings[1].fromVirtualCluster.patches[1]')[0]) == (
        40,
        21,
    )


def test_plugin_cert_manager_plan(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mapping = tmp_path / "cert-manager.yaml"
    code = main(["convert", str(SAMPLES / "plugin-cert-manager.yaml"), "-o", str(mapping)])
    capsys.readouterr()
    assert code == 0
    certificate = (
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: app-tls, namespace: app}\n"
        "spec:\n  secretName: app-tls\n  dnsNames: [app.example.test]\n  issuerRef: {name: tenant-ca, kind: Issuer}\n"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(certificate))
    code = main(["plan", "--mapping", str(mapping), "--host-namespace", "vc-a", "--vcluster", "a", "-f", "-"])
    out, err = capsys.readouterr()
    assert code == 0, err
    docs = [d for d in YAML(typ="safe", pure=True).load_all(out) if d]
    host = next(d for d in docs if d["kind"] == "Certificate")
    config = load_text(mapping.read_text()).raise_for_errors()
    secret_rule = config.rule_for(Direction.FROM_HOST, GroupVersionKind("", "v1", "Secret"))
    issuer_rule = config.rule_for(Direction.TO_HOST, GroupVersionKind("cert-manager.io", "v1", "Issuer"))
    assert secret_rule is not None and issuer_rule is not None
    tenant = Tenant("a", "vc-a")
    assert host["metadata"]["namespace"] == "vc-a"
    assert host["spec"]["secretName"] == host_name(tenant, "app", "app-tls", secret_rule.naming)
    assert host["spec"]["issuerRef"]["name"] == host_name(tenant, "app", "tenant-ca", issuer_rule.naming)
    imported = next(d for d in docs if d["kind"] == "Secret")
    assert imported["metadata"] == {**imported["metadata"], "name": "app-tls", "namespace": "app"}


# --- the command ------------------------------------------------------------------------------------------------------


def test_exit_codes_and_outputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["convert", str(SAMPLES / "values-v0.19.yaml")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# Converted by `crdsync convert`") and "converted 3 rule(s)" in err
    assert main(["convert", str(SAMPLES / "generic-bare.yaml"), "--report", "json"]) == 1
    out, err = capsys.readouterr()
    report = json.loads(err)
    assert report["exitCode"] == 1 and report["findings"] and "kind: SyncConfig" in out
    assert {"file", "line", "column", "field", "severity", "reason", "instead"} <= set(report["findings"][0])
    target = tmp_path / "out.yaml"
    assert main(["convert", str(SAMPLES / "values-v0.20.yaml"), "-o", str(target)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "kind: SyncConfig" in target.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("export: [\n")
    assert main(["convert", str(bad)]) == 2
    _, err = capsys.readouterr()
    assert f"{bad}:" in err and "YAML syntax error" in err
    other = tmp_path / "deployment.yaml"
    other.write_text("apiVersion: apps/v1\nkind: Deployment\n")
    assert main(["convert", str(other)]) == 2
    assert "not a vcluster generic-sync configuration" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["\x7f", "a\x85b", "\ufeffx", "\x01", "é ü", "x: y"])
def test_strings_yaml_cannot_hold_raw_are_escaped(value: str) -> None:
    """A value copied from the input may hold characters YAML refuses raw (DEL, C1 controls, BOM): escaped, so the
    converted mapping still loads with the same string."""
    assert YAML(typ="safe", pure=True).load(f"k: {scalar(value)}") == {"k": value}


def test_several_files_merge_into_one_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["convert", str(SAMPLES / "values-v0.19.yaml"), str(SAMPLES / "plugin-cert-manager.yaml")])
    out, err = capsys.readouterr()
    assert code == 1  # Certificate and Issuer come twice: one rule each is kept, the others reported
    assert "converted twice" in err
    assert load_text(out).ok
