"""Patches and conditions: the laws (set/read back, remove removes, key rewrites invert) and located failures."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import Condition, Location, Patch, PatchOp
from crdsync.translate import paths
from crdsync.translate.errors import TranslationError
from crdsync.translate.patches import apply_patches, condition_holds, conditions_hold
from tests.translate.strategies import json_values, label_keys, label_values

HERE = Location("m.yaml", 7, 9)
OBJ: dict[str, Any] = {
    "metadata": {"name": "a", "labels": {"app": "web", "tier": "fe"}},
    "spec": {
        "y": "a",
        "things": [{"local": True}, {"local": False, "n": 1}],
        "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
    },
}


def test_set_copy_remove_in_order() -> None:
    patches = (
        Patch(PatchOp.SET, "$.spec.x", value={"deep": [1]}),
        Patch(PatchOp.COPY, "$.spec.z", from_path="$.metadata.uid"),
        Patch(PatchOp.REMOVE, "$.spec.things[?(@.local == true)]"),
    )
    before = copy.deepcopy(OBJ)
    out = apply_patches(patches, OBJ, {"metadata": {"uid": "u-1"}})
    assert out["spec"]["x"] == {"deep": [1]}
    assert out["spec"]["z"] == "u-1"
    assert out["spec"]["things"] == [{"local": False, "n": 1}]
    assert before == OBJ


def test_set_value_is_copied_not_shared() -> None:
    value: dict[str, Any] = {"k": []}
    out = apply_patches((Patch(PatchOp.SET, "$.spec.x", value=value),), OBJ, None)
    out["spec"]["x"]["k"].append(1)
    assert value == {"k": []}


def test_copy_without_source_match_leaves_target_alone() -> None:
    out = apply_patches((Patch(PatchOp.COPY, "$.spec.y", from_path="$.missing"),), OBJ, {})
    assert out["spec"]["y"] == "a"


def test_copy_without_other_object_is_a_located_error() -> None:
    with pytest.raises(TranslationError) as info:
        apply_patches((Patch(PatchOp.COPY, "$.spec.y", from_path="$.x", location=HERE),), OBJ, None)
    assert str(info.value).startswith("m.yaml:7:9: ")


@pytest.mark.parametrize(
    ("cond", "holds"),
    [
        (Condition("$.spec.y", in_=("a", None)), True),
        (Condition("$.spec.missing", in_=("a", None)), True),
        (Condition("$.spec.y", in_=("b",)), False),
        (Condition("$.spec.y", not_in=("a",)), False),
        (Condition("$.spec.missing", exists=False), True),
        (Condition("$.spec.y", exists=True, in_=("a",)), True),
        (Condition("$.spec.things[0].local", in_=(1,)), False),  # JSON: true is not 1
        (Condition("$.spec.things[0].local", in_=(True,)), True),
        (None, True),
    ],
)
def test_condition_holds(cond: Condition | None, holds: bool) -> None:
    assert condition_holds(cond, OBJ) is holds


# Small domains, so generated conditions hold and fail about equally often.
_FIELDS = ("$.spec.kind", "$.spec.group", "$.spec.missing")
_VALUES = ("Issuer", "cert-manager.io", "", None)


@st.composite
def small_conditions(draw: st.DrawFn) -> Condition:
    tests = draw(st.sets(st.sampled_from(["in", "notIn", "exists"]), min_size=1))
    values = st.lists(st.sampled_from(_VALUES), min_size=1, max_size=2).map(tuple)
    return Condition(
        draw(st.sampled_from(_FIELDS)),
        in_=draw(values) if "in" in tests else None,
        not_in=draw(values) if "notIn" in tests else None,
        exists=draw(st.booleans()) if "exists" in tests else None,
    )


small_objects = st.fixed_dictionaries(
    {},
    optional={"kind": st.sampled_from(_VALUES), "group": st.sampled_from(_VALUES)},
).map(lambda spec: {"spec": spec})


@settings(max_examples=200, deadline=None)
@given(st.lists(small_conditions(), max_size=4), small_objects)
def test_a_conjunction_holds_iff_each_condition_holds_alone(when: list[Condition], obj: dict[str, Any]) -> None:
    conjunction = conditions_hold(tuple(when), obj)
    assert conjunction is all(conditions_hold((c,), obj) for c in when)
    assert conjunction is conditions_hold(tuple(reversed(when)), obj)  # order never changes the outcome
    # ... and as patch guards: the guarded patch applies iff every singly-guarded patch would.
    patched = apply_patches((Patch(PatchOp.SET, "$.hit", value=True, when=tuple(when)),), obj, None)
    alone = [apply_patches((Patch(PatchOp.SET, "$.hit", value=True, when=(c,)),), obj, None) for c in when]
    assert ("hit" in patched) is conjunction is all("hit" in out for out in alone)


@settings(max_examples=100, deadline=None)
@given(st.lists(small_conditions(), max_size=3), st.lists(small_conditions(), max_size=3), small_objects)
def test_conjunctions_compose(first: list[Condition], second: list[Condition], obj: dict[str, Any]) -> None:
    both = conditions_hold((*first, *second), obj)
    assert both is (conditions_hold(tuple(first), obj) and conditions_hold(tuple(second), obj))


def test_empty_when_always_holds() -> None:
    assert conditions_hold((), OBJ) is True
    assert conditions_hold((), {}) is True


def test_kind_and_group_together() -> None:
    when = (Condition("$.kind", in_=("Issuer", "", None)), Condition("$.group", in_=("cert-manager.io", "", None)))
    assert conditions_hold(when, {"name": "x"})
    assert conditions_hold(when, {"kind": "Issuer", "group": "cert-manager.io"})
    assert conditions_hold(when, {"kind": "", "group": ""})
    assert not conditions_hold(when, {"kind": "Issuer", "group": "example.com"})  # an external "Issuer"
    assert not conditions_hold(when, {"kind": "ClusterIssuer"})


def test_conditions_stop_at_the_first_that_fails_and_errors_are_located_at_their_condition() -> None:
    bad = Condition("$.x[?(@.a > 1)]", exists=True, location=HERE)  # comparing a list with 1 cannot be evaluated
    obj = {"x": [{"a": [1]}], "k": "v"}
    # The first condition fails, so the broken one is never evaluated.
    assert conditions_hold((Condition("$.k", in_=("other",)), bad), obj) is False
    with pytest.raises(TranslationError, match="cannot evaluate") as info:
        conditions_hold((Condition("$.k", in_=("v",)), bad), obj)
    assert info.value.location == HERE


def test_unevaluable_filter_guarding_a_remove_fails_closed() -> None:
    # The shipped example strips privileged sidecars. A tenant spells the flag so the filter cannot judge it (a string,
    # a number, a list, a map: an operator with lenient parsing may still read it as true). jsonpath-ng 1.16 reads
    # each as "no match", so the remove would let the sidecar through to the host; it must fail instead.
    remove = Patch(PatchOp.REMOVE, "$.spec.sidecars[?(@.privileged == true)]", location=HERE)
    for sneaky in ("true", 1, [True], {"value": True}):
        obj = {"spec": {"sidecars": [{"name": "plain"}, {"name": "root", "privileged": sneaky}]}}
        with pytest.raises(TranslationError, match="cannot evaluate filter") as info:
            apply_patches((remove,), obj, None)
        assert info.value.location == HERE
        assert info.value.path == remove.path
    # An order, too: "8" > 4 held before jsonpath-ng 1.16 (it coerced the data with int()), from 1.16 silently not.
    cap = Patch(PatchOp.REMOVE, "$.spec.sidecars[?(@.cpus > 4)]", location=HERE)
    with pytest.raises(TranslationError, match="cannot compare a string '8' with a number 4"):
        apply_patches((cap,), {"spec": {"sidecars": [{"cpus": "8"}]}}, None)
    # Well-typed data keeps its meaning: only privileged: true goes; false, absent and null stay.
    sidecars = [{"name": "a", "privileged": True}, {"name": "b", "privileged": False}, {"name": "c"}]
    sidecars.append({"name": "d", "privileged": None})
    out = apply_patches((remove,), {"spec": {"sidecars": sidecars}}, None)
    assert [s["name"] for s in out["spec"]["sidecars"]] == ["b", "c", "d"]


def test_unevaluable_filter_in_a_when_condition_fails_closed() -> None:
    # Guarding a patch with `exists` on a filtered path: an unjudgeable item must not read as "none exists".
    cond = Condition("$.spec.sidecars[?(@.privileged == true)]", exists=False, location=HERE)
    obj = {"spec": {"sidecars": [{"privileged": "yes"}]}}
    with pytest.raises(TranslationError, match="cannot evaluate filter") as info:
        apply_patches((Patch(PatchOp.SET, "$.spec.trusted", value=True, when=(cond,)),), obj, None)
    assert info.value.location == HERE


def test_when_guards_a_patch_against_the_object_patched_so_far() -> None:
    patches = (
        Patch(PatchOp.SET, "$.spec.y", value="b"),
        Patch(PatchOp.SET, "$.spec.hit", value=True, when=(Condition("$.spec.y", in_=("b",)),)),
        Patch(PatchOp.SET, "$.spec.miss", value=True, when=(Condition("$.spec.y", in_=("a",)),)),
    )
    out = apply_patches(patches, OBJ, None)
    assert out["spec"]["hit"] is True
    assert "miss" not in out["spec"]


def test_rewrite_label_keys_map_then_prefix() -> None:
    patch = Patch(PatchOp.REWRITE_LABEL_KEYS, "$.metadata.labels", key_map=(("app", "tenant-app"),), key_prefix="vc/")
    assert apply_patches((patch,), OBJ, None)["metadata"]["labels"] == {"tenant-app": "web", "vc/tier": "fe"}


def test_rewrite_label_selector() -> None:
    patch = Patch(PatchOp.REWRITE_LABEL_SELECTOR, "$.spec.selector", key_prefix="vc/")
    selector = apply_patches((patch,), OBJ, None)["spec"]["selector"]
    assert selector == {
        "matchLabels": {"vc/app": "web"},
        "matchExpressions": [{"key": "vc/tier", "operator": "Exists"}],
    }


def test_rewrite_collision_is_a_located_error() -> None:
    patch = Patch(PatchOp.REWRITE_LABEL_KEYS, "$.metadata.labels", key_map=(("app", "tier"),), location=HERE)
    with pytest.raises(TranslationError, match="appear twice") as info:
        apply_patches((patch,), OBJ, None)
    assert info.value.location == HERE
    assert info.value.path == "$.metadata.labels"


def test_rewrite_of_a_non_map_is_a_located_error() -> None:
    patch = Patch(PatchOp.REWRITE_LABEL_KEYS, "$.spec.y", key_prefix="p/", location=HERE)
    with pytest.raises(TranslationError, match="needs a map of labels"):
        apply_patches((patch,), OBJ, None)


def test_set_type_mismatch_is_located_at_the_patch() -> None:
    with pytest.raises(TranslationError) as info:
        apply_patches((Patch(PatchOp.SET, "$.spec.y.z", value=1, location=HERE),), OBJ, None)
    assert info.value.location == HERE
    assert "not a map" in str(info.value)


@settings(deadline=None)
@given(
    json_values(), st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=4), min_size=1, max_size=3), json_values()
)
def test_set_patch_then_read_back(base: Any, chain: list[str], value: Any) -> None:
    path = "$.spec." + ".".join(chain)
    try:
        out = apply_patches((Patch(PatchOp.SET, path, value=value),), {"spec": base}, None)
    except TranslationError as exc:
        assert "not a map" in str(exc)
        return
    assert paths.get_all(out, path) == [value]


@settings(deadline=None)
@given(json_values(), st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=4), min_size=1, max_size=3))
def test_remove_patch_removes(base: Any, chain: list[str]) -> None:
    path = "$.spec." + ".".join(chain)
    out = apply_patches((Patch(PatchOp.REMOVE, path),), {"spec": base}, None)
    assert not paths.has_match(out, path)


@st.composite
def labels_and_bijection(draw: st.DrawFn) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    labels = draw(st.dictionaries(label_keys, label_values, max_size=8))
    renamed = draw(st.lists(st.sampled_from(sorted(labels)), unique=True)) if labels else []
    fresh = draw(
        st.lists(
            label_keys.filter(lambda k: k not in labels), min_size=len(renamed), max_size=len(renamed), unique=True
        )
    )
    return labels, tuple(zip(renamed, fresh, strict=True))


@settings(deadline=None)
@given(labels_and_bijection())
def test_rewrite_label_keys_then_inverse_restores(case: tuple[dict[str, str], tuple[tuple[str, str], ...]]) -> None:
    labels, key_map = case
    obj = {"metadata": {"labels": labels}}
    forward = Patch(PatchOp.REWRITE_LABEL_KEYS, "$.metadata.labels", key_map=key_map)
    inverse = Patch(PatchOp.REWRITE_LABEL_KEYS, "$.metadata.labels", key_map=tuple((b, a) for a, b in key_map))
    there = apply_patches((forward,), obj, None)
    assert set(there["metadata"]["labels"]).isdisjoint(a for a, _ in key_map)
    assert apply_patches((inverse,), there, None) == obj
