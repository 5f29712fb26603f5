"""devkit.devplane.crds: CRDs from pinned Go modules, filtered, cached; no network (download is replaced)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devkit.devplane import crds
from devkit.devplane.crds import CrdSource, CrdSourceError


def crd_yaml(kind: str, group: str = "example.com") -> str:
    plural = kind.lower() + "s"
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {plural}}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            op: {{type: string, enum: [=, "!="]}}
"""


POLICY = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: safe-upgrades}
"""


def test_only_crds_are_kept_and_kinds_filter() -> None:
    text = "\n---\n".join([crd_yaml("Route"), POLICY, "", crd_yaml("Gateway")])
    assert [c["spec"]["names"]["kind"] for c in crds.crds_in(text, "f.yaml")] == ["Route", "Gateway"]
    assert [c["spec"]["names"]["kind"] for c in crds.crds_in(text, "f.yaml", ("Gateway",))] == ["Gateway"]


def test_yaml_1_1_value_key_is_a_plain_string() -> None:
    # prometheus-operator's CRDs have an unquoted `=` in an enum; YAML 1.1 tags it as the "value" key.
    (crd,) = crds.crds_in(crd_yaml("Rule"), "f.yaml")
    assert crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["op"]["enum"] == ["=", "!="]
    json.dumps(crd)  # plain JSON data


def test_invalid_yaml_names_the_file_and_line() -> None:
    with pytest.raises(CrdSourceError, match=r"^bad\.yaml:3: not valid YAML"):
        crds.crds_in("a: b\nc: [d\n", "bad.yaml")


def test_matching_files_and_extract(tmp_path: Path) -> None:
    (tmp_path / "config" / "crd").mkdir(parents=True)
    (tmp_path / "config" / "crd" / "x_routes.yaml").write_text(crd_yaml("Route"))
    (tmp_path / "config" / "crd" / "x_policy.yaml").write_text(POLICY)
    (tmp_path / "config" / "crd" / "kustomization.yaml").write_text("resources: []\n")
    source = CrdSource("x", "example.com/x", "v1.0.0", ("config/crd/x_*.yaml",))
    assert [p.name for p in crds.matching_files(tmp_path, source.files)] == ["x_policy.yaml", "x_routes.yaml"]
    assert [c["metadata"]["name"] for c in crds.extract(source, tmp_path)] == ["routes.example.com"]
    with pytest.raises(CrdSourceError, match="no file matches"):
        crds.extract(CrdSource("x", "example.com/x", "v1.0.0", ("nowhere/*.yaml",)), tmp_path)
    with pytest.raises(CrdSourceError, match="no CustomResourceDefinition"):
        crds.extract(CrdSource("x", "example.com/x", "v1.0.0", ("config/crd/x_policy.yaml",)), tmp_path)


def test_load_crds_downloads_once_then_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "module"
    (module / "crds").mkdir(parents=True)
    (module / "crds" / "all.yaml").write_text(crd_yaml("Route") + "---\n" + crd_yaml("Gateway"))
    source = CrdSource("demo", "example.com/demo", "v0.1.0", ("crds/*.yaml",), kinds=("Route",))
    monkeypatch.setitem(crds.SOURCES, "demo", source)
    monkeypatch.setenv("CRDSYNC_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[CrdSource] = []

    def fake_download(src: CrdSource) -> Path:
        calls.append(src)
        return module

    monkeypatch.setattr(crds, "download", fake_download)
    first = crds.load_crds("demo")
    assert [c["spec"]["names"]["kind"] for c in first] == ["Route"]
    cached = tmp_path / "cache" / "crds" / "demo-v0.1.0.json"
    assert json.loads(cached.read_text())["module"] == "example.com/demo@v0.1.0"
    (module / "crds" / "all.yaml").unlink()  # the cache answers from now on
    assert crds.load_crds("demo") == first
    assert calls == [source]


def test_a_cache_of_another_version_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRDSYNC_CACHE_DIR", str(tmp_path))
    source = CrdSource("demo", "example.com/demo", "v0.2.0", ("crds/*.yaml",))
    monkeypatch.setitem(crds.SOURCES, "demo", source)
    (tmp_path / "crds").mkdir()
    stale: dict[str, Any] = {"format": "1", "module": "example.com/demo@v0.1.0", "crds": []}
    (tmp_path / "crds" / source.cache_name).write_text(json.dumps(stale))
    monkeypatch.setattr(crds, "download", lambda src: (_ for _ in ()).throw(CrdSourceError("would download")))
    with pytest.raises(CrdSourceError, match="would download"):
        crds.load_crds("demo")


def test_unknown_source_is_named() -> None:
    with pytest.raises(CrdSourceError, match="no CRD source named 'nope'"):
        crds.load_crds("nope")


def test_every_pin_is_exact_and_every_library_mapping_has_a_source() -> None:
    root = Path(__file__).resolve().parents[3]
    shipped = {p.stem for p in (root / "mappings").glob("*.yaml")}
    # cert-manager and external-secrets install their CRDs with their controllers (devkit.devplane.operators);
    # example-widgets is a made-up operator.
    assert shipped - {"cert-manager", "external-secrets", "example-widgets"} <= set(crds.SOURCES)
    for source in crds.SOURCES.values():
        assert source.version.startswith("v") and "*" not in source.version
        assert source.files
