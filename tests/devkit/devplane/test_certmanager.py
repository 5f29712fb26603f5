"""The pure parts of devkit.devplane.certmanager (and the shared devkit.devplane.operators it re-exports): module
lookup output, CRD rendering, conditions, command line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from devkit.devplane import certmanager, operators
from devkit.devplane.build import BuildError
from devkit.devplane.certmanager import (
    CertManagerError,
    ModuleInfo,
    controller_args,
    established,
    names_refused,
    parse_module_download,
    render_crds,
    run_cert_manager,
    strip_template_lines,
)
from devkit.devplane.operator_files import OperatorError

CRD_DOC = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: issuers.cert-manager.io
spec:
  group: cert-manager.io
"""


# -- go mod download -json ---------------------------------------------------------------------------------------


def test_parse_module_download_reads_path_version_and_dir() -> None:
    output = json.dumps(
        {"Path": "github.com/cert-manager/cert-manager", "Version": "v1.21.2", "Dir": "/mod/cm@v1.21.2", "Sum": "h1:x"}
    )
    assert parse_module_download(output) == ModuleInfo(
        "github.com/cert-manager/cert-manager", "v1.21.2", Path("/mod/cm@v1.21.2")
    )


def test_parse_module_download_reports_go_error() -> None:
    output = json.dumps({"Path": "github.com/cert-manager/cert-manager", "Error": "module lookup disabled"})
    with pytest.raises(OperatorError, match="module lookup disabled"):
        parse_module_download(output, "here")


@pytest.mark.parametrize(
    ("output", "message"),
    [("not json", "not JSON"), ("[1]", "expected a JSON object"), ('{"Path": "p", "Version": "v1"}', "no Dir")],
)
def test_parse_module_download_rejects_junk(output: str, message: str) -> None:
    with pytest.raises(OperatorError, match=message):
        parse_module_download(output, "src")


# -- CRD rendering -----------------------------------------------------------------------------------------------


def test_strip_template_lines_blanks_directives_and_keeps_line_numbers() -> None:
    text = "{{- if .Values.crds.enabled }}\na: 1\n  {{/* note */}}\nb: 2\n{{- end }}\n"
    stripped = strip_template_lines(text, "f.yaml")
    assert stripped == "\na: 1\n\nb: 2\n\n"
    assert stripped.count("\n") == text.count("\n")


def test_strip_template_lines_refuses_inline_expressions_with_location() -> None:
    text = "metadata:\n  labels:\n    app: {{ .Release.Name }}\n"
    with pytest.raises(OperatorError, match=r"^f\.yaml:3: inline Helm template"):
        strip_template_lines(text, "f.yaml")


def test_render_crds_unwraps_helm_conditionals_and_skips_empty_documents() -> None:
    orders = CRD_DOC.replace("issuers", "orders")
    text = "{{- if .Values.crds.enabled }}\n---\n" + CRD_DOC + "---\n" + orders + "{{- end }}\n"
    crds = render_crds(text, "crds.yaml")
    assert [crd["metadata"]["name"] for crd in crds] == ["issuers.cert-manager.io", "orders.cert-manager.io"]
    assert crds[0]["spec"] == {"group": "cert-manager.io"}
    assert type(crds[0]) is dict  # plain dicts, as the kube client sends them


def test_render_crds_locates_yaml_errors() -> None:
    text = CRD_DOC + "spec:\n  group: [unclosed\n"
    with pytest.raises(OperatorError, match=r"^crds\.yaml:\d+:\d+: not valid YAML"):
        render_crds(text, "crds.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", r"\(document 1\): expected apiextensions"),
        ("---\n---\n- a\n", r"\(document 2\): expected a mapping"),
        (CRD_DOC.replace("  name: issuers.cert-manager.io\n", "  labels: {}\n"), "without metadata.name"),
    ],
)
def test_render_crds_rejects_other_documents(text: str, message: str) -> None:
    with pytest.raises(OperatorError, match=message):
        render_crds(text, "crds.yaml")


# -- conditions ----------------------------------------------------------------------------------------------------


def test_established_needs_the_true_condition() -> None:
    assert established({"status": {"conditions": [{"type": "Established", "status": "True"}]}})
    assert not established({"status": {"conditions": [{"type": "Established", "status": "False"}]}})
    assert not established({"status": {"conditions": [{"type": "NamesAccepted", "status": "True"}]}})
    assert not established({})


def test_names_refused_reports_the_apiserver_message() -> None:
    refused = {"status": {"conditions": [{"type": "NamesAccepted", "status": "False", "message": "kind taken"}]}}
    assert names_refused(refused) == "kind taken"
    assert names_refused({"status": {"conditions": [{"type": "NamesAccepted", "status": "True"}]}}) is None
    assert names_refused({}) is None


# -- command line and binary -----------------------------------------------------------------------------------------


def test_controller_args_bind_health_to_loopback_and_report_the_address(tmp_path: Path) -> None:
    args = controller_args(Path("/bin/cm"), tmp_path / "host.kubeconfig", "cm-ns", tmp_path / "addr")
    assert args[0] == "/bin/cm"
    assert f"--kubeconfig={tmp_path / 'host.kubeconfig'}" in args
    assert "--cluster-resource-namespace=cm-ns" in args
    assert "--health-listen-address=127.0.0.1:0" in args
    assert f"--address-file={tmp_path / 'addr'}" in args
    assert "--leader-elect=false" in args


def test_main_go_defines_every_flag_controller_args_passes(tmp_path: Path) -> None:
    main_go = (certmanager.MODULE_DIR / "main.go").read_text()
    for arg in controller_args(Path("/bin/cm"), tmp_path / "k", "ns", tmp_path / "a")[1:]:
        flag = arg.split("=", 1)[0].removeprefix("--")
        if flag == "v":  # registered by the logging options, not in main.go
            continue
        assert f'"{flag}"' in main_go, f"main.go has no flag {flag!r}"


def test_explicit_binary_is_used_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "cm"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(certmanager.BINARY_ENV, str(binary))
    assert certmanager.ensure_cert_manager_binary() == binary


def test_explicit_binary_must_be_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "cm"
    binary.write_text("not a program")
    monkeypatch.setenv(certmanager.BINARY_ENV, str(binary))
    with pytest.raises(BuildError, match="not an executable file"):
        certmanager.ensure_cert_manager_binary()


def test_cert_manager_errors_are_operator_errors() -> None:
    assert issubclass(CertManagerError, OperatorError)
    assert certmanager.OPERATOR.error is CertManagerError


def test_load_crds_reports_bad_files_as_cert_manager_errors(tmp_path: Path) -> None:
    crds = tmp_path / "deploy" / "crds"
    crds.mkdir(parents=True)
    (crds / "bad.yaml").write_text("a: [\n")
    with pytest.raises(CertManagerError, match=r"bad\.yaml:\d+"):
        certmanager.load_crds(ModuleInfo(certmanager.CERT_MANAGER_MODULE, "v0.0.0", tmp_path))


def test_run_cert_manager_rejects_a_bad_namespace_before_starting_anything(tmp_path: Path) -> None:
    with (
        pytest.raises(CertManagerError, match="invalid namespace 'Cert_Manager'"),
        run_cert_manager(tmp_path / "missing.kubeconfig", tmp_path / "cm.log", "Cert_Manager"),
    ):
        pass
    assert not (tmp_path / "cm.log").exists()


def test_go_module_pins_cert_manager() -> None:
    go_mod = (certmanager.MODULE_DIR / "go.mod").read_text()
    assert f"\t{certmanager.CERT_MANAGER_MODULE} v1.21.2\n" in go_mod
    go_sum = (certmanager.MODULE_DIR / "go.sum").read_text()
    assert f"{certmanager.CERT_MANAGER_MODULE} v1.21.2 h1:" in go_sum


def test_shared_io_helpers_raise_the_callers_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Mine(Exception):
        pass

    with pytest.raises(Mine), operators.cluster(tmp_path / "missing.kubeconfig", "testing", Mine):
        pass
    monkeypatch.setenv("PATH", str(tmp_path))  # no go here
    with pytest.raises(Mine, match="`go` is not on PATH"):
        operators.go_mod_download("example.test/mod@v1.0.0", tmp_path, Mine)
    with pytest.raises(CertManagerError, match="`go` is not on PATH"):
        certmanager.cert_manager_module()
