"""Watch delivery of one fake apiserver: synchronous, delayed, or delayed with jitter.

Synchronous (delay and jitter 0): every informer sees a write before the write call returns, on the writer's thread.
Delayed: each event reaches each informer `delay` seconds (plus up to `jitter`, drawn per event and informer from a
seeded generator) after its write, on one delivery thread. One informer's events always arrive in write order, like
one watch stream; with jitter, different informers (kinds, namespaces, the other cluster) see them in different
orders, which is what a real engine gets from independent watches.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable

Action = Callable[[], None]


class Delivery:
    def __init__(self, seed: int = 0) -> None:
        self.delay = 0.0
        self.jitter = 0.0
        self._random = random.Random(seed)
        self._cv = threading.Condition()
        self._queue: list[tuple[float, int, Action]] = []
        self._order = itertools.count()
        self._last_due: dict[int, float] = {}  # per stream (informer id): events never overtake each other
        self._in_flight = 0
        self._thread: threading.Thread | None = None

    @property
    def synchronous(self) -> bool:
        return self.delay <= 0 and self.jitter <= 0

    def send(self, stream: int, action: Action) -> None:
        if self.synchronous:
            action()
            return
        with self._cv:
            due = time.monotonic() + self.delay + (self._random.uniform(0, self.jitter) if self.jitter > 0 else 0.0)
            due = max(due, self._last_due.get(stream, 0.0))
            self._last_due[stream] = due
            heapq.heappush(self._queue, (due, next(self._order), action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fakeapi-delivery", daemon=True)
                self._thread.start()
            self._cv.notify()

    def pending(self) -> int:
        """Events not yet handed over (or being handed over right now)."""
        with self._cv:
            return len(self._queue) + self._in_flight

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait()
                wait = self._queue[0][0] - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                _, _, action = heapq.heappop(self._queue)
                self._in_flight += 1
            try:
                action()
            finally:
                with self._cv:
                    self._in_flight -= 1
