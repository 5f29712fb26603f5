"""rewriteName's building blocks: a regex of literal text as a reference format, and the kind a name field names."""

from __future__ import annotations

from crdsync.convert.vcluster.references import infer_kind, regex_format


def test_regex_of_literal_text_becomes_a_format() -> None:
    assert regex_format("^$NAME\\.$NAMESPACE$") == ("$NAME.$NAMESPACE", "")
    assert regex_format("$NAMESPACE/$NAME") == ("$NAMESPACE/$NAME", "")
    assert regex_format("($NAME)+")[0] is None
    assert regex_format("$NAME-$NAMESPACE")[0] is None


def test_infer_kind_reads_the_words_of_the_path() -> None:
    known = {"Issuer": "cert-manager.io/v1", "ClusterIssuer": "cert-manager.io/v1"}
    assert infer_kind("$.spec.issuerRef.name", known) == ("Issuer", "cert-manager.io/v1")
    assert infer_kind("$.spec.clusterIssuerRef.name", known) == ("ClusterIssuer", "cert-manager.io/v1")
    assert infer_kind("$.spec.configMapName", {}) == ("ConfigMap", "v1")
    assert infer_kind("$.spec.secretRef.name", {}) == ("Secret", "v1")
    assert infer_kind("$.spec.widget", {}) is None
