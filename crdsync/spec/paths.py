"""JSONPath compilation shared by the spec loader (to validate) and the translate layer (to evaluate).

Every path in a mapping spec is a jsonpath-ng "ext" expression rooted at `$` (the whole object), e.g.
`$.spec.issuerRef.name` or `$.spec.things[?(@.local == true)]`. Compiled paths are cached per expression string; the
cache is safe to share between threads because compiled paths are never mutated by jsonpath-ng's find/update.

Failure modes: `compile_path` raises `PathSyntaxError` (a ValueError) with a one-line message for any expression that
does not parse or is not rooted at `$`; `path_error` returns that message instead of raising. Neither ever lets a
parser-internal exception escape.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from jsonpath_ng.ext.parser import ExtendedJsonPathParser


class PathSyntaxError(ValueError):
    """A spec path that is not a valid rooted jsonpath-ng ext expression."""


def _clean(message: str) -> str:
    # jsonpath-ng's messages are sometimes multi-line and mention parser internals; keep the first useful line.
    first = message.strip().splitlines()[0] if message.strip() else "parse error"
    return first.rstrip(".!")


# jsonpath_ng.ext.parse() regenerates the PLY parse tables on every call (~40 ms); one parser instance is reused
# instead. PLY keeps parse stacks on the instance, hence the lock.
_parser_lock = threading.Lock()


@lru_cache(maxsize=1)
def _parser() -> Any:
    return ExtendedJsonPathParser()


@lru_cache(maxsize=4096)
def _compile(expr: str) -> Any:
    stripped = expr.strip()
    if not stripped:
        raise PathSyntaxError("empty JSONPath; write e.g. $.spec.secretName")
    if not stripped.startswith("$"):
        raise PathSyntaxError(f"JSONPath {expr!r} must start at the object root '$', e.g. $.{stripped.lstrip('.')}")
    try:
        with _parser_lock:
            return _parser().parse(stripped)
    except Exception as exc:  # the parser raises assorted types (lexer, parser, plain Exception)
        raise PathSyntaxError(f"invalid JSONPath {expr!r}: {_clean(str(exc)) or type(exc).__name__}") from None


def compile_path(expr: str) -> Any:
    """Compile a spec JSONPath (cached). Raises PathSyntaxError with a one-line reason when it is not valid.

    The result is a jsonpath_ng JSONPath object: use `.find(obj)`, `.update(obj, value)`, `.filter(...)`.
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
