"""Leader election on a coordination.k8s.io/v1 Lease, so only one crdsync replica per tenant writes at a time.

The algorithm is client-go's: a candidate takes the Lease when it is free (no holder) or when the current holder has
not renewed it for leaseDurationSeconds; every write is a PUT carrying the resourceVersion that was read, so two
candidates racing for the same Lease cannot both win (the loser gets 409 Conflict). Expiry is judged by *our* clock from
the moment we last saw the record change, never by comparing the holder's timestamps with our wall clock, so clock skew
between replicas does not matter.

A renewal counts from the moment its request was *sent*, not from when the answer came back: the apiserver recorded
it somewhere in between and rivals count the lease duration from when they see it, so a slow answer (a stalled
connection, a frozen process) never makes our lease look fresher than it is. `valid_until()` publishes the end of our
write window (that moment + renew_deadline, -inf when not leading) without taking the lock, which is held across
renewal requests: crdsync.engine.fence gates every write on it. The campaign loop is the caller's: crdsync's run
command calls `try_acquire_or_renew` every retry_period and starts or stops its engine on the answer.

Failure modes: apiserver errors never raise out of `try_acquire_or_renew` — a leader keeps leading while its last
successful renewal is younger than renew_deadline (shorter than the lease duration, so it steps down before anyone can
take over), then reports that it lost the lease. `release()` is best effort (errors logged): others then wait out the
lease duration instead of taking over at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crdsync.kube.errors import AlreadyExists, ApiError, Conflict
from crdsync.kube.protocols import LeaseClient
from crdsync.kube.resource import Resource

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

LEASES = Resource(
    group="coordination.k8s.io",
    version="v1",
    kind="Lease",
    plural="leases",
    namespaced=True,
    has_status=False,
    verbs=frozenset({"create", "delete", "get", "list", "patch", "update", "watch"}),
)


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate for the Lease `namespace/name`, identified by `identity` (unique per process)."""

    def __init__(
        self,
        client: LeaseClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15,
        renew_deadline: float = 10,
        retry_period: float = 2,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._clock = clock
        self._lock = threading.Lock()
        self._leader = False
        self._last_renew = float("-inf")
        # Read by other threads without the lock (one attribute, replaced whole): the end of our write window.
        self._valid_until = float("-inf")
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = float("-inf")

    # -- state --------------------------------------------------------------------------------------------------------

    def valid_until(self) -> float:
        """Monotonic time until which we may write as leader: last renewal sent + renew_deadline; -inf when not
        leading. Never blocks."""
        return self._valid_until

    def _lost(self) -> None:
        self._valid_until = float("-inf")
        self._leader = False

    def _still_leading(self) -> bool:
        if self._leader and self._clock() - self._last_renew < self.renew_deadline:
            return True
        if self._leader:
            log.warning("lease %s/%s: could not renew within %ss; no longer leading", self.namespace, self.name,
                        self.renew_deadline)
        self._lost()
        return False

    def _observe(self, lease: JSONDict) -> None:
        spec = lease.get("spec") or {}
        record = (
            spec.get("holderIdentity") or "",
            spec.get("renewTime"),
            spec.get("acquireTime"),
            spec.get("leaseDurationSeconds"),
            spec.get("leaseTransitions"),
        )
        if record != self._observed:
            self._observed = record
            self._observed_at = self._clock()

    # -- one step -----------------------------------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the Lease; True when we are leader afterwards. Never raises ApiError."""
        with self._lock:
            try:
                return self._step()
            except ApiError as exc:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
                return self._still_leading()

    def _step(self) -> bool:
        lease = self.client.get(LEASES, self.namespace, self.name)
        now = _micro_time()
        if lease is None:
            body = {
                "apiVersion": LEASES.api_version,
                "kind": LEASES.kind,
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": max(1, round(self.lease_duration)),
                    "acquireTime": now,
                    "renewTime": now,
                    "leaseTransitions": 0,
                },
            }
            sent = self._clock()
            try:
                created = self.client.create(LEASES, body)
            except AlreadyExists:
                return self._still_leading()
            return self._won(created, sent)
        self._observe(lease)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds")
        duration = float(duration) if isinstance(duration, int | float) and duration > 0 else self.lease_duration
        if holder and holder != self.identity and self._clock() < self._observed_at + duration:
            if self._leader:
                log.warning("lease %s/%s: now held by %s; no longer leading", self.namespace, self.name, holder)
            self._lost()
            return False
        new_spec = dict(spec)
        new_spec["holderIdentity"] = self.identity
        new_spec["leaseDurationSeconds"] = max(1, round(self.lease_duration))
        new_spec["renewTime"] = now
        if holder != self.identity:
            new_spec["acquireTime"] = now
            transitions = spec.get("leaseTransitions")
            new_spec["leaseTransitions"] = (transitions if isinstance(transitions, int) else 0) + 1
        sent = self._clock()
        try:
            updated = self.client.replace(LEASES, {**lease, "spec": new_spec})
        except Conflict:
            # Someone wrote the Lease since we read it; whether it was a rival is seen on the next attempt.
            return self._still_leading()
        if holder != self.identity:
            log.info("lease %s/%s: acquired by %s (previous holder %r)", self.namespace, self.name, self.identity,
                     holder)
        return self._won(updated, sent)

    def _won(self, lease: JSONDict, sent: float) -> bool:
        """The write sent at `sent` (our clock) made us holder: the lease is ours from then, not from now."""
        self._observe(lease)
        self._leader = True
        self._last_renew = sent
        self._valid_until = sent + self.renew_deadline
        return True

    def release(self) -> None:
        """Give the Lease up (when we hold it) so another candidate can take over at once. Never raises."""
        with self._lock:
            if not self._leader:
                return
            self._lost()
            try:
                lease = self.client.get(LEASES, self.namespace, self.name)
                spec = (lease or {}).get("spec") or {}
                if lease is None or spec.get("holderIdentity") != self.identity:
                    return
                new_spec = {k: v for k, v in spec.items() if k != "holderIdentity"}
                new_spec["leaseDurationSeconds"] = 1
                new_spec["renewTime"] = _micro_time()
                self.client.replace(LEASES, {**lease, "spec": new_spec})
                log.info("lease %s/%s: released by %s", self.namespace, self.name, self.identity)
            except ApiError as exc:
                log.warning("lease %s/%s: release failed (others wait for expiry): %s", self.namespace, self.name, exc)
