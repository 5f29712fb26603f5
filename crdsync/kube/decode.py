"""Decoding of apiserver responses and watch events into plain dicts, for JSON of any depth.

Job: turn the bytes the apiserver sends (a response body, a list page, one watch-event line) into the plain
dicts/lists/str/int/float/bool/None that `json.loads` produces. Three decoders, tried in turn:
- `orjson.loads`, the fast path (3x json.loads on a watch event; this is crdsync's hottest code). It is strict
  JSON, so it rejects what json.loads also accepts (NaN/Infinity, lone surrogates, a UTF-8 BOM, UTF-16/32 bytes,
  numbers beyond a double, more than 1,024 levels): any error it raises just moves on to json.loads, which then
  decides. The one thing it decodes differently is an integer beyond 64 bits (a float instead of an int), so input
  with a run of 19 or more digits anywhere (a cheap byte scan; the apiserver never sends such integers) skips it.
- `json.loads`, which recurses once per nesting level and raises RecursionError at about 1,000 levels, while the
  apiserver accepts and serves objects nested up to ~10,000 levels (a CRD that preserves unknown fields takes them
  from any tenant). For such input, and on MemoryError, `loads` falls back to
- `loads_iterative`, a decoder with an explicit stack instead of recursion that yields exactly what `json.loads` would
  (tests pin this with hypothesis). Strings are scanned by the stdlib's own non-recursive
  `json.decoder.scanstring` (the C scanner json.loads uses), so escapes and surrogate pairs decode identically.

Failure modes:
- `loads`/`loads_iterative` raise `json.JSONDecodeError` (a ValueError) only for input that is not JSON.
- `decode_body` and `decode_list_page` raise `TransportError` for a body that is not a JSON object, whatever went wrong
  inside (so callers of the client keep seeing ApiErrors only). A list page item that is not an object with a name is
  skipped with a warning instead: a relist that failed on it would fail the same way forever.
- `decode_event` raises `UndecodableEvent` for any watch line it cannot turn into (type, object) -- bad JSON, a wrong
  shape, or anything unexpected -- carrying the object's namespace/name when they can be recovered from the part that
  did parse. The informer answers with a relist from scratch: re-watching from the same resourceVersion would meet the
  same event again, forever.

The decoded values are not checked for depth or size here; deciding what is too deep to translate belongs to
`crdsync.translate.tenancy.check_shape`. Consumers must not walk them recursively (repr, ==, deepcopy, json.dumps of
a 2,000-deep object raise RecursionError).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import orjson

from crdsync.kube.errors import TransportError

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

# The same token grammar as the C scanner json.loads uses: ASCII digits only, and an optional fraction/exponent
# that must carry digits (otherwise the number ends before the "." or "e").
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_WS_CHARS = " \t\n\r"
# json.loads accepts these non-standard constants by default; accepting them too keeps the two decoders equal.
_CONSTANTS: tuple[tuple[str, Any], ...] = (
    ("null", None),
    ("true", True),
    ("false", False),
    ("NaN", float("nan")),
    ("Infinity", float("inf")),
    ("-Infinity", float("-inf")),
)
_SHOWN = 200  # bytes of an undecodable input quoted in an error message
# json.decoder's string scanner (the C one when available, as json.loads uses): escapes, surrogate pairs and the
# strict control-character rule then match json.loads by construction. Typeshed does not declare it, hence vars().
_scanstring: Callable[[str, int, bool], tuple[str, int]] = vars(json.decoder)["scanstring"]


class UndecodableEvent(TransportError):
    """A watch event line that could not be decoded into (type, object). The stream is closed; relist.

    `kind` is the watched resource's kind; `namespace` and `name` are the object's when they could be recovered
    (None otherwise)."""

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        namespace: str | None = None,
        name: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.kind = kind
        self.namespace = namespace
        self.name = name
        super().__init__(message, method=method, path=path)

    @property
    def object_ref(self) -> str:
        """"ns/name", "name" or "(unknown)" for log lines."""
        if not self.name:
            return "(unknown)"
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


# -- JSON -------------------------------------------------------------------------------------------------------------


# orjson decodes integers beyond 64 bits to floats where json.loads keeps them exact: input with a run of 19 digits
# (the shortest that can leave the int64 range) goes to json.loads. A 1:1 translate and a substring search are ~1 µs
# per KiB (a regex search costs more than orjson's whole decode).
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19
_FAST_INPUT = (bytes, bytearray)


def loads(data: bytes | bytearray | str) -> Any:
    """`json.loads(data)`, also for input nested deeper than the interpreter's recursion limit."""
    if type(data) in _FAST_INPUT and _LONG_DIGIT_RUN not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except (orjson.JSONDecodeError, MemoryError):
            pass  # strict JSON only, or too deep for orjson: json.loads decides (and decodes what it accepts)
    try:
        return json.loads(data)
    except (RecursionError, MemoryError):
        # Deep nesting (or a C-stack/memory squeeze in the recursive scanner): the iterative decoder needs neither.
        pass
    return loads_iterative(data)


def loads_iterative(data: bytes | bytearray | str) -> Any:
    """Decode JSON exactly like `json.loads` (same values, same types, same accepted grammar), without recursion."""
    return _parse(_text(data), [])


def _text(data: bytes | bytearray | str) -> str:
    # Mirrors json.loads: bytes are UTF-8/16/32 detected from the first bytes, a BOM on a str is an error.
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", data, 0)
        return data
    if isinstance(data, bytes | bytearray):
        return bytes(data).decode(json.detect_encoding(data), "surrogatepass")
    raise TypeError(f"the JSON object must be str, bytes or bytearray, not {type(data).__name__}")


def _skip(s: str, idx: int) -> int:
    # Compact JSON (what the apiserver sends) has no whitespace: test one character before running the regex.
    if idx < len(s) and s[idx] in _WS_CHARS:
        match = _WHITESPACE.match(s, idx)
        if match is not None:
            return match.end()
    return idx


def _key(s: str, idx: int) -> tuple[str, int]:
    """The property name at `idx` (whitespace skipped before) and the index after its ':' and whitespace."""
    if s[idx : idx + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", s, idx)
    key, idx = _scanstring(s, idx + 1, True)
    idx = _skip(s, idx)
    if s[idx : idx + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", s, idx)
    return key, _skip(s, idx + 1)


def _parse(s: str, root: list[Any]) -> Any:
    """The decoder proper. Containers are linked into their parent as soon as they open, and the outermost value
    is put into `root` at once, so after an error `root` holds everything decoded up to it (used to recover the
    name of the object in an undecodable watch event)."""
    n = len(s)
    # The open containers, innermost last, and for each the key its next value goes under (None in a list).
    stack: list[Any] = []
    keys: list[str | None] = []
    idx = _skip(s, 0)
    while True:
        # -- one value at idx: a scalar ends up in `value`; an opened container continues the outer loop --------------
        c = s[idx : idx + 1]
        if c == "{" or c == "[":
            container: Any = {} if c == "{" else []
            idx = _skip(s, idx + 1)
            if stack:
                parent, key = stack[-1], keys[-1]
                if key is None:
                    parent.append(container)
                else:
                    parent[key] = container
            else:
                root.append(container)
            closing = "}" if c == "{" else "]"
            if s[idx : idx + 1] == closing:
                idx += 1
                value: Any = container
                complete = True  # an empty container is finished already
            else:
                stack.append(container)
                if c == "{":
                    key, idx = _key(s, idx)
                    keys.append(key)
                else:
                    keys.append(None)
                continue
        elif c == '"':
            value, idx = _scanstring(s, idx + 1, True)
            complete = False
        else:
            match = _NUMBER.match(s, idx) if c and c in "-0123456789" else None
            if match is not None:
                integer, frac, exp = match.groups()
                value = float(integer + (frac or "") + (exp or "")) if frac or exp else int(integer)
                idx = match.end()
            else:
                for word, constant in _CONSTANTS:
                    if s.startswith(word, idx):
                        value = constant
                        idx += len(word)
                        break
                else:
                    raise json.JSONDecodeError("Expecting value", s, idx)
            complete = False
        # -- the value is done: store it, then close every container that ends here --------------------------------
        while True:
            if not stack:
                if not root:
                    root.append(value)
                idx = _skip(s, idx)
                if idx != n:
                    raise json.JSONDecodeError("Extra data", s, idx)
                return root[0]
            top = stack[-1]
            if not complete:
                key = keys[-1]
                if key is None:
                    top.append(value)
                else:
                    top[key] = value
            idx = _skip(s, idx)
            c = s[idx : idx + 1]
            is_dict = keys[-1] is not None
            if c == ",":
                idx = _skip(s, idx + 1)
                if is_dict:
                    keys[-1], idx = _key(s, idx)
                break
            if c == ("}" if is_dict else "]"):
                idx += 1
                value = stack.pop()
                keys.pop()
                complete = True  # linked into its parent when it opened
                continue
            raise json.JSONDecodeError("Expecting ',' delimiter", s, idx)


# -- responses ------------------------------------------------------------------------------------------------------


def decode_body(data: bytes, *, method: str, path: str) -> JSONDict:
    """A response body that must be a JSON object (a single object, a list page, a Status, discovery)."""
    try:
        decoded = loads(data)
    except Exception as exc:  # not JSON, or anything unexpected: the request failed, as an ApiError
        raise TransportError(f"response is not JSON ({exc}): {data[:_SHOWN]!r}", method=method, path=path) from None
    if not isinstance(decoded, dict):
        raise TransportError(f"response is not a JSON object: {data[:_SHOWN]!r}", method=method, path=path)
    return decoded


def decode_list_page(page: JSONDict, *, api_version: str, kind: str, path: str) -> tuple[list[JSONDict], JSONDict]:
    """(items, list metadata) of one decoded list page; items get apiVersion/kind filled in (lists omit them).

    An item the informer could not key (not an object, no metadata.name) is skipped and logged: the apiserver never
    sends one, and failing the whole list on it would fail every relist after it too."""
    items: list[JSONDict] = []
    raw_items = page.get("items")
    for position, item in enumerate(raw_items if isinstance(raw_items, list) else ()):
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
            log.warning("list %s: skipping item %d of %s, not an object with metadata.name", path, position, kind)
            continue
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
        items.append(item)
    metadata = page.get("metadata")
    return items, metadata if isinstance(metadata, dict) else {}


# -- watch events ---------------------------------------------------------------------------------------------------

_OBJECT_EVENTS = frozenset({"ADDED", "MODIFIED", "DELETED"})


def decode_event(line: bytes, *, kind: str, path: str) -> tuple[str, JSONDict]:
    """(type, object) of one watch-event line. Raises `UndecodableEvent` for anything that is not a well-formed
    event: object events must carry an object with metadata.name (the informer keys its store by it)."""
    try:
        event = loads(line)
        event_type = event["type"]
        obj = event["object"]
        if not isinstance(event_type, str) or not isinstance(obj, dict):
            raise TypeError("not an event: type must be a string and object an object")
        if event_type in _OBJECT_EVENTS:
            metadata = obj.get("metadata")
            if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
                raise TypeError(f"{event_type} event without metadata.name")
        return event_type, obj
    except Exception as exc:  # any failure on one event must end the watch, never stall it
        namespace, name = _recover_identity(line)
        described = f"{type(exc).__name__}: {exc}"
        if len(described) > _SHOWN:
            described = described[:_SHOWN] + "..."
        raise UndecodableEvent(
            f"undecodable {kind} watch event ({described}): {line[:_SHOWN]!r}",
            kind=kind,
            namespace=namespace,
            name=name,
            method="GET",
            path=path,
        ) from None


def _recover_identity(line: bytes) -> tuple[str | None, str | None]:
    """(namespace, name) from object.metadata of an event line, as far as it decodes; (None, None) when unknown.

    Decodes with the iterative decoder into a partial tree, so this works for input that is too deep, cut short or
    broken after the metadata (the apiserver writes metadata before spec and status)."""
    root: list[Any] = []
    with contextlib.suppress(Exception):  # the partial tree in `root` is what we want
        _parse(_text(line), root)
    event = root[0] if root else None
    obj = event.get("object") if isinstance(event, dict) else None
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(metadata, dict):
        return None, None
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return (
        namespace if isinstance(namespace, str) and namespace else None,
        name if isinstance(name, str) and name else None,
    )


__all__ = ["UndecodableEvent", "decode_body", "decode_event", "decode_list_page", "loads", "loads_iterative"]
