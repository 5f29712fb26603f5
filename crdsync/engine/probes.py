"""What the liveness and readiness probes and the objects-in-sync gauge judge: pure functions of engine state.

Observability only: nothing here decides a write. `informer_stalled` judges one informer's progress counters,
`outcome_result` names a reconcile outcome as controller-runtime's metrics do, `InSync` counts the keys whose last
reconcile converged (pruned of sources that vanished, at scrape time), `InitialSync` follows the keys of the first
lists to readiness. Failure modes: none raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from crdsync.engine.context import Outcome
from crdsync.engine.keys import Key
from crdsync.engine.metrics import ERROR, REQUEUE, REQUEUE_AFTER, SUCCESS, Metrics
from crdsync.kube.protocols import ClusterInformer

log = logging.getLogger("crdsync.engine")

Progress = tuple[str, int, int, int]  # an informer's (resourceVersion, lists, watches, errors)


def outcome_result(outcome: Outcome) -> str:
    """controller-runtime's result label for a reconcile outcome."""
    if outcome.error:
        return ERROR
    if outcome.backoff:
        return REQUEUE
    if outcome.requeue_after is not None:
        return REQUEUE_AFTER
    return SUCCESS


def informer_stalled(
    progress: Progress, previous: tuple[Progress, float] | None, now: float, limit: float
) -> tuple[bool, float]:
    """(stalled?, since when the progress is unchanged). A list, a watch, an error or a new resourceVersion is
    progress; an informer thread blocked (in a handler, a read past every timeout) shows none."""
    if previous is None or previous[0] != progress:
        return False, now
    since = previous[1]
    return now - since > limit, since


class InformerWatch:
    """Remembers each informer's progress counters between liveness checks."""

    def __init__(self, stall_seconds: float) -> None:
        self._stall_seconds = stall_seconds
        self._progress: dict[int, tuple[Progress, float]] = {}

    def problems(self, informers: list[tuple[str, ClusterInformer | None]], now: float) -> list[str]:
        found: list[str] = []
        seen: set[int] = set()
        for what, informer in informers:
            if informer is None:
                continue
            seen.add(id(informer))
            problem = self._problem(what, informer, now)
            if problem:
                found.append(problem)
        for gone in set(self._progress) - seen:
            del self._progress[gone]
        return found

    def _problem(self, what: str, informer: ClusterInformer, now: float) -> str:
        if informer.stopped:
            return ""  # stopped on purpose (the engine stopping, its kind gone): not a liveness problem
        if not informer.running:
            return f"informer {what}: thread died"
        progress = (informer.resource_version, informer.list_count, informer.watch_count, informer.error_count)
        verdict, since = informer_stalled(progress, self._progress.get(id(informer)), now, self._stall_seconds)
        self._progress[id(informer)] = (progress, since)
        return f"informer {what}: no progress for {now - since:.0f}s" if verdict else ""


class InSync:
    """Keys whose last reconcile converged (crdsync_objects_in_sync)."""

    def __init__(self, exists: Callable[[Key], bool]) -> None:
        self._exists = exists
        self._lock = threading.Lock()
        self._converged: set[Key] = set()

    def record(self, key: Key, result: str) -> None:
        with self._lock:
            if result == SUCCESS:
                self._converged.add(key)
            else:
                self._converged.discard(key)

    def counts(self) -> dict[tuple[str, str], int]:
        """(kind, direction) -> sources whose last reconcile converged and that still exist (run at scrape time)."""
        with self._lock:
            keys = list(self._converged)
        counts: dict[tuple[str, str], int] = {}
        vanished: list[Key] = []
        for key in keys:
            if self._exists(key):
                slot = (key.kind, key.task.direction.value)
                counts[slot] = counts.get(slot, 0) + 1
            else:
                vanished.append(key)
        if vanished:
            with self._lock:
                self._converged.difference_update(vanished)
        return counts


class InitialSync:
    """The keys queued by the first list of every kind, until each was reconciled once and the queue drained
    (readiness, and the restart time a benchmark measures)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._keys: set[Key] = set()
        self._total = 0
        self._began = 0.0
        self.complete = threading.Event()

    def begin(self, keys: set[Key]) -> int:
        with self._lock:
            self._keys = set(keys)
        self._total = len(keys)
        self._began = time.monotonic()
        self._metrics.initial_keys.set(len(keys))
        self._metrics.initial_done.set(0)
        return len(keys)

    def done(self, key: Key) -> None:
        if self._keys:
            with self._lock:
                self._keys.discard(key)

    def report_until_complete(self, stop: threading.Event, pending: Callable[[], int]) -> None:
        """Log progress every 2 s and completion as soon as every initial key was reconciled and the queue is empty
        (checked often: the completion time is what a restart is measured by)."""
        total, start = self._total, self._began
        last_report = time.monotonic()
        while True:  # checked before the first wait: a restart the engine settled at once is complete now
            with self._lock:
                remaining = len(self._keys)
            self._metrics.initial_done.set(total - remaining)
            if remaining == 0 and pending() == 0:
                self._metrics.initial_complete.set(1)
                self.complete.set()
                log.info("initial sync complete: %d keys in %.2fs", total, time.monotonic() - start)
                return
            if time.monotonic() - last_report >= 2.0:
                last_report = time.monotonic()
                log.info("initial sync: %d of %d keys done", total - remaining, total)
            if stop.wait(0.05):
                return
