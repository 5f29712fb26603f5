"""naming.style in mappings: schema entry, model default, what the loader builds, and the checks around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crdsync.spec.load import load_text
from crdsync.spec.model import Naming, NamingStyle
from tests.spec.test_load import at, only_error, spec
from tests.spec.textpos import where

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "mapping.schema.json").read_text())
STYLE = SCHEMA["$defs"]["naming"]["properties"]["style"]


def test_schema_entry_matches_the_model() -> None:
    assert STYLE["enum"] == [style.value for style in NamingStyle]
    assert STYLE["default"] == Naming().style.value == "hashed"
    # The description is what an editor shows: it must warn about what style vcluster gives up.
    for needle in ("Not injective", "NameTaken", "share a host namespace", "2^40", "maxLength and hashLength"):
        assert needle in STYLE["description"], needle


@pytest.mark.parametrize(("written", "style"), [("", NamingStyle.HASHED), ("{style: hashed}", NamingStyle.HASHED)])
def test_hashed_is_the_default(written: str, style: NamingStyle) -> None:
    naming = f", naming: {written}" if written else ""
    config = load_text(spec(f"toHost: [{{apiVersion: v1, kind: ConfigMap{naming}}}]")).config
    assert config is not None
    assert config.rules[0].naming == Naming(style=style)


def test_style_vcluster_is_built_for_to_host_and_referenced_rules() -> None:
    text = spec(
        """
        toHost:
          - {apiVersion: v1, kind: ConfigMap, naming: {style: vcluster}}
          - {apiVersion: v1, kind: Secret, mode: referenced, naming: {style: vcluster}}
        fromHost:
          - {apiVersion: v1, kind: Secret, mode: referenced, naming: {style: vcluster}}
        """
    )
    result = load_text(text)
    assert result.ok, result.errors
    assert result.config is not None
    assert {rule.naming.style for rule in result.config.rules} == {NamingStyle.VCLUSTER}


@pytest.mark.parametrize("key", ["maxLength", "hashLength"])
def test_style_vcluster_refuses_lengths_it_would_ignore(key: str) -> None:
    text = spec(f"toHost: [{{apiVersion: v1, kind: ConfigMap, naming: {{style: vcluster, {key}: 20}}}}]")
    error = only_error(text)
    assert error.field_path == f"spec.toHost[0].naming.{key}"
    assert at(error) == where(text, f"{key}: 20")
    assert "applies to naming style hashed only" in error.message
    assert load_text(text.replace(f", {key}: 20", "")).ok


def test_style_vcluster_reports_both_lengths() -> None:
    text = spec("toHost: [{apiVersion: v1, kind: ConfigMap, naming: {style: vcluster, maxLength: 40, hashLength: 20}}]")
    result = load_text(text, "t.yaml")
    assert sorted(e.field_path for e in result.errors) == [
        "spec.toHost[0].naming.hashLength",
        "spec.toHost[0].naming.maxLength",
    ]


def test_style_hashed_keeps_its_length_check() -> None:
    text = spec("toHost: [{apiVersion: v1, kind: ConfigMap, naming: {style: hashed, maxLength: 17, hashLength: 16}}]")
    assert "hashLength 16 does not fit in maxLength 17" in only_error(text).message


def test_unknown_style_is_a_schema_error() -> None:
    text = spec("toHost: [{apiVersion: v1, kind: ConfigMap, naming: {style: vCluster}}]")
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].naming.style"
    assert "hashed, vcluster" in error.message


def test_naming_on_a_mode_all_from_host_rule_is_still_refused() -> None:
    text = spec("fromHost: [{apiVersion: v1, kind: ConfigMap, naming: {style: vcluster}}]")
    assert "keeps host names" in only_error(text).message
