"""The decoder: the iterative fallback equals json.loads on everything (property tests), decodes any depth, and the
response/event helpers turn every failure into the documented errors."""

from __future__ import annotations

import json
import string
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crdsync.kube import decode
from crdsync.kube.decode import (
    UndecodableEvent,
    decode_body,
    decode_event,
    decode_list_page,
    loads,
    loads_iterative,
)
from crdsync.kube.errors import TransportError

from .stub import nested_json, object_json, raw_event_line
from .test_poison_objects import depth


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (1 is not 1.0, key order counts, floats by repr so nan and -0.0 compare), without
    recursion so it works on 100,000-deep values."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, float):
            if repr(x) != repr(y):
                return False
        elif x != y:
            return False
    return True


def outcome(fn: Any, doc: str | bytes) -> tuple[str, Any]:
    try:
        return "ok", fn(doc)
    except json.JSONDecodeError as exc:
        return "error", (exc.msg, exc.pos)
    except ValueError as exc:  # UnicodeDecodeError, too many integer digits
        return "error", type(exc).__name__


# -- generated JSON ------------------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=40,
)


@st.composite
def serialized(draw: st.DrawFn) -> str:
    value = draw(values)
    indent = draw(st.sampled_from([None, 0, 2, "\t"]))
    separators = draw(st.sampled_from([None, (",", ":"), (" , ", " : "), (",\n", ":\r\n")]))
    return json.dumps(value, indent=indent, separators=separators, ensure_ascii=draw(st.booleans()))


# JSON string literals built from the pieces the grammar allows, including every escape and surrogates (paired, lone,
# reversed), and raw control characters, which strict json.loads rejects.
string_pieces = st.one_of(
    st.text(alphabet=st.characters(exclude_characters='"\\'), max_size=5),
    st.sampled_from(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\ud83d\\ude00", "\\ud800", "\\udfff",
                     "\\ude00\\ud83d", "\\u00e9", "\\U0041", "\\x41", "\\", "\t", "\x00"]),
    st.integers(0, 0xFFFF).map(lambda cp: f"\\u{cp:04x}"),
    st.integers(0, 0xFFFF).map(lambda cp: f"\\u{cp:04X}"),
)
string_literals = st.lists(string_pieces, max_size=6).map(lambda parts: '"' + "".join(parts) + '"')
number_literals = st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,4})?\Z")
tokens = st.one_of(
    string_literals,
    number_literals,
    st.sampled_from(["{", "}", "[", "]", ",", ":", " ", "\n", "\t", "\r", "\u00a0", "true", "false", "null", "NaN",
                     "Infinity", "-Infinity", "-", "0", "01", "1.", ".5", "1e", "+1", "tru", "\ufeff", "\u0661"]),
)


@settings(max_examples=250)
@given(serialized())
@example('{"a": 1, "b": 2, "a": 3}')
@example("[-0, -0.0, 1E400, -1e-400, 0.5e+3, 10000000000000000000000]")
@example('"\\ud83d\\ude00 \\ud800 \\udc00\\ud800 \\u0000"')
def test_iterative_decoder_equals_json_loads_on_generated_json(doc: str) -> None:
    expected = json.loads(doc)
    assert same(loads_iterative(doc), expected)
    assert same(loads(doc), expected)


@settings(max_examples=250)
@given(st.lists(tokens, max_size=12).map("".join))
def test_iterative_decoder_accepts_and_rejects_what_json_loads_does(doc: str) -> None:
    # Token soup is mostly invalid: both must fail at the same place with the same message, or decode the same value.
    got, want = outcome(loads_iterative, doc), outcome(json.loads, doc)
    assert got[0] == want[0] and (same(got[1], want[1]) if got[0] == "ok" else got[1] == want[1]), (got, want)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(serialized(), st.data())
def test_iterative_decoder_equals_json_loads_on_damaged_json(doc: str, data: st.DataObject) -> None:
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(doc)))
        if data.draw(st.booleans()) and at < len(doc):
            doc = doc[:at] + doc[at + 1:]
        else:
            doc = doc[:at] + data.draw(st.sampled_from([*'{}[],:"\\ -.e0tn', "\x01"])) + doc[at:]
    got, want = outcome(loads_iterative, doc), outcome(json.loads, doc)
    assert got[0] == want[0] and (same(got[1], want[1]) if got[0] == "ok" else got[1] == want[1]), (got, want)


@given(serialized(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]))
def test_bytes_in_any_json_encoding_decode_like_json_loads(doc: str, encoding: str) -> None:
    data = doc.encode(encoding, "surrogatepass")
    assert same(loads_iterative(data), json.loads(data))
    assert same(loads_iterative(bytearray(data)), json.loads(bytearray(data)))


@settings(max_examples=250)
@given(serialized())
@example("[10000000000000000000000, -9223372036854775809, 18446744073709551616, 18446744073709551615, 1e400]")
@example('{"n": 1234567890123456789, "s": "1234567890123456789012", "f": 0.1234567890123456789}')
@example('["\\ud800", NaN, -Infinity]')
def test_fast_decoder_path_equals_json_loads_on_bytes(doc: str) -> None:
    # Bytes take the orjson path; whatever it would decode differently (big integers) or rejects must match json.loads.
    data = doc.encode("utf-8", "surrogatepass")
    assert same(loads(data), json.loads(data))
    assert same(loads(bytearray(data)), json.loads(data))


@settings(max_examples=250)
@given(st.lists(tokens, max_size=12).map("".join))
def test_fast_decoder_path_accepts_and_rejects_what_json_loads_does(doc: str) -> None:
    data = doc.encode("utf-8", "surrogatepass")
    got, want = outcome(loads, data), outcome(json.loads, data)
    assert got[0] == want[0] and (same(got[1], want[1]) if got[0] == "ok" else got[1] == want[1]), (got, want)


def test_orjson_decodes_ordinary_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    import orjson

    calls: list[int] = []
    real = orjson.loads

    def counting(data: Any) -> Any:
        calls.append(1)
        return real(data)

    monkeypatch.setattr(orjson, "loads", counting)
    assert loads(raw_event_line("ADDED", object_json("a", "7")))["object"]["metadata"]["name"] == "a"
    assert calls == [1]
    assert loads(b"[12345678901234567890123]") == [12345678901234567890123] and calls == [1]  # exact, not via orjson


def test_non_json_input_fails_like_json_loads() -> None:
    for doc in ["\ufeff{}", "", " ", "[1,]", '{"a":1,}', "[1 2]", '{"a"}', '"abc', "-", "nul", "[1]]", "{1:2}"]:
        assert outcome(loads_iterative, doc) == outcome(json.loads, doc), doc
    assert outcome(loads_iterative, b'["\xff"]')[0] == "error"
    assert outcome(loads_iterative, "1" * 5000) == outcome(json.loads, "1" * 5000) == ("error", "ValueError")
    with pytest.raises(TypeError):
        loads_iterative(1)  # type: ignore[arg-type]


# -- depth -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1_000, 10_000, 20_000, 100_000])
def test_any_depth_decodes(levels: int) -> None:
    leaf = b'[1, -2.5e3, "\\u00e9\\ud83d\\ude00", true, false, null, {}, []]'
    value = loads(nested_json(levels, leaf=leaf))
    assert depth(value) == levels + 1  # and the leaf array
    innermost = value
    for level in range(levels):
        innermost = innermost["x"] if level % 2 == 0 else innermost[0]
    assert same(innermost, [1, -2500.0, "é😀", True, False, None, {}, []])


@pytest.mark.parametrize("opener", ["[", '{"k": 1, "x": ', ' [ "s" , \n'])
def test_deep_input_with_siblings_equals_json_loads_with_room_to_recurse(opener: str) -> None:
    # json.loads itself is the oracle once it may recurse deep enough (3,000 levels is safe on the C stack).
    closer = {"[": "]", '{"k": 1, "x": ': "}", ' [ "s" , \n': " , 2 ]\t"}[opener]
    doc = opener * 3_000 + '"bottom"' + closer * 3_000
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        expected = json.loads(doc)
    finally:
        sys.setrecursionlimit(limit)
    assert same(loads_iterative(doc), expected)
    assert same(loads(doc), expected)


def test_json_loads_stays_the_path_for_ordinary_input(monkeypatch: pytest.MonkeyPatch) -> None:
    fallbacks: list[int] = []
    real = decode.loads_iterative

    def counting(data: Any) -> Any:
        fallbacks.append(1)
        return real(data)

    monkeypatch.setattr(decode, "loads_iterative", counting)
    ordinary = object_json("a", "1", spec=json.dumps({"items": [{"n": i, "s": "x" * 40} for i in range(90)]}).encode())
    assert 5_000 < len(ordinary) < 6_000
    assert loads(ordinary)["metadata"]["name"] == "a" and fallbacks == []
    assert depth(loads(nested_json(2_000))) == 2_000 and fallbacks == [1]


# -- responses and events --------------------------------------------------------------------------------------------


def test_decode_body() -> None:
    assert depth(decode_body(object_json("a", "1", spec=nested_json(5_000)), method="GET", path="/p")) == 5_001
    for bad in [b"<html>", b"[1]", b'"s"', b'{"a":', b"\xff"]:
        with pytest.raises(TransportError, match="response is not"):
            decode_body(bad, method="GET", path="/p")


def test_decode_body_turns_unexpected_failures_into_transport_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(decode, "loads", broken)
    with pytest.raises(TransportError):
        decode_body(b"{}", method="GET", path="/p")


def test_list_page_skips_items_it_cannot_key(caplog: pytest.LogCaptureFixture) -> None:
    page = loads(b'{"metadata": {"resourceVersion": "5", "continue": "t"}, "items": [{"metadata": {"name": "a"}}, 1,'
                 b' {"metadata": []}, {"metadata": {"name": ""}}, {"apiVersion": "x/v2", "metadata": {"name": "b"}}]}')
    items, metadata = decode_list_page(page, api_version="cert-manager.io/v1", kind="Certificate", path="/p")
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert items[0]["apiVersion"] == "cert-manager.io/v1" and items[1]["apiVersion"] == "x/v2"
    assert items[0]["kind"] == "Certificate"
    assert metadata == {"resourceVersion": "5", "continue": "t"}
    assert len([r for r in caplog.records if "skipping item" in r.getMessage()]) == 3
    assert decode_list_page({"items": None, "metadata": 3}, api_version="v1", kind="K", path="/p") == ([], {})


def test_decode_event_of_any_depth() -> None:
    event_type, obj = decode_event(raw_event_line("MODIFIED", object_json("deep", "3", spec=nested_json(20_000))),
                                   kind="Certificate", path="/p")
    assert event_type == "MODIFIED" and obj["metadata"]["name"] == "deep" and depth(obj["spec"]) == 20_000
    assert decode_event(b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}', kind="K", path="/p") == (
        "BOOKMARK", {"metadata": {"resourceVersion": "9"}})


@pytest.mark.parametrize(("line", "ref"), [
    # Labels come before the name in the apiserver's (sorted) metadata: the name must come from the right place.
    (b'{"type":"ADDED","object":{"metadata":{"labels":{"name":"label"},"name":"real","namespace":"ns"},"spec":{]}}',
     "ns/real"),
    (b'{"type":"ADDED","object":{"metadata":{"name":"cut-short","namespace":"ns"},"spec":' + b"[" * 50_000,
     "ns/cut-short"),
    (b'{"type":"ADDED","object":{"metadata":{"name":"cluster-scoped"}},"extra":}', "cluster-scoped"),
    (b'{"type":"ADDED","object":{"metadata":{"name":"bad-utf8-\xff"}}}', "(unknown)"),
    (b'{"type":"ADDED","object":{"metadata":{"namespace":"ns"}}}', "(unknown)"),
    (b'{"type":"ADDED","object":{"metadata":{"name":7}}}', "(unknown)"),
    (b'{"type":7,"object":{"metadata":{"name":"x"}}}', "x"),
    (b'{"type":"DELETED","object":{"metadata":[]}}', "(unknown)"),
    (b'{"object":{"metadata":{"name":"no-type"}}}', "no-type"),
    (b"[]", "(unknown)"),
    (b"garbage", "(unknown)"),
])
def test_undecodable_event_names_what_it_can(line: bytes, ref: str) -> None:
    with pytest.raises(UndecodableEvent) as caught:
        decode_event(line, kind="Certificate", path="/p")
    assert caught.value.object_ref == ref and caught.value.kind == "Certificate"
    assert "undecodable Certificate watch event" in caught.value.message and len(caught.value.message) < 600


def test_undecodable_event_for_an_unexpected_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: Any) -> Any:
        raise AttributeError("surprise")

    monkeypatch.setattr(decode, "loads", broken)
    with pytest.raises(UndecodableEvent, match="AttributeError: surprise") as caught:
        decode_event(raw_event_line("ADDED", object_json("a", "1")), kind="Certificate", path="/p")
    assert caught.value.object_ref == "ns1/a"


def test_whitespace_and_punctuation_tables_match_the_grammar() -> None:
    # Only JSON's four whitespace characters are skipped, as in json.loads; Unicode spaces are errors.
    assert outcome(loads_iterative, " \t\n\r[ \t\n\r1 \t\n\r] \t\n\r") == ("ok", [1])
    for space in set(string.whitespace) - set(" \t\n\r") | {"\u00a0", "\u2028"}:
        assert outcome(loads_iterative, f"[1{space}]") == outcome(json.loads, f"[1{space}]")
