"""Waiting until engines running on the in-memory apiserver have nothing left to do, for the engine test harnesses.

"Settled" means: every engine's queue is idle (nothing queued, delayed or being reconciled) and no cluster has a watch
event still to deliver or being handed to an informer, on every poll for `quiet` seconds. Both counts cover the whole
path of a write (a reconcile holds its key until it returns; a delayed event counts from the write until its handler
returns), so the window only has to outlast what neither sees: an engine thread between two steps, such as kind
activation. It is short on purpose: mutation testing runs these tests once per mutant. Failure mode: an
AssertionError when that never happens within `timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from tests.fakeapi.cluster import FakeCluster


class Idles(Protocol):
    def idle(self) -> bool: ...


def settle(engines: Iterable[Idles], clusters: Iterable[FakeCluster], *, quiet: float = 0.03, timeout: float) -> None:
    engines, clusters = list(engines), list(clusters)
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        busy = any(not e.idle() for e in engines) or any(c.pending_deliveries() for c in clusters)
        if busy:
            quiet_since = None
        else:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > quiet:
                return
        time.sleep(0.003)
    raise AssertionError("engine did not settle")
