"""Patches and conditions: the laws (set/read back, remove removes, key rewrites invert) and located failures.

Longer than ~400 lines on purpose: it mirrors translate/patches.py, whose every op and condition form has its law or
example here, side by side with the ones it interacts with.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import Condition, KeyStyle, Location, Patch, PatchOp
from crdsync.translate import paths
from crdsync.translate.errors import TranslationError
from crdsync.translate.patches import apply_patches, condition_holds, conditions_hold, vcluster_label_key
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
    assert paths.get_all(out, path) == []


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


# --- vcluster's ops: add, replace, rewriteLabelKey, keyStyle, and conditions with subPath / equal / notEqual / empty


def _add(path: str, value: Any, *when: Condition) -> Patch:
    return Patch(PatchOp.ADD, path, value=value, when=when, location=HERE)


@pytest.mark.parametrize(
    ("obj", "patch", "expected"),
    [
        # a map match: merged, the value's keys win
        (
            {"spec": {"m": {"a": 1, "b": 2}}},
            _add("$.spec.m", {"b": 3, "c": 4}),
            {"spec": {"m": {"a": 1, "b": 3, "c": 4}}},
        ),
        # a list match: appended as one item, also when the value is a list
        ({"spec": {"l": [1]}}, _add("$.spec.l", [2, 3]), {"spec": {"l": [1, [2, 3]]}}),
        # an item of a list: inserted before it
        ({"spec": {"l": ["a", "b"]}}, _add("$.spec.l[1]", "x"), {"spec": {"l": ["a", "x", "b"]}}),
        # nothing matches: created with the missing maps
        ({"spec": {}}, _add("$.spec.a.b", 1), {"spec": {"a": {"b": 1}}}),
        # nothing matches under each existing item: created in every item
        ({"spec": {"l": [{}, {"k": 1}]}}, _add("$.spec.l[*].x", 0), {"spec": {"l": [{"x": 0}, {"k": 1, "x": 0}]}}),
        # an index into an existing list appends; into a missing list makes one
        ({"spec": {"l": [1]}}, _add("$.spec.l[5]", 2), {"spec": {"l": [1, 2]}}),
        ({"spec": {}}, _add("$.spec.l[0]", 2), {"spec": {"l": [2]}}),
        # a null on the way or at the match counts as missing
        ({"spec": None}, _add("$.spec.a", 1), {"spec": {"a": 1}}),
        ({"spec": {"a": None}}, _add("$.spec.a", 1), {"spec": {"a": 1}}),
        # wildcards over nothing create nothing (no item is named)
        ({"spec": {"l": []}}, _add("$.spec.l[*].x", 0), {"spec": {"l": []}}),
    ],
)
def test_add_has_vclusters_semantics(obj: dict[str, Any], patch: Patch, expected: dict[str, Any]) -> None:
    assert apply_patches((patch,), obj, None) == expected


@pytest.mark.parametrize(
    ("obj", "patch", "message"),
    [
        ({"spec": {"m": {}}}, _add("$.spec.m", 1), "add merges a map"),
        ({"spec": {"s": "x"}}, _add("$.spec.s", 1), "use replace or set"),
        ({"spec": "x"}, _add("$.spec.a", 1), "not a map"),
    ],
)
def test_add_refuses_what_vcluster_would_corrupt(obj: dict[str, Any], patch: Patch, message: str) -> None:
    with pytest.raises(TranslationError, match=message) as info:
        apply_patches((patch,), obj, None)
    assert str(info.value).startswith("m.yaml:7:9: ")


def test_replace_touches_existing_matches_only() -> None:
    replace = Patch(PatchOp.REPLACE, "$.spec.things[*].n", value=9)
    assert apply_patches((replace,), OBJ, None)["spec"]["things"] == [{"local": True}, {"local": False, "n": 9}]
    assert apply_patches((Patch(PatchOp.REPLACE, "$.spec.missing", value=1),), OBJ, None) == OBJ


@pytest.mark.parametrize(
    ("cond", "holds"),
    [
        # vcluster's answer for a missing path: notEqual and empty: true hold, equal and empty: false do not
        (Condition("$.spec.missing", equal="a"), False),
        (Condition("$.spec.missing", not_equal="a"), True),
        (Condition("$.spec.missing", empty=True), True),
        (Condition("$.spec.missing", empty=False), False),
        # a match compares by its text
        (Condition("$.spec.y", equal="a"), True),
        (Condition("$.spec.y", not_equal="a"), False),
        (Condition("$.spec.things[1].n", equal="1"), True),
        (Condition("$.spec.things[1].n", equal=1), True),
        (Condition("$.spec.things[0].local", equal="true"), True),
        (Condition("$.spec.things[0].local", equal=True), True),
        (Condition("$.spec.y", empty=False), True),
        (Condition("$.spec.empty", empty=True), True),
        (Condition("$.spec.null", equal="null"), True),
        (Condition("$.spec.null", empty=True), False),  # an explicit null is the text "null", as in vcluster
        # maps and lists: never equal, never empty
        (Condition("$.spec.things", equal="[]"), False),
        (Condition("$.spec.things", not_equal="x"), True),
        (Condition("$.spec.things", empty=False), True),
        # any match passes
        (Condition("$.spec.things[*].local", equal="false"), True),
        (Condition("$.spec.things[*].local", not_equal="true"), True),
    ],
)
def test_vcluster_condition_tests(cond: Condition, holds: bool) -> None:
    obj = {**OBJ, "spec": {**OBJ["spec"], "empty": "", "null": None}}
    assert condition_holds(cond, obj) is holds


def test_sub_path_conditions_are_tested_per_match() -> None:
    items = {"spec": {"ports": [{"name": "http", "port": 80}, {"name": "db", "port": 5432}, {"port": 1}]}}
    keep_db = Condition("$.name", equal="db", relative=True)
    out = apply_patches((Patch(PatchOp.REMOVE, "$.spec.ports[*]", when=(keep_db,)),), items, None)
    assert out["spec"]["ports"] == [{"name": "http", "port": 80}, {"port": 1}]
    unnamed = Condition("$.name", empty=True, relative=True)
    out = apply_patches((Patch(PatchOp.REPLACE, "$.spec.ports[*].port", value=0, when=(unnamed,)),), items, None)
    # the match is the port number: it has no name below it, so empty: true holds for each
    assert [p["port"] for p in out["spec"]["ports"]] == [0, 0, 0]
    # where add creates its field there is no match: notEqual holds, equal does not
    create = apply_patches((_add("$.spec.x", 1, Condition("$", not_equal="z", relative=True)),), {"spec": {}}, None)
    assert create == {"spec": {"x": 1}}
    assert apply_patches((_add("$.spec.x", 1, Condition("$", equal="z", relative=True)),), {"spec": {}}, None) == {
        "spec": {}
    }


def test_sub_path_condition_without_a_match_is_a_located_error() -> None:
    cond = Condition("$.a", equal="x", relative=True, location=Location("m.yaml", 3, 3))
    with pytest.raises(TranslationError, match="subPath") as info:
        conditions_hold((cond,), OBJ)
    assert str(info.value).startswith("m.yaml:3:3: ")


def _vcluster_key(key: str, vcluster: str) -> str:
    # An independent transcription of vcluster v0.27.0 convertLabelKeyWithPrefix + SafeConcatName.
    full = "-".join(["vcluster.loft.sh/label", vcluster, "x", hashlib.sha256(key.encode()).hexdigest()[0:10]])
    if len(full) > 63:
        full = (full[0:52] + "-" + hashlib.sha256(full.encode()).hexdigest()[0:10]).replace(".-", "-")
    return full


def test_vcluster_label_keys_worked_examples() -> None:
    assert (
        vcluster_label_key("release", "vc")
        == "vcluster.loft.sh/label-vc-x-" + hashlib.sha256(b"release").hexdigest()[:10]
    )
    # v0.21-v0.27 keep every key but vcluster's own; v0.14-v0.20 hashed every key
    assert vcluster_label_key("app", "vc") == "app"
    assert vcluster_label_key("app", "vc", KeyStyle.VCLUSTER_LEGACY) == _vcluster_key("app", "vc")
    long_name = "a-very-long-virtual-cluster-name-for-truncation"
    got = vcluster_label_key("vcluster.loft.sh/managed-by", long_name)
    assert got == _vcluster_key("vcluster.loft.sh/managed-by", long_name) and len(got) == 63


@settings(deadline=None)
@given(label_keys, st.text(alphabet="abc-.x", min_size=1, max_size=60))
def test_vcluster_label_keys_match_an_independent_transcription(key: str, vcluster: str) -> None:
    assert vcluster_label_key(key, vcluster, KeyStyle.VCLUSTER_LEGACY) == _vcluster_key(key, vcluster)


def test_key_style_rewrites_maps_selectors_and_key_strings() -> None:
    obj = {
        "spec": {
            "labels": {"release": "r", "app": "a"},
            "selector": {"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "release", "operator": "Exists"}]},
            "topologyKey": "release",
            "emptyKey": "",
        }
    }
    patches = (
        Patch(PatchOp.REWRITE_LABEL_KEYS, "$.spec.labels", key_style=KeyStyle.VCLUSTER),
        Patch(PatchOp.REWRITE_LABEL_SELECTOR, "$.spec.selector", key_style=KeyStyle.VCLUSTER_LEGACY),
        Patch(PatchOp.REWRITE_LABEL_KEY, "$.spec.topologyKey", key_style=KeyStyle.VCLUSTER),
        Patch(PatchOp.REWRITE_LABEL_KEY, "$.spec.emptyKey", key_map=(("", "x"),)),
    )
    out = apply_patches(patches, obj, None, vcluster="vc")["spec"]
    assert out["labels"] == {_vcluster_key("release", "vc"): "r", "app": "a"}
    assert out["selector"]["matchLabels"] == {_vcluster_key("app", "vc"): "a"}
    assert out["selector"]["matchExpressions"][0]["key"] == _vcluster_key("release", "vc")
    assert out["topologyKey"] == _vcluster_key("release", "vc")
    assert out["emptyKey"] == ""
    with pytest.raises(TranslationError, match="vcluster name"):
        apply_patches(patches, obj, None)


def test_rewrite_label_key_with_key_map_and_a_non_string_is_an_error() -> None:
    patch = Patch(PatchOp.REWRITE_LABEL_KEY, "$.spec.k[*]", key_map=(("a", "b"),), key_prefix="p/", location=HERE)
    assert apply_patches((patch,), {"spec": {"k": ["a", "c", None]}}, None) == {"spec": {"k": ["b", "p/c", None]}}
    with pytest.raises(TranslationError, match="string label key"):
        apply_patches((patch,), {"spec": {"k": [1]}}, None)


@settings(deadline=None)
@given(
    json_values(), st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=4), min_size=1, max_size=3), json_values()
)
def test_replace_never_creates_and_add_on_a_missing_chain_reads_back(base: Any, chain: list[str], value: Any) -> None:
    obj = {"root": base}
    path = "$.root." + ".".join(chain)
    before = paths.get_all(obj, path)
    replaced = apply_patches((Patch(PatchOp.REPLACE, path, value=value),), obj, None)
    assert paths.get_all(replaced, path) == [value] * len(before)
    if not before and isinstance(base, dict):
        try:
            added = apply_patches((Patch(PatchOp.ADD, path, value=value),), obj, None)
        except TranslationError:
            return  # a scalar on the way: refused, never written somewhere else
        assert paths.get_all(added, path) == [value]


def test_a_sub_path_patch_also_tests_its_other_conditions_on_the_object() -> None:
    # `when` mixes a per-match condition with one on the whole object: both must hold for a match to be patched.
    items = {"metadata": {"name": "prod"}, "spec": {"ports": [{"name": "http"}, {"name": "db"}]}}
    when = (Condition("$.metadata.name", equal="prod"), Condition("$.name", equal="db", relative=True))
    patch = Patch(PatchOp.REMOVE, "$.spec.ports[*]", when=when)
    assert apply_patches((patch,), items, None)["spec"]["ports"] == [{"name": "http"}]
    staging = {**items, "metadata": {"name": "staging"}}
    assert apply_patches((patch,), staging, None) == staging


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e-07, "1e-7"), (1.5e-10, "1.5e-10"), (1e21, "1e+21"), (2.5e-06, "0.0000025"), (1.0, "1"), (0.0, "0")],
)
def test_a_number_condition_compares_by_the_text_go_writes_for_it(value: float, text: str) -> None:
    assert condition_holds(Condition("$.spec.n", equal=text), {"spec": {"n": value}})


def test_a_match_expression_without_a_string_key_is_a_located_error() -> None:
    selector = {"matchExpressions": [{"operator": "Exists"}]}
    patch = Patch(PatchOp.REWRITE_LABEL_SELECTOR, "$.spec.selector", key_prefix="vc/", location=HERE)
    with pytest.raises(TranslationError, match="matchExpressions item has no string key") as info:
        apply_patches((patch,), {"spec": {"selector": selector}}, None)
    assert info.value.path == "$.spec.selector"
    assert info.value.location == HERE


@pytest.mark.parametrize(
    ("op", "target", "fragment"),
    [
        (PatchOp.REWRITE_LABEL_SELECTOR, {"matchLabels": ["app"]}, "matchLabels is not a map"),
        (PatchOp.REWRITE_LABEL_SELECTOR, {"matchExpressions": {"key": "app"}}, "matchExpressions is not a list"),
        (PatchOp.REWRITE_LABEL_SELECTOR, "app=web", "needs a label selector, found a string"),
        (PatchOp.REWRITE_LABEL_KEYS, {1: "x"}, "expected string keys"),
    ],
)
def test_a_rewrite_target_of_the_wrong_shape_is_an_error_at_the_patch(op: PatchOp, target: Any, fragment: str) -> None:
    patch = Patch(op, "$.spec.target", key_prefix="vc/", location=HERE)
    with pytest.raises(TranslationError) as info:
        apply_patches((patch,), {"spec": {"target": target}}, None)
    assert fragment in str(info.value)
    assert (info.value.path, info.value.location) == ("$.spec.target", HERE)


def test_key_style_without_the_tenants_vcluster_name_is_an_error_at_the_patch() -> None:
    patch = Patch(PatchOp.REWRITE_LABEL_KEYS, "$.metadata.labels", key_style=KeyStyle.VCLUSTER, location=HERE)
    with pytest.raises(TranslationError, match="needs the tenant's vcluster name") as info:
        apply_patches((patch,), OBJ, None)
    assert (info.value.path, info.value.location) == ("$.metadata.labels", HERE)


def test_replace_of_the_whole_object_is_refused() -> None:
    with pytest.raises(TranslationError, match="cannot replace the whole object") as info:
        apply_patches((Patch(PatchOp.REPLACE, "$", value={}),), OBJ, None)
    assert info.value.path == "$"
