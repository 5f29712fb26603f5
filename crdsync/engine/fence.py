"""The write fence: a replica that is not certain it still leads sends no write.

Leader election alone does not stop a leader that was frozen (SIGSTOP, a stalled VM, a long GC pause, a cgroup
freeze): when it wakes, its workers carry on from where they stopped while another replica has taken the Lease and
writes too — split brain. The fence closes that gap on the client side. Every write crdsync makes during one
leadership term (create, apply, replace, patch, delete; Events included) goes through a KubeClient view whose write
gate is `WriteFence.check`, called immediately before each HTTP attempt (retries included). It lets the write through
only while the Lease is held and its last successful renewal is younger than the renew deadline, judged on the
monotonic clock (which keeps counting while the process is frozen); the renewal time is the moment the renewal was
*sent*, so a slow answer never makes the lease look fresher than the apiserver recorded it. Because the renew deadline
is shorter than the lease duration, the gate closes before any other replica may take over (client-go's
renewDeadline < leaseDuration), and a frozen leader that wakes finds its gate closed before its first write.

A fence is one leadership term: once closed it stays closed (`on_close` tells the leader loop, which stops that
term's engine; a new term gets a new fence). A closed gate raises `WriteFenced`, an ApiError (status 0, like a
transport failure, so every generic error path treats it as "not sent"); the reconciler maps it to "retry later",
with no Event (an Event would be a write too).

Failure modes: none of its own; `check` never blocks (it reads one float the elector publishes, never the elector's
lock, which is held across renewal requests). What it cannot close: the microseconds between `check` and the bytes
leaving the socket. A freeze that lands exactly there sends that one request on waking, as with client-go; fencing
that too needs the apiserver to check a lease precondition, which Kubernetes does not offer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from crdsync.kube.errors import ApiError

log = logging.getLogger("crdsync.fence")


class WriteFenced(ApiError):
    """A write was not sent: this replica's leadership term is over (or not provably current)."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None) -> None:
        super().__init__(0, "Fenced", message, method=method, path=path)


class WriteFence:
    """Gate for the writes of one leadership term.

    `valid_until()` returns the monotonic time until which the term may write (last renewal sent + renew deadline),
    or -inf when the Lease is not held; the elector publishes it (LeaderElector.valid_until).
    """

    def __init__(
        self,
        valid_until: Callable[[], float],
        *,
        clock: Callable[[], float] = time.monotonic,
        on_close: Callable[[str], None] | None = None,
    ) -> None:
        self._valid_until = valid_until
        self._clock = clock
        self._on_close = on_close
        self._lock = threading.Lock()
        self._reason = ""
        self.closed = threading.Event()
        self.fenced = 0  # writes refused, for the log line when the term ends

    @property
    def reason(self) -> str:
        return self._reason

    def is_open(self) -> bool:
        """Whether writes may go out now; closes the fence (for good) when the term has lapsed."""
        if self.closed.is_set():
            return False
        now, until = self._clock(), self._valid_until()
        if now < until:
            return True
        if until == float("-inf"):
            self.close("the lease is not held")
        else:
            self.close(f"the lease was last renewed more than the renew deadline ago ({now - until:.1f}s past it)")
        return False

    def check(self, method: str, path: str) -> None:
        """The write gate: return when the write may be sent, else raise WriteFenced."""
        if self.is_open():
            return
        with self._lock:
            self.fenced += 1
        raise WriteFenced(f"not sent: leadership term over ({self._reason})", method=method, path=path)

    def close(self, reason: str) -> None:
        """End the term: every later write is refused. Idempotent; the first reason is kept."""
        with self._lock:
            if self.closed.is_set():
                return
            self._reason = reason
            self.closed.set()
        log.warning("write fence closed: %s; no further writes in this term", reason)
        if self._on_close is not None:
            self._on_close(reason)
