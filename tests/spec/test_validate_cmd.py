"""`crdsync validate`: sorted located lines and a summary, JSON output, exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crdsync.cli import main

REPO = Path(__file__).resolve().parents[2]
CERT_MANAGER = str(REPO / "mappings" / "cert-manager.yaml")
WIDGETS = str(REPO / "mappings" / "example-widgets.yaml")
BAD = """\
apiVersion: crdsync.io/v1alpha1
kind: SyncConfig
metadata: {name: bad}
spec:
  toHost:
    - {apiVersion: v1, kind: Secret, scop: x}
    - {apiVersion: v1, kind: Secret}
  fromHost:
    - {apiVersion: v1, kind: ConfigMap, deletion: {finalizer: true}}
"""


def test_valid_files_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", CERT_MANAGER, WIDGETS]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["valid: 2 file(s); cert-manager+example-widgets: 9 rules (5 toHost, 4 fromHost)"]


def test_each_validates_separately(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--each", CERT_MANAGER, WIDGETS]) == 0
    (summary,) = capsys.readouterr().out.splitlines()
    assert "cert-manager: 5 rules" in summary and "example-widgets: 4 rules" in summary


def test_errors_are_printed_sorted_with_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    missing = tmp_path / "missing.yaml"
    assert main(["validate", str(bad), str(missing)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{bad}:6:38: unknown key 'scop'; did you mean 'scope'? (spec.toHost[0].scop)",
        f"{bad}:7:30: duplicate toHost rule for Secret (the core group): already defined at {bad}:6:7; write one rule"
        " per kind and direction (versions do not count) (spec.toHost[1].kind)",
        f"{bad}:9:63: finalizer applies to toHost rules only (it holds the virtual object until its host copy is gone);"
        " remove it from this fromHost rule (spec.fromHost[0].deletion.finalizer)",
        f"{missing}:1:1: cannot read mapping file: no such file",
        "invalid: 4 errors in 2 of 2 file(s)",
    ]


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert main(["validate", "-o", "json", str(bad)]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False
    assert document["configs"] == [None]
    assert document["errors"][0] == {
        "file": str(bad),
        "line": 6,
        "column": 38,
        "field": "spec.toHost[0].scop",
        "message": "unknown key 'scop'; did you mean 'scope'?",
    }
    assert len(document["errors"]) == 3

    assert main(["validate", "--output", "json", CERT_MANAGER]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is True and document["errors"] == []
    (config,) = document["configs"]
    assert config["name"] == "cert-manager"
    assert {"direction": "fromHost", "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "mode": "all"} in (
        config["rules"]
    )


def test_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["validate"])
    assert exited.value.code == 2
    assert "FILE" in capsys.readouterr().err
