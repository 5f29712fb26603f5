"""TranslationError: one located line."""

from __future__ import annotations

from crdsync.spec.model import Location
from crdsync.translate.errors import TranslationError

HERE = Location("cert-manager.yaml", 12, 7)


def test_translation_error_str_names_location_and_path() -> None:
    err = TranslationError("bad", "$.spec.x", HERE)
    assert str(err) == "cert-manager.yaml:12:7: bad (at $.spec.x)"
    assert str(TranslationError("bad")) == "bad"
    assert str(TranslationError("bad", "$.spec.x")) == "bad (at $.spec.x)"
    assert err.located(Location("other.yaml", 1, 1)) is err  # the innermost spec element wins
    assert TranslationError("bad").located(HERE).location == HERE
