"""The write overlay's resourceVersion policy (crdsync/engine/overlay.py): versions are opaque, compared only for
equality; our write wins only while the cache provably lags it; its echo ends it and names the key that wrote it."""

from __future__ import annotations

from typing import Any

from crdsync.engine.keys import Key, ObjectName, Task
from crdsync.engine.overlay import Slot, WriteOverlay

SLOT: Slot = ("host", "example.com", "Widget", "ns", "w")
KEY = Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w"))


def obj(version: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "w", "namespace": "ns", "resourceVersion": version}, "spec": spec}


def test_our_write_wins_while_the_cache_still_shows_what_it_showed_before() -> None:
    overlay = WriteOverlay()
    overlay.remember(SLOT, obj("b", size=2), KEY, obj("a", size=1))
    assert overlay.current(SLOT, obj("a", size=1)) == obj("b", size=2)


def test_a_new_object_we_created_is_read_back_before_the_cache_has_it() -> None:
    overlay = WriteOverlay()
    overlay.remember(SLOT, obj("7"), KEY, None)
    assert overlay.current(SLOT, None) == obj("7")


def test_versions_are_never_ordered_a_version_we_cannot_place_makes_the_cache_win() -> None:
    """ "10" > "9" as numbers, "9" > "10" as strings: neither order is used. Any version that is neither the one the
    cache showed before our write nor one of ours is someone else's: the cache wins and the entry goes."""
    overlay = WriteOverlay()
    overlay.remember(SLOT, obj("9"), KEY, obj("8"))
    assert overlay.current(SLOT, obj("10", size=5)) == obj("10", size=5)
    assert overlay.current(SLOT, obj("8")) == obj("8")  # the entry is gone: nothing hides the cache any more


def test_the_echo_of_our_last_write_names_its_key_and_ends_the_entry() -> None:
    overlay = WriteOverlay()
    overlay.remember(SLOT, obj("p"), KEY, obj("o"))
    overlay.remember(SLOT, obj("q"), KEY, obj("o"))  # a second write in the same reconcile
    assert overlay.observed(SLOT, obj("p")) is None  # the first write's echo: still behind our last
    assert overlay.current(SLOT, obj("p")) == obj("q")
    assert overlay.observed(SLOT, obj("q")) == KEY
    assert overlay.current(SLOT, obj("o")) == obj("o")


def test_another_version_observed_is_not_an_echo_and_ends_the_entry() -> None:
    overlay = WriteOverlay()
    overlay.remember(SLOT, obj("q"), KEY, obj("o"))
    assert overlay.observed(SLOT, obj("z")) is None
    assert overlay.current(SLOT, obj("o")) == obj("o")


def test_a_held_event_is_the_echo_only_of_the_same_keys_last_write() -> None:
    overlay = WriteOverlay()
    overlay.remember(SLOT, obj("q"), KEY, obj("o"))
    other = Key(Task.EXPORT, "example.com", "Widget", ObjectName("default", "w"))
    assert not overlay.wrote_exactly(SLOT, "q", other)
    assert not overlay.wrote_exactly(SLOT, "o", KEY)
    assert overlay.wrote_exactly(SLOT, "q", KEY)
    assert not overlay.wrote_exactly(SLOT, "q", KEY)  # judged once: the entry went


def test_a_delete_of_ours_forgets_the_slot() -> None:
    overlay = WriteOverlay()
    overlay.remember(SLOT, obj("q"), KEY, obj("o"))
    overlay.forget(SLOT)
    assert overlay.current(SLOT, obj("o")) == obj("o")
