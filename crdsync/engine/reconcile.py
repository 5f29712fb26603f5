"""Reconcile one key: compute the desired state of its copy from cached state on both sides and write only the
difference.

Level-triggered: a key carries no event payload; every call reads the current source and copy from the informers'
caches (or from our own more recent write: crdsync.engine.overlay), derives the desired copy with the pure translation
core, and converges. WHAT the copy should be is decided in crdsync.engine.tohost (TO_HOST, EXPORT keys) and
crdsync.engine.fromhost (FROM_HOST, IMPORT keys), each consulting crdsync.translate.tenancy; HOW it gets there is
crdsync.engine.writes. This module dispatches a key, maps failures to outcomes, and records every Event the engine
writes.

A kind may have a rule in each direction (spec.checks allows it where the selections are disjoint): copies are never
selected by the other rule, and where both want one place neither takes over the other's object (TargetExists).

Failure modes, per key and never fatal to the engine:
- a translation error (bad patch path, type mismatch) → Warning Event on the source object and a log line; no retry
  until the object changes;
- 409 Conflict → retried with backoff (the next attempt sees the fresher object);
- 422/403/400 from the API server → Event + log, retried with backoff (admission may change); except a 422 on the
  update of a copy this tenant provably owns under a rule with replaceOnConflict: the copy is deleted (uid
  precondition) and created again, with a Normal Event `Replaced`;
- anything else (network, 5xx, a poison object) → Event + log, retry with backoff;
- a write refused by the leadership fence (WriteFenced: the term is over) → retry later, no Event (an Event is a
  write too); the leader loop is stopping this engine anyway.

Observability only: every write that succeeds is reported to `on_write(side, verb)` (the engine counts it and
measures sync lag); Events are not counted as writes. Nothing here reads the metrics back, so they cannot change a
decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from crdsync.engine.context import Context, Obj, Outcome
from crdsync.engine.fence import WriteFenced
from crdsync.engine.fromhost import VirtualCopies
from crdsync.engine.keys import Key, ReferenceIndex, Task
from crdsync.engine.kinds import KindRuntime, Kinds
from crdsync.engine.tohost import HostCopies
from crdsync.engine.writes import Sides, WouldWrite, Writer
from crdsync.kube.errors import ApiError, Conflict
from crdsync.kube.events import record_event
from crdsync.logs import key_fields
from crdsync.spec.model import Direction, SyncConfig
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant
from crdsync.translate.tenancy import event_message

log = logging.getLogger("crdsync.reconcile")

__all__ = ["Outcome", "Reconciler"]


class Reconciler:
    def __init__(
        self,
        *,
        config: SyncConfig,
        tenant: Tenant,
        sides: Sides,
        kinds: Kinds,
        index: ReferenceIndex,
        namespace_labels: Callable[[str | None], Mapping[str, str] | None],
        field_manager: str,
    ) -> None:
        self.kinds = kinds
        self.index = index
        self.writer = Writer(sides, field_manager)
        self.ctx = Context(
            config=config,
            tenant=tenant,
            kinds=kinds,
            index=index,
            writer=self.writer,
            namespace_labels=namespace_labels,
            report=self._report,
            notify=self._notify,
        )
        self._host_copies = HostCopies(self.ctx)
        self._virtual_copies = VirtualCopies(self.ctx)

    @property
    def on_write(self) -> Callable[[str, str], None]:
        """(side, verb) of every successful write, for metrics; set by the engine."""
        return self.writer.on_write

    @on_write.setter
    def on_write(self, callback: Callable[[str, str], None]) -> None:
        self.writer.on_write = callback

    def settled(self, key: Key) -> bool:
        """Would reconciling `key` now end ok without a single request or Event? Decided by the reconcile itself, run
        dry (Writer.dry): it stops at the first request it would send, or as soon as it decides to write
        (Writer.begin_write, before translating), and nothing else it does has an effect. What a restart asks of every
        key, on one thread instead of the workers' lock hand-offs; a key not settled is reconciled as usual."""
        with self.writer.dry():
            try:
                return self.reconcile(key) == Outcome.ok()
            except WouldWrite:
                return False

    def reconcile(self, key: Key) -> Outcome:
        runtime = self.kinds.get((key.group, key.kind))
        if runtime is None or not runtime.active:
            return Outcome.ok()  # the kind stopped; it is re-listed (and re-queued) when it comes back
        rule = runtime.rules.get(key.task.direction)
        if rule is None:
            return Outcome.ok()
        try:
            with self.writer.writing_for(key):
                if key.task in (Task.TO_HOST, Task.EXPORT):
                    return self._host_copies.reconcile(key, rule, runtime)
                if key.task is Task.FROM_HOST:
                    return self._virtual_copies.from_host(key, rule, runtime)
                return self._virtual_copies.imported(key, rule, runtime)
        except WouldWrite:
            raise  # a dry run (`settled`) ends here; the key is reconciled for real
        except TranslationError as exc:
            self._report(key, runtime, "TranslationFailed", str(exc))
            return Outcome.failed()
        except WriteFenced:
            log.debug("%s: write fenced (leadership term over); retry later", key, extra=key_fields(key.logged))
            return Outcome.retry(error=False)
        except Conflict as exc:
            log.info("%s: conflict, retrying with fresh state: %s", key, exc.message, extra=key_fields(key.logged))
            return Outcome.retry(error=False)
        except ApiError as exc:
            self._report(key, runtime, "SyncFailed", f"{exc.status} {exc.reason}: {exc.message}")
            return Outcome.retry()
        except Exception as exc:  # poison input (RecursionError, MemoryError) or a bug: this key only, never the worker
            log.warning(
                "%s: unexpected %s",
                key,
                type(exc).__name__,
                exc_info=log.isEnabledFor(logging.DEBUG),
                extra=key_fields(key.logged),
            )
            self._report(key, runtime, "SyncFailed", f"unexpected {type(exc).__name__} while syncing this object")
            return Outcome.retry()

    # -- Events (the only place the engine records them) ----------------------------------------------------------
    def _report(self, key: Key, runtime: KindRuntime, reason: str, message: str) -> None:
        """A Warning Event on the tenant's own virtual objects this key is about, and a log line.

        Never on the host: what a tenant provokes must not write into host namespaces (or onto host objects) it does
        not own, and messages are bounded (tenancy.event_message) since they may quote what the tenant wrote.
        """
        virtual = self.writer.client("virtual")  # first: a dry run neither logs nor records
        message = event_message(message)
        log.warning("%s: %s: %s", key, reason, message, extra=key_fields(key.logged))
        for involved in self._virtual_objects_of(key, runtime):
            record_event(virtual, involved, reason, message)

    def _notify(self, involved: Obj, reason: str, message: str) -> None:
        """A Normal Event on a virtual object (bounded like every message that may quote tenant input)."""
        record_event(self.writer.client("virtual"), involved, reason, event_message(message), type_="Normal")

    def _virtual_objects_of(self, key: Key, runtime: KindRuntime) -> list[Obj]:
        """The virtual objects a key is about: its source, or where its copy goes, or (an import not yet made) whoever
        names it."""
        if key.task is Task.FROM_HOST:
            rule = runtime.rules.get(Direction.FROM_HOST)
            namespaced = runtime.virtual_res is not None and runtime.virtual_res.namespaced
            source = key.identity
            target_ns = ((rule.host.virtual_namespace if rule else None) or source.namespace) if namespaced else None
            standing = self.ctx.current("virtual", runtime, target_ns, source.name)  # our copy, or what is in its way
            return [standing] if standing is not None else []
        here = key.identity  # the virtual source (TO_HOST, EXPORT) or the virtual place (IMPORT)
        own = self.ctx.current("virtual", runtime, here.namespace, here.name)
        if own is not None:
            return [own]
        found = []
        for referrer in sorted(self.index.referrers(key)):
            referrer_runtime = self.kinds.get((referrer.group, referrer.kind))
            if referrer_runtime is not None:
                name = referrer.identity
                obj = self.ctx.current("virtual", referrer_runtime, name.namespace, name.name)
                if obj is not None:
                    found.append(obj)
        return found
