"""GroupVersionKind: the name of a Kubernetes kind, shared by the spec, the kube client and the engine.

It lives in the base layer, importing nothing from crdsync, so both crdsync.spec (rules name their kinds) and
crdsync.kube (discovery maps kinds to resources) can use it without one importing the other. A frozen, ordered value;
nothing here can fail (no validation: the spec loader checks names before building one).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class GroupVersionKind:
    group: str  # "" for the core group
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def from_api_version(cls, api_version: str, kind: str) -> GroupVersionKind:
        group, _, version = api_version.rpartition("/")
        return cls(group, version, kind)

    def __str__(self) -> str:
        return f"{self.kind}.{self.api_version}"
