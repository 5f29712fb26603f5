"""The one error type of the translation core.

Everything in crdsync.translate is a pure function; when the input (an object, or a spec element applied to it)
cannot be translated it raises TranslationError, never a bare KeyError/TypeError. The error carries the JSONPath or
field it is about and the spec Location of the rule, reference or patch that was being applied, so callers can print
one located line (`cert-manager.yaml:12:9: ... (at $.spec.secretName)`) instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from crdsync.spec.model import UNKNOWN_LOCATION, Location, Rule

T = TypeVar("T")


def json_type(value: Any) -> str:
    """How a JSON value is called in messages: "a string", "a number", "a map", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return f"a {type(value).__name__}"


class TranslationError(Exception):
    """An object (or a spec element applied to it) that cannot be translated.

    `path` is the JSONPath or field the problem is about ("" when it is about the whole object); `location` is where the
    spec element that failed was written (UNKNOWN_LOCATION when no spec element is involved).
    """

    def __init__(self, message: str, path: str = "", location: Location = UNKNOWN_LOCATION) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.location = location

    def located(self, location: Location) -> TranslationError:
        """The same error attributed to `location` unless it already names one (the innermost spec element wins)."""
        if self.location != UNKNOWN_LOCATION:
            return self
        return TranslationError(self.message, self.path, location)

    def __str__(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        prefix = f"{self.location}: " if self.location != UNKNOWN_LOCATION else ""
        return f"{prefix}{self.message}{where}"


def located(rule: Rule, build: Callable[[], T]) -> T:
    """build(), with any TranslationError it raises attributed to `rule` unless it names a location already."""
    try:
        return build()
    except TranslationError as exc:
        raise exc.located(rule.location) from None
