"""Resource: one served kind (group, version, plural, scope) and the URL paths of its objects; discovery parsing.

Pure values, no IO. `Resource.path` raises `ValueError` for a request that cannot be addressed (an object of a
namespaced kind without a namespace, an empty name, a subresource without an object): a programming error, never a
cluster fault. `parse_resource_list` never raises: entries it cannot read (no name, no kind) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crdsync.gvk import GroupVersionKind


@dataclass(frozen=True)
class Resource:
    """One served resource (a kind in one group/version) as discovery reports it."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    has_status: bool = False
    verbs: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind(self.group, self.version, self.kind)

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection (no name) or of one object (and its subresource).

        For a namespaced resource, no namespace means the all-namespaces collection; naming an object then is an error.
        A cluster-scoped resource ignores `namespace`, so callers can pass an object's metadata.namespace unchecked.
        """
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if self.namespaced and namespace:
            parts.append("namespaces/" + quote(namespace, safe=""))
        elif self.namespaced and name is not None:
            raise ValueError(f"{self.kind} {name!r}: a namespaced object needs a namespace")
        parts.append(self.plural)
        if name is not None:
            if not name:
                raise ValueError(f"{self.kind}: empty object name")
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        elif subresource:
            raise ValueError(f"{self.kind}: subresource {subresource!r} needs an object name")
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.api_version}" if self.group else f"{self.plural}.{self.version}"


def parse_resource_list(doc: dict[str, Any], group: str, version: str) -> dict[str, Resource]:
    """kind -> Resource from an APIResourceList document (subresources only mark `has_status`)."""
    entries = [e for e in doc.get("resources") or () if isinstance(e, dict) and isinstance(e.get("name"), str)]
    subresources = {e["name"] for e in entries if "/" in e["name"]}
    found: dict[str, Resource] = {}
    for entry in entries:
        plural = entry["name"]
        kind = entry.get("kind")
        if "/" in plural or not isinstance(kind, str) or kind in found:
            continue
        found[kind] = Resource(
            group=group,
            version=version,
            kind=kind,
            plural=plural,
            namespaced=bool(entry.get("namespaced")),
            has_status=f"{plural}/status" in subresources,
            verbs=frozenset(v for v in entry.get("verbs") or () if isinstance(v, str)),
        )
    return found
