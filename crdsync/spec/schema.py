"""The mapping JSON Schema: finding it, validating documents against it, and explaining every violation.

`schemas/mapping.schema.json` (draft 2020-12) is the single description of the mapping shape: editors use it for
completion, the loader validates with it. This module turns each jsonschema error into a `Problem` located where an
admin would look: an unknown key at the key, a wrong type or value at the value, a missing key at the mapping that
lacks it. A patch whose `op` is known is explained against that op's shape only (not the five-way oneOf noise).

The schema is package data, read through importlib.resources (crdsync.resources explains how the one file at the
repository's top, schemas/mapping.schema.json, becomes part of both a checkout's and a wheel's package), so it is
found wherever crdsync is installed and whatever the working directory is.

Failure modes: `load_schema` raises `SchemaNotFoundError` (with the place it looked) when the schema file is missing,
i.e. a broken install or a checkout without the crdsync/resources symlinks; the loader turns that into a located
error.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from crdsync import resources
from crdsync.spec.source import Document, FieldPath, Problem

SCHEMA_FILENAME = "mapping.schema.json"


class SchemaNotFoundError(FileNotFoundError):
    """The mapping schema file is not where a checkout or an installed package keeps it."""


def schema_candidates() -> tuple[Path, ...]:
    """Where the schema may be, in order (one place: the package's data; resolved, so a checkout's messages name the
    top-level file the symlink leads to)."""
    return (resources.schema_path(SCHEMA_FILENAME).resolve(),)


def schema_file() -> Path:
    for candidate in schema_candidates():
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in schema_candidates())
    raise SchemaNotFoundError(f"mapping schema {SCHEMA_FILENAME} not found (looked in: {looked})")


@lru_cache(maxsize=1)
def _cached_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_file().read_text(encoding="utf-8"))
    return loaded


def load_schema() -> dict[str, Any]:
    """The mapping JSON Schema as a dict (a private copy: callers may modify it)."""
    return copy.deepcopy(_cached_schema())


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    return Draft202012Validator(_cached_schema())


@lru_cache(maxsize=32)
def defined_pattern(definition: str) -> re.Pattern[str]:
    """The compiled `pattern` of a schema `$defs` entry (e.g. 'apiVersion', 'kind'), to check values the same way."""
    return re.compile(str(_cached_schema()["$defs"][definition]["pattern"]))


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _json_type_is(value: Any, json_type: str) -> bool:
    """True when `value` (parsed YAML/JSON) is of the JSON Schema type `json_type`."""
    if json_type == "object":
        return isinstance(value, dict)
    if json_type == "array":
        return isinstance(value, list)
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return json_type == "null" and value is None


def describe(value: Any) -> str:
    """A short, YAML-flavoured description of a value for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, int | float):
        return f"the number {text}"
    return text


def _did_you_mean(word: Any, choices: Sequence[str]) -> str:
    if not isinstance(word, str) or not choices:
        return ""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _value_message(error: ValidationError, schema: dict[str, Any], instance: Any, custom: Any) -> str | None:
    """The message for a keyword that judges one value (type, enum, const, pattern, lengths, bounds, item counts),
    located at that value; None for any other keyword."""
    keyword = error.validator
    if keyword == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        hint = ""
        if "string" in names and isinstance(instance, bool | int | float) and instance is not None:
            shown = str(instance).lower() if isinstance(instance, bool) else str(instance)
            hint = f' (quote it: "{shown}")'
        return f"expected {wanted}, got {describe(instance)}{hint}"
    if keyword == "enum":
        choices = [str(c) for c in error.validator_value]
        hint = _did_you_mean(instance, choices)
        return f"{describe(instance)} is not one of {', '.join(choices)}{hint}"
    if keyword == "const":
        return f"must be {error.validator_value!r}, got {describe(instance)}"
    if keyword == "pattern":
        hint = schema.get("patternErrorMessage") or f"does not match the pattern {error.validator_value}"
        return f"{describe(instance)} {hint}"
    if keyword == "minLength":
        n = error.validator_value
        return "must not be empty" if n == 1 else f"must be at least {n} characters long"
    if keyword == "maxLength":
        return f"is longer than {error.validator_value} characters"
    if keyword in ("minimum", "maximum"):
        relation = "at least" if keyword == "minimum" else "at most"
        bound = error.validator_value
        return f"{describe(instance)} is out of range: must be {relation} {bound}"
    if keyword in ("minItems", "maxItems"):
        n = error.validator_value
        if custom:
            message: str = custom
            return message
        if keyword == "minItems":
            return f"needs at least {n} item{'s' if n != 1 else ''}"
        return "must be empty" if n == 0 else f"allows at most {n} item{'s' if n != 1 else ''}"
    return None


class _Explainer:
    def __init__(self, document: Document, root_schema: dict[str, Any]) -> None:
        self.document = document
        self.positions = document.positions
        self.root_schema = root_schema

    def _resolve(self, schema: Any) -> dict[str, Any]:
        # Only local "#/$defs/name" refs occur in our schema.
        while isinstance(schema, dict) and str(schema.get("$ref", "")).startswith("#/$defs/"):
            schema = self.root_schema["$defs"][schema["$ref"].removeprefix("#/$defs/")]
        return schema if isinstance(schema, dict) else {}

    def at_value(self, path: FieldPath, message: str) -> Problem:
        return Problem(self.positions.value(path), path, message, self.document.index)

    def at_key(self, path: FieldPath, message: str) -> Problem:
        return Problem(self.positions.key(path), path, message, self.document.index)

    def at_mapping(self, mapping: FieldPath, field: FieldPath, message: str) -> Problem:
        return Problem(self.positions.value(mapping), field, message, self.document.index)

    def explain(self, error: ValidationError) -> Iterator[Problem]:
        path: FieldPath = tuple(error.absolute_path)
        keyword = error.validator
        schema = error.schema if isinstance(error.schema, dict) else {}
        instance = error.instance
        custom = schema.get("errorMessage")

        if "propertyNames" in error.relative_schema_path:
            # The instance is the offending key itself; jsonschema reports the mapping's path.
            key_path = (*path, str(instance))
            hint = schema.get("patternErrorMessage") or "is not an allowed key here"
            yield self.at_key(key_path, f"key {instance!r} {hint}")
            return
        if keyword == "additionalProperties" and error.validator_value is False and isinstance(instance, dict):
            allowed = list(schema.get("properties", {}))
            patterns = list(schema.get("patternProperties", {}))
            for key in instance:
                if key in allowed or any(re.search(p, key) for p in patterns):
                    continue
                hint = _did_you_mean(key, allowed) or (f" (allowed here: {', '.join(allowed)})" if allowed else "")
                yield self.at_key((*path, key), f"unknown key {key!r}{hint}")
            return
        if keyword == "required" and isinstance(instance, dict):
            in_then = list(error.relative_schema_path)[-2:-1] == ["then"]
            for key in error.validator_value:
                if key not in instance:
                    message = custom if in_then and custom else f"missing required key {key!r}"
                    yield self.at_mapping(path, (*path, key), message)
            return
        if keyword == "uniqueItems" and isinstance(instance, list):
            seen: list[Any] = []
            for index, item in enumerate(instance):
                if item in seen:
                    yield self.at_value((*path, index), f"duplicate entry {describe(item)}")
                else:
                    seen.append(item)
            return
        if keyword == "oneOf":
            yield from self._explain_one_of(error, path, schema, instance)
            return
        if keyword == "anyOf":
            yield from self._explain_any_of(error, path, schema, instance, custom)
            return
        message = _value_message(error, schema, instance, custom)
        if message is not None:
            yield self.at_value(path, message)
            return
        yield self.at_value(path, error.message if len(error.message) <= 200 else error.message[:197] + "...")

    def _explain_any_of(
        self, error: ValidationError, path: FieldPath, schema: dict[str, Any], instance: Any, custom: Any
    ) -> Iterator[Problem]:
        # Alternatives told apart by type (`when`: one condition or a list of them): explain the one the value's type
        # chose, so a typo inside a condition is reported at the typo, not as "matches no alternative".
        branches = [self._resolve(b) for b in schema.get("anyOf", [])]
        types = [b.get("type") for b in branches]
        chosen = [i for i, t in enumerate(types) if isinstance(t, str) and _json_type_is(instance, t)]
        if len(chosen) == 1:
            found = False
            for sub in error.context or ():
                if sub.relative_schema_path and sub.relative_schema_path[0] == chosen[0]:
                    found = True
                    yield from self.explain(sub)
            if found:
                return
        if any(isinstance(t, str) for t in types) and not chosen:
            wanted = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in types)
            yield self.at_value(path, f"{custom or f'expected {wanted}'}, got {describe(instance)}")
            return
        yield self.at_value(path, custom if isinstance(custom, str) else error.message[:200])

    def _explain_one_of(
        self, error: ValidationError, path: FieldPath, schema: dict[str, Any], instance: Any
    ) -> Iterator[Problem]:
        if not isinstance(instance, dict):
            return  # the sibling "type: object" error already says so
        branches = [self._resolve(b) for b in schema.get("oneOf", [])]
        consts = [b.get("properties", {}).get("op", {}).get("const") for b in branches]
        ops = [c for c in consts if isinstance(c, str)]
        if not ops:
            yield self.at_value(path, "does not match any of the allowed shapes")
            return
        op = instance.get("op")
        if "op" not in instance:
            yield self.at_mapping(path, (*path, "op"), f"missing required key 'op' (one of {', '.join(ops)})")
            return
        if op not in ops:
            hint = _did_you_mean(op, ops)
            message = f"unknown patch op {describe(op)}: expected one of {', '.join(ops)}{hint}"
            yield self.at_value((*path, "op"), message)
            return
        index = consts.index(op)
        found = False
        for sub in error.context or ():
            if sub.relative_schema_path and sub.relative_schema_path[0] == index:
                found = True
                yield from self.explain(sub)
        if not found:
            yield self.at_value(path, error.message)


def schema_problems(document: Document) -> list[Problem]:
    """Every schema violation in one document, located and explained (empty when the document is valid)."""
    explainer = _Explainer(document, _cached_schema())
    problems: list[Problem] = []
    for error in validator().iter_errors(document.data):
        problems.extend(explainer.explain(error))
    return problems
