"""crdsync.kube against real kube-apiservers: discovery of a fresh CRD, list pages, server-side apply, conflicts,
watch streams, 410 after a too-old resourceVersion, the informer (sync, events, store, relist, CRD deletion, stop),
Events and Lease election. Prints a few measured figures (run with -s to see them)."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crdsync.gvk import GroupVersionKind
from crdsync.kube import errors
from crdsync.kube.client import KubeClient
from crdsync.kube.events import EVENTS, event_name, record_event
from crdsync.kube.informer import Informer
from crdsync.kube.lease import LEASES, LeaderElector
from crdsync.kube.resource import Resource

pytestmark = pytest.mark.timeout(1800)  # the first e2e test of a session may pay for building the planes

Wait = Callable[[Callable[[], bool], float, str], None]
GROUP = "kubeio.e2e.crdsync.io"
GADGET = GroupVersionKind(GROUP, "v1", "Gadget")
NAMESPACE_GVK = GroupVersionKind("", "v1", "Namespace")
CONFIGMAP_GVK = GroupVersionKind("", "v1", "ConfigMap")
CRD_GVK = GroupVersionKind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")


def gadget_crd(plural: str, kind: str) -> dict[str, Any]:
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": open_object, "status": open_object},
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def host(host_kubeconfig: Path) -> KubeClient:
    return KubeClient.from_kubeconfig(str(host_kubeconfig), field_manager="crdsync-e2e")


@pytest.fixture(scope="module")
def virtual(virtual_kubeconfig: Path) -> KubeClient:
    return KubeClient.from_kubeconfig(str(virtual_kubeconfig), field_manager="crdsync-e2e")


def _resource(client: KubeClient, gvk: GroupVersionKind) -> Resource:
    res = client.resource_for(gvk)
    assert res is not None, f"{gvk} not served"
    return res


@pytest.fixture
def namespace(host: KubeClient) -> str:
    name = f"kio-{uuid.uuid4().hex[:8]}"
    host.create(_resource(host, NAMESPACE_GVK), {"metadata": {"name": name}})
    return name


def install_crd(client: KubeClient, wait_for: Wait, plural: str, kind: str) -> tuple[Resource, float]:
    """Create the CRD and poll discovery until it is served; returns the resource and the seconds that took."""
    crd_res = _resource(client, CRD_GVK)
    client.apply(crd_res, gadget_crd(plural, kind))
    started = time.monotonic()
    found: list[Resource] = []

    def served() -> bool:
        res = client.resource_for(GroupVersionKind(GROUP, "v1", kind))
        if res is not None:
            found.append(res)
        return res is not None

    wait_for(served, 60, f"{kind} to be served")
    return found[0], time.monotonic() - started


@pytest.fixture(scope="module")
def gadgets(host: KubeClient, wait_for: Wait) -> Resource:
    res, seconds = install_crd(host, wait_for, "gadgets", "Gadget")
    print(f"\n[kube-io] new CRD served by discovery polling after {seconds:.2f}s")
    return res


def gadget(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Gadget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def test_discovery_and_version(host: KubeClient, gadgets: Resource) -> None:
    assert host.server_version()["major"] == "1"
    assert gadgets == Resource(GROUP, "v1", "Gadget", "gadgets", True, True, gadgets.verbs)
    assert {"list", "watch", "patch", "create", "delete"} <= gadgets.verbs
    secrets = _resource(host, GroupVersionKind("", "v1", "Secret"))
    assert (secrets.plural, secrets.namespaced, secrets.has_status) == ("secrets", True, False)
    assert host.resource_for(GroupVersionKind(GROUP, "v1", "Nothing")) is None
    assert host.resource_for(GroupVersionKind("not-served.io", "v1", "Thing")) is None


def test_list_pages(host: KubeClient, namespace: str) -> None:
    cms = _resource(host, CONFIGMAP_GVK)
    for i in range(7):
        host.create(cms, {"metadata": {"name": f"cm-{i}", "namespace": namespace, "labels": {"n": str(i % 2)}}})
    items, rv = host.list(cms, namespace, limit=3)
    assert sorted(i["metadata"]["name"] for i in items) == [f"cm-{i}" for i in range(7)]
    assert rv and all(i["kind"] == "ConfigMap" and i["apiVersion"] == "v1" for i in items)
    odd, _ = host.list(cms, namespace, label_selector="n=1", limit=2)
    assert sorted(i["metadata"]["name"] for i in odd) == ["cm-1", "cm-3", "cm-5"]
    named, _ = host.list(cms, namespace, field_selector="metadata.name=cm-4")
    assert [i["metadata"]["name"] for i in named] == ["cm-4"]


def test_writes_and_their_errors(host: KubeClient, gadgets: Resource, namespace: str) -> None:
    created = host.apply(gadgets, gadget("g1", namespace, size=1, color="red"))
    rv = created["metadata"]["resourceVersion"]
    writes = host.write_count
    same = host.apply(gadgets, gadget("g1", namespace, size=1, color="red"))
    assert same["metadata"]["resourceVersion"] == rv, "an unchanged apply must not bump the object"
    assert host.write_count == writes + 1
    # Fields we stop applying are removed: that is what server-side apply's ownership buys us.
    dropped = host.apply(gadgets, gadget("g1", namespace, size=2))
    assert dropped["spec"] == {"size": 2}
    managers = {m["manager"] for m in dropped["metadata"]["managedFields"]}
    assert managers == {"crdsync-e2e"}
    status = host.apply(gadgets, {**gadget("g1", namespace), "status": {"ready": True}}, subresource="status")
    assert status["status"] == {"ready": True} and status["spec"] == {"size": 2}
    patched = host.patch(gadgets, namespace, "g1", {"metadata": {"labels": {"x": "y"}}})
    assert patched["metadata"]["labels"] == {"x": "y"}
    jsonpatched = host.patch(
        gadgets, namespace, "g1", [{"op": "replace", "path": "/spec/size", "value": 3}], patch_type="json"
    )
    assert jsonpatched["spec"]["size"] == 3
    stale = {**jsonpatched, "metadata": {**jsonpatched["metadata"], "resourceVersion": rv}}
    with pytest.raises(errors.Conflict):
        host.replace(gadgets, stale)
    replaced = host.replace(gadgets, {**jsonpatched, "spec": {"size": 4}})
    assert replaced["spec"] == {"size": 4}
    with pytest.raises(errors.AlreadyExists):
        host.create(gadgets, gadget("g1", namespace))
    with pytest.raises(errors.Invalid):
        host.create(gadgets, gadget("Not_A_Valid_Name", namespace))
    with pytest.raises(errors.UnsupportedMediaType):
        host.patch(gadgets, namespace, "g1", {"spec": {"size": 5}}, patch_type="strategic")
    with pytest.raises(errors.Conflict):
        host.delete(gadgets, namespace, "g1", uid="00000000-0000-0000-0000-000000000000")
    assert host.delete(gadgets, namespace, "g1", uid=created["metadata"]["uid"]) is True
    assert host.get(gadgets, namespace, "g1") is None
    assert host.delete(gadgets, namespace, "g1") is False


def _collect(stream: Iterator[tuple[str, dict[str, Any]]], count: int, out: list[tuple[str, str, float]]) -> None:
    for event_type, obj in stream:
        if event_type != "BOOKMARK":
            out.append((event_type, obj["metadata"]["name"], time.monotonic()))
            if len(out) == count:
                return


def test_watch_stream(host: KubeClient, gadgets: Resource, namespace: str) -> None:
    _, rv = host.list(gadgets, namespace)
    stream = host.watch(gadgets, namespace, resource_version=rv, timeout_seconds=60)
    seen: list[tuple[str, str, float]] = []
    reader = threading.Thread(target=_collect, args=(stream, 3, seen))
    reader.start()
    sent = time.monotonic()
    host.apply(gadgets, gadget("w1", namespace, n=1))
    host.apply(gadgets, gadget("w1", namespace, n=2))
    host.delete(gadgets, namespace, "w1")
    reader.join(30)
    stream.close()
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    print(f"\n[kube-io] watch: first event {1000 * (seen[0][2] - sent):.1f}ms after the write was sent")


def test_too_old_resource_version_is_gone(host: KubeClient, gadgets: Resource, namespace: str) -> None:
    # The watch cache for this CRD started long after resourceVersion 1, so the server answers 410 Expired.
    with pytest.raises(errors.Gone):
        for _ in host.watch(gadgets, namespace, resource_version="1", timeout_seconds=10):
            pass


def test_watch_close_unblocks_a_quiet_stream(host: KubeClient, gadgets: Resource, namespace: str) -> None:
    _, rv = host.list(gadgets, namespace)
    stream = host.watch(gadgets, namespace, resource_version=rv, timeout_seconds=60)
    done = threading.Event()

    def drain() -> None:
        list(stream)
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    time.sleep(0.3)
    started = time.monotonic()
    stream.close()
    assert done.wait(5) and time.monotonic() - started < 2


class FirstWatchTooOld:
    """Delegates to a real client but starts the first watch from resourceVersion 1, as if it had been compacted."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.watches = 0

    def list(self, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], str]:
        return self.client.list(*args, **kwargs)

    def watch(self, *args: Any, **kwargs: Any) -> Any:
        self.watches += 1
        if self.watches == 1:
            kwargs["resource_version"] = "1"
        return self.client.watch(*args, **kwargs)


def team(inf: Informer, name: str) -> list[str]:
    """The names of the objects in the informer's store labelled team=`name`, sorted."""
    return sorted(o["metadata"]["name"] for o in inf.list() if (o["metadata"].get("labels") or {}).get("team") == name)


def test_informer_end_to_end(host: KubeClient, gadgets: Resource, namespace: str, wait_for: Wait) -> None:
    for i in range(3):
        host.apply(
            gadgets,
            {
                **gadget(f"i{i}", namespace),
                "metadata": {"name": f"i{i}", "namespace": namespace, "labels": {"team": "a" if i < 2 else "b"}},
            },
        )
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def on_event(kind: str, key: tuple[str, str], obj: dict[str, Any]) -> None:
        with lock:
            events.append((kind, key[1]))

    source = FirstWatchTooOld(host)
    inf = Informer(source, gadgets, namespace=namespace, on_event=on_event, backoff_initial=0.1)
    started = time.monotonic()
    inf.start()
    try:
        assert inf.wait_for_sync(30)
        print(f"\n[kube-io] informer synced 3 objects in {1000 * (time.monotonic() - started):.1f}ms")
        # The first watch got 410 and the informer relisted by itself.
        wait_for(lambda: inf.list_count == 2 and inf.running, 30, "the relist after 410")
        assert team(inf, "a") == ["i0", "i1"]
        host.apply(
            gadgets,
            {**gadget("i2", namespace), "metadata": {"name": "i2", "namespace": namespace, "labels": {"team": "a"}}},
        )
        host.delete(gadgets, namespace, "i0")
        host.apply(gadgets, gadget("i3", namespace))
        wait_for(
            lambda: inf.get(namespace, "i3") is not None and inf.get(namespace, "i0") is None,
            30,
            "watch events in the store",
        )
        assert team(inf, "a") == ["i1", "i2"]
        with lock:
            tail = events[-3:]
        assert tail == [("MODIFIED", "i2"), ("DELETED", "i0"), ("ADDED", "i3")]
        assert events.count(("SYNC", "i1")) == 2  # once per list
    finally:
        stopping = time.monotonic()
        inf.stop()
    assert not inf.running and time.monotonic() - stopping < 3


def test_informer_reports_deleted_crd(host: KubeClient, wait_for: Wait) -> None:
    res, _ = install_crd(host, wait_for, "widgetzs", "Widgetz")
    ns = "default"
    host.apply(res, {"apiVersion": f"{GROUP}/v1", "kind": "Widgetz", "metadata": {"name": "w", "namespace": ns}})
    gone = threading.Event()
    deleted: list[str] = []
    inf = Informer(
        host,
        res,
        on_gone=gone.set,
        on_event=lambda kind, key, obj: deleted.append(key[1]) if kind == "DELETED" else None,
    )
    inf.start()
    try:
        assert inf.wait_for_sync(30)
        crd_res = _resource(host, CRD_GVK)
        host.delete(crd_res, None, f"widgetzs.{GROUP}")
        assert gone.wait(90), "on_gone was not called after the CRD was deleted"
        wait_for(lambda: not inf.running, 10, "the informer to stop")
        assert inf.stopped and deleted == ["w"]
    finally:
        inf.stop()
    host.invalidate_discovery()
    wait_for(lambda: host.resource_for(GroupVersionKind(GROUP, "v1", "Widgetz")) is None, 30, "discovery to forget it")


def test_events_are_recorded_and_aggregated(host: KubeClient, gadgets: Resource, namespace: str) -> None:
    obj = host.apply(gadgets, gadget("ev", namespace))
    record_event(host, obj, "HostConflict", "first")
    record_event(host, obj, "HostConflict", "second")
    event = host.get(EVENTS, namespace, event_name(obj, "HostConflict", "Warning", "crdsync"))
    assert event is not None
    assert (event["count"], event["message"], event["type"]) == (2, "second", "Warning")
    assert event["involvedObject"]["uid"] == obj["metadata"]["uid"]
    # A failure is swallowed: events in a namespace that does not exist.
    record_event(host, {**obj, "metadata": {**obj["metadata"], "namespace": "no-such-ns"}}, "R", "m")


def test_lease_election(virtual: KubeClient) -> None:
    ns = "default"
    name = f"crdsync-{uuid.uuid4().hex[:6]}"
    a = LeaderElector(virtual, ns, name, "a", lease_duration=4, renew_deadline=3, retry_period=1)
    b = LeaderElector(virtual, ns, name, "b", lease_duration=4, renew_deadline=3, retry_period=1)
    assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()
    assert a.try_acquire_or_renew()
    a.release()
    assert b.try_acquire_or_renew() and time.monotonic() < b.valid_until()
    lease = virtual.get(LEASES, ns, name)
    assert lease is not None and lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    # b goes silent: a takes over once the lease expired by a's clock.
    assert not a.try_acquire_or_renew()
    time.sleep(4.5)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew() and not time.monotonic() < b.valid_until()


def test_throughput_figures(host: KubeClient, namespace: str) -> None:
    """Not a benchmark, a sanity figure: concurrent creates and a paged list through one shared client."""
    cms = _resource(host, CONFIGMAP_GVK)
    counter = itertools.count()
    total = 200

    def worker() -> None:
        while (i := next(counter)) < total:
            host.create(cms, {"metadata": {"name": f"load-{i}", "namespace": namespace}, "data": {"i": str(i)}})

    writes = host.write_count
    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    create_seconds = time.monotonic() - started
    assert host.write_count - writes == total
    started = time.monotonic()
    items, _ = host.list(cms, namespace, limit=50)
    list_seconds = time.monotonic() - started
    assert len([i for i in items if i["metadata"]["name"].startswith("load-")]) == total
    print(
        f"\n[kube-io] {total} creates with 8 threads: {total / create_seconds:.0f}/s; "
        f"list of {len(items)} in pages of 50: {1000 * list_seconds:.0f}ms"
    )
