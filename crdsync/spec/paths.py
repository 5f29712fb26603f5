"""JSONPath compilation shared by the spec loader (to validate) and the translate layer (to evaluate), and readings
of a compiled path's shape (the one top-level field it stays under, a plain field chain, whether two paths overlap).

Every path in a mapping spec is a jsonpath-ng "ext" expression rooted at `$` (the whole object), e.g.
`$.spec.issuerRef.name` or `$.spec.things[?(@.local == true)]`. Compiled paths are cached per expression string; the
cache is safe to share between threads because compiled paths are never mutated by jsonpath-ng's find.

Filters (`[?(...)]`) are not evaluated by jsonpath-ng: each parsed Filter is replaced by a StrictFilter with crdsync's
own rules, the same on every jsonpath-ng version the project allows. jsonpath-ng changed its rules underneath us: up
to 1.8 a comparison ran Python's operator, coercing the data with int() when the literal was an int (`[1] > 1` raised,
`"8" > 4` matched, `"x" > 4` silently did not); from 1.16 (RFC 9535) any comparison of mismatched types is false, so
all three silently match nothing, and a `remove` guarded by such a filter lets the field through. Here a filter
either has a definite answer or raises FilterError (fail closed):
- candidates are a list's items or a map's values (located by index or key, so writes land where the match was);
- `@.f` tests existence, `!@.f` absence; `&`/`&&` and `||` are evaluated left to right and stop once the answer is
  known, so an earlier test can guard a later one (as a patch's `when` conditions do);
- in comparisons an absent field is null, and null means "not set" (as in Kubernetes, and as in a patch's `when`):
  it equals only null, differs (`!=`) from everything else and is neither less nor greater than anything, so
  `[?(@.n > 2)]` and `[?(@.n == 'x')]` do not match it and `[?(@.n != 'x')]` does;
- numbers compare with numbers, strings with strings (all six operators), booleans with booleans (== and != only),
  and `=~` needs a string and a valid regular expression. Anything else (a string against a number, `"true"`
  against true, a list or map against anything, an order on booleans) is a FilterError naming both values: the data
  is not the shape the mapping was written for, and no answer would be safe for every use of the path.
A field that matches several values (`@.ports[*].port > 1024`) holds when one of them does, checked in order.
The filter language itself (`null`, `!`, `&&`, `||`) is jsonpath-ng's from 1.13 on, hence pyproject's lower bound:
before 1.12, `== null` compared with the string "null".

Failure modes: `compile_path` raises `PathSyntaxError` (a ValueError) with a one-line message for any expression that
does not parse, is not rooted at `$`, or uses a filter form whose meaning crdsync does not define (comparing two
queries, e.g. `@.a == @.b`, which older jsonpath-ng versions do not even parse); `path_error` returns that message
instead of raising. Neither ever lets a parser-internal exception escape. A compiled path's `find` raises FilterError
(a ValueError) on data a filter cannot be evaluated on; compiled paths cannot `update` or `filter` through a filter
(crdsync writes through concrete locations, see crdsync.translate.paths).
The shape readings (`top_field`, `field_chain`, `paths_overlap`) take paths already known to compile and raise
PathSyntaxError otherwise; a form they do not know reads as reaching anywhere (no single field, no chain, overlapping).
"""

from __future__ import annotations

import operator
import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jsonpath_ng import DatumInContext, JSONPath
from jsonpath_ng.ext.filter import And, Expression, Filter, Or
from jsonpath_ng.ext.parser import ExtendedJsonPathParser
from jsonpath_ng.jsonpath import Child, Fields, Index, Root


class PathSyntaxError(ValueError):
    """A spec path that is not a valid rooted jsonpath-ng ext expression."""


class FilterError(ValueError):
    """A filter condition that cannot be evaluated on the data at hand (see the module docstring)."""


_ORDERS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OPERATORS = frozenset({"==", "=", "!=", "=~", *_ORDERS})


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "a map"
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int | float):
        kind = "a number"
    else:
        kind = "a string" if isinstance(value, str) else f"a {type(value).__name__}"
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def _compare(value: Any, op: str, literal: Any) -> bool:
    """`value op literal` for one value a filter's field matched; FilterError when the answer would be a guess."""
    if op == "=~":
        if value is None:
            return False  # null is "not set", like an absent field
        if not isinstance(value, str) or not isinstance(literal, str):
            raise FilterError(f"=~ matches strings only, not {_shown(value)}")
        try:
            return re.search(literal, value) is not None
        except re.error as exc:
            raise FilterError(f"invalid regular expression {literal!r}: {exc}") from None
    if literal is None or value is None:
        # Not set (absent or null) is equal to null only and ordered against nothing; `< null` never compiles.
        return op not in _ORDERS and (value is literal) == (op != "!=")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (value, literal))
    strings = isinstance(value, str) and isinstance(literal, str)
    booleans = isinstance(value, bool) and isinstance(literal, bool)
    if numbers or strings:
        return _ORDERS[op](value, literal) if op in _ORDERS else (value == literal) == (op != "!=")
    if booleans and op not in _ORDERS:
        return (value is literal) == (op != "!=")
    raise FilterError(f"cannot compare {_shown(value)} with {_shown(literal)} using {op}")


def _holds(condition: Any, candidate: DatumInContext) -> bool:
    """Whether one filter condition (an Expression, And or Or checked by _strict_condition) holds for a candidate."""
    if isinstance(condition, And):
        return all(_holds(operand, candidate) for operand in condition.operands)
    if isinstance(condition, Or):
        return any(_holds(operand, candidate) for operand in condition.operands)
    if not isinstance(condition, Expression):  # _strict_condition lets nothing else through
        raise FilterError(f"unsupported filter condition {condition}")
    # The target is a query relative to the candidate; `$` in it reaches the document root through the context chain.
    found = [datum.value for datum in condition.target.find(candidate)]
    op = condition.op
    if op is None:
        return bool(found)
    if op == "!":
        return not found
    # An absent field compares as null, as in a patch's `when` (`in: [null]` holds for a field that is not there).
    return any(_compare(value, op, condition.value) for value in found or [None])


def _member_path(key: str) -> JSONPath:
    # jsonpath-ng 1.16 warns when a Fields is built by hand with the name "*" (its deprecated wildcard); its own
    # code uses this constructor for names taken from the data. Before 1.16 there is only the plain constructor.
    make: Callable[[str], JSONPath] = getattr(Fields, "_compliant_constructor", Fields)
    return make(key)


class StrictFilter(JSONPath):
    """`[?(...)]` evaluated by crdsync's rules (module docstring) instead of the installed jsonpath-ng's."""

    def __init__(self, conditions: list[Any], text: str) -> None:
        self.conditions = conditions
        self.text = text

    def find(self, datum: Any) -> list[DatumInContext]:
        datum = DatumInContext.wrap(datum)
        value = datum.value
        members: list[tuple[JSONPath, Any]]
        if isinstance(value, dict):
            members = [(_member_path(key), item) for key, item in value.items()]
        elif isinstance(value, list):
            members = [(Index(i), item) for i, item in enumerate(value)]
        else:
            return []
        matches = []
        for path, item in members:
            candidate = DatumInContext(item, path=path, context=datum)
            if all(_holds(condition, candidate) for condition in self.conditions):
                matches.append(candidate)
        return matches

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"StrictFilter({self.conditions!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StrictFilter) and self.conditions == other.conditions

    def __hash__(self) -> int:
        return hash(self.text)


def _strict_condition(condition: Any, expr: str) -> Any:
    if isinstance(condition, And | Or):
        condition.operands = [_strict_condition(operand, expr) for operand in condition.operands]
        return condition
    if not isinstance(condition, Expression):
        raise PathSyntaxError(f"invalid JSONPath {expr!r}: unsupported filter condition {condition}")
    if isinstance(condition.value, JSONPath):
        raise PathSyntaxError(
            f"invalid JSONPath {expr!r}: a filter compares a field with a literal, not with another query ({condition})"
        )
    if condition.op not in _OPERATORS and condition.op not in (None, "!"):
        raise PathSyntaxError(f"invalid JSONPath {expr!r}: unsupported filter operator {condition.op!r}")
    if condition.op in _ORDERS and condition.value is None:
        raise PathSyntaxError(f"invalid JSONPath {expr!r}: null has no order, compare it with == or != ({condition})")
    condition.target = _strict(condition.target, expr)
    return condition


def _strict(node: Any, expr: str) -> Any:
    """`node` (a freshly parsed tree, changed in place) with every Filter replaced by a StrictFilter."""
    if isinstance(node, Filter):
        if not node.expressions:
            raise PathSyntaxError(f"invalid JSONPath {expr!r}: empty filter")
        return StrictFilter([_strict_condition(c, expr) for c in node.expressions], str(node))
    if isinstance(node, list | tuple):
        replaced = [_strict(item, expr) for item in node]
        return replaced if isinstance(node, list) else tuple(replaced)
    if isinstance(node, JSONPath):
        # Generic over node types (Child, Descendants, Where, Union, sorts, arithmetic, ...), whose attribute names
        # differ between jsonpath-ng versions.
        for name, value in list(vars(node).items()):
            if isinstance(value, JSONPath | list | tuple):
                setattr(node, name, _strict(value, expr))
    return node


def _clean(message: str) -> str:
    # jsonpath-ng's messages are sometimes multi-line and mention parser internals; keep the first useful line.
    first = message.strip().splitlines()[0] if message.strip() else "parse error"
    return first.rstrip(".!")


# jsonpath_ng.ext.parse() regenerates the PLY parse tables on every call (~40 ms); one parser instance is reused
# instead. PLY keeps parse stacks on the instance, hence the lock.
_parser_lock = threading.Lock()


@lru_cache(maxsize=1)
def _parser() -> ExtendedJsonPathParser:
    return ExtendedJsonPathParser()


@lru_cache(maxsize=4096)
def _compile(expr: str) -> JSONPath:
    stripped = expr.strip()
    if not stripped:
        raise PathSyntaxError("empty JSONPath; write e.g. $.spec.secretName")
    if not stripped.startswith("$"):
        raise PathSyntaxError(f"JSONPath {expr!r} must start at the object root '$', e.g. $.{stripped.lstrip('.')}")
    try:
        with _parser_lock:
            parsed = _parser().parse(stripped)
    except Exception as exc:  # the parser raises assorted types (lexer, parser, plain Exception)
        raise PathSyntaxError(f"invalid JSONPath {expr!r}: {_clean(str(exc)) or type(exc).__name__}") from None
    compiled: JSONPath = _strict(parsed, expr)
    return compiled


def compile_path(expr: str) -> JSONPath:
    """Compile a spec JSONPath (cached). Raises PathSyntaxError with a one-line reason when it is not valid.

    The result is a jsonpath_ng JSONPath object to read with `.find(obj)` (which raises FilterError when a filter
    cannot be evaluated on `obj`). Shared between callers: never modify it.
    """
    if not isinstance(expr, str):
        raise PathSyntaxError(f"a JSONPath must be a string, not {type(expr).__name__}")
    return _compile(expr)


def path_error(expr: str) -> str | None:
    """The reason `expr` is not a valid spec JSONPath, or None when it compiles."""
    try:
        compile_path(expr)
    except PathSyntaxError as exc:
        return str(exc)
    return None


def top_field(expr: str) -> str | None:
    """The single top-level field a (valid) JSONPath stays under (`$.status.x` -> 'status'), or None when it can
    reach several (`$..x`, `$.*`, `$`)."""
    node = compile_path(expr)
    segments: list[Any] = []
    while isinstance(node, Child):
        segments.append(node.right)
        node = node.left
    segments.append(node)
    segments.reverse()
    if len(segments) < 2 or not isinstance(segments[0], Root) or not isinstance(segments[1], Fields):
        return None
    fields = tuple(segments[1].fields)
    return str(fields[0]) if len(fields) == 1 and fields[0] != "*" else None


def is_under_status(expr: str) -> bool:
    """True when a (valid) JSONPath can only match inside `.status`: `$.status` or `$.status.<anything>`."""
    return top_field(expr) == "status"


def field_chain(expr: str) -> tuple[str, ...] | None:
    """The field names of a (valid) JSONPath that is a plain chain of map fields (`$.spec.a`,
    `$.metadata.annotations['k']`), or None when it has wildcards, filters, indices, `..` or is `$` itself."""
    node = compile_path(expr)
    chain: list[str] = []
    while isinstance(node, Child):
        right = node.right
        if not isinstance(right, Fields) or len(right.fields) != 1 or right.fields[0] == "*":
            return None
        chain.append(str(right.fields[0]))
        node = node.left
    if not isinstance(node, Root) or not chain:
        return None
    chain.reverse()
    return tuple(chain)


_ANY = None  # a step of a path that may match any field or item


def _steps(expr: str) -> tuple[str | None, ...] | None:
    """The steps of a (valid) JSONPath, a field name or _ANY (wildcards, indices, filters); None when the path can
    reach anywhere below its start (`..`, or a form this reading does not know): such a path overlaps everything."""
    node = compile_path(expr)
    steps: list[str | None] = []
    while isinstance(node, Child):
        right = node.right
        if isinstance(right, Fields) and len(right.fields) == 1 and right.fields[0] != "*":
            steps.append(str(right.fields[0]))
        elif type(right).__name__ in _ONE_STEP_NODES:
            steps.append(_ANY)
        else:
            return None
        node = node.left
    if not isinstance(node, Root):
        return None
    steps.reverse()
    return tuple(steps)


# jsonpath-ng node types that stand for exactly one step (any field or item), by name: their classes moved between
# jsonpath-ng versions, and a node not listed here is read as "anywhere below" (the safe answer for an overlap check).
_ONE_STEP_NODES = frozenset({"Wildcard", "Index", "Slice", "Filter", "StrictFilter", "Fields"})


def paths_overlap(first: str, second: str) -> bool:
    """True when two (valid) JSONPaths may touch the same field: one may match at or below what the other matches."""
    a, b = _steps(first), _steps(second)
    if a is None or b is None:
        return True
    return all(x is _ANY or y is _ANY or x == y for x, y in zip(a, b, strict=False))
