"""JSONPath get/set/remove over plain dicts: inputs untouched, created chains, located type errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonpath_ng.jsonpath import Index

from crdsync.translate import paths
from crdsync.translate.errors import TranslationError
from tests.translate.strategies import json_values

OBJ: dict[str, Any] = {
    "spec": {
        "things": [{"local": True, "n": 1}, {"local": False, "n": 2}, {"local": True, "n": 3}],
        "name": "x",
        "nested": {"name": "y"},
    }
}

field_names = st.text(alphabet="abcxyz", min_size=1, max_size=4)


# The way every caller writes: on a copy of its own (the patch loop, object translation), with the *_in_place functions.
def set_value(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = paths.clone_object(obj)
    paths.set_in_place(out, path, value)
    return out


def remove(obj: dict[str, Any], path: str) -> dict[str, Any]:
    out = paths.clone_object(obj)
    paths.remove_locations_in_place(out, paths.locations(out, path), path)
    return out


def has_match(obj: Any, path: str) -> bool:
    return bool(paths.get_all(obj, path))


def test_get_all() -> None:
    assert paths.get_all(OBJ, "$.spec.things[*].n") == [1, 2, 3]
    assert paths.get_all(OBJ, "$.spec.things[?(@.local == false)].n") == [2]
    assert paths.get_all(OBJ, "$.spec.missing") == []
    assert has_match(OBJ, "$.spec.name")
    assert not has_match(OBJ, "$.spec.absent")


def test_locations_are_concrete_and_normalized() -> None:
    assert paths.locations(OBJ, "$.spec.things[-1]") == [("spec", "things", 2)]
    assert paths.locations(OBJ, "$..name") == [("spec", "name"), ("spec", "nested", "name")]


def test_set_creates_missing_plain_chain_without_touching_input() -> None:
    before = copy.deepcopy(OBJ)
    out = set_value(OBJ, "$.spec.a.b['c.d']", 5)
    assert out["spec"]["a"] == {"b": {"c.d": 5}}
    assert before == OBJ


def test_set_replaces_every_match_of_a_filter() -> None:
    out = set_value(OBJ, "$.spec.things[?(@.local == true)].n", 0)
    assert [t["n"] for t in out["spec"]["things"]] == [0, 2, 0]


def test_set_on_filter_without_matches_is_a_noop() -> None:
    assert set_value(OBJ, "$.spec.things[?(@.n > 10)].n", 0) == OBJ


def test_set_type_mismatch_raises_located_error() -> None:
    with pytest.raises(TranslationError) as info:
        set_value(OBJ, "$.spec.name.inner", 1)
    assert info.value.path == "$.spec.name.inner"
    assert "$.spec.name is a string, not a map" in str(info.value)


def test_set_index_past_end_raises() -> None:
    with pytest.raises(TranslationError, match="past the end"):
        set_value(OBJ, "$.spec.things[7].n", 1)


def test_invalid_path_raises_translation_error() -> None:
    with pytest.raises(TranslationError, match="invalid JSONPath") as info:
        paths.get_all(OBJ, "$.spec[")
    assert info.value.path == "$.spec["


@pytest.mark.parametrize("path", ["$.spec.things.`len`", "$.spec.things[*].n * 2", "$.spec.name.`sub(/x/, y)`"])
def test_computed_values_can_be_read_but_not_written(path: str) -> None:
    assert paths.get_all(OBJ, path)
    with pytest.raises(TranslationError, match="does not address a field") as info:
        set_value(OBJ, path, 1)
    assert info.value.path == path


def test_remove_filter_keeps_others_in_order() -> None:
    out = remove(OBJ, "$.spec.things[?(@.local == true)]")
    assert out["spec"]["things"] == [{"local": False, "n": 2}]
    assert len(OBJ["spec"]["things"]) == 3


def test_remove_nested_descendants_and_absent_paths() -> None:
    out = remove(OBJ, "$..name")
    assert "name" not in out["spec"] and "name" not in out["spec"]["nested"]
    assert remove(OBJ, "$.spec.absent") == OBJ


def test_project_keeps_selected_items_in_order() -> None:
    selected = paths.locations(OBJ, "$.spec.things[?(@.local == true)]")
    assert paths.project(OBJ, selected) == {"spec": {"things": [{"local": True, "n": 1}, {"local": True, "n": 3}]}}


@settings(deadline=None)
@given(json_values(), st.lists(field_names, min_size=1, max_size=4), json_values())
def test_set_then_read_back(base: Any, chain: list[str], value: Any) -> None:
    obj = {"root": base}
    path = "$.root." + ".".join(chain)
    try:
        out = set_value(obj, path, value)
    except TranslationError as exc:
        # Only a non-map in the way may refuse the write, and the error says so.
        assert "not a map" in str(exc)
        return
    assert paths.get_all(out, path) == [value]


@settings(deadline=None)
@given(json_values(), st.lists(field_names, min_size=1, max_size=3))
def test_remove_removes(base: Any, chain: list[str]) -> None:
    obj = {"root": base}
    path = "$.root." + ".".join(chain)
    before = copy.deepcopy(obj)
    out = remove(obj, path)
    assert not has_match(out, path)
    assert obj == before


path_steps = st.lists(
    st.one_of(st.sampled_from(["a", "b", "x"]).map(lambda f: "." + f), st.integers(-1, 2).map(lambda i: f"[{i}]")),
    min_size=1,
    max_size=4,
)


@settings(deadline=None)
@given(json_values(max_leaves=20), path_steps)
def test_simple_paths_match_jsonpath_ng(data: Any, steps: list[str]) -> None:
    # Plain chains are walked directly instead of through jsonpath-ng; both must find the same values in the same order.
    from crdsync.spec.paths import compile_path

    path = "$.root" + "".join(steps)
    obj = {"root": data}
    try:
        found = compile_path(path).find(obj)
    except (IndexError, KeyError, TypeError):
        found = []  # jsonpath-ng crashes on an index into a map or past the start of a list: no match there

    def indexes_lists_only(datum: Any) -> bool:
        # jsonpath-ng also indexes into strings ("ab"[0]); in a Kubernetes object only lists have items.
        while datum.context is not None:
            if isinstance(datum.path, Index) and not isinstance(datum.context.value, list):
                return False
            datum = datum.context
        return True

    expected = [d.value for d in found if indexes_lists_only(d)]
    assert paths.get_all(obj, path) == expected


def test_list_wildcard_walks_lists_only() -> None:
    obj = {"spec": {"l": [{"n": 1}, {"m": 2}, {"n": 3}], "m": {"n": 4}}}
    assert paths.get_all(obj, "$.spec.l[*].n") == [1, 3]
    assert paths.locations(obj, "$.spec.l[*].n") == [("spec", "l", 0, "n"), ("spec", "l", 2, "n")]
    # jsonpath-ng would read a map under [*] as a one-item list; a simple path does not match it.
    assert paths.get_all(obj, "$.spec.m[*].n") == []


# Filters: crdsync's own rules (crdsync.spec.paths), whatever the installed jsonpath-ng would say.
ITEMS: dict[str, Any] = {
    "spec": {
        "items": [
            {"name": "one", "n": 1, "s": "b", "on": True},
            {"name": "five", "n": 5, "s": "a", "on": False},
            {"name": "unset", "s": "c"},
            {"name": "null", "n": None, "s": "d", "on": None},
        ]
    }
}


@pytest.mark.parametrize(
    ("condition", "names"),
    [
        ("@.n > 2", ["five"]),
        ("@.n <= 5", ["one", "five"]),
        ("@.n == 1", ["one"]),
        ("@.n == 1.0", ["one"]),
        ("@.n != 1", ["five", "unset", "null"]),  # not set differs from everything but null
        ("@.n == null", ["unset", "null"]),  # absent and null are both "not set", as in a patch's `when`
        ("@.n != null", ["one", "five"]),
        ("@.n", ["one", "five", "null"]),  # existence: an explicit null is there
        ("!@.n", ["unset"]),
        ("@.s >= 'b'", ["one", "unset", "null"]),
        ("@.s =~ '^[ab]$'", ["one", "five"]),
        ("@.on == true", ["one"]),
        ("@.on != true", ["five", "unset", "null"]),
        ("@.n > 0 && @.s == 'a'", ["five"]),
        ("@.n == 1 || @.s == 'c'", ["one", "unset"]),
    ],
)
def test_filter_semantics(condition: str, names: list[str]) -> None:
    assert paths.get_all(ITEMS, f"$.spec.items[?({condition})].name") == names


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ("@.s > 1", "cannot compare a string 'b' with a number 1 using >"),
        ("@.n == 'one'", "cannot compare a number 1 with a string 'one' using =="),
        ("@.on == 1", "cannot compare a boolean True with a number 1 using =="),
        ("@.on > false", "cannot compare a boolean True with a boolean False using >"),
        ("@.n =~ '1'", "=~ matches strings only, not a number 1"),
        ("@.s =~ '('", "invalid regular expression"),
    ],
)
def test_an_unevaluable_filter_is_an_error_naming_the_path(condition: str, fragment: str) -> None:
    path = f"$.spec.items[?({condition})]"
    for read in (paths.get_all, paths.locations, remove):
        with pytest.raises(TranslationError, match="cannot evaluate filter") as info:
            read(ITEMS, path)
        assert fragment in str(info.value)
        assert info.value.path == path


def test_a_conjunction_stops_at_the_first_false_test_so_it_can_guard_the_next() -> None:
    obj = {"l": [{"kind": "num", "v": 3}, {"kind": "text", "v": "x"}]}
    assert paths.get_all(obj, "$.l[?(@.kind == 'num' && @.v > 2)].v") == [3]
    with pytest.raises(TranslationError, match="cannot evaluate filter"):
        paths.get_all(obj, "$.l[?(@.v > 2 && @.kind == 'num')]")


def test_an_error_in_a_nested_filter_is_not_swallowed() -> None:
    obj = {"groups": [{"members": [{"n": 1}]}, {"members": [{"n": "2"}]}]}
    with pytest.raises(TranslationError, match="cannot compare a string '2' with a number 0"):
        paths.get_all(obj, "$.groups[?(@.members[?(@.n > 0)])]")


def test_a_field_with_several_values_holds_when_one_does() -> None:
    obj = {"svcs": [{"ports": [{"p": 80}, {"p": 8080}]}, {"ports": [{"p": 443}]}, {"ports": []}]}
    assert paths.locations(obj, "$.svcs[?(@.ports[*].p > 1024)]") == [("svcs", 0)]


def test_a_filter_over_a_map_selects_its_values_at_their_keys() -> None:
    obj = {"spec": {"byName": {"a": {"local": True}, "b": {"local": False}, "c": {"local": True}}}}
    assert paths.locations(obj, "$.spec.byName[?(@.local == true)]") == [
        ("spec", "byName", "a"),
        ("spec", "byName", "c"),
    ]
    assert remove(obj, "$.spec.byName[?(@.local == true)]") == {"spec": {"byName": {"b": {"local": False}}}}


_LITERALS: list[tuple[str, Any]] = [("0", 0), ("2", 2), ("1.5", 1.5), ("'b'", "b"), ("''", ""), ("true", True)]


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


@settings(deadline=None)
@given(json_values(max_leaves=3), st.sampled_from(_LITERALS), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
def test_a_filter_comparison_answers_exactly_or_fails_never_guesses(
    value: Any, literal: tuple[str, Any], op: str
) -> None:
    text, expected_literal = literal
    obj = {"l": [{"v": value}]}
    try:
        matched = has_match(obj, f"$.l[?(@.v {op} {text})]")
    except TranslationError as exc:
        assert "cannot evaluate filter" in str(exc)
        # Only mismatched kinds (or an order on booleans) may refuse to answer.
        assert value is not None
        assert _json_kind(value) != _json_kind(expected_literal) or isinstance(value, bool)
        return
    if value is None:
        assert matched is (op == "!=")
    else:
        assert _json_kind(value) == _json_kind(expected_literal)
        python = {"==": value == expected_literal, "!=": value != expected_literal}
        if not isinstance(value, bool):
            python |= {"<": value < expected_literal, "<=": value <= expected_literal}
            python |= {">": value > expected_literal, ">=": value >= expected_literal}
        assert matched is python[op]


def test_list_wildcards_take_the_direct_walk_on_every_jsonpath_ng_version() -> None:
    """jsonpath-ng 1.16 parses `[*]` as a Wildcard node; the fast path must still take it (it is on every
    observedGeneration path of every reconcile) and keep reading it as list items only."""
    assert paths._simple("$.status.conditions[*].observedGeneration") is not None
    assert paths._simple("$.spec.*") is None
    assert paths.get_all({"status": {"conditions": {"a": {"observedGeneration": 1}}}}, "$.status.conditions[*]") == []


# --- errors name the place, and the path they are about ---------------------------------------------------------------


def test_a_path_that_fails_to_compute_says_what_python_refused() -> None:
    path = "$.spec.n.`sub(/x/, y)`"
    with pytest.raises(TranslationError, match="cannot evaluate path: TypeError") as info:
        paths.get_all({"spec": {"n": 1}}, path)
    assert info.value.path == path


def test_an_index_into_a_field_that_is_not_a_list_names_that_field() -> None:
    with pytest.raises(TranslationError) as info:
        set_value(OBJ, "$.spec.name[0].x", 1)
    assert "$.spec.name is a string, not a list" in str(info.value)
    assert info.value.path == "$.spec.name[0].x"


def test_an_index_past_the_end_on_the_way_names_the_list_and_the_path() -> None:
    with pytest.raises(TranslationError) as info:
        set_value(OBJ, "$.spec.things[7].n", 1)
    assert "index 7 is past the end of $.spec.things" in str(info.value)
    assert info.value.path == "$.spec.things[7].n"


def test_setting_an_item_past_the_end_of_a_list_names_the_list_and_the_path() -> None:
    with pytest.raises(TranslationError) as info:
        set_value(OBJ, "$.spec.things[3]", 1)
    assert "index 3 is past the end of $.spec.things" in str(info.value)
    assert info.value.path == "$.spec.things[3]"


# --- clone, remove, project ------------------------------------------------------------------------------------------


def test_clone_keeps_values_that_are_not_json_and_shares_nothing_mutable() -> None:
    when = (2024, [1, 2])
    copied = paths.clone({"spec": {"when": when, "items": [{"a": 1}]}})
    assert copied == {"spec": {"when": when, "items": [{"a": 1}]}}
    assert copied["spec"]["when"][1] is not when[1]


def test_a_top_level_field_can_be_removed_but_not_the_whole_object() -> None:
    assert remove(OBJ, "$.spec") == {}
    with pytest.raises(TranslationError, match="cannot remove the whole object") as info:
        remove(OBJ, "$")
    assert info.value.path == "$"


def test_removing_locations_the_object_does_not_have_changes_nothing_and_skips_none_that_it_has() -> None:
    obj: dict[str, Any] = {"spec": {"opt": None, "keep": 1, "drop": 2, "list": [1, 2, 3]}}
    absent: list[paths.Location] = [
        ("spec", "opt", "x"),  # under a null
        ("spec", "gone", "x"),  # under a missing field
        ("spec", "gone", 0),
        ("spec", "missing"),  # a missing key of an existing map
        ("spec", 0),  # an index into a map
        ("spec", "list", "x"),  # a key into a list
        ("spec", "list", 3),  # past the end
    ]
    paths.remove_locations_in_place(obj, [*absent, ("spec", "drop")], "$..x")
    assert obj == {"spec": {"opt": None, "keep": 1, "list": [1, 2, 3]}}


def _within(part: Any, whole: Any) -> bool:
    """`part` holds nothing `whole` does not: the same keys' values, list items in the same order, equal leaves."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and _within(v, whole[k]) for k, v in part.items())
    if isinstance(part, list):
        if not isinstance(whole, list):
            return False
        rest = iter(whole)
        return all(any(_within(item, candidate) for candidate in rest) for item in part)
    return type(part) is type(whole) and part == whole


locations_drawn = st.lists(
    st.lists(st.one_of(st.sampled_from(["", "a", "b", "x"]), st.integers(0, 2)), max_size=3).map(tuple), max_size=4
)


_ABSENT = object()


@settings(deadline=None)
@given(json_values(), locations_drawn)
@example({"size": 3}, [("size", "unit")])
def test_a_projection_holds_the_selected_fields_and_nothing_the_object_does_not(
    data: Any, selected: list[paths.Location]
) -> None:
    # Also for locations that do not exist: a projection is read back as the object's own fields (status, reverse
    # paths), so an invented value would reach the other side as if the object held it.
    obj = {"root": data}
    projected = paths.project(obj, [("root", *loc) for loc in selected])
    assert _within(projected, obj)
    for loc in selected:
        if not any(isinstance(step, int) for step in loc):  # list items move up in a projection; map keys stay
            assert paths.value_at(projected, ("root", *loc), _ABSENT) == paths.value_at(obj, ("root", *loc), _ABSENT)


# --- paths jsonpath-ng evaluates: slices, negative indices, literal keys ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.spec.things[1:]", [("spec", "things", 1), ("spec", "things", 2)]),
        ("$.spec.things[:2]", [("spec", "things", 0), ("spec", "things", 1)]),
        ("$.spec.things[::2]", [("spec", "things", 0), ("spec", "things", 2)]),
        ("$.spec.things[:]", [("spec", "things", 0), ("spec", "things", 1), ("spec", "things", 2)]),
        ("$..things[-1].n", [("spec", "things", 2, "n")]),
        ("$..things[-3]", [("spec", "things", 0)]),
    ],
)
def test_slices_and_negative_indices_locate_exactly_their_items(path: str, expected: list[paths.Location]) -> None:
    assert paths.locations(OBJ, path) == expected
    assert paths.get_all(OBJ, path) == [paths.value_at(OBJ, location) for location in expected]


def test_a_map_key_that_is_literally_a_star_can_be_written_and_removed() -> None:
    obj = {"spec": {"headers": {"*": "any", "x": "one"}}}
    assert paths.locations(obj, "$.spec.headers.*") == [("spec", "headers", "*"), ("spec", "headers", "x")]
    assert remove(obj, "$.spec.headers['*']") == {"spec": {"headers": {"x": "one"}}}
    assert set_value(obj, "$.spec.headers.*", "z") == {"spec": {"headers": {"*": "z", "x": "z"}}}


# --- add where nothing matches ----------------------------------------------------------------------------------------


def add(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = paths.clone_object(obj)
    paths.add_missing_in_place(out, path, value)
    return out


def test_add_creates_the_missing_part_under_the_deepest_existing_map_and_keeps_its_other_fields() -> None:
    obj = {"spec": {"a": {"keep": 1}}}
    assert add(obj, "$.spec.a.b.c", 5) == {"spec": {"a": {"keep": 1, "b": {"c": 5}}}}
    assert add(obj, "$.spec.a.l[0].c", 5) == {"spec": {"a": {"keep": 1, "l": [{"c": 5}]}}}


def test_add_where_the_path_already_matches_changes_nothing() -> None:
    obj = {"spec": {"a": {"b": 1}}}
    assert add(obj, "$.spec.a.b", 2) == obj


def test_add_under_a_null_replaces_the_null_with_a_map_or_a_list() -> None:
    obj: dict[str, Any] = {"spec": {"m": None, "l": None}}
    assert add(obj, "$.spec.m.x", 1) == {"spec": {"m": {"x": 1}, "l": None}}
    assert add(obj, "$.spec.l[0]", {"n": 1}) == {"spec": {"m": None, "l": [{"n": 1}]}}
    assert add(obj, "$.spec.l[0].n", 1) == {"spec": {"m": None, "l": [{"n": 1}]}}


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("$.spec.name.x", "cannot add field 'x': $.spec.name is a string, not a map"),
        ("$.spec.name[0]", "cannot add item 0: $.spec.name is a string, not a list"),
        ("$.spec.nested[0]", "cannot add item 0: $.spec.nested is a map, not a list"),
    ],
)
def test_add_into_a_field_of_the_wrong_type_is_an_error_naming_that_field(path: str, fragment: str) -> None:
    with pytest.raises(TranslationError) as info:
        add(OBJ, path, 1)
    assert fragment in str(info.value)
    assert info.value.path == path
