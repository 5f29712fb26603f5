"""TranslationError: one located line."""

from __future__ import annotations

import pytest

from crdsync.spec.model import Location
from crdsync.translate.errors import TranslationError, json_type

HERE = Location("cert-manager.yaml", 12, 7)


def test_translation_error_str_names_location_and_path() -> None:
    err = TranslationError("bad", "$.spec.x", HERE)
    assert str(err) == "cert-manager.yaml:12:7: bad (at $.spec.x)"
    assert str(TranslationError("bad")) == "bad"
    assert str(TranslationError("bad", "$.spec.x")) == "bad (at $.spec.x)"
    assert err.located(Location("other.yaml", 1, 1)) is err  # the innermost spec element wins
    assert TranslationError("bad").located(HERE).location == HERE


@pytest.mark.parametrize(
    ("value", "called"),
    [
        (None, "null"),
        (True, "a boolean"),
        (0, "a number"),
        (1.5, "a number"),
        ("", "a string"),
        ([], "a list"),
        ({}, "a map"),
        ((1,), "a tuple"),
    ],
)
def test_messages_call_each_json_value_by_its_json_type(value: object, called: str) -> None:
    """What a tenant reads in "status must be a map, found a number": JSON's names, not Python's (bool is not a
    number, though Python's bool is an int)."""
    assert json_type(value) == called
