"""Status: a host copy's status -> the desired status of its virtual source, observedGeneration values mapped from
host generations to virtual ones.

objects.to_host records the virtual generation a copy was written from (ANN_SOURCE_GENERATION) when maps_generations
says the rule maps observedGeneration values; virtual_status reads it back. virtual_status reads only the host
object's status, its metadata.generation and that recorded generation; to_host writes nothing else this reads (and
reads no status itself), so the two cannot feed each other.

Pure; inputs are never mutated. Failure modes: TranslationError (located at the rule) for status or observedGeneration
paths that select fields outside $.status, a status that is not a map after the patches, objects beyond the shape
limits, and every path / patch error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crdsync.spec.model import Rule, SyncMode
from crdsync.translate import paths
from crdsync.translate.bookkeeping import source_generation
from crdsync.translate.errors import TranslationError, json_type, located
from crdsync.translate.metadata import COPIED_METADATA, generation_of
from crdsync.translate.patches import apply_patches_in_place
from crdsync.translate.tenancy import check_shape


def maps_generations(rule: Rule, status_subresource: bool) -> bool:
    """Whether observedGeneration values of `rule` are mapped back, and so whether to_host records the generation.

    Not without a status subresource: there every status write bumps metadata.generation, so a mapped value written
    back would itself make the next one differ (a write loop). Not for exported followers (mode referenced): their
    status never flows back.
    """
    return (
        status_subresource
        and rule.mode is SyncMode.ALL
        and rule.status.enabled
        and bool(rule.status.observed_generation_paths)
    )


def _map_observed_generations(rule: Rule, view: dict[str, Any], host_obj: Mapping[str, Any]) -> None:
    recorded = source_generation(host_obj)
    host_generation = generation_of(host_obj)
    if recorded is None or host_generation is None:
        return  # a copy written before generations were recorded, or no server generation: nothing to map with
    writes: dict[paths.Location, Any] = {}
    for path in rule.status.observed_generation_paths:
        for location in paths.locations(view, path):
            if not location or location[0] != "status":
                raise TranslationError("observedGeneration paths must select fields inside $.status", path)
            value = paths.value_at(view, location)
            if isinstance(value, int) and not isinstance(value, bool):
                writes[location] = recorded if value == host_generation else max(recorded - 1, 0)
    paths.write_in_place(view, writes)


def _status_view(rule: Rule, host_obj: Mapping[str, Any], virtual_obj: Mapping[str, Any]) -> dict[str, Any]:
    """{apiVersion, kind, metadata of virtual_obj, status}: the status at rule.status.paths of host_obj (list items a
    filter selects keep their order, unselected ones are left out) under the virtual object's identity."""
    check_shape(host_obj, "host object")
    selected: list[paths.Location] = []
    for path in rule.status.paths:
        for location in paths.locations(host_obj, path):
            if not location or location[0] != "status":
                raise TranslationError("status paths must select fields inside $.status", path)
            selected.append(location)
    projected = paths.project(host_obj, selected)  # a map projects to a map ({} for nothing)
    meta = virtual_obj.get("metadata")
    return {
        "apiVersion": virtual_obj.get("apiVersion", rule.gvk.api_version),
        "kind": virtual_obj.get("kind", rule.gvk.kind),
        "metadata": {
            k: paths.clone(v) for k, v in (meta if isinstance(meta, Mapping) else {}).items() if k in COPIED_METADATA
        },
        "status": projected.get("status", {}),
    }


def virtual_status(
    rule: Rule,
    host_obj: Mapping[str, Any],
    virtual_obj: Mapping[str, Any],
    *,
    status_subresource: bool = True,
) -> dict[str, Any] | None:
    """The desired `status` of the virtual source of `host_obj` (toHost `rule`), or None when status sync is off.

    rule.status.paths are taken from host_obj (_status_view). Then observedGeneration values are mapped from host
    generations to virtual ones (below), and rule.patches_to_virtual run on the view, with host_obj as the other side
    for COPY.

    observedGeneration: let S be the virtual generation recorded on host_obj by to_host (ANN_SOURCE_GENERATION) and H
    host_obj's metadata.generation. Every integer at rule.status.observed_generation_paths becomes S when it equals H
    (the operator has seen the spec to_host wrote for virtual generation S, or one identical to it), and max(S - 1, 0)
    otherwise (the operator has not seen it yet; which older virtual generation it did see is not recorded anywhere,
    but any value below S reads as stale, and S - 1 is the largest, so the value never goes down while the host spec
    changes only through crdsync). A tenant's tool comparing status with metadata.generation thus sees "current"
    exactly when the host operator has caught up with the virtual spec (and the copy is up to date: S is the virtual
    object's generation whenever to_host has been applied). Values are left as they are when the annotation or H is
    missing or malformed, for non-integers, and when mapping is off (maps_generations).
    """
    if not rule.status.enabled:
        return None

    def build() -> dict[str, Any]:
        view = _status_view(rule, host_obj, virtual_obj)
        if maps_generations(rule, status_subresource):
            _map_observed_generations(rule, view, host_obj)
        apply_patches_in_place(rule.patches_to_virtual, view, host_obj)
        status = view.get("status")
        if status is None:
            return {}
        if not isinstance(status, dict):
            raise TranslationError(f"status must be a map, found {json_type(status)}", "$.status")
        return status

    return located(rule, build)
