"""compile_path / path_error: the JSONPath contract shared by the loader and the translate layer; top_field, the
shape reading the status checks rely on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from crdsync.spec.paths import FilterError, PathSyntaxError, compile_path, is_under_status, path_error, top_field


@pytest.mark.parametrize(
    "expr",
    [
        "$.spec.secretName",
        "$.status",
        "$.spec.acme.solvers[*].dns01.cloudflare.apiTokenSecretRef.name",
        "$.spec.things[?(@.local == true)]",
        "$.metadata.annotations['example.com/x']",
        "$..name",
    ],
)
def test_valid_paths_compile_and_evaluate(expr: str) -> None:
    assert path_error(expr) is None
    compiled = compile_path(expr)
    assert hasattr(compiled, "find")


def test_compiled_path_finds_values() -> None:
    obj = {"spec": {"things": [{"local": True, "n": 1}, {"local": False, "n": 2}]}}
    found = compile_path("$.spec.things[?(@.local == true)].n").find(obj)
    assert [m.value for m in found] == [1]


def test_compile_is_cached() -> None:
    assert compile_path("$.spec.cached") is compile_path("$.spec.cached")


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("", "empty JSONPath"),
        ("   ", "empty JSONPath"),
        ("spec.x", "must start at the object root '$'"),
        ("$.spec[", "invalid JSONPath"),
        ("$.a[?(@.b ==)]", "invalid JSONPath"),
        ("$$", "invalid JSONPath"),
    ],
)
def test_invalid_paths_give_one_line_reasons(expr: str, fragment: str) -> None:
    message = path_error(expr)
    assert message is not None
    assert fragment in message
    assert "\n" not in message
    with pytest.raises(PathSyntaxError, match="JSONPath"):
        compile_path(expr)


def test_non_string_is_rejected_not_crashing() -> None:
    assert path_error(5) is not None  # type: ignore[arg-type]


def test_unhashable_input_is_rejected_not_crashing() -> None:
    assert path_error(["$.a"]) is not None  # type: ignore[arg-type]


def test_filters_are_evaluated_by_crdsync_not_by_jsonpath_ng() -> None:
    # jsonpath-ng's own filter rules changed between versions (see crdsync.spec.paths); every filter, nested ones too,
    # is replaced by the strict one when compiled.
    compiled = compile_path("$.spec.groups[?(@.members[?(@.n > 1)])].name")
    assert "StrictFilter" in repr(compiled)
    assert "Filter([" not in repr(compiled).replace("StrictFilter([", "")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"n": "8"}, "cannot compare a string '8' with a number 4 using >"),
        ({"n": [5]}, "cannot compare a list with a number 4 using >"),
        ({"n": True}, "cannot compare a boolean True with a number 4 using >"),
    ],
)
def test_an_unevaluable_filter_raises_filter_error(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FilterError, match=re.escape(fragment)):
        compile_path("$.items[?(@.n > 4)]").find({"items": [data]})


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("$.a[?(@.b == @.c)]", "not with another query"),
        ("$.a[?(@.b > null)]", "null has no order"),
    ],
)
def test_filter_forms_without_a_defined_meaning_do_not_compile(expr: str, fragment: str) -> None:
    message = path_error(expr)
    assert message is not None and fragment in message


@pytest.mark.parametrize(
    ("expr", "field"),
    [
        ("$.status", "status"),
        ("$.status.conditions[*].type", "status"),
        ("$.metadata.labels", "metadata"),
        ("$['metadata'].labels", "metadata"),
        ("$..status", None),
        ("$.*", None),
        ("$", None),
    ],
)
def test_top_field(expr: str, field: str | None) -> None:
    assert top_field(expr) == field
    assert is_under_status(expr) is (field == "status")
