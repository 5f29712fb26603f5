"""Fixtures the engine tests share: the Events a running engine records, and Worlds stopped after each test.

Failure mode: none of their own; a test module may override `events` with a shape of its own (test_write_path,
test_reconcile), as pytest allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from crdsync.engine import reconcile as reconcile_module

if TYPE_CHECKING:
    from tests.engine.test_engine import World


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The Events the engine records, as (reason, message)."""
    recorded: list[tuple[str, str]] = []
    monkeypatch.setattr(
        reconcile_module, "record_event", lambda client, obj, reason, message, **kw: recorded.append((reason, message))
    )
    return recorded


@pytest.fixture
def events_on(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """The Events the engine records, as (name of the object they are about, reason, message)."""
    recorded: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        reconcile_module,
        "record_event",
        lambda client, obj, reason, message, **kw: recorded.append((obj["metadata"]["name"], reason, message)),
    )
    return recorded


@pytest.fixture
def worlds() -> Iterator[list[World]]:
    """Worlds a test appends here are stopped after it, whether it passed or not."""
    made: list[World] = []
    yield made
    for world in made:
        world.stop()
