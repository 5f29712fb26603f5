"""The state of one conversion and the readers every section shares.

`Context` holds the configuration being converted, the rules built so far (`OutRule`, each a rule mapping whose lists
may hold commented items) and the located findings; `RuleState` is one rule under construction. The readers take a
value of the wrong type as vcluster did: a finding, never an exception. `InvalidEntry` is the one exception: raised
for an entry vcluster itself could not run, caught per entry by `config`, which then converts nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crdsync.convert.emit import Commented
from crdsync.convert.inputs import Source
from crdsync.convert.report import Finding, Severity
from crdsync.spec.source import FieldPath


class InvalidEntry(Exception):
    """An entry vcluster itself could not run; it is reported and converts to nothing."""


# Kinds served cluster-scoped (core, common add-ons); vcluster read the scope from the CRD, the converter cannot.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "StorageClass", "IngressClass", "PriorityClass", "RuntimeClass",
        "CSIDriver", "CSINode", "VolumeAttachment", "VolumeSnapshotClass", "VolumeSnapshotContent", "ClusterRole",
        "ClusterRoleBinding", "CustomResourceDefinition", "APIService", "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "GatewayClass", "IPAddressPool", "NodePool", "EC2NodeClass", "Provisioner", "AWSNodeTemplate",
    }
)  # fmt: skip


def cluster_scoped(kind: str) -> bool:
    return kind in CLUSTER_SCOPED or (kind.startswith("Cluster") and len(kind) > len("Cluster"))


@dataclass
class OutRule:
    """One crdsync rule being built; `body` is the rule mapping (lists may hold `Commented` items)."""

    direction: str  # "toHost" | "fromHost"
    body: dict[str, Any]
    comment: str
    active: bool = True

    @property
    def key(self) -> tuple[str, str, str]:
        group = str(self.body["apiVersion"]).rpartition("/")[0]
        return self.direction, group, str(self.body["kind"])

    def add(self, section: str, item: Any, comment: str, sub: str | None = None) -> None:
        """Append `item` to body[section] (or body[section][sub]) with a comment, unless an equal item is there."""
        holder: dict[str, Any] = self.body
        if sub is not None:
            holder = self.body.setdefault(section, {})
            section = sub
        items: list[Any] = holder.setdefault(section, [])
        if any((i.value if isinstance(i, Commented) else i) == item for i in items):
            return
        items.append(Commented(comment, item))


@dataclass
class Conversion:
    rules: list[OutRule] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Context:
    source: Source
    out: Conversion
    vcluster_naming: bool
    # kind -> apiVersion of the kinds this config exports (toHost rules), for references by kind
    exported: dict[str, str] = field(default_factory=dict)

    def where(self, path: FieldPath) -> str:
        location = self.source.where(path)
        return f"from {location.file}:{location.line}:{location.column} {self.source.describe(path)}"

    def finding(self, path: FieldPath, reason: str, instead: str, severity: Severity = "todo") -> None:
        self.out.findings.append(
            Finding(self.source.where(path), self.source.describe(path), reason, instead, severity)
        )


@dataclass
class RuleState:
    rule: OutRule
    path: FieldPath
    reference_paths: dict[str, int] = field(default_factory=dict)  # reference path -> index, for syncBack merging


def nonempty_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def listed(ctx: Context, data: dict[str, Any], key: str, path: FieldPath) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.finding((*path, key), f"{key} must be a list", "fix the config: vcluster rejected it")
        return []
    return value


def get_path(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def set_naming(ctx: Context, body: dict[str, Any]) -> None:
    if ctx.vcluster_naming:
        # vcluster's own host names, so the copies vcluster made are found and adopted, and names of objects
        # vcluster's syncer copies (Secrets, Services) resolve to what exists on the host.
        body["naming"] = {"style": "vcluster"}


def ensure_referenced(ctx: Context, direction: str, kind: str, api_version: str, why: str) -> None:
    """A mode-referenced rule for follow references (one per kind and direction, like the spec demands)."""
    for rule in ctx.out.rules:
        if rule.direction == direction and rule.body["kind"] == kind and rule.key[1] == api_version.rpartition("/")[0]:
            return
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "mode": "referenced"}
    set_naming(ctx, body)
    ctx.out.rules.append(OutRule(direction, body, why))
