"""Garbage collection of a tenant's orphaned host copies: which ones its name proves, and their deletion.

The policy (why labels prove nothing and the name does) is in crdsync.commands.gc, the command around this module.
`judge` is pure: it sorts the objects carrying a tenant's orphan mark into ORPHAN (the name is exactly what this
tenant's naming gives the source the annotations claim, translate.tenancy.is_orphan_of) and UNPROVEN (never touched).
`gc` searches (discovery: the mapping's toHost kinds, or every namespaced kind the host can list and delete), judges
and, when asked, deletes each proven orphan with uid and resourceVersion preconditions. Failures never raise: every
ApiError becomes a line in `Report.errors`, and a precondition that fails leaves the object alone (CHANGED).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from crdsync.gvk import GroupVersionKind
from crdsync.kube.errors import ApiError, Conflict
from crdsync.kube.protocols import Discovery
from crdsync.kube.resource import Resource
from crdsync.spec.model import Direction, Naming, SyncConfig
from crdsync.translate.bookkeeping import (
    ANN_SOURCE_KIND,
    ANN_SOURCE_NAME,
    ANN_SOURCE_NAMESPACE,
    ANN_SOURCE_SIDE,
    LABEL_ORPHANED,
    LABEL_VCLUSTER,
    annotations_of,
    labels_of,
)
from crdsync.translate.names import Tenant
from crdsync.translate.tenancy import is_orphan_of

# Verdicts of one object carrying this tenant's orphan mark.
ORPHAN = "orphan"  # released by this tenant's engine, and its name proves it
UNPROVEN = "unproven"  # the mark is there, the name does not prove it: never touched

# What gc did about one object.
WOULD_DELETE = "wouldDelete"  # dry run
DELETED = "deleted"
ALREADY_GONE = "alreadyGone"
CHANGED = "changed"  # uid/resourceVersion precondition failed: recreated or taken back since it was judged
FAILED = "failed"
LEFT_ALONE = "leftAlone"

_NEEDED_VERBS = frozenset({"list", "delete"})


class HostClient(Discovery, Protocol):
    """What gc needs of the host: crdsync.kube.protocols.Discovery, Writer's delete, and the two reads no other
    caller needs (the group list of raw discovery, and a list with a label selector). KubeClient is one
    (crdsync.commands.gc hands it in); a test can hand in a stand-in."""

    def request(self, method: str, path: str) -> dict[str, Any]: ...

    def resources_in(self, api_version: str) -> tuple[Resource, ...]: ...

    def list(
        self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]: ...

    def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation: str | None = ...,
    ) -> bool: ...


@dataclass(frozen=True)
class Target:
    """One kind to search: how the host serves it and the naming rule its copies were named by."""

    resource: Resource
    naming: Naming = field(default_factory=Naming)

    @property
    def gvk(self) -> GroupVersionKind:
        return self.resource.gvk

    @property
    def namespaced(self) -> bool:
        return self.resource.namespaced


@dataclass(frozen=True)
class ClaimedSource:
    """The source an object's crdsync.io/source-* annotations claim (unverified)."""

    side: str | None
    kind: str | None
    namespace: str | None
    name: str | None

    def __str__(self) -> str:
        if self.name is None:
            return "none"
        where = f"{self.namespace}/{self.name}" if self.namespace is not None else self.name
        return f"{self.side or '?'} {self.kind or '?'} {where}"


@dataclass(frozen=True)
class Finding:
    """One host object carrying this tenant's orphan mark, and whether its name proves the mark."""

    target: Target
    namespace: str | None
    name: str
    uid: str
    resource_version: str
    claimed: ClaimedSource
    verdict: str  # ORPHAN | UNPROVEN

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Outcome:
    finding: Finding
    action: str  # WOULD_DELETE | DELETED | ALREADY_GONE | CHANGED | FAILED | LEFT_ALONE
    error: str = ""


def orphan_selector(vcluster: str) -> str:
    """The label selector of objects carrying `vcluster`'s orphan mark."""
    return f"{LABEL_ORPHANED}=true,{LABEL_VCLUSTER}={vcluster}"


def _claimed(obj: Mapping[str, Any]) -> ClaimedSource:
    ann = annotations_of(obj)
    return ClaimedSource(
        side=ann.get(ANN_SOURCE_SIDE),
        kind=ann.get(ANN_SOURCE_KIND),
        namespace=ann.get(ANN_SOURCE_NAMESPACE),
        name=ann.get(ANN_SOURCE_NAME),
    )


def judge(tenant: Tenant, target: Target, objects: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """The objects of `target`'s kind that carry `tenant`'s orphan mark, each with its verdict, sorted by name.

    Pure. Objects without the mark, or (namespaced kinds) outside the tenant's host namespace, are not findings at
    all: the server-side selector should already have left them out, and they are not this tenant's business. An
    object with the mark is ORPHAN only when `is_orphan_of` proves it from its name; otherwise UNPROVEN.
    """
    findings: list[Finding] = []
    for obj in objects:
        meta, labels = obj.get("metadata"), labels_of(obj)
        if not isinstance(meta, Mapping) or labels.get(LABEL_ORPHANED) != "true":
            continue
        if labels.get(LABEL_VCLUSTER) != tenant.vcluster:
            continue
        name, namespace = meta.get("name"), meta.get("namespace")
        if not isinstance(name, str) or not name:
            continue
        if target.namespaced and namespace != tenant.host_namespace:
            continue
        proven = is_orphan_of(obj, tenant, target.gvk, namespaced=target.namespaced, naming=target.naming)
        uid, rv = meta.get("uid"), meta.get("resourceVersion")
        findings.append(
            Finding(
                target=target,
                namespace=namespace if target.namespaced and isinstance(namespace, str) else None,
                name=name,
                uid=uid if isinstance(uid, str) else "",
                resource_version=rv if isinstance(rv, str) else "",
                claimed=_claimed(obj),
                verdict=ORPHAN if proven else UNPROVEN,
            )
        )
    # All in the tenant's host namespace (namespaced kinds) or in none: the name alone orders them.
    findings.sort(key=lambda f: f.name)
    return findings


def targets_from_config(config: SyncConfig, served: Mapping[GroupVersionKind, Resource | None]) -> list[Target]:
    """One target per toHost rule whose kind the host serves (`served`: discovery's answer per rule kind)."""
    targets = []
    for rule in config.rules:
        if rule.direction is not Direction.TO_HOST:
            continue
        resource = served.get(rule.gvk)
        if resource is not None:
            targets.append(Target(resource, rule.naming))
    return targets


def targets_from_discovery(resources: Iterable[Resource]) -> list[Target]:
    """One target (default naming) per namespaced kind that can be listed and deleted, the first version seen wins."""
    seen: set[tuple[str, str]] = set()
    targets = []
    for resource in resources:
        key = (resource.group, resource.kind)
        if not resource.namespaced or not resource.verbs >= _NEEDED_VERBS or key in seen:
            continue
        seen.add(key)
        targets.append(Target(resource))
    return targets


# -- IO: discovery, list, delete through the HostClient --------------------------------------------------------------


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # nothing wrong, worth knowing (a kind not served)
    errors: list[str] = field(default_factory=list)  # something could not be done: exit 1


def _served_group_versions(client: HostClient) -> list[str]:
    """Every group/version to search, the preferred version of each group (one version per kind is enough)."""
    found = [v for v in client.request("GET", "/api").get("versions") or () if isinstance(v, str)]
    for group in client.request("GET", "/apis").get("groups") or ():
        if not isinstance(group, Mapping):
            continue
        preferred = group.get("preferredVersion")
        versions = [v.get("groupVersion") for v in group.get("versions") or () if isinstance(v, Mapping)]
        chosen = preferred.get("groupVersion") if isinstance(preferred, Mapping) else None
        chosen = chosen if isinstance(chosen, str) else next((v for v in versions if isinstance(v, str)), None)
        if chosen is not None:
            found.append(chosen)
    return found


def discover_targets(client: HostClient, config: SyncConfig | None, report: Report) -> list[Target]:
    if config is not None:
        served: dict[GroupVersionKind, Resource | None] = {}
        for rule in config.rules:
            if rule.direction is not Direction.TO_HOST:
                continue
            try:
                served[rule.gvk] = client.resource_for(rule.gvk)
            except ApiError as exc:
                report.errors.append(f"discovery of {rule.gvk}: {exc}")
                continue
            if served[rule.gvk] is None:
                report.notes.append(f"{rule.gvk} is not served by the host: nothing of it to collect")
        return targets_from_config(config, served)
    try:
        group_versions = _served_group_versions(client)
    except ApiError as exc:
        report.errors.append(f"discovery: {exc}")
        return []
    resources: list[Resource] = []
    for group_version in group_versions:
        try:
            resources.extend(client.resources_in(group_version))
        except ApiError as exc:
            # An aggregated API that is down: its kinds go unsearched, which the exit status must say.
            report.errors.append(f"discovery of {group_version}: {exc}")
    return targets_from_discovery(resources)


def collect(client: HostClient, tenant: Tenant, targets: Sequence[Target], report: Report) -> list[Finding]:
    findings: list[Finding] = []
    selector = orphan_selector(tenant.vcluster)
    for target in targets:
        namespace = tenant.host_namespace if target.namespaced else None
        try:
            items, _ = client.list(target.resource, namespace, label_selector=selector)
        except ApiError as exc:
            report.errors.append(f"list {target.resource}: {exc}")
            continue
        findings.extend(judge(tenant, target, items))
    return findings


def settle(client: HostClient, findings: Sequence[Finding], *, delete: bool, report: Report) -> None:
    """Decide (and with `delete`, do) what happens to each finding; failures become errors, never exceptions."""
    for finding in findings:
        if finding.verdict != ORPHAN:
            report.outcomes.append(Outcome(finding, LEFT_ALONE))
            continue
        if not delete:
            report.outcomes.append(Outcome(finding, WOULD_DELETE))
            continue
        try:
            # Both preconditions: the object we judged, unchanged (the engine may have taken it back meanwhile).
            gone = client.delete(
                finding.target.resource,
                finding.namespace,
                finding.name,
                uid=finding.uid or None,
                resource_version=finding.resource_version or None,
            )
        except Conflict as exc:
            report.outcomes.append(Outcome(finding, CHANGED, str(exc)))
            report.errors.append(f"{finding.target.gvk.kind} {finding.where}: changed since it was listed; left alone")
            continue
        except ApiError as exc:
            report.outcomes.append(Outcome(finding, FAILED, str(exc)))
            report.errors.append(f"delete {finding.target.gvk.kind} {finding.where}: {exc}")
            continue
        report.outcomes.append(Outcome(finding, DELETED if gone else ALREADY_GONE))


def gc(client: HostClient, tenant: Tenant, config: SyncConfig | None, *, delete: bool = False) -> Report:
    """Search, judge and (with `delete`) remove `tenant`'s orphaned host copies. Never raises ApiError."""
    report = Report()
    targets = discover_targets(client, config, report)
    settle(client, collect(client, tenant, targets, report), delete=delete, report=report)
    return report
