"""load_text / load_files: samples load, every problem is reported at once with its location, semantics are checked."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import LoadResult, SpecLoadError, load_files, load_schema, load_text
from crdsync.spec.model import (
    Condition,
    ConflictPolicy,
    DeletionPolicy,
    Direction,
    FollowDirection,
    Naming,
    Scope,
    SpecError,
    SyncMode,
)
from tests.spec.textpos import where

REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "mappings").glob("*.yaml"))
HEADER = "apiVersion: crdsync.io/v1alpha1\nkind: SyncConfig\nmetadata: {name: t}\nspec:\n"


def spec(body: str) -> str:
    return HEADER + textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", "  ")


def errors_of(text: str) -> list[SpecError]:
    result = load_text(text, "t.yaml")
    assert result.config is None
    assert result.errors
    return list(result.errors)


def only_error(text: str) -> SpecError:
    errors = errors_of(text)
    assert len(errors) == 1, "\n".join(map(str, errors))
    return errors[0]


def at(error: SpecError) -> tuple[int, int]:
    return error.location.line, error.location.column


# ---------------------------------------------------------------------------------------------------------------------
# Samples


def test_there_are_samples() -> None:
    names = {p.name for p in SAMPLES}
    assert {"cert-manager.yaml", "example-widgets.yaml"} <= names


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_sample_loads(sample: Path) -> None:
    result = load_files([sample])
    assert result.errors == ()
    assert result.config is not None and result.config.rules
    assert result.config.sources == (str(sample),)
    assert sample.read_text().startswith("# yaml-language-server: $schema=../schemas/mapping.schema.json")


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_sample_loads_on_its_own(sample: Path) -> None:
    # Each shipped mapping is complete for its operator, Secret rules included, so two of them loaded together repeat
    # the Secret rules (a located duplicate error): combining operators means merging those rules by hand.
    assert load_files([sample]).errors == ()


def test_two_samples_load_together_with_names_joined() -> None:
    pair = [REPO / "mappings" / "cert-manager.yaml", REPO / "mappings" / "example-widgets.yaml"]
    result = load_files(pair)
    assert result.errors == ()
    assert result.config is not None
    assert result.config.name == "+".join(load_files([s]).raise_for_errors().name for s in pair)


def test_cert_manager_mapping_content() -> None:
    config = load_files([REPO / "mappings" / "cert-manager.yaml"]).raise_for_errors()
    cm = "cert-manager.io"
    certificate = config.rule_for(Direction.TO_HOST, GroupVersionKind(cm, "v1", "Certificate"))
    issuer = config.rule_for(Direction.TO_HOST, GroupVersionKind(cm, "v1", "Issuer"))
    cluster_issuer = config.rule_for(Direction.FROM_HOST, GroupVersionKind(cm, "v1", "ClusterIssuer"))
    secret_out = config.rule_for(Direction.TO_HOST, GroupVersionKind("", "v1", "Secret"))
    secret_in = config.rule_for(Direction.FROM_HOST, GroupVersionKind("", "v1", "Secret"))
    assert certificate and issuer and cluster_issuer and secret_out and secret_in
    assert len(config.rules) == 5

    refs = {(r.path, r.kind): r for r in certificate.references}
    assert refs[("$.spec.secretName", "Secret")].follow is FollowDirection.FROM_HOST
    issuer_ref = refs[("$.spec.issuerRef.name", "Issuer")]
    assert issuer_ref.follow is FollowDirection.NONE
    # Kind AND group: an external issuer whose kind happens to be "Issuer" is not cert-manager's.
    assert [(c.path, c.in_) for c in issuer_ref.when] == [
        ("$.spec.issuerRef.kind", ("Issuer", "", None)),
        ("$.spec.issuerRef.group", ("cert-manager.io", "", None)),
    ]
    cluster_ref = refs[("$.spec.issuerRef.name", "ClusterIssuer")]
    assert cluster_ref.follow is FollowDirection.NONE
    assert [(c.path, c.in_) for c in cluster_ref.when] == [
        ("$.spec.issuerRef.kind", ("ClusterIssuer",)),
        ("$.spec.issuerRef.group", ("cert-manager.io", "", None)),
    ]
    for keystore in ("jks", "pkcs12"):
        assert refs[(f"$.spec.keystores.{keystore}.passwordSecretRef.name", "Secret")].follow is FollowDirection.TO_HOST

    issuer_paths = {r.path for r in issuer.references}
    assert all(r.kind == "Secret" and r.follow is FollowDirection.TO_HOST for r in issuer.references)
    for expected in (
        "$.spec.ca.secretName",
        "$.spec.acme.privateKeySecretRef.name",
        "$.spec.acme.externalAccountBinding.keySecretRef.name",
        "$.spec.acme.solvers[*].dns01.cloudflare.apiTokenSecretRef.name",
        "$.spec.acme.solvers[*].dns01.route53.secretAccessKeySecretRef.name",
        "$.spec.vault.auth.tokenSecretRef.name",
        "$.spec.vault.auth.appRole.secretRef.name",
        "$.spec.vault.auth.kubernetes.secretRef.name",
        "$.spec.vault.caBundleSecretRef.name",
        "$.spec.vault.clientCertSecretRef.name",
        "$.spec.vault.clientKeySecretRef.name",
        "$.spec.venafi.tpp.credentialsRef.name",
        "$.spec.venafi.tpp.caBundleSecretRef.name",
        "$.spec.venafi.cloud.apiTokenSecretRef.name",
    ):
        assert expected in issuer_paths

    assert cluster_issuer.scope is Scope.CLUSTER and cluster_issuer.read_only
    assert cluster_issuer.selector is not None
    assert cluster_issuer.selector.match_labels == (("crdsync.io/shared", "true"),)
    assert secret_out.mode is SyncMode.REFERENCED and secret_in.mode is SyncMode.REFERENCED
    assert secret_in.deletion is DeletionPolicy.ORPHAN
    assert secret_out.conflict is ConflictPolicy.ADOPT


# ---------------------------------------------------------------------------------------------------------------------
# Result type and IO


def test_result_invariants_and_raise_for_errors() -> None:
    good = load_text(spec("toHost: [{apiVersion: v1, kind: ConfigMap}]"))
    assert good.ok and good.config is not None
    assert good.raise_for_errors() is good.config
    bad = load_text("kind: SyncConfig\n", "bad.yaml")
    assert not bad.ok and bad.config is None
    with pytest.raises(SpecLoadError) as caught:
        bad.raise_for_errors()
    assert caught.value.errors == bad.errors
    assert "bad.yaml:1:1: missing required key 'apiVersion' (apiVersion)" in str(caught.value)
    with pytest.raises(AttributeError):
        good.config = None  # type: ignore[misc]


def test_errors_are_sorted_and_unique() -> None:
    result = load_text(spec("toHost: [{apiVersion: v1, kind: A, bogus: 1, scope: x}, {apiVersion: v2, kind: 5}]"))
    assert list(result.errors) == sorted(set(result.errors))
    assert len(result.errors) == 3


def test_load_schema_is_the_schema_file() -> None:
    schema = load_schema()
    assert schema["title"] == "crdsync SyncConfig"


def test_io_errors_are_spec_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    (error,) = load_files([missing]).errors
    assert error.location.file == str(missing) and "no such file" in error.message

    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"apiVersion: x\nkind: caf\xe9\n")
    (error,) = load_files([latin]).errors
    assert at(error) == (2, 10) and "not valid UTF-8" in error.message

    (error,) = load_files([]).errors
    assert error.message == "no mapping files given"


def test_yaml_syntax_error_is_located() -> None:
    text = spec("toHost:\n  - apiVersion: v1\n    kind: [Secret\n")
    error = only_error(text)
    assert error.message.startswith("YAML syntax error")
    assert error.location.file == "t.yaml" and error.location.line >= where(text, "[Secret")[0]


@pytest.mark.parametrize(
    "text",
    ["", "5", "[]", "null", "spec: 5", "---\n---\n", "apiVersion: [", "\x00", "a: !!python/object:os.system x"],
)
def test_garbage_gives_located_errors_not_exceptions(text: str) -> None:
    for error in errors_of(text):
        assert error.location.file == "t.yaml" and error.location.line >= 1 and error.location.column >= 1
        assert error.message


# ---------------------------------------------------------------------------------------------------------------------
# Multi-file


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body.replace("name: t}", f"name: {path.stem}}}"))
    return path


def test_multi_file_merge(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", spec("toHost: [{apiVersion: v1, kind: ConfigMap}]"))
    b = write(tmp_path, "b.yaml", spec("fromHost: [{apiVersion: example.com/v1, kind: Gadget, readOnly: false}]"))
    config = load_files([a, str(b)]).raise_for_errors()
    assert config.name == "a+b"
    assert config.sources == (str(a), str(b))
    assert [r.gvk.kind for r in config.rules] == ["ConfigMap", "Gadget"]
    assert config.rules[1].location.file == str(b)
    # A lone path is accepted too, though the signature asks for a sequence: the guard against a common slip.
    assert load_files(a).raise_for_errors().rules == config.rules[:1]  # type: ignore[arg-type]
    assert len(load_files([a, a, tmp_path / ".." / tmp_path.name / "a.yaml"]).raise_for_errors().rules) == 1


def test_duplicates_across_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", spec("toHost: [{apiVersion: v1, kind: ConfigMap}]"))
    b = write(tmp_path, "b.yaml", spec("toHost:\n  - apiVersion: v1\n    kind: ConfigMap\n"))
    (error,) = load_files([a, b]).errors
    assert error.location.file == str(b)
    assert at(error) == where(b.read_text(), "ConfigMap")
    assert error.field_path == "spec.toHost[0].kind"
    assert f"already defined at {a}:" in error.message


def test_references_resolve_across_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", spec("toHost: [{apiVersion: x.io/v1, kind: W, references: [{path: $.s, kind: S}]}]"))
    b = write(tmp_path, "b.yaml", spec("toHost: [{apiVersion: y.io/v2, kind: S}]"))
    config = load_files([a, b]).raise_for_errors()
    assert config.rules[0].references[0].api_version == "y.io/v2"
    (error,) = load_files([a]).errors
    assert error.field_path == "spec.toHost[0].references[0].apiVersion"


def test_multi_document_file() -> None:
    text = spec("toHost: [{apiVersion: v1, kind: ConfigMap}]") + "---\n" + spec("toHost: [{apiVersion: v1, kind: X}]")
    config = load_text(text).raise_for_errors()
    assert [r.gvk.kind for r in config.rules] == ["ConfigMap", "X"]
    assert config.rules[1].location.line == where(text, "{apiVersion: v1, kind: X}")[0]


# ---------------------------------------------------------------------------------------------------------------------
# Semantic checks, each with its location


def test_duplicate_rule_any_version() -> None:
    text = spec(
        """
        toHost:
          - {apiVersion: example.com/v1, kind: Widget}
          - {apiVersion: example.com/v2, kind: Widget}
          - {apiVersion: other.com/v1, kind: Widget}
        fromHost:
          - {apiVersion: example.com/v1, kind: Widget, mode: referenced}
        """
    )
    error = only_error(text)
    assert at(error) == where(text, "Widget", 2)
    assert error.field_path == "spec.toHost[1].kind"
    assert "duplicate toHost rule for Widget (example.com)" in error.message
    assert f"already defined at t.yaml:{where(text, '{apiVersion: example.com/v1')[0]}:" in error.message


def test_same_kind_both_directions_mode_all() -> None:
    text = spec(
        """
        toHost:
          - {apiVersion: v1, kind: ConfigMap}
        fromHost:
          - {apiVersion: v1, kind: ConfigMap, readOnly: true}
        """
    )
    error = only_error(text)
    assert at(error) == where(text, "ConfigMap", 2)
    assert error.field_path == "spec.fromHost[0].kind"
    assert "both directions with mode: all" in error.message and "mode: referenced" in error.message

    with_mode = text.replace("readOnly: true", "mode: all")
    assert at(only_error(with_mode)) == where(with_mode, "all")

    assert load_text(text.replace("readOnly: true", "mode: referenced")).ok


@pytest.mark.parametrize(
    ("to_host", "from_host", "ok"),
    [
        ("{matchLabels: {side: virtual}}", "{matchLabels: {side: host}}", True),
        ("{matchLabels: {side: v}}", "{matchExpressions: [{key: side, operator: NotIn, values: [v]}]}", True),
        ("{matchExpressions: [{key: shared, operator: DoesNotExist}]}", "{matchLabels: {shared: 'true'}}", True),
        ("{matchLabels: {a: x}}", "{matchLabels: {b: y}}", False),
        ("{matchExpressions: [{key: s, operator: In, values: [a, b]}]}", "{matchLabels: {s: b}}", False),
        ("{}", "{matchLabels: {s: b}}", False),
    ],
)
def test_both_directions_allowed_with_disjoint_selectors(to_host: str, from_host: str, ok: bool) -> None:
    text = spec(
        f"""
        toHost: [{{apiVersion: v1, kind: ConfigMap, selector: {to_host}}}]
        fromHost: [{{apiVersion: v1, kind: ConfigMap, selector: {from_host}}}]
        """
    )
    result = load_text(text)
    assert result.ok is ok, result.errors


def test_disjoint_selectors_still_count_when_the_copy_relabels() -> None:
    # A relabelled host copy still carries crdsync's bookkeeping (stamped after patches), which the fromHost rule
    # never selects (translate.selectors): relabelling cannot make an export come back as an import.
    text = spec(
        """
        toHost:
          - apiVersion: v1
            kind: ConfigMap
            selector: {matchLabels: {side: virtual}}
            patches: {toHost: [{op: rewriteLabelKeys, path: $.metadata.labels, keyPrefix: vc/}]}
        fromHost:
          - {apiVersion: v1, kind: ConfigMap, selector: {matchLabels: {side: host}}}
        """
    )
    assert load_text(text).ok


SECRET_RULE = "{apiVersion: v1, kind: Secret, mode: referenced}"


@pytest.mark.parametrize(
    ("follow", "to_host", "from_host", "fragment"),
    [
        ("toHost", "", SECRET_RULE, "no toHost rule for Secret (v1)"),
        ("fromHost", SECRET_RULE, "", "no fromHost rule for Secret (v1)"),
        ("none", "", "", "no rule syncs Secret (v1)"),
    ],
)
def test_reference_needs_a_rule_in_its_follow_direction(
    follow: str, to_host: str, from_host: str, fragment: str
) -> None:
    text = spec(
        f"""
        toHost:
          - apiVersion: example.com/v1
            kind: Widget
            references:
              - {{path: $.spec.secret, kind: Secret, apiVersion: v1, follow: {follow}}}
          {"- " + to_host if to_host else ""}
        fromHost: [{from_host}]
        """
    )
    error = only_error(text)
    assert fragment in error.message
    assert at(error) == where(text, "Secret")
    assert error.field_path == "spec.toHost[0].references[0].kind"


def test_reference_version_must_match_the_rule() -> None:
    text = spec(
        """
        toHost:
          - apiVersion: example.com/v1
            kind: Widget
            references: [{path: $.spec.gadget, kind: Gadget, apiVersion: example.com/v1beta1}]
          - {apiVersion: example.com/v1, kind: Gadget}
        """
    )
    error = only_error(text)
    assert at(error) == where(text, "example.com/v1beta1")
    assert "synced as example.com/v1" in error.message


def test_omitted_reference_api_version() -> None:
    resolved = spec(
        """
        toHost:
          - apiVersion: example.com/v1
            kind: Widget
            references: [{path: $.spec.gadget, kind: Gadget, follow: toHost}]
          - {apiVersion: example.com/v2, kind: Gadget, mode: referenced}
        fromHost:
          - {apiVersion: other.io/v1, kind: Gadget, mode: referenced}
        """
    )
    config = load_text(resolved).raise_for_errors()
    assert config.rules[0].references[0].api_version == "example.com/v2"
    assert config.rules[0].references[0].gvk == GroupVersionKind("example.com", "v2", "Gadget")

    ambiguous = resolved.replace("follow: toHost", "follow: none")
    error = only_error(ambiguous)
    assert at(error) == where(ambiguous, "{path: $.spec.gadget")
    assert error.field_path == "spec.toHost[0].references[0].apiVersion"
    assert "several: example.com/v2, other.io/v1" in error.message

    none = resolved.replace("kind: Gadget, follow", "kind: Gizmo, follow")
    error = only_error(none)
    assert at(error) == where(none, "{path: $.spec.gadget")
    assert "no toHost rule has kind Gizmo" in error.message


@pytest.mark.parametrize(
    ("snippet", "needle", "field"),
    [
        ("patches: {toHost: [{op: remove, path: '$.a['}]}", "'$.a['", "patches.toHost[0].path"),
        ("patches: {toVirtual: [{op: copy, path: $.a, from: 'spec.x'}]}", "'spec.x'", "patches.toVirtual[0].from"),
        (
            "patches: {toHost: [{op: remove, path: $.a, when: {path: '$$', exists: true}}]}",
            "'$$'",
            "patches.toHost[0].when.path",
        ),
        ("references: [{path: '$.a b', kind: ConfigMap}]", "'$.a b'", "references[0].path"),
        ("references: [{path: $.a, kind: ConfigMap, namespacePath: '$.[x'}]", "'$.[x'", "references[0].namespacePath"),
        ("references: [{path: $.a, kind: ConfigMap, when: {path: '$.(', in: []}}]", "'$.('", "references[0].when.path"),
        (
            "references: [{path: $.a, kind: ConfigMap, when: [{path: $.b, exists: true}, {path: '$.(', in: []}]}]",
            "'$.('",
            "references[0].when[1].path",
        ),
        (
            "patches: {toVirtual: [{op: remove, path: $.a, when: [{path: '$.[', exists: true}]}]}",
            "'$.['",
            "patches.toVirtual[0].when[0].path",
        ),
        ("status: {paths: [$.status.x, '$.status[']}", "'$.status['", "status.paths[1]"),
        ("status: {observedGenerationPaths: ['$.status.(']}", "'$.status.('", "status.observedGenerationPaths[0]"),
    ],
)
def test_invalid_json_paths_everywhere(snippet: str, needle: str, field: str) -> None:
    text = spec(f"toHost:\n  - apiVersion: v1\n    kind: ConfigMap\n    {snippet}\n")
    error = only_error(text)
    assert at(error) == where(text, needle)
    assert error.field_path == f"spec.toHost[0].{field}"
    assert "JSONPath" in error.message


WHEN_RULE = """\
toHost:
  - apiVersion: v1
    kind: ConfigMap
    references:
      - path: $.a
        kind: ConfigMap
        when: %s
    patches:
      toHost:
        - {op: remove, path: $.b, when: %s}
"""


def test_when_is_one_condition_or_a_list_of_them() -> None:
    single = "{path: $.k, in: [x, null]}"
    listed = "[{path: $.k, in: [x, null]}, {path: $.g, notIn: [other]}, {path: $.e, exists: true}]"
    text = spec(WHEN_RULE % (single, listed))
    (rule,) = load_text(text, "t.yaml").raise_for_errors().rules
    (condition,) = rule.references[0].when
    assert (condition.path, condition.in_, condition.not_in, condition.exists) == ("$.k", ("x", None), None, None)
    assert (condition.location.line, condition.location.column) == where(text, single)
    assert [(c.path, c.in_, c.not_in, c.exists) for c in rule.patches_to_host[0].when] == [
        ("$.k", ("x", None), None, None),
        ("$.g", None, ("other",), None),
        ("$.e", None, None, True),
    ]
    # Each condition of a list is located at its own mapping.
    assert [(c.location.line, c.location.column) for c in rule.patches_to_host[0].when] == [
        where(text, "{path: $.k, in: [x, null]}, {path: $.g"),
        where(text, "{path: $.g"),
        where(text, "{path: $.e"),
    ]


def _tests(when: tuple[Condition, ...]) -> list[tuple[Any, ...]]:
    return [(c.path, c.in_, c.not_in, c.exists) for c in when]


def test_single_condition_means_the_same_as_a_one_item_list() -> None:
    one = load_text(spec(WHEN_RULE % ("{path: $.k, in: [x]}", "{path: $.k, exists: false}")), "t.yaml")
    listed = load_text(spec(WHEN_RULE % ("[{path: $.k, in: [x]}]", "[{path: $.k, exists: false}]")), "t.yaml")
    one_rule, listed_rule = one.raise_for_errors().rules[0], listed.raise_for_errors().rules[0]
    assert _tests(one_rule.references[0].when) == [("$.k", ("x",), None, None)]
    assert _tests(one_rule.references[0].when) == _tests(listed_rule.references[0].when)
    assert _tests(one_rule.patches_to_host[0].when) == _tests(listed_rule.patches_to_host[0].when)


def test_absent_and_empty_when_always_hold() -> None:
    text = spec(WHEN_RULE % ("[]", "[]"))
    (rule,) = load_text(text, "t.yaml").raise_for_errors().rules
    assert rule.references[0].when == () and rule.patches_to_host[0].when == ()
    plain = load_text(spec("toHost: [{apiVersion: v1, kind: ConfigMap, references: [{path: $.a, kind: ConfigMap}]}]"))
    assert plain.raise_for_errors().rules[0].references[0].when == ()


@pytest.mark.parametrize(
    ("when", "needle", "field", "message"),
    [
        ("x", "x\n", "when", "expected a condition (a mapping with path and in, notIn or exists) or a list of "
         "conditions, got 'x'"),
        ("[{path: $.k, in: [x]}, 7]", "7]", "when[1]", "expected a mapping, got the number 7"),
        ("[{path: $.k, in: [x]}, {path: $.j}]", "{path: $.j}", "when[1]",
         "a condition needs at least one test: in, notIn, exists, equal, notEqual or empty"),
        ("[{path: $.k, in: [x]}, {path: $.j, in: [y], exits: true}]", "exits", "when[1].exits",
         "unknown key 'exits'; did you mean 'exists'?"),
        ("{path: $.k, in: x}", "x}", "when.in", "expected a list, got 'x'"),
    ],
)
def test_bad_when_is_reported_at_the_condition(when: str, needle: str, field: str, message: str) -> None:
    text = spec(WHEN_RULE % (when, "[]"))
    error = only_error(text)
    assert error.field_path == f"spec.toHost[0].references[0].{field}"
    assert error.message == message
    assert at(error) == where(text, needle)


def test_empty_path_is_reported_once() -> None:
    text = spec("toHost: [{apiVersion: v1, kind: ConfigMap, references: [{path: '', kind: ConfigMap}]}]")
    assert only_error(text).message == "must not be empty"


@pytest.mark.parametrize(
    ("naming", "needle"),
    [("{maxLength: 17, hashLength: 16}", "hashLength: 16"), ("{maxLength: 17}", "maxLength: 17")],
)
def test_hash_length_must_fit(naming: str, needle: str) -> None:
    text = spec(f"toHost: [{{apiVersion: v1, kind: ConfigMap, naming: {naming}}}]")
    error = only_error(text)
    assert at(error) == tuple(a + b for a, b in zip(where(text, needle), (0, len(needle) - 2), strict=True))
    assert "hashLength 16 does not fit in maxLength 17" in error.message
    assert load_text(text.replace("maxLength: 17", "maxLength: 18")).ok


@pytest.mark.parametrize(
    ("naming", "fragment"),
    [("{maxLength: 254}", "at most 253"), ("{hashLength: 12}", "at least 13"), ("{hashLength: 33}", "at most 32")],
)
def test_naming_ranges(naming: str, fragment: str) -> None:
    assert fragment in only_error(spec(f"toHost: [{{apiVersion: v1, kind: ConfigMap, naming: {naming}}}]")).message


def test_hash_length_too_short_to_be_a_tenant_boundary_is_a_located_error() -> None:
    # 12 base32 characters are 60 bits: a second preimage of a victim's hash is within reach of rented GPUs.
    text = spec("toHost: [{apiVersion: v1, kind: ConfigMap, naming: {maxLength: 63, hashLength: 12}}]")
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].naming.hashLength"
    assert error.location.file == "t.yaml"
    assert at(error) == where(text, "12}")
    assert error.message == "the number 12 is out of range: must be at least 13"
    assert load_text(text.replace("hashLength: 12", "hashLength: 13")).ok


def test_default_naming_hash_is_at_least_80_bits() -> None:
    config = load_text(spec("toHost: [{apiVersion: v1, kind: ConfigMap}]")).config
    assert config is not None
    (rule,) = config.rules
    assert rule.naming == Naming()
    assert rule.naming.hash_length * 5 >= 80


@pytest.mark.parametrize("path", ["$.spec", "$..status", "$.*", "$", "$.statuses"])
def test_status_paths_must_stay_under_status(path: str) -> None:
    text = spec(f"toHost: [{{apiVersion: v1, kind: ConfigMap, status: {{paths: [$.status.ok, '{path}']}}}}]")
    error = only_error(text)
    assert at(error) == where(text, f"'{path}'")
    assert error.field_path == "spec.toHost[0].status.paths[1]"
    assert "outside $.status" in error.message


@pytest.mark.parametrize("path", ["$.metadata.generation", "$..observedGeneration", "$"])
def test_observed_generation_paths_must_stay_under_status(path: str) -> None:
    text = spec(
        f"toHost: [{{apiVersion: v1, kind: ConfigMap, status: {{observedGenerationPaths: [$.status.a, '{path}']}}}}]"
    )
    error = only_error(text)
    assert at(error) == where(text, f"'{path}'")
    assert error.field_path == "spec.toHost[0].status.observedGenerationPaths[1]"
    assert error.message.startswith(f"observedGeneration path '{path}' is outside $.status")


def test_observed_generation_paths_default_custom_and_off() -> None:
    text = spec(
        """
        toHost:
          - {apiVersion: v1, kind: ConfigMap}
          - {apiVersion: v1, kind: Secret, status: {observedGenerationPaths: ['$.status.parts[*].observedGeneration']}}
          - {apiVersion: example.com/v1, kind: Widget, status: {observedGenerationPaths: []}}
        """
    )
    default, custom, off = load_text(text, "t.yaml").raise_for_errors().rules
    assert default.status.observed_generation_paths == (
        "$.status.observedGeneration",
        "$.status.conditions[*].observedGeneration",
    )
    assert custom.status.observed_generation_paths == ("$.status.parts[*].observedGeneration",)
    assert off.status.observed_generation_paths == ()


@pytest.mark.parametrize(
    ("direction", "snippet", "needle", "field", "fragment"),
    [
        ("fromHost", "deletion: {finalizer: true}", "true", "deletion.finalizer", "finalizer applies to toHost"),
        ("toHost", "host: {namespaces: [a]}", "host", "host", "host applies to fromHost rules only"),
        ("toHost", "readOnly: false", "readOnly", "readOnly", "readOnly applies to fromHost rules only"),
        ("fromHost", "status: {sync: false}", "status", "status", "status applies to toHost rules only"),
        ("fromHost", "namespaces: [a]", "namespaces", "namespaces", "namespaces selects virtual namespaces"),
        ("fromHost", "namespaceSelector: {}", "namespaceSelector", "namespaceSelector", "selects virtual namespaces"),
        ("fromHost", "patches: {toHost: [{op: remove, path: $.a}]}", "toHost:", "patches.toHost", "never writes"),
        ("fromHost", "naming: {maxLength: 63}", "naming", "naming", "keeps host names"),
        ("fromHost", "mode: referenced, host: {names: [a]}", "host", "host", "host applies to mode: all only"),
    ],
)
def test_direction_and_mode_specific_fields(
    direction: str, snippet: str, needle: str, field: str, fragment: str
) -> None:
    text = spec(f"{direction}: [{{apiVersion: v1, kind: ConfigMap, {snippet}}}]")
    error = only_error(text)
    assert fragment in error.message
    assert at(error) == where(text, needle)
    assert error.field_path == f"spec.{direction}[0].{field}"


def test_finalizer_false_on_from_host_is_harmless() -> None:
    assert load_text(spec("fromHost: [{apiVersion: v1, kind: ConfigMap, deletion: {finalizer: false}}]")).ok


def test_many_errors_are_all_reported() -> None:
    text = spec(
        """
        toHost:
          - apiVersion: cert-manager.io/v1
            kind: Certificate
            scop: Namespaced
            mode: sometimes
            selector: {matchLabels: {shared: true}}
            naming: {maxLength: 14, hashLength: 13}
            patches: {toHost: [{op: copy, path: $.spec.x}, {op: set, path: "$.a[", value: 1}]}
            status: {paths: [$.spec.x]}
            references:
              - {path: $.spec.issuerRef.name, kind: Issuer}
              - {path: $.spec.x, kind: Thing, apiVersion: example.com/v1, follow: toHost}
            host: {namespaces: [a]}
            deletion: {policy: Keep}
          - {apiVersion: cert-manager.io/v1beta1, kind: Certificate}
        fromHost:
          - {apiVersion: cert-manager.io/v1, kind: Certificate, deletion: {finalizer: true}}
        """
    )
    fields = [e.field_path for e in errors_of(text)]
    assert fields == [
        "spec.toHost[0].scop",
        "spec.toHost[0].mode",
        "spec.toHost[0].selector.matchLabels.shared",
        "spec.toHost[0].naming.hashLength",
        "spec.toHost[0].patches.toHost[0].from",
        "spec.toHost[0].patches.toHost[1].path",
        "spec.toHost[0].status.paths[0]",
        "spec.toHost[0].references[0].apiVersion",
        "spec.toHost[0].references[1].kind",
        "spec.toHost[0].host",
        "spec.toHost[0].deletion.policy",
        "spec.toHost[1].kind",
        "spec.fromHost[0].kind",
        "spec.fromHost[0].deletion.finalizer",
    ]


def test_loaded_config_is_immutable_plain_values() -> None:
    text = spec(
        """
        toHost:
          - apiVersion: v1
            kind: ConfigMap
            patches: {toHost: [{op: set, path: $.data, value: {k: [1, 2.5, true, null]}}]}
        """
    )
    result: LoadResult = load_text(text)
    patch = result.raise_for_errors().rules[0].patches_to_host[0]
    assert patch.value == {"k": [1, 2.5, True, None]}
    assert type(patch.value) is dict and type(patch.value["k"]) is list


def test_missing_schema_is_a_located_error_not_a_crash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from crdsync.spec import schema

    caches = (schema._cached_schema, schema.validator, schema.defined_pattern)
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setattr(schema, "schema_candidates", lambda: (tmp_path / "nowhere.json",))
    try:
        (error,) = load_text(spec("toHost: [{apiVersion: v1, kind: ConfigMap}]")).errors
        assert error.location.file == "mapping.schema.json"
        assert "not found (looked in:" in error.message and "nowhere.json" in error.message
    finally:
        monkeypatch.undo()
        for cache in caches:
            cache.cache_clear()
    assert load_text(spec("toHost: [{apiVersion: v1, kind: ConfigMap}]")).ok


def test_follow_from_host_to_a_kind_shared_by_name_is_refused() -> None:
    """Tenant isolation, break 3: importing by reference through a mode-all rule would hand a tenant any host object of
    the kind it can name (e.g. another tenant's ConfigMap `other-tenant/db-credentials`)."""
    text = spec(
        """
        toHost:
          - apiVersion: example.com/v1
            kind: Widget
            references:
              - {path: $.spec.config.name, kind: ConfigMap, apiVersion: v1, follow: fromHost,
                 namespacePath: $.spec.config.namespace}
        fromHost:
          - {apiVersion: v1, kind: ConfigMap}
        """
    )
    error = only_error(text)
    assert error.field_path == "spec.toHost[0].references[0].follow"
    assert "keeps host names" in error.message
    assert at(error) == where(text, "fromHost,")
