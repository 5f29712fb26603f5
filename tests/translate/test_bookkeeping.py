"""Bookkeeping: written and read back, and not forgeable."""

from __future__ import annotations

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_GENERATION,
    ANN_SOURCE_KIND,
    ANN_SOURCE_NAME,
    ANN_SOURCE_NAMESPACE,
    ANN_SOURCE_SIDE,
    ANN_SOURCE_UID,
    LABEL_MANAGED_BY,
    LABEL_ROLE,
    LABEL_VCLUSTER,
    MANAGER,
    SourceRef,
    annotations_of,
    bookkeeping_annotations,
    bookkeeping_labels,
    carries_bookkeeping,
    is_managed,
    labels_of,
    source_generation,
    source_kind,
    source_of,
    without_ours,
)

CERT = GroupVersionKind("cert-manager.io", "v1", "Certificate")
SECRET = GroupVersionKind("", "v1", "Secret")


def copy_of(namespace: str | None, uid: str = "u-1") -> dict[str, object]:
    return {
        "metadata": {
            "labels": {"app": "x", **bookkeeping_labels("vc1", "copy")},
            "annotations": bookkeeping_annotations("virtual", CERT, namespace, "web", uid),
        }
    }


def test_constants_are_under_the_prefix() -> None:
    assert LABEL_MANAGED_BY == "crdsync.io/managed-by" and MANAGER == "crdsync"
    assert (LABEL_VCLUSTER, LABEL_ROLE) == ("crdsync.io/vcluster", "crdsync.io/role")
    assert ANN_SOURCE_NAME == "crdsync.io/source-name"
    assert {ANN_SOURCE_SIDE, ANN_SOURCE_NAMESPACE, ANN_SOURCE_UID, ANN_SOURCE_KIND} <= {
        "crdsync.io/source-side",
        "crdsync.io/source-namespace",
        "crdsync.io/source-uid",
        "crdsync.io/source-kind",
    }


def test_source_round_trip() -> None:
    assert source_of(copy_of("apps")) == SourceRef(
        "virtual", "cert-manager.io/Certificate", "apps", "web", "u-1", "vc1"
    )
    cluster = source_of(copy_of(None, uid=""))
    assert cluster is not None and cluster.namespace is None and cluster.uid == ""
    assert cluster.group_kind == ("cert-manager.io", "Certificate")
    assert source_kind(SECRET) == "/Secret"


def test_source_of_rejects_partial_or_foreign_bookkeeping() -> None:
    assert source_of({}) is None
    assert source_of({"metadata": {"labels": "oops"}}) is None
    no_label = copy_of("apps")
    no_label["metadata"]["labels"] = {}  # type: ignore[index]
    assert source_of(no_label) is None
    bad_side = copy_of("apps")
    bad_side["metadata"]["annotations"][ANN_SOURCE_SIDE] = "elsewhere"  # type: ignore[index]
    assert source_of(bad_side) is None


def test_is_managed_per_vcluster() -> None:
    obj = copy_of("apps")
    assert is_managed(obj) and is_managed(obj, "vc1")
    assert not is_managed(obj, "vc2")
    assert not is_managed({"metadata": {"labels": {LABEL_MANAGED_BY: "someone-else"}}})


def test_carries_bookkeeping() -> None:
    assert carries_bookkeeping(copy_of("apps"))
    assert carries_bookkeeping({"metadata": {"annotations": {ANN_SOURCE_NAME: "x"}}})
    assert not carries_bookkeeping({"metadata": {"labels": {"crdsync.io/shared": "true"}}})


def test_without_ours_strips_prefix_and_last_applied() -> None:
    values = {
        "a": "1",
        "crdsync.io/x": "2",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "x.crdsync.io/y": "3",
    }
    assert without_ours(values) == {"a": "1", "x.crdsync.io/y": "3"}
    assert without_ours(None) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7),
        ("0", 0),
        ("9223372036854775807", 2**63 - 1),
        ("", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1.0", None),
        ("٣", None),
        ("1" * 20, None),
        ("1" * 5000, None),
        (None, None),
    ],
)
def test_source_generation_reads_only_plain_decimals(value: str | None, expected: int | None) -> None:
    annotations = {} if value is None else {ANN_SOURCE_GENERATION: value}
    assert source_generation({"metadata": {"annotations": annotations}}) == expected
    assert source_generation({"metadata": {"annotations": {ANN_SOURCE_GENERATION: 7}}}) is None  # not a string
    assert ANN_SOURCE_GENERATION.startswith("crdsync.io/")  # so copies never carry a source's forged one


def test_a_recorded_digest_reads_back_only_when_well_formed() -> None:
    from crdsync.translate.bookkeeping import ANN_SOURCE_DIGEST, recorded_digest

    def copy(value: str) -> dict[str, object]:
        return {"metadata": {"annotations": {ANN_SOURCE_DIGEST: value}}}

    assert recorded_digest(copy("ab12.7")) == ("ab12", 7)
    assert recorded_digest(copy("ab12.123456789")) == ("ab12", 123456789)  # nine digits: any real field count
    for bad in ("ab12", "ab12.", ".7", "ab12.-1", "ab12.7x", "ab12.٣", "ab12.1234567890", "ab.12.7"):
        assert recorded_digest(copy(bad)) is None, bad
    assert recorded_digest({"metadata": {}}) is None


def test_only_string_labels_and_annotations_are_read() -> None:
    obj = {"metadata": {"labels": {"a": "1", "b": 2, 3: "c"}, "annotations": {"x": "y", "n": None}}}
    assert labels_of(obj) == {"a": "1"}
    assert annotations_of(obj) == {"x": "y"}
    malformed: list[object] = [None, "nonsense", []]
    for meta in malformed:
        assert labels_of({"metadata": meta}) == {} and annotations_of({"metadata": meta}) == {}
    assert annotations_of({"metadata": {"annotations": ["x"]}}) == {}


def test_reading_a_copys_labels_never_hands_out_the_copys_own_map() -> None:
    labels = {"a": "1"}
    read = labels_of({"metadata": {"labels": labels}})
    read["b"] = "2"
    assert labels == {"a": "1"}


@pytest.mark.parametrize(
    "broken",
    [
        {ANN_SOURCE_KIND: "Certificate"},  # no group separator
        {ANN_SOURCE_NAME: ""},
        {ANN_SOURCE_SIDE: "host-ish"},
    ],
)
def test_source_of_needs_a_side_a_group_kind_and_a_name(broken: dict[str, str]) -> None:
    obj = copy_of("apps")
    obj["metadata"]["annotations"].update(broken)  # type: ignore[index]
    assert source_of(obj) is None
    for key in (ANN_SOURCE_SIDE, ANN_SOURCE_KIND, ANN_SOURCE_NAME):
        partial = copy_of("apps")
        del partial["metadata"]["annotations"][key]  # type: ignore[index]
        assert source_of(partial) is None


def test_a_host_side_source_and_a_missing_uid_read_back() -> None:
    obj = {
        "metadata": {
            "labels": bookkeeping_labels("vc1", "copy"),
            "annotations": bookkeeping_annotations("host", SECRET, "shared", "ca", ""),
        }
    }
    assert source_of(obj) == SourceRef("host", "/Secret", "shared", "ca", "", "vc1")
    assert ANN_SOURCE_UID not in obj["metadata"]["annotations"]  # nothing recorded for a source without a uid
    assert SourceRef("host", "/Secret", None, "ca", "", None).group_kind == ("", "Secret")


@pytest.mark.parametrize("key", [ANN_SOURCE_SIDE, ANN_SOURCE_NAME, ANN_SOURCE_KIND])
def test_any_one_source_annotation_marks_a_copy(key: str) -> None:
    assert carries_bookkeeping({"metadata": {"annotations": {key: "x"}}})
    assert not carries_bookkeeping({"metadata": {"annotations": {ANN_SOURCE_UID: "x", "other": "y"}}})
    assert carries_bookkeeping({"metadata": {"labels": {LABEL_MANAGED_BY: "anyone"}}})


def test_managed_needs_our_manager_label_for_any_vcluster() -> None:
    assert not is_managed({"metadata": {"labels": {LABEL_VCLUSTER: "vc1"}}}, "vc1")
    assert not is_managed({})
    assert without_ours({}) == {}
