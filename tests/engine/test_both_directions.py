"""One kind in both directions (a toHost and a fromHost rule, both mode all, with disjoint selections), as vcluster's
knative example has it: the engine exports the tenant's objects and imports the host's at the same time, with no
loop and no copy of a copy.

Why nothing bounces: every copy carries crdsync's bookkeeping and an object carrying it is never selected on either
side (translate.selectors), whatever a tenant or a host admin does to its labels; host events of our own toHost copies
route to their export key, other host objects to the fromHost rule. Where both rules want one place, neither takes
over the other's object (TargetExists), whatever the conflict policies say.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdsync.spec.model import (
    ConflictPolicy,
    Direction,
    HostSelection,
    LabelSelector,
    Patch,
    PatchOp,
    Rule,
    SyncConfig,
)
from crdsync.translate.bookkeeping import SIDE_HOST, SIDE_VIRTUAL, source_of
from crdsync.translate.names import host_name
from crdsync.translate.objects import to_host, to_virtual
from crdsync.translate.selectors import selects_host, selects_virtual
from tests.engine.kinds import WIDGET, WIDGETS
from tests.engine.test_engine import TENANT, World, make_config, widget_rule
from tests.translate.strategies import label_keys, label_values

OUT = LabelSelector(match_labels=(("flow", "out"),))
IN = LabelSelector(match_labels=(("flow", "in"),))


def labelled_widget(namespace: str, name: str, flow: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace, "labels": {"flow": flow}},
        "spec": spec,
    }


def both_ways(*, by: str, to_host: dict[str, Any] | None = None, from_host: dict[str, Any] | None = None) -> World:
    """Widgets exported and imported, told apart by labels (`by="labels"`) or by namespaces (`by="namespaces"`:
    imports from host namespace `shared` land in virtual `imported`, exports only from `default`)."""
    if by == "labels":
        export = widget_rule(selector=OUT, **(to_host or {}))
        imports = Rule(direction=Direction.FROM_HOST, gvk=WIDGET, selector=IN, **(from_host or {}))
    else:
        export = widget_rule(namespaces=("default",), **(to_host or {}))
        imports = Rule(
            direction=Direction.FROM_HOST,
            gvk=WIDGET,
            host=HostSelection(namespaces=("shared",), virtual_namespace="imported"),
            **(from_host or {}),
        )
    return World(make_config(imports, widget=export))


def widgets(cluster: Any) -> set[tuple[str, str]]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in cluster.list(WIDGETS)}


def copies_of_copies(world: World) -> list[str]:
    """Host objects that are copies of imports, and virtual objects that are imports of host copies."""
    found = []
    for obj in world.host.list(WIDGETS):
        source = source_of(obj)
        if source is not None and source.side == SIDE_VIRTUAL:
            origin = world.virtual.get(WIDGETS, source.namespace, source.name)
            if origin is not None and source_of(origin) is not None:
                found.append(f"host {obj['metadata']['name']} copies the import {source.namespace}/{source.name}")
    for obj in world.virtual.list(WIDGETS):
        source = source_of(obj)
        if source is not None and source.side == SIDE_HOST:
            origin = world.host.get(WIDGETS, source.namespace, source.name)
            if origin is not None and source_of(origin) is not None:
                found.append(f"virtual {obj['metadata']['name']} imports the copy {source.namespace}/{source.name}")
    return found


@pytest.mark.parametrize("by", ["labels", "namespaces"])
def test_both_directions_at_once_without_a_loop_or_a_copy_of_a_copy(
    by: str, events_on: list[tuple[str, str, str]], worlds: list[World]
) -> None:
    world = both_ways(by=by)
    worlds.append(world)
    host_ns, landing = ("team", "team") if by == "labels" else ("shared", "imported")
    world.host.put(WIDGETS, labelled_widget(host_ns, "operator-made", "in", replicas=1))
    world.virtual.put(WIDGETS, labelled_widget("default", "tenant-made", "out", size=1))
    world.start()
    world.settle()

    copy_name = host_name(TENANT, "default", "tenant-made", widget_rule().naming)
    assert widgets(world.host) == {(host_ns, "operator-made"), (TENANT.host_namespace, copy_name)}
    assert widgets(world.virtual) == {("default", "tenant-made"), (landing, "operator-made")}
    imported = world.virtual.get(WIDGETS, landing, "operator-made")
    assert imported is not None and imported["spec"] == {"replicas": 1}
    assert copies_of_copies(world) == []

    # Converged: zero writes, and a restart rewrites nothing.
    before = (len(world.host.our_writes()), len(world.virtual.our_writes()))
    time.sleep(0.3)
    world.settle()
    assert (len(world.host.our_writes()), len(world.virtual.our_writes())) == before
    world.stop()
    world.start()
    world.settle()
    assert (len(world.host.our_writes()), len(world.virtual.our_writes())) == before

    # The tenant labels the import for export, the host admin labels our copy for import: still copies, never
    # selected; the read-only import sheds the tenant's edit.
    imported["metadata"]["labels"]["flow"] = "out"
    world.virtual.put(WIDGETS, imported)
    copy = world.host.get(WIDGETS, TENANT.host_namespace, copy_name)
    assert copy is not None
    copy["metadata"]["labels"]["flow"] = "in"
    world.host.put(WIDGETS, copy, manager="host-admin")
    world.settle()
    assert widgets(world.host) == {(host_ns, "operator-made"), (TENANT.host_namespace, copy_name)}
    assert widgets(world.virtual) == {("default", "tenant-made"), (landing, "operator-made")}
    assert world.virtual.get(WIDGETS, landing, "operator-made")["metadata"]["labels"]["flow"] == "in"  # type: ignore[index]
    assert copies_of_copies(world) == []
    assert not [reason for _, reason, _ in events_on if reason != "TargetExists"]


def test_an_import_never_takes_the_place_of_an_exported_tenant_object(
    events_on: list[tuple[str, str, str]], worlds: list[World]
) -> None:
    world = both_ways(by="labels", from_host={"conflict": ConflictPolicy.OVERWRITE})
    worlds.append(world)
    world.start()
    world.virtual.put(WIDGETS, labelled_widget("team", "x", "out", size=1))
    world.settle()
    copy_name = host_name(TENANT, "team", "x", widget_rule().naming)
    assert world.host.get(WIDGETS, TENANT.host_namespace, copy_name) is not None

    world.host.put(WIDGETS, labelled_widget("team", "x", "in", replicas=9))  # the host's object for the same place
    world.settle()
    standing = world.virtual.get(WIDGETS, "team", "x")
    assert standing is not None and source_of(standing) is None and standing["spec"] == {"size": 1}
    assert world.host.get(WIDGETS, TENANT.host_namespace, copy_name) is not None  # still exported
    assert ("x", "TargetExists") in {(name, reason) for name, reason, _ in events_on}

    # The tenant's object goes: the place is free, the import comes in (and is never exported).
    world.virtual.remove(WIDGETS, "team", "x")
    world.settle()
    imported = world.virtual.get(WIDGETS, "team", "x")
    assert imported is not None and imported["spec"] == {"replicas": 9}
    assert world.host.get(WIDGETS, TENANT.host_namespace, copy_name) is None
    assert copies_of_copies(world) == []


def test_an_export_never_takes_the_place_of_an_imported_host_object(
    events_on: list[tuple[str, str, str]], worlds: list[World]
) -> None:
    world = both_ways(by="labels", to_host={"conflict": ConflictPolicy.OVERWRITE})
    worlds.append(world)
    name = host_name(TENANT, "default", "w9", widget_rule().naming)
    world.host.put(WIDGETS, labelled_widget(TENANT.host_namespace, name, "in", replicas=2))  # shared by the host
    world.start()
    assert world.virtual.get(WIDGETS, TENANT.host_namespace, name) is not None  # imported
    world.virtual.put(WIDGETS, labelled_widget("default", "w9", "out", size=1))
    world.settle()
    kept = world.host.get(WIDGETS, TENANT.host_namespace, name)
    assert kept is not None and source_of(kept) is None and kept["spec"] == {"replicas": 2}
    assert ("w9", "TargetExists") in {(n, reason) for n, reason, _ in events_on}
    assert world.virtual.get(WIDGETS, TENANT.host_namespace, name) is not None  # the import stays


# --- the law under it all (pure) -------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(label_keys, label_values, max_size=4),
    st.dictionaries(label_keys, label_values, max_size=4),
    st.dictionaries(label_keys, label_values, max_size=3),
)
def test_no_copy_is_ever_selected_by_the_other_direction(
    source_labels: dict[str, str], forged_labels: dict[str, str], forged_annotations: dict[str, str]
) -> None:
    """Whatever the selectors (here: none, selecting everything) and whatever the patches do to metadata (here: replace
    all labels and annotations, on both sides), a copy always carries crdsync's bookkeeping and neither rule ever
    selects it: an export is never imported back, an import never exported back, nothing is a copy of a copy."""
    wipe = (
        Patch(op=PatchOp.SET, path="$.metadata.labels", value=forged_labels),
        Patch(op=PatchOp.SET, path="$.metadata.annotations", value=forged_annotations),
    )
    export = Rule(direction=Direction.TO_HOST, gvk=WIDGET, patches_to_host=wipe)
    imports = Rule(direction=Direction.FROM_HOST, gvk=WIDGET, patches_to_virtual=wipe)
    config = SyncConfig("both", (export, imports))
    tenant_object = labelled_widget("default", "w", "out")
    tenant_object["metadata"]["labels"] = source_labels
    host_object = labelled_widget("team", "h", "in")
    host_object["metadata"]["labels"] = source_labels

    host_copy = to_host(config, export, tenant_object, TENANT)
    virtual_copy = to_virtual(config, imports, host_object, TENANT)
    assert not selects_host(imports, host_copy)
    assert not selects_virtual(export, virtual_copy, None)
    # ... while the sources themselves are selected (unless they carry crdsync's keys): the rules select everything.
    if not any(key.startswith("crdsync.io/") for key in source_labels):
        assert selects_virtual(export, tenant_object, None) and selects_host(imports, host_object)
