"""Work-queue keys and the reference index (crdsync/engine/keys.py): which followers a referrer holds, and which
referrers an event about a follower or a shared object must queue again."""

from __future__ import annotations

import pytest

from crdsync.engine.keys import Key, ObjectName, ReferenceIndex, Task, follower_key
from crdsync.spec.model import Direction, FollowDirection
from crdsync.translate.objects import FollowRef
from tests.engine.kinds import SECRET

W1 = Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w1"))
W2 = Key(Task.TO_HOST, "example.com", "Widget", ObjectName("default", "w2"))
ISSUER = ("example.com", "SharedThing", None, "issuer")
OTHER_ISSUER = ("example.com", "SharedThing", None, "other")


def imported(name: str, host_name: str) -> FollowRef:
    return FollowRef(SECRET, FollowDirection.FROM_HOST, "default", name, "tenant-a", host_name)


def exported(name: str) -> FollowRef:
    return FollowRef(SECRET, FollowDirection.TO_HOST, "default", name, "tenant-a", f"{name}-x-default-vc1")


def test_a_key_without_the_end_it_is_reconciled_for_is_refused() -> None:
    with pytest.raises(ValueError):
        Key(Task.IMPORT, "", "Secret", ObjectName("tenant-a", "tls"), None)
    with pytest.raises(ValueError):
        Key(Task.TO_HOST, "", "Secret", None, ObjectName("tenant-a", "tls"))
    assert Key.imported("", "Secret", ObjectName("default", "tls")).identity == ObjectName("default", "tls")
    assert Key(Task.FROM_HOST, "", "Secret", ObjectName("ns", "s")).identity == ObjectName("ns", "s")


def test_a_follower_is_held_while_any_referrer_names_it_and_released_when_the_last_stops() -> None:
    index = ReferenceIndex()
    tls = imported("tls", "tls-x-default-vc1")
    key = follower_key(tls)
    assert index.update(W1, [tls]) == {key}
    assert index.update(W2, [tls]) == {key}
    assert index.update(W1, [tls]) == set()  # nothing changed, nothing to queue
    assert index.referrers(key) == {W1, W2}
    assert index.update(W1, []) == {key}
    assert index.referrers(key) == {W2}
    assert index.ref(key) == tls
    assert index.import_for_host("", "Secret", "tenant-a", "tls-x-default-vc1") == key
    assert index.update(W2, []) == {key}
    assert index.referrers(key) == frozenset()
    assert index.ref(key) is None
    assert index.import_for_host("", "Secret", "tenant-a", "tls-x-default-vc1") is None
    assert index.import_key("", "Secret", ObjectName("default", "tls")).source is None


def test_a_referrer_that_names_another_follower_releases_the_first_and_queues_both() -> None:
    index = ReferenceIndex()
    first, second = exported("ca"), exported("ca2")
    index.update(W1, [first])
    assert index.update(W1, [second]) == {follower_key(first), follower_key(second)}
    assert index.referrers(follower_key(first)) == frozenset()
    assert index.referrers(follower_key(second)) == {W1}
    assert index.update(W1, []) == {follower_key(second)}
    assert index.update(W1, []) == set()


def test_an_import_key_of_a_referenced_place_names_the_host_object_and_one_of_an_unreferenced_place_none() -> None:
    index = ReferenceIndex()
    tls = imported("tls", "tls-x-default-vc1")
    index.update(W1, [tls])
    key = index.import_key("", "Secret", ObjectName("default", "tls"))
    assert key.source == ObjectName("tenant-a", "tls-x-default-vc1")
    assert index.import_key("", "Secret", ObjectName("default", "other")).source is None


def test_a_referrer_that_stops_naming_a_shared_object_is_no_longer_queued_by_it() -> None:
    index = ReferenceIndex()
    index.update_shared(W1, [ISSUER])
    index.update_shared(W2, [ISSUER, OTHER_ISSUER])
    assert index.shared_referrers(ISSUER) == {W1, W2}
    index.update_shared(W2, [OTHER_ISSUER])
    assert index.shared_referrers(ISSUER) == {W1}
    assert index.shared_referrers(OTHER_ISSUER) == {W2}
    index.update_shared(W1, [])
    assert index.shared_referrers(ISSUER) == frozenset()
    index.update_shared(W1, [])  # naming nothing twice is fine
    index.update_shared(W1, [ISSUER])
    assert index.shared_referrers(ISSUER) == {W1}


def test_each_task_counts_under_the_direction_its_rule_syncs() -> None:
    """The direction label of crdsync_objects_in_sync: exports go with toHost, imports with fromHost."""
    assert [t.direction for t in (Task.TO_HOST, Task.EXPORT, Task.FROM_HOST, Task.IMPORT)] == [
        Direction.TO_HOST,
        Direction.TO_HOST,
        Direction.FROM_HOST,
        Direction.FROM_HOST,
    ]


def test_keys_sort_by_task_kind_and_place_so_a_batch_is_queued_in_a_stable_order() -> None:
    keys = [
        W2,
        Key(Task.FROM_HOST, "", "Secret", ObjectName("b", "s")),
        W1,
        Key(Task.EXPORT, "", "Secret", ObjectName(None, "c")),
    ]
    assert sorted(keys) == [keys[3], keys[1], W1, W2]
