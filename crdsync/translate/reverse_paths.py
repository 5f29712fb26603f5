"""Reverse paths (toHost rules): fields the host owns on a copy (an operator assigns a port, an address).

Every forward translation (objects.to_host, followers, shared_references) reads the virtual object through
forward_view, which drops each reverse path and every map along its chain left empty, and to_host drops them from the
copy too (drop_reverse_paths); so whatever reverse_fields writes onto the virtual object, the desired copy is the same
(the no-ping-pong law: to_host(v with any values at reverse paths) == to_host(v), for the same metadata.generation),
crdsync never applies those fields to the host (the operator's stay its own), and a host value is never read as a
reference (it would be a host name naming a host object the tenant could not name; the loader also refuses a
reference or toHost patch that overlaps a reverse path). reverse_fields only projects the host copy's values at those
chains: it never names the virtual object it goes to (the engine writes onto the key's own source) and never writes
crdsync.io/ annotations.

Pure; inputs are never mutated. Failure modes: TranslationError for a reverse path that is not a plain chain of field
names, one that would write anything but spec fields and annotations not crdsync's, and a rule that is not toHost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crdsync.spec.model import Direction, Rule
from crdsync.spec.paths import field_chain
from crdsync.translate import paths
from crdsync.translate.bookkeeping import LAST_APPLIED, PREFIX
from crdsync.translate.errors import TranslationError, located
from crdsync.translate.tenancy import check_shape


def _reverse_chain(path: str) -> tuple[str, ...]:
    try:
        chain = field_chain(path)
    except ValueError:
        chain = None
    if chain is None:  # the loader refuses these; a rule built in code gets a located error instead of a guess
        raise TranslationError("a reverse path must be a plain chain of field names", path)
    return chain


def _drop_chain(root: dict[str, Any], chain: tuple[str, ...]) -> None:
    """Remove the field at `chain` from `root` and every map along the chain that is left empty, copying (never
    mutating) the maps it changes: `root` is a fresh top-level dict whose values may be the caller's."""
    parents: list[tuple[dict[str, Any], str]] = []
    node = root
    for step in chain[:-1]:
        child = node.get(step)
        if not isinstance(child, Mapping):
            break
        copied = dict(child)
        node[step] = copied
        parents.append((node, step))
        node = copied
    else:
        node.pop(chain[-1], None)
    # A map along the chain holding nothing else goes too: writing a reverse field may have created it, and the
    # desired copy must not depend on whether it did.
    for parent, step in reversed(parents):
        value = parent.get(step)
        if isinstance(value, Mapping) and not value and not (parent is root and step == "metadata"):
            del parent[step]
        else:
            break


def drop_reverse_paths(rule: Rule, obj: dict[str, Any]) -> None:
    """Remove rule.reverse_paths (and maps along their chains left empty) from `obj`, a fresh top-level dict whose
    nested maps may be shared: the maps on the way are copied, never mutated."""
    for path in rule.reverse_paths:
        _drop_chain(obj, _reverse_chain(path))


def forward_view(rule: Rule, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """`obj` as the forward translations of toHost `rule` read it: without the fields at rule.reverse_paths (and maps
    along their chains left empty). Copies only the maps it changes; `obj` is returned as is without reverse paths."""
    if not rule.reverse_paths:
        return obj
    out = dict(obj)
    drop_reverse_paths(rule, out)
    return out


def _writable_back(chain: tuple[str, ...]) -> bool:
    """Reverse paths write spec fields and annotations crdsync and kubectl do not own, nothing else (as the loader
    checks): a crdsync.io/ key on the virtual source would make it look like a copy."""
    if chain[0] == "spec":
        return len(chain) >= 2
    return (
        len(chain) == 3
        and chain[:2] == ("metadata", "annotations")
        and not chain[2].startswith(PREFIX)
        and chain[2] != LAST_APPLIED
    )


def reverse_fields(rule: Rule, host_obj: Mapping[str, Any]) -> dict[str, Any]:
    """The host-owned fields of `host_obj` (a copy made by to_host under toHost `rule`) to write onto its virtual
    source: the values at rule.reverse_paths that exist and are not null, with their ancestors (maps), e.g.
    {"spec": {"assignedPort": 30080}}; {} when there are none. Values are copied as the host has them (like status).
    """

    def build() -> dict[str, Any]:
        if rule.direction is not Direction.TO_HOST:
            raise TranslationError(f"reverse paths need a toHost rule, got the {rule.direction.value} rule")
        check_shape(host_obj, "host object")
        selected: list[paths.Location] = []
        for path in rule.reverse_paths:
            chain = _reverse_chain(path)
            if not _writable_back(chain):
                raise TranslationError("reverse paths write only spec fields and annotations not crdsync's", path)
            if paths.value_at(host_obj, chain) is not None:
                selected.append(chain)
        projected: dict[str, Any] = paths.project(host_obj, selected)  # a map projects to a map ({} for nothing)
        return projected

    return located(rule, build)
