"""A work queue with the guarantees of client-go's rate-limited queue, for hashable keys.

- A key waiting in the queue is held once, however often it is added (dedup).
- A key being processed is never handed out again until `done(key)`; adds meanwhile mark it dirty and it is
  re-queued on `done`, so the latest state is always processed once more (level-triggered) but never concurrently.
- `add_rate_limited(key)` delays by a per-key exponential backoff (base * 2**failures, capped); `forget(key)` resets it.
- `shut_down()` stops handing out keys; `get` then returns None, so workers exit after their current item.
- An optional observer sees what client-go's queue metrics count: an add that enqueues (not one deduplicated away),
  a rate-limited retry, how long a key waited before it was handed out (from its first add) and how long it was
  processed. It is called under the queue's lock, so it must be cheap and must not call back into the queue.

Failure modes: none raised; adds after shutdown are ignored.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)


class QueueObserver(Protocol):
    def added(self) -> None: ...
    def retried(self) -> None: ...
    def handed_out(self, waited: float) -> None: ...
    def finished(self, worked: float) -> None: ...


class WorkQueue(Generic[K]):
    def __init__(
        self, *, base_delay: float = 0.005, max_delay: float = 60.0, observer: QueueObserver | None = None
    ) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._cond = threading.Condition()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._delayed: list[tuple[float, int, K]] = []  # heap of (due, tiebreak, key)
        self._tiebreak = itertools.count()
        self._shutting_down = False
        self._observer = observer
        self._added_at: dict[K, float] = {}  # first add since the key was last handed out (observer only)
        self._started_at: dict[K, float] = {}

    # -- adding -------------------------------------------------------------------------------------------------
    def add(self, key: K) -> None:
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if self._observer is not None:
            self._observer.added()
            self._added_at.setdefault(key, time.monotonic())
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._tiebreak), key))
            self._cond.notify()

    def add_rate_limited(self, key: K) -> float:
        """Re-add after this key's next backoff delay; returns the delay used."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            if self._observer is not None:
                self._observer.retried()
        delay: float = min(self._base_delay * 2.0**failures, self._max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        with self._cond:
            self._failures.pop(key, None)

    # -- consuming ----------------------------------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> K | None:
        """The next key, marked as processing; None on shutdown or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._hand_out_locked(key, time.monotonic())
                    return key
                if self._shutting_down:
                    return None
                wait = None if deadline is None else deadline - time.monotonic()
                if self._delayed:
                    until_due = self._delayed[0][0] - time.monotonic()
                    wait = until_due if wait is None else min(wait, until_due)
                if wait is not None and wait <= 0:
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                    continue
                self._cond.wait(wait)

    def take_waiting(self) -> list[K]:
        """Every key queued now, in queue order, handed out at once: each is marked processing exactly as `get` marks
        it (adds meanwhile make it dirty, re-queued on its `done`), so one thread can judge them all without a lock
        round trip per key."""
        with self._cond:
            keys = list(self._queue)
            self._queue.clear()
            now = time.monotonic()
            for key in keys:
                self._hand_out_locked(key, now)
            return keys

    def _hand_out_locked(self, key: K, now: float) -> None:
        self._processing.add(key)
        self._dirty.discard(key)
        if self._observer is not None:
            self._observer.handed_out(now - self._added_at.pop(key, now))
            self._started_at[key] = now

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            started = self._started_at.pop(key, None)
            if self._observer is not None and started is not None:
                self._observer.finished(time.monotonic() - started)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def _promote_due_locked(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self._add_locked(key)

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def shut_down(self) -> None:
        with self._cond:
            self._shutting_down = True
            self._delayed.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def pending(self) -> int:
        """Keys waiting, delayed or being processed: zero means the engine has caught up."""
        with self._cond:
            return len(self._queue) + len(self._delayed) + len(self._processing)
