"""The work queue's contract: dedup, no concurrent processing of one key, re-run of keys dirtied while processing,
per-key exponential backoff, and a clean shutdown."""

from __future__ import annotations

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.engine.queue import WorkQueue


def test_adds_of_a_waiting_key_are_deduplicated() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert q.get(timeout=0) == "a"
    assert q.get(timeout=0) == "b"
    assert q.get(timeout=0.01) is None


def test_a_key_in_processing_is_not_handed_out_again_but_rerun_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add("a")  # changed while processing
    assert q.get(timeout=0.01) is None  # not concurrently
    q.done("a")
    assert q.get(timeout=0) == "a"  # but processed once more
    q.done("a")
    assert q.pending() == 0


def test_take_waiting_hands_out_every_waiting_key_at_once_as_get_would() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in ("b", "a", "c", "a"):
        q.add(key)
    q.add_after("later", 60)
    assert q.take_waiting() == ["b", "a", "c"]  # queue order, once each; the delayed key stays delayed
    assert q.get(timeout=0.01) is None  # all three are being processed
    q.add("a")  # changed while processing: dirty, not handed out concurrently
    assert q.take_waiting() == []
    for key in ("b", "a", "c"):
        q.done(key)
    assert q.get(timeout=0) == "a"  # re-run once after done, like a key from get
    q.done("a")
    assert q.pending() == 1  # only the delayed key


def test_the_engine_has_caught_up_only_when_nothing_waits_is_delayed_or_is_being_processed() -> None:
    q: WorkQueue[str] = WorkQueue()
    assert q.pending() == 0
    q.add("a")
    q.add("b")
    q.add_after("later", 60)
    assert q.pending() == 3
    assert q.get(timeout=0) == "a"
    assert q.pending() == 3  # "a" is being processed: not caught up yet
    assert q.get(timeout=0) == "b"
    q.done("a")
    assert q.pending() == 2
    q.done("b")
    assert q.pending() == 1
    q.shut_down()
    assert q.pending() == 0


def test_backoff_doubles_per_failure_and_forget_resets_it() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.05)
    assert q.add_rate_limited("a") == 0.01
    assert q.add_rate_limited("a") == 0.02
    assert q.add_rate_limited("a") == 0.04
    assert q.add_rate_limited("a") == 0.05  # capped
    q.forget("a")
    assert q.add_rate_limited("a") == 0.01
    start = time.monotonic()
    assert q.get(timeout=1) == "a"
    assert time.monotonic() - start >= 0.009


def test_delayed_key_is_not_available_before_due() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0.2)
    assert q.get(timeout=0.05) is None
    assert q.get(timeout=1) == "a"


def test_shutdown_releases_waiting_workers() -> None:
    q: WorkQueue[str] = WorkQueue()
    results: list[str | None] = []
    worker = threading.Thread(target=lambda: results.append(q.get()))
    worker.start()
    time.sleep(0.05)
    q.shut_down()
    worker.join(timeout=2)
    assert not worker.is_alive()
    assert results == [None]
    q.add("late")
    assert q.get(timeout=0) is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=60))
def test_concurrent_workers_never_process_one_key_twice_at_once(keys: list[str]) -> None:
    q: WorkQueue[str] = WorkQueue()
    active: set[str] = set()
    overlap: list[str] = []
    processed: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while (key := q.get(timeout=0.05)) is not None:
            with lock:
                if key in active:
                    overlap.append(key)
                active.add(key)
            time.sleep(0.0005)
            with lock:
                active.discard(key)
                processed.append(key)
            q.done(key)

    for key in keys:
        q.add(key)
    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for key in keys:  # adds racing with processing
        q.add(key)
    for w in workers:
        w.join(timeout=5)
    assert overlap == []
    assert set(processed) == set(keys)
