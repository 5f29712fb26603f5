"""YAML -> plain data + positions: syntax errors, unreadable files and non-JSON values are located problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from crdsync.spec.source import MAX_DEPTH, format_field_path, parse_yaml, read_text
from tests.spec.textpos import where


def test_plain_data_and_positions() -> None:
    text = "a: 1\nmeta:\n  name: x\nlist:\n  - k: v\n  - plain\nflow: {b: [1, 2]}\nempty:\n"
    documents, problems = parse_yaml(text, "f.yaml")
    assert problems == []
    (doc,) = documents
    expected = {"a": 1, "meta": {"name": "x"}, "list": [{"k": "v"}, "plain"], "flow": {"b": [1, 2]}, "empty": None}
    assert doc.data == expected
    assert type(doc.data["meta"]) is dict and type(doc.data["list"]) is list
    pos = doc.positions
    assert (pos.key(("meta", "name")).line, pos.key(("meta", "name")).column) == where(text, "name")
    assert (pos.value(("meta", "name")).line, pos.value(("meta", "name")).column) == where(text, "x")
    assert (pos.value(("list", 1)).line, pos.value(("list", 1)).column) == where(text, "plain")
    assert (pos.value(("flow", "b", 1)).line, pos.value(("flow", "b", 1)).column) == where(text, "2]")
    # A null value is located at its key, not at whatever token follows.
    assert (pos.value(("empty",)).line, pos.value(("empty",)).column) == where(text, "empty")
    # Paths not in the file fall back to the nearest ancestor.
    assert pos.value(("meta", "missing", 3)) == pos.value(("meta",))
    assert pos.value(()).file == "f.yaml"


def test_anchored_booleans_stay_booleans() -> None:
    (doc,), problems = parse_yaml("a: &t true\nb: *t\n", "f")
    assert problems == []
    assert doc.data == {"a": True, "b": True}
    assert type(doc.data["b"]) is bool


@pytest.mark.parametrize(
    ("text", "needle", "fragment"),
    [
        ("a: 1\na: 2\n", "a: 2", "duplicate key"),
        ("a: [1, 2\nb: 3\n", ": 3", "YAML syntax error"),
        ("a:\n\tb: 1\n", "\tb", "cannot start any token"),
        ("a: b: c\n", ": c", "mapping values are not allowed"),
        ("a: *nope\n", "*nope", "undefined alias"),
        ("a: \x07\n", "\x07", "unacceptable character 0x07"),
    ],
)
def test_yaml_syntax_errors_are_located(text: str, needle: str, fragment: str) -> None:
    documents, problems = parse_yaml(text, "f.yaml")
    assert documents == []
    (problem,) = problems
    assert fragment in problem.message
    assert (problem.location.line, problem.location.column) == where(text, needle)
    assert problem.location.file == "f.yaml"


@pytest.mark.parametrize(
    ("text", "needle", "fragment"),
    [
        ("a: !foo x\n", "!foo", "unsupported YAML tag !foo"),
        ("a: !foo {q: 1}\n", "!foo", "unsupported YAML tag !foo"),
        ("a: 2020-01-02\n", "2020", "date/timestamp: quote it"),
        ("a: !!binary aGVsbG8=\n", "!!binary", "binary"),
        ("a: .inf\n", ".inf", "not a JSON number"),
        ("a: !!set {x, y}\n", "!!set", "set"),
        ("x: 1\n5: y\n", "5:", "mapping key 5 is not a string"),
        ("x: 1\nnull: y\n", "null:", "mapping key null is not a string"),
    ],
)
def test_values_without_json_equivalent_are_located(text: str, needle: str, fragment: str) -> None:
    (doc,), _ = parse_yaml(text, "f.yaml")
    assert doc.problems, "expected a problem"
    problem = doc.problems[0]
    assert fragment in problem.message
    assert (problem.location.line, problem.location.column) == where(text, needle)


def test_nesting_and_alias_bombs_are_bounded() -> None:
    deep = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    documents, problems = parse_yaml(deep, "f")
    assert documents == [] and "nested deeper" in problems[0].message
    assert (problems[0].location.line, problems[0].location.column) == (1, 4 + MAX_DEPTH)

    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 3)) + "  " * (MAX_DEPTH + 3) + "leaf: 1\n"
    (doc,), _ = parse_yaml(block, "f")
    assert any("nested deeper" in p.message for p in doc.problems)

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    (doc,), _ = parse_yaml("\n".join(lines) + "\n", "f")
    assert any("document too large" in p.message for p in doc.problems)


def test_empty_and_multi_document_files() -> None:
    documents, problems = parse_yaml("# only a comment\n", "f")
    assert documents == [] and "empty mapping file" in problems[0].message
    assert (problems[0].location.line, problems[0].location.column) == (1, 1)

    documents, problems = parse_yaml("---\na: 1\n---\n---\nb: 2\n", "f")
    assert problems == []
    assert [d.data for d in documents] == [{"a": 1}, {"b": 2}]
    assert [d.index for d in documents] == [0, 1]
    assert documents[1].positions.value(("b",)).line == 5


def test_read_text_problems(tmp_path: Path) -> None:
    text, problems = read_text(tmp_path / "missing.yaml")
    assert text is None and "no such file" in problems[0].message

    text, problems = read_text(tmp_path)
    assert text is None and "directory" in problems[0].message

    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("a: 1\nb: caf\xe9\n".encode("latin-1"))
    text, problems = read_text(bad)
    assert text is None
    (problem,) = problems
    assert "not valid UTF-8: byte 0xe9" in problem.message
    assert (problem.location.line, problem.location.column) == (2, 7)

    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert read_text(bom) == ("a: 1\n", [])


def test_format_field_path() -> None:
    path = ("spec", "toHost", 0, "selector", "matchLabels", "crdsync.io/shared")
    assert format_field_path(path) == 'spec.toHost[0].selector.matchLabels["crdsync.io/shared"]'
    assert format_field_path(()) == ""
    assert format_field_path((0, "a")) == "[0].a"
