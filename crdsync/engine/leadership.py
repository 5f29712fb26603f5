"""Leader election around the engine: one engine per leadership term, each behind that term's write fence.

`run_as_leader` campaigns for the Lease (crdsync.kube.lease) until told to stop; while leading it runs an engine made
for the term's WriteFence (crdsync.engine.fence), and ends the term - engine stopped first, then a new campaign - when
the fence closes (a write found the lease lapsed, or the loop did before renewing), a renewal fails or another
replica holds the Lease. `RunState` is what the probes read meanwhile. Nothing here raises for what the cluster does;
the elector logs and reports failed renewals as not leading.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from crdsync.engine.engine import Engine
from crdsync.engine.fence import WriteFence
from crdsync.engine.metrics import Metrics
from crdsync.kube.lease import LeaderElector

log = logging.getLogger("crdsync.run")


class RunState:
    """What the probes read: the engine syncing now (None while standing by) and whether we lead."""

    def __init__(self, *, leader_elect: bool) -> None:
        self.leader_elect = leader_elect
        self.engine: Engine | None = None
        self.leading = False

    def problems(self) -> list[str]:
        engine = self.engine
        return engine.problems() if engine is not None else []

    def ready(self) -> tuple[bool, str]:
        engine = self.engine
        if self.leader_elect and not self.leading:
            return True, "standby: not leading"
        if engine is None or not engine.synced():
            return False, "initial sync in progress"
        return True, "ok"


def run_as_leader(
    new_engine: Callable[[WriteFence], Any],
    elector: LeaderElector,
    stop: threading.Event,
    wake: threading.Event,
    metrics: Metrics,
    state: RunState,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Campaign until `stop`; while leading, run one engine per term behind that term's write fence.

    A term ends when its fence closes (a write found the lease lapsed, or the check below did: a loop thread waking
    from a freeze must not renew over a gap its workers were fenced through), or when a renewal fails or finds
    another holder. The engine is stopped first, then the loop campaigns again; a new term gets a new engine, so
    nothing carries over from before the gap but the metrics.
    """
    engine: Any = None
    fence: WriteFence | None = None

    def end_term(why: str) -> None:
        nonlocal engine, fence
        log.warning("leadership term over (%s); stopping the engine", why)
        if fence is not None:
            fence.close(why)
        state.engine, state.leading = None, False
        metrics.leader.set(0)
        metrics.initial_complete.set(0)
        if engine is not None:
            engine.stop()
            log.info("engine stopped; %d writes were fenced in this term", fence.fenced if fence else 0)
        engine, fence = None, None

    while not stop.is_set():
        if fence is not None and not fence.is_open():
            end_term(fence.reason)
        if elector.try_acquire_or_renew():
            if engine is None:
                log.info("leading as %s; starting", elector.identity)
                fence = WriteFence(elector.valid_until, clock=clock, on_close=lambda reason: wake.set())
                engine = new_engine(fence)
                state.engine, state.leading = engine, True
                metrics.leader.set(1)
                engine.start()
        elif engine is not None:
            end_term("lost the lease")
        wake.wait(elector.retry_period)
        wake.clear()
    if engine is not None:
        state.engine, state.leading = None, False
        metrics.leader.set(0)
        engine.stop()
    elector.release()
    return 0
