"""Tenant isolation, poison objects: an object nested thousands of levels deep (a CRD that preserves unknown fields
takes it; the apiserver accepts ~10,000 levels), or a watch event that cannot be decoded at all, must not freeze its
kind.

These run a real Informer on a real KubeClient against the scripted HTTP stub, so the hostile bytes go through the
same socket reads, line splitting and decoding as in production; a fake that hands the informer decoded dicts could not
express the attack.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crdsync.kube import decode
from crdsync.kube.decode import UndecodableEvent
from crdsync.kube.informer import Informer, cache_key
from crdsync.kube.resource import Resource

from .stub import ListWatch, StubServer, client_for, list_body, nested_json, object_json, raw_event_line
from .test_informer import wait_until

CERTS = Resource("cert-manager.io", "v1", "Certificate", "certificates", True, True, frozenset({"list", "watch"}))
COLLECTION = "/apis/cert-manager.io/v1/namespaces/ns1/certificates"


class Recorder:
    """(event type, name, resourceVersion) per event; never touches more of an object than its metadata (a deep object
    cannot be compared, printed or copied recursively)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, event_type: str, key: tuple[str, str], obj: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((event_type, key[1], obj["metadata"]["resourceVersion"]))

    def snapshot(self) -> list[tuple[str, str, str]]:
        with self.lock:
            return list(self.events)


def depth(value: Any) -> int:
    """Nesting depth of decoded JSON (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def run_informer(stub: StubServer) -> Iterator[Callable[[ListWatch], tuple[Informer, Recorder]]]:
    started: list[Informer] = []

    def run(source: ListWatch) -> tuple[Informer, Recorder]:
        stub.route("GET", COLLECTION, source)
        client = client_for(stub.url, request_timeout=5)
        rec = Recorder()
        inf = Informer(client, CERTS, namespace="ns1", on_event=rec, backoff_initial=0.02, backoff_max=0.2)
        started.append(inf)
        return inf.start(), rec

    yield run
    for inf in started:
        inf.stop()


def test_deeply_nested_object_does_not_stall_the_watch(run_informer: Callable[..., tuple[Informer, Recorder]]) -> None:
    deep_2k = nested_json(2_000)
    source = ListWatch(
        lists=[list_body("10")],
        watches=[[
            raw_event_line("ADDED", object_json("deep-2000", "11", spec=deep_2k)),
            raw_event_line("ADDED", object_json("deep-20000", "12", spec=nested_json(20_000))),
            raw_event_line("ADDED", object_json("honest", "13")),
            raw_event_line("DELETED", object_json("deep-2000", "14", spec=deep_2k)),
        ]],
    )
    inf, rec = run_informer(source)
    wait_until(lambda: len(rec.snapshot()) >= 4)
    assert rec.snapshot() == [
        ("ADDED", "deep-2000", "11"),
        ("ADDED", "deep-20000", "12"),
        ("ADDED", "honest", "13"),
        ("DELETED", "deep-2000", "14"),
    ]
    # Decoded, not refused: the deep object sits in the cache whole (refusing to translate it is the engine's job).
    stored = inf.get("ns1", "deep-20000")
    assert stored is not None and depth(stored["spec"]) == 20_000
    assert inf.get("ns1", "deep-2000") is None and inf.get("ns1", "honest") is not None
    assert inf.resource_version == "14"
    # Nothing failed: one list, and the watch went on from where the stream ended.
    assert inf.error_count == 0 and source.list_versions == ["0"]  # the first list, from the watch cache
    wait_until(lambda: len(source.watch_versions) == 2)
    assert source.watch_versions == ["10", "14"]


def test_deeply_nested_objects_in_a_list_page_still_sync(
    run_informer: Callable[..., tuple[Informer, Recorder]],
) -> None:
    source = ListWatch(
        lists=[list_body(
            "10",
            object_json("deep-2000", "7", spec=nested_json(2_000)),
            object_json("deep-20000", "8", spec=nested_json(20_000, leaf=b"[1,2.5,null,true]")),
            object_json("honest", "9"),
        )],
        watches=[[raw_event_line("DELETED", object_json("deep-20000", "11", spec=nested_json(20_000)))]],
    )
    inf, rec = run_informer(source)
    wait_until(lambda: len(rec.snapshot()) >= 4)
    assert rec.snapshot() == [
        ("SYNC", "deep-2000", "7"),
        ("SYNC", "deep-20000", "8"),
        ("SYNC", "honest", "9"),
        ("DELETED", "deep-20000", "11"),
    ]
    assert inf.has_synced.is_set() and inf.error_count == 0
    assert sorted(cache_key(o) for o in inf.list()) == [("ns1", "deep-2000"), ("ns1", "honest")]


POISON = "poison-unexpected"

BAD_LINES: dict[str, tuple[bytes, str]] = {
    # what the stream carries -> what the log names
    "broken JSON after the metadata": (
        raw_event_line("ADDED", object_json("poison", "12", spec=b"{]")), "ns1/poison"),
    "an object that is not an object": (raw_event_line("ADDED", b'["poison"]'), "(unknown)"),
    "an object without a name": (raw_event_line("MODIFIED", b'{"metadata":{"namespace":"ns1"}}'), "(unknown)"),
    "bytes that are not UTF-8": (raw_event_line("ADDED", object_json("poison", "12")).replace(b"poison", b"p\xffn"),
                                 "(unknown)"),
    "a line that is not an event": (b'{"kind":"Certificate"}\n', "(unknown)"),
    "an unexpected failure inside the decoder": (raw_event_line("ADDED", object_json(POISON, "12")), f"ns1/{POISON}"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_undecodable_watch_event_relists_from_scratch(
    run_informer: Callable[..., tuple[Informer, Recorder]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    bad_line, named = BAD_LINES[case]
    real_loads = decode.loads

    def loads_failing_on_the_poison(data: bytes | bytearray | str) -> Any:
        # Anything at all may go wrong inside a decoder; this stands in for the failure nobody foresaw.
        if isinstance(data, bytes) and POISON.encode() in data:
            raise RuntimeError("decoder bug")
        return real_loads(data)

    monkeypatch.setattr(decode, "loads", loads_failing_on_the_poison)
    source = ListWatch(
        lists=[
            list_body("10", object_json("a", "5")),
            # Meanwhile b was added and c created; the relist reports them whatever the stream lost.
            list_body("20", object_json("a", "5"), object_json("b", "11"), object_json("c", "15")),
        ],
        watches=[
            [
                raw_event_line("ADDED", object_json("b", "11")),
                bad_line,
                raw_event_line("ADDED", object_json("after-the-poison", "13")),  # the broken stream never gets here
            ],
            [
                raw_event_line("ADDED", object_json("d", "21")),
                raw_event_line("DELETED", object_json("a", "22")),
            ],
        ],
    )
    with caplog.at_level(logging.WARNING, logger="crdsync.kube.informer"):
        inf, rec = run_informer(source)
        wait_until(lambda: ("DELETED", "a", "22") in rec.snapshot())
    assert rec.snapshot() == [
        ("SYNC", "a", "5"),
        ("ADDED", "b", "11"),
        ("SYNC", "a", "5"),
        ("SYNC", "b", "11"),
        ("SYNC", "c", "15"),
        ("ADDED", "d", "21"),
        ("DELETED", "a", "22"),
    ]
    # A relist from scratch (the latest, not the watch cache's), then a watch from the new list's resourceVersion --
    # not a re-watch from "11", which would meet the same event again.
    assert source.list_versions == ["0", None]
    assert source.watch_versions[:2] == ["10", "20"]
    assert inf.error_count == 1 and isinstance(inf.last_error, UndecodableEvent)
    [warning] = [r.getMessage() for r in caplog.records if "cannot decode" in r.getMessage()]
    assert f"of Certificate {named} (" in warning and "relisting from scratch" in warning


def test_undecodable_event_stream_keeps_delivering_after_each_relist(
    run_informer: Callable[..., tuple[Informer, Recorder]],
) -> None:
    # A tenant who keeps rewriting a poison object: every stream breaks on it, and every relist still moves the kind
    # forward (the honest objects' changes arrive through the lists).
    broken = raw_event_line("MODIFIED", b'{"metadata":{"name":"poison","namespace":"ns1"},"spec":')
    source = ListWatch(
        lists=[list_body(str(10 * i), object_json("honest", str(10 * i))) for i in range(1, 5)],
        watches=[[broken]] * 3,
    )
    inf, rec = run_informer(source)
    wait_until(lambda: ("SYNC", "honest", "40") in rec.snapshot())
    assert [rv for _, _, rv in rec.snapshot()] == ["10", "20", "30", "40"]
    assert source.watch_versions[:3] == ["10", "20", "30"]
    assert inf.error_count == 3
