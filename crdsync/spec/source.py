"""Mapping files to plain JSON data plus a position index, so every later check can point at a line and column.

ruamel.yaml's round-trip loader keeps the line/column of every key, value and list item; this module walks its tree
once, producing plain dict/list/str/int/float/bool/None values (what the schema validator and the model builder see)
and a `Positions` index from field paths such as ('spec', 'toHost', 0, 'kind') to 1-based locations.

Failure modes, all returned as located `Problem`s, never raised: unreadable file (missing, directory, permission,
not UTF-8 - located at the offending byte), YAML syntax errors (ruamel's problem mark), duplicate keys, values YAML
reads as something JSON has no equivalent for (timestamps, !!binary, sets, custom tags, .inf/.nan, non-string keys),
recursive aliases, documents nested or expanded (alias bombs) beyond sane limits, and empty documents.
"""

from __future__ import annotations

import datetime
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from crdsync.spec.model import Location, SpecError

FieldPath = tuple[str | int, ...]

# Far beyond any real mapping, low enough that nothing downstream (schema validation, model building, tests that
# hash the result) can hit Python's recursion limit or spend noticeable time.
MAX_DEPTH = 64
MAX_NODES = 50_000

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STANDARD_TAG = "tag:yaml.org,2002:"
_DUPLICATE_VALUES = re.compile(r' with value ".*" \(original value: ".*"\)$', re.DOTALL)


def format_field_path(path: FieldPath) -> str:
    """('spec', 'toHost', 0, 'selector', 'matchLabels', 'a/b') -> 'spec.toHost[0].selector.matchLabels["a/b"]'."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}" if out else part)
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{escaped}"]')
    return "".join(out)


@dataclass(frozen=True, order=True)
class Problem:
    """A located problem before it becomes a SpecError; keeps the structured path for de-duplication."""

    location: Location
    path: FieldPath
    message: str
    document: int = 0  # index of the document within its file, so paths of different documents never mix

    def to_error(self) -> SpecError:
        return SpecError(self.location, format_field_path(self.path), self.message)


class Positions:
    """Field path -> location of the value (and of the key, for mapping entries) in one document."""

    def __init__(self, filename: str, root: tuple[int, int] = (1, 1)) -> None:
        self.filename = filename
        self._values: dict[FieldPath, tuple[int, int]] = {(): root}
        self._keys: dict[FieldPath, tuple[int, int]] = {}

    def record(self, path: FieldPath, value: tuple[int, int], key: tuple[int, int] | None = None) -> None:
        self._values[path] = value
        if key is not None:
            self._keys[path] = key

    def _at(self, line_col: tuple[int, int]) -> Location:
        return Location(self.filename, line_col[0], line_col[1])

    def value(self, path: FieldPath) -> Location:
        """Where the value at `path` starts; the nearest recorded ancestor when `path` itself is not in the file."""
        for end in range(len(path), -1, -1):
            found = self._values.get(path[:end])
            if found is not None:
                return self._at(found)
        return self._at((1, 1))

    def key(self, path: FieldPath) -> Location:
        """Where the key of the mapping entry at `path` is written; falls back to the value's location."""
        found = self._keys.get(path)
        return self._at(found) if found is not None else self.value(path)


@dataclass(frozen=True)
class Document:
    """One YAML document of a mapping file, as plain data with its positions."""

    filename: str
    index: int  # 0-based position among the file's non-empty documents
    data: Any
    positions: Positions
    problems: tuple[Problem, ...] = ()  # values that have no JSON equivalent (already replaced by null in `data`)


def read_text(path: str | Path) -> tuple[str | None, list[Problem]]:
    """Read a mapping file as UTF-8 (a BOM is accepted). Returns (text, []) or (None, [problem])."""
    name = str(path)
    where = Location(name, 1, 1)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None, [Problem(where, (), "cannot read mapping file: no such file")]
    except IsADirectoryError:
        return None, [Problem(where, (), "cannot read mapping file: it is a directory")]
    except PermissionError:
        return None, [Problem(where, (), "cannot read mapping file: permission denied")]
    except OSError as exc:
        return None, [Problem(where, (), f"cannot read mapping file: {exc.strerror or exc}")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start]
        message = f"not valid UTF-8: byte 0x{byte:02x} at offset {exc.start} (mapping files must be UTF-8)"
        return None, [Problem(Location(name, line, column), (), message)]


def _line_col_of_offset(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _yaml_error(exc: Exception, text: str, filename: str) -> Problem:
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        # ruamel quotes both whole values of a duplicate key; the key and the two lines are what matters.
        problem = _DUPLICATE_VALUES.sub("", problem)
        if len(problem) > 200:
            problem = problem[:197] + "..."
        context = ""
        if exc.context and exc.problem and exc.context_mark is not None:
            context = f" ({exc.context.strip()} at line {exc.context_mark.line + 1})"
        return Problem(Location(filename, line, column), (), f"YAML syntax error: {problem}{context}")
    if isinstance(exc, ReaderError):
        line, column = _line_col_of_offset(text, exc.position)
        char = exc.character
        shown = f"0x{char:02x}" if isinstance(char, int) else f"U+{ord(char):04X}" if char else "?"
        return Problem(Location(filename, line, column), (), f"YAML syntax error: unacceptable character {shown}")
    if isinstance(exc, RecursionError):
        return Problem(Location(filename, 1, 1), (), f"YAML document nested too deeply (limit {MAX_DEPTH} levels)")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Problem(Location(filename, 1, 1), (), f"YAML syntax error: {first}")


class _Converter:
    """Walks one ruamel document; collects plain data, positions and problems."""

    def __init__(self, positions: Positions, document: int) -> None:
        self.positions = positions
        self.document = document
        self.problems: list[Problem] = []
        self._nodes = 0
        self._active: set[int] = set()  # ids of containers on the current walk path, to detect recursive aliases
        self._over_budget = False

    def _problem(self, path: FieldPath, message: str, at_key: bool = False) -> None:
        where = self.positions.key(path) if at_key else self.positions.value(path)
        self.problems.append(Problem(where, path, message, self.document))

    def convert(self, node: Any, path: FieldPath) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            if not self._over_budget:
                self._over_budget = True
                self._problem(path, f"document too large: more than {MAX_NODES} values after expanding aliases")
            return None
        if len(path) > MAX_DEPTH:
            self._problem(path, f"nested deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(node, dict | list):
            tag = _tag_of(node)
            if tag is not None and not tag.startswith(_STANDARD_TAG):
                self._problem(path, f"unsupported YAML tag {tag}: mapping files use plain YAML only")
                return None
            if id(node) in self._active:
                self._problem(path, "recursive YAML alias: an anchor cannot contain an alias to itself")
                return None
            self._active.add(id(node))
            try:
                return self._mapping(node, path) if isinstance(node, dict) else self._sequence(node, path)
            finally:
                self._active.discard(id(node))
        return self._scalar(node, path)

    def _mapping(self, node: dict[Any, Any], path: FieldPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        lc = node.lc.data if isinstance(node, CommentedMap) else {}
        for key in node:
            where = lc.get(key)
            if not isinstance(key, str):
                location = (
                    Location(self.positions.filename, where[0] + 1, where[1] + 1)
                    if where is not None
                    else self.positions.value(path)
                )
                message = f"mapping key {_show(key)} is not a string: quote it"
                self.problems.append(Problem(location, (*path, str(key)), message, self.document))
                continue
            child = (*path, str(key))
            if where is not None:
                key_pos = (where[0] + 1, where[1] + 1)
                # A null value has no node of its own; ruamel then reports the next token, often on a later line.
                value_pos = key_pos if node[key] is None else (where[2] + 1, where[3] + 1)
                self.positions.record(child, value_pos, key_pos)
            out[str(key)] = self.convert(node[key], child)
        return out

    def _sequence(self, node: list[Any], path: FieldPath) -> list[Any]:
        lc = node.lc.data if isinstance(node, CommentedSeq) else {}
        out: list[Any] = []
        for index, item in enumerate(node):
            where = lc.get(index)
            if where is not None:
                self.positions.record((*path, index), (where[0] + 1, where[1] + 1))
            out.append(self.convert(item, (*path, index)))
        return out

    def _scalar(self, node: Any, path: FieldPath) -> Any:
        if node is None or type(node) is bool:
            return node
        if isinstance(node, ScalarBoolean):  # an anchored true/false; an int subclass, so test before int
            return bool(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            if not math.isfinite(node):
                self._problem(path, f"{node} is not a JSON number (.inf and .nan cannot be written to Kubernetes)")
                return None
            return float(node)
        if isinstance(node, str):
            return str(node)
        if isinstance(node, TaggedScalar):
            tag = _tag_of(node) or "?"
            self._problem(path, f"unsupported YAML tag {tag}: mapping files use plain YAML only")
            return None
        if isinstance(node, datetime.date):
            self._problem(path, f"YAML reads {node.isoformat()} as a date/timestamp: quote it to keep a string")
            return None
        if isinstance(node, bytes):
            self._problem(path, "binary values (!!binary) are not supported")
            return None
        kind = "a set (!!set)" if hasattr(node, "add") else f"a {type(node).__name__}"
        self._problem(path, f"YAML value is {kind}, which has no JSON equivalent")
        return None


def _tag_of(node: Any) -> str | None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag)
    return value if isinstance(value, str) and value else None


def _show(value: Any) -> str:
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _flow_nesting_problem(text: str, filename: str) -> Problem | None:
    """Reject absurdly nested flow collections before ruamel sees them: its scanner is quadratic in the nesting depth
    (5000 levels take seconds before it fails). Quotes are not tracked; a real mapping never has dozens of unclosed
    brackets, even inside strings."""
    depth = 0
    for offset, char in enumerate(text):
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _line_col_of_offset(text, offset)
                return Problem(Location(filename, line, column), (), f"nested deeper than {MAX_DEPTH} levels")
        elif char in "]}" and depth:
            depth -= 1
    return None


def _documents(text: str) -> Iterator[Any]:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yield from yaml.load_all(text)


def parse_yaml(text: str, filename: str) -> tuple[list[Document], list[Problem]]:
    """Parse every document of `text`. Returns the non-empty documents as plain data (each with the problems of its
    values) and the problems of the file as a whole (syntax errors, empty file); documents are only returned when the
    whole file parsed."""
    documents: list[Document] = []
    problems: list[Problem] = []
    too_deep = _flow_nesting_problem(text, filename)
    if too_deep is not None:
        return [], [too_deep]
    try:
        with warnings.catch_warnings():
            # ruamel warns (e.g. about re-used anchors) through the warnings module; those must not reach stderr.
            warnings.simplefilter("ignore")
            loaded = list(_documents(text))
    except (YAMLError, RecursionError) as exc:
        return [], [_yaml_error(exc, text, filename)]
    except Exception as exc:  # ruamel raises plain exceptions for some malformed input; never let one escape
        return [], [_yaml_error(exc, text, filename)]
    for node in loaded:
        if node is None:
            continue  # an empty document between '---' separators
        root = (node.lc.line + 1, node.lc.col + 1) if isinstance(node, CommentedMap | CommentedSeq) else (1, 1)
        positions = Positions(filename, root)
        converter = _Converter(positions, len(documents))
        try:
            data = converter.convert(node, ())
        except RecursionError:
            problems.append(Problem(Location(filename, *root), (), f"document nested deeper than {MAX_DEPTH} levels"))
            continue
        documents.append(Document(filename, len(documents), data, positions, tuple(converter.problems)))
    if not documents and not problems:
        problems.append(
            Problem(
                Location(filename, 1, 1),
                (),
                "empty mapping file: expected a SyncConfig (apiVersion: crdsync.io/v1alpha1, kind: SyncConfig, "
                "metadata, spec)",
            )
        )
    return documents, problems
