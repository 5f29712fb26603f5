"""Informer logic against a scripted in-memory list/watch source: relist, resume, backoff, gone, stop."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crdsync.kube import errors
from crdsync.kube.decode import UndecodableEvent
from crdsync.kube.informer import CacheKey, Informer, cache_key
from crdsync.kube.resource import Resource

CERTS = Resource("cert-manager.io", "v1", "Certificate", "certificates", True, True, frozenset())
ISSUERS = Resource("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers", False, True, frozenset())

BLOCK = object()  # in a watch script: block until the stream is closed


def obj(name: str, rv: str, ns: str | None = "ns1", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv, "labels": labels}
    if ns is not None:
        meta["namespace"] = ns
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": meta}


class FakeStream(Iterator[tuple[str, dict[str, Any]]]):
    def __init__(self, script: list[Any]) -> None:
        self._script = list(script)
        self.closed = threading.Event()

    def __next__(self) -> tuple[str, dict[str, Any]]:
        if self.closed.is_set() or not self._script:
            raise StopIteration
        step = self._script.pop(0)
        if step is BLOCK:
            self.closed.wait()
            raise StopIteration
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[no-any-return]

    def close(self) -> None:
        self.closed.set()


class ScriptedSource:
    """Lists and watches answer from scripts; when a script runs out the last list repeats and watches block."""

    def __init__(self) -> None:
        self.lists: list[Any] = []  # (items, rv) or an exception
        self.watches: list[Any] = []  # list of steps, or an exception raised by watch() itself
        self.list_calls: list[float] = []
        self.list_versions: list[str | None] = []  # the resource_version each list asked for
        self.watch_calls: list[tuple[float, str | None]] = []
        self.streams: list[FakeStream] = []
        self._last_list: Any = ([], "1")
        self.lock = threading.Lock()

    def list(self, res: Resource, namespace: str | None = None, **kwargs: Any) -> tuple[list[dict[str, Any]], str]:
        with self.lock:
            self.list_calls.append(time.monotonic())
            self.list_versions.append(kwargs.get("resource_version"))
            step = self.lists.pop(0) if self.lists else self._last_list
            if not isinstance(step, BaseException):
                self._last_list = step
        if isinstance(step, BaseException):
            raise step
        items, rv = step
        return list(items), rv

    def watch(self, res: Resource, namespace: str | None = None, *, resource_version: str | None,
              **kwargs: Any) -> FakeStream:
        with self.lock:
            self.watch_calls.append((time.monotonic(), resource_version))
            step = self.watches.pop(0) if self.watches else [BLOCK]
        if isinstance(step, BaseException):
            raise step
        stream = FakeStream(step)
        self.streams.append(stream)
        return stream


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[str, str], str]] = []
        self.lock = threading.Lock()

    def __call__(self, kind: str, key: tuple[str, str], o: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((kind, key, o["metadata"]["resourceVersion"]))

    def kinds(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(k, key[1]) for k, key, _ in self.events]


@pytest.fixture
def source() -> ScriptedSource:
    return ScriptedSource()


def stored(inf: Informer) -> list[CacheKey]:
    """The keys of the informer's store, sorted."""
    return sorted(cache_key(o) for o in inf.list())


def make(source: ScriptedSource, rec: Recorder | None = None, **kwargs: Any) -> Informer:
    kwargs.setdefault("backoff_initial", 0.02)
    kwargs.setdefault("backoff_max", 0.2)
    return Informer(source, CERTS, on_event=rec, **kwargs)


def test_list_then_watch(source: ScriptedSource) -> None:
    source.lists = [([obj("a", "1"), obj("b", "2")], "10")]
    source.watches = [[("ADDED", obj("c", "11")), ("MODIFIED", obj("a", "12")), ("DELETED", obj("b", "13")), BLOCK]]
    seen_in_store: list[bool] = []
    rec = Recorder()

    def handler(kind: str, key: tuple[str, str], o: dict[str, Any]) -> None:
        # Handlers run after the store changed: lookups see the state the event describes.
        seen_in_store.append((inf.get(*key) is not None) == (kind != "DELETED"))
        rec(kind, key, o)

    inf = Informer(source, CERTS, on_event=handler)
    inf.start()
    try:
        assert inf.wait_for_sync(5)
        wait_until(lambda: len(rec.events) == 5)
        assert rec.kinds() == [("SYNC", "a"), ("SYNC", "b"), ("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]
        assert all(seen_in_store)
        assert source.watch_calls[0][1] == "10"
        assert stored(inf) == [("ns1", "a"), ("ns1", "c")]
        assert inf.get("ns1", "a")["metadata"]["resourceVersion"] == "12"  # type: ignore[index]
        assert inf.resource_version == "13" and len(inf) == 2
    finally:
        inf.stop()
    assert not inf.running


def test_resumes_from_bookmark_and_last_event(source: ScriptedSource) -> None:
    source.lists = [([], "5")]
    source.watches = [
        [("BOOKMARK", {"kind": "Certificate", "metadata": {"resourceVersion": "40"}})],  # then the server ends it
        [("ADDED", obj("a", "41"))],
        [BLOCK],
    ]
    rec = Recorder()
    inf = make(source, rec).start()
    try:
        wait_until(lambda: len(source.watch_calls) == 3)
        assert [rv for _, rv in source.watch_calls] == ["5", "40", "41"]
        assert rec.kinds() == [("ADDED", "a")]  # bookmarks are not events
        assert len(source.list_calls) == 1
    finally:
        inf.stop()


def test_gone_relists_and_reports_vanished(source: ScriptedSource) -> None:
    source.lists = [([obj("a", "1"), obj("b", "2")], "10"), ([obj("b", "30"), obj("c", "31")], "32")]
    source.watches = [[("MODIFIED", obj("a", "11")), errors.Gone(410, "Expired", "too old resource version")]]
    rec = Recorder()
    inf = make(source, rec).start()
    try:
        wait_until(lambda: len(source.watch_calls) == 2)
        assert rec.kinds() == [("SYNC", "a"), ("SYNC", "b"), ("MODIFIED", "a"),
                               ("DELETED", "a"), ("SYNC", "b"), ("SYNC", "c")]
        assert source.watch_calls[1][1] == "32"
        assert inf.list_count == 2 and inf.error_count == 0
        # The first list from the watch cache (as client-go's reflector); the relist after 410 reads the latest, since
        # the cache may hold what was current before the events the expired watch missed.
        assert source.list_versions == ["0", None]
        assert {key[1] for key in stored(inf)} == {"b", "c"}
    finally:
        inf.stop()


def test_gone_from_watch_request_relists(source: ScriptedSource) -> None:
    source.lists = [([], "1"), ([], "2")]
    source.watches = [errors.Gone(410, "Expired", "too old")]
    inf = make(source).start()
    try:
        wait_until(lambda: len(source.watch_calls) == 2)
        assert len(source.list_calls) == 2 and source.watch_calls[1][1] == "2"
    finally:
        inf.stop()


def test_errors_back_off_exponentially(source: ScriptedSource, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: 1.0)  # no jitter: exact delays
    boom = errors.ServerError(500, "InternalError", "etcd unavailable")
    source.lists = [boom, boom, boom, ([obj("a", "1")], "3")]
    inf = make(source, backoff_initial=0.05, backoff_max=0.1).start()
    try:
        assert inf.wait_for_sync(5)
        gaps = [b - a for a, b in itertools.pairwise(source.list_calls)]
        assert len(gaps) == 3
        assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.095  # 0.05, 0.1, capped at 0.1
        assert gaps[2] < 2.0
        assert inf.error_count == 3 and inf.last_error is boom
        assert inf.get("ns1", "a") is not None
    finally:
        inf.stop()


def test_last_error_names_a_forbidden_watch(source: ScriptedSource) -> None:
    """The engine reads last_error to fall back from a CRD watch that RBAC forbids to a timed re-read."""
    denied = errors.Forbidden(403, "Forbidden", "cannot watch customresourcedefinitions")
    source.lists = [([], "1")]
    source.watches = [denied]
    inf = make(source, backoff_initial=5.0).start()
    try:
        wait_until(lambda: inf.error_count == 1)
        assert inf.last_error is denied and inf.running
    finally:
        inf.stop()


def test_backoff_resets_after_success(source: ScriptedSource, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: 1.0)
    boom = errors.TransportError("connection reset")
    source.lists = [([], "1")]
    source.watches = [boom, boom, [("ADDED", obj("a", "2"))], boom, [BLOCK]]
    inf = make(source, backoff_initial=0.05, backoff_max=1.0).start()
    try:
        wait_until(lambda: len(source.watch_calls) == 5)
        times = [t for t, _ in source.watch_calls]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # 0.05, 0.1, then the stream delivered an event: the next error waits 0.05 again, not 0.2.
        assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and 0.045 <= gaps[3] < 0.19, gaps
    finally:
        inf.stop()


def test_streams_that_end_at_once_do_not_spin(source: ScriptedSource) -> None:
    source.lists = [([], "1")]
    source.watches = [[] for _ in range(1000)]
    inf = make(source, backoff_initial=0.05, backoff_max=0.1).start()
    try:
        wait_until(lambda: len(source.watch_calls) >= 5)
    finally:
        inf.stop()
    gaps = [b - a for a, b in itertools.pairwise(t for t, _ in source.watch_calls)]
    assert all(gap >= 0.024 for gap in gaps[:4]), gaps


def test_silent_stream_rewatches_at_once_from_same_rv(source: ScriptedSource) -> None:
    source.lists = [([], "7")]
    source.watches = [[errors.Timeout("silent")], [errors.Timeout("silent")], [BLOCK]]
    inf = make(source, backoff_initial=5.0).start()
    try:
        wait_until(lambda: len(source.watch_calls) == 3, timeout=2)
        assert [rv for _, rv in source.watch_calls] == ["7", "7", "7"]
        assert inf.error_count == 0
    finally:
        inf.stop()


@pytest.mark.parametrize("where", ["list", "watch"])
def test_not_found_reports_gone_and_stops(source: ScriptedSource, where: str) -> None:
    missing = errors.NotFound(404, "NotFound", "the server could not find the requested resource")
    if where == "list":
        source.lists = [missing]
    else:
        source.lists = [([obj("a", "1")], "2")]
        source.watches = [[("MODIFIED", obj("a", "3")), missing]]
    calls: list[int] = []
    inf = Informer(source, CERTS, on_gone=lambda: calls.append(1))
    inf.start()
    wait_until(lambda: not inf.running)
    assert calls == [1] and inf.stopped
    lists, watches = len(source.list_calls), len(source.watch_calls)
    time.sleep(0.1)
    assert (len(source.list_calls), len(source.watch_calls)) == (lists, watches)
    inf.stop()  # idempotent after gone


def test_stop_interrupts_blocked_watch(source: ScriptedSource) -> None:
    source.lists = [([obj("a", "1")], "2")]
    inf = make(source).start()
    assert inf.wait_for_sync(5)
    wait_until(lambda: len(source.streams) == 1)
    started = time.monotonic()
    inf.stop(timeout=5)
    assert not inf.running and time.monotonic() - started < 1
    assert source.streams[0].closed.is_set()


def test_stop_during_backoff_is_prompt(source: ScriptedSource) -> None:
    source.lists = [errors.ServerError(503, "ServiceUnavailable", "down")] * 3
    inf = make(source, backoff_initial=30.0, backoff_max=30.0).start()
    wait_until(lambda: len(source.list_calls) == 1)
    started = time.monotonic()
    inf.stop()
    assert not inf.running and time.monotonic() - started < 1
    assert not inf.has_synced.is_set()


def test_handler_failures_are_contained(source: ScriptedSource) -> None:
    source.lists = [([obj("a", "1"), obj("b", "2")], "3")]
    source.watches = [[("ADDED", obj("c", "4")), BLOCK]]
    handled: list[str] = []

    def handler(kind: str, key: tuple[str, str], o: dict[str, Any]) -> None:
        if key[1] == "a":
            raise RuntimeError("handler bug")
        handled.append(key[1])

    inf = Informer(source, CERTS, on_event=handler)
    inf.start()
    try:
        wait_until(lambda: handled == ["b", "c"])
        assert stored(inf) == [("ns1", "a"), ("ns1", "b"), ("ns1", "c")]  # the store took what the handler refused
        assert inf.running
    finally:
        inf.stop()


def test_cluster_scoped_keys(source: ScriptedSource) -> None:
    source.lists = [([obj("ca", "1", ns=None)], "2")]
    inf = Informer(source, ISSUERS).start()
    try:
        assert inf.wait_for_sync(5)
        assert stored(inf) == [("", "ca")]
        assert inf.get(None, "ca") is inf.get("", "ca") is not None
    finally:
        inf.stop()


def test_start_twice_fails(source: ScriptedSource) -> None:
    inf = make(source).start()
    try:
        with pytest.raises(RuntimeError):
            inf.start()
    finally:
        inf.stop()


def test_repeated_gone_backs_off(source: ScriptedSource) -> None:
    source.lists = [([], str(i)) for i in range(100)]
    source.watches = [errors.Gone(410, "Expired", "too old")] * 100
    inf = make(source, backoff_initial=0.05, backoff_max=0.2).start()
    try:
        wait_until(lambda: len(source.list_calls) >= 5)
    finally:
        inf.stop()
    gaps = [b - a for a, b in itertools.pairwise(source.list_calls)]
    # The first Gone relists at once; later ones in a row wait (jitter keeps each wait above half the backoff).
    assert all(gap >= 0.024 for gap in gaps[1:4]), gaps


def _undecodable(name: str) -> UndecodableEvent:
    return UndecodableEvent("undecodable Certificate watch event (RecursionError)", kind="Certificate",
                            namespace="ns1", name=name)


def test_undecodable_event_relists_instead_of_rewatching_the_same_version(source: ScriptedSource) -> None:
    # A re-watch from "11" would replay the poison event forever; a relist moves past it.
    source.lists = [([obj("a", "1")], "10"), ([obj("a", "1"), obj("c", "15")], "20")]
    source.watches = [[("ADDED", obj("b", "11")), _undecodable("poison"), ("ADDED", obj("never", "13"))],
                      [("DELETED", obj("a", "21")), BLOCK]]
    rec = Recorder()
    inf = make(source, rec, backoff_initial=5.0).start()  # the first relist does not wait
    try:
        wait_until(lambda: ("DELETED", "a") in rec.kinds(), timeout=2)
        assert rec.kinds() == [("SYNC", "a"), ("ADDED", "b"), ("DELETED", "b"), ("SYNC", "a"), ("SYNC", "c"),
                               ("DELETED", "a")]
        assert [rv for _, rv in source.watch_calls] == ["10", "20"] and len(source.list_calls) == 2
        assert inf.error_count == 1 and isinstance(inf.last_error, UndecodableEvent)
    finally:
        inf.stop()


def test_repeated_undecodable_events_back_off_until_a_stream_ends_cleanly(
    source: ScriptedSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: 1.0)  # no jitter: exact delays
    source.lists = [([], str(i)) for i in range(1, 100)]
    poison = [_undecodable("poison")]
    source.watches = [poison, poison, poison, poison, [], poison, poison, [BLOCK]]
    inf = make(source, backoff_initial=0.05, backoff_max=0.1).start()
    try:
        wait_until(lambda: len(source.watch_calls) == 8)
    finally:
        inf.stop()
    gaps = [b - a for a, b in itertools.pairwise(source.list_calls)]
    # A tenant rewriting a poison object must not turn into a relist per write: immediate, then 0.05, 0.1 (capped).
    assert len(gaps) == 6 and gaps[0] < 0.04 and gaps[1] >= 0.045 and gaps[2] >= 0.095 and gaps[3] >= 0.095, gaps
    # A stream that ended cleanly (the empty one, after which the informer waits 0.05 not to spin) resets the streak:
    # the next failure relists at once, the one after it waits the initial 0.05 again rather than 0.1.
    assert gaps[4] < 0.09 and 0.045 <= gaps[5] < 0.09, gaps
