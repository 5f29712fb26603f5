"""`crdsync gc`: list, and with --delete remove, the host copies a tenant's Orphan rules released and left behind.

A toHost rule with DeletionPolicy Orphan releases a host copy instead of deleting it: the engine removes the
`crdsync.io/managed-by` and `crdsync.io/role` labels, keeps `crdsync.io/vcluster` and the `crdsync.io/source-*`
annotations, and adds `crdsync.io/orphaned: "true"`. Nothing manages such a copy any more, so without this command it
stays forever (e.g. after the tenant deselected its source or the tenant was removed).

Labels prove nothing: an operator can copy a tenant's labels onto objects it writes (cert-manager's secretTemplate),
so a tenant can make any object carry the orphan mark. An object is therefore collected only when its *name* proves
the claim: it stands in the tenant's host namespace (cluster-scoped kinds: anywhere) exactly at the name this tenant's
naming rule gives the source its annotations claim (`translate.tenancy.is_orphan_of`; forging that needs a second
preimage of the name hash). Everything else carrying the mark is listed as "not provably this tenant's; left alone"
and is never deleted.

Which kinds are searched: with --mapping, the kinds of its toHost rules, each judged by its rule's naming; without,
every namespaced kind the host's discovery lists as list- and delete-able, judged by the default naming (copies of a
rule with its own naming then show as not provable: pass the mapping). Dry run by default; --delete deletes the
proven copies with uid and resourceVersion preconditions, so an object recreated or taken back by the engine between
the list and the delete is left alone.

Output: one line per object (kind, namespace/name, claimed source, verdict) and a summary on stdout, problems on
stderr; `-o json` prints one JSON document instead. Exit status: 0 when nothing was found or everything requested was
done, 1 when a discovery, list or delete failed (everything else was still done), 2 on bad arguments (invalid names,
an invalid mapping, an unusable kubeconfig) before anything is contacted. Never a traceback: every cluster failure is
an ApiError, reported and counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ApiError, ConfigError, Conflict
from crdsync.kube.resource import Resource
from crdsync.spec.load import load_files
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
from crdsync.translate.names import Tenant, is_dns1123_label
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


class HostClient(Protocol):
    """What gc needs of crdsync.kube.client.KubeClient (a Protocol so tests can hand in a stand-in)."""

    def request(self, method: str, path: str) -> dict[str, Any]: ...

    def resource_for(self, gvk: GroupVersionKind) -> Resource | None: ...

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
        labels = labels_of(obj)
        if labels.get(LABEL_ORPHANED) != "true" or labels.get(LABEL_VCLUSTER) != tenant.vcluster:
            continue
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
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
    findings.sort(key=lambda f: (f.namespace or "", f.name))
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


# -- IO ---------------------------------------------------------------------------------------------------------------


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


# -- output -----------------------------------------------------------------------------------------------------------

_SAYS = {
    WOULD_DELETE: "orphaned by this tenant; would be deleted (dry run: pass --delete)",
    DELETED: "orphaned by this tenant; deleted",
    ALREADY_GONE: "orphaned by this tenant; already gone",
    CHANGED: "orphaned by this tenant, but changed since it was listed; left alone (run gc again)",
    FAILED: "orphaned by this tenant; delete failed",
    LEFT_ALONE: "not provably this tenant's; left alone",
}


def _line(outcome: Outcome) -> str:
    finding = outcome.finding
    says = _SAYS[outcome.action] + (f": {outcome.error}" if outcome.action == FAILED else "")
    kind = f"{finding.target.gvk.kind}.{finding.target.gvk.api_version}"
    return f"{kind} {finding.where}  source: {finding.claimed}  {says}"


def summary(report: Report, tenant: Tenant, *, delete: bool) -> str:
    actions = [o.action for o in report.outcomes]
    proven = len(actions) - actions.count(LEFT_ALONE)
    done = f"{actions.count(DELETED)} deleted" if delete else f"{actions.count(WOULD_DELETE)} would be deleted"
    errors = len(report.errors)
    return (
        f"{tenant.vcluster} in {tenant.host_namespace}: {proven} orphaned cop{'y' if proven == 1 else 'ies'} "
        f"({done}), {actions.count(LEFT_ALONE)} not provably this tenant's (left alone), "
        f"{errors} error{'' if errors == 1 else 's'}"
    )


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    finding = outcome.finding
    claimed = finding.claimed
    return {
        "apiVersion": finding.target.gvk.api_version,
        "kind": finding.target.gvk.kind,
        "namespace": finding.namespace,
        "name": finding.name,
        "uid": finding.uid,
        "claimedSource": None
        if claimed.name is None
        else {"side": claimed.side, "kind": claimed.kind, "namespace": claimed.namespace, "name": claimed.name},
        "verdict": finding.verdict,
        "action": outcome.action,
        "error": outcome.error or None,
    }


# -- command ----------------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vcluster", required=True, metavar="V", help="the tenant whose orphaned copies to collect")
    parser.add_argument("--host-namespace", required=True, metavar="NS", help="the tenant's namespace in the host")
    parser.add_argument(
        "--mapping",
        action="append",
        metavar="FILE",
        help="the tenant's mapping (repeatable): search its toHost kinds with their naming; "
        "default: every namespaced kind, default naming",
    )
    parser.add_argument("--host-kubeconfig", metavar="K", help="default: $KUBECONFIG, ~/.kube/config or in-cluster")
    parser.add_argument("--host-context", metavar="C")
    parser.add_argument(
        "--delete", action="store_true", help="delete the proven orphans (default: dry run, only list them)"
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="text (default) or json")


def _fail_usage(message: str) -> int:
    print(f"crdsync gc: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    for value, flag in ((args.vcluster, "--vcluster"), (args.host_namespace, "--host-namespace")):
        if not is_dns1123_label(value):
            return _fail_usage(f"{flag} {value!r} must be a DNS-1123 label")
    config: SyncConfig | None = None
    if args.mapping:
        result = load_files(list(args.mapping))
        for spec_error in sorted(result.errors):
            print(str(spec_error), file=sys.stderr)
        if result.config is None:
            return _fail_usage("the mapping is invalid; nothing was searched")
        config = result.config
    try:
        client = KubeClient.from_kubeconfig(args.host_kubeconfig, args.host_context)
    except ConfigError as exc:
        return _fail_usage(f"cannot load the host kubeconfig: {exc}")
    tenant = Tenant(vcluster=args.vcluster, host_namespace=args.host_namespace)
    try:
        report = gc(client, tenant, config, delete=args.delete)
    finally:
        client.close()
    text = summary(report, tenant, delete=args.delete)
    if args.output == "json":
        document = {
            "vcluster": tenant.vcluster,
            "hostNamespace": tenant.host_namespace,
            "delete": bool(args.delete),
            "objects": [_outcome_json(o) for o in report.outcomes],
            "notes": report.notes,
            "errors": report.errors,
            "summary": text,
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for note in report.notes:
            print(f"crdsync gc: {note}", file=sys.stderr)
        for error in report.errors:
            print(f"crdsync gc: error: {error}", file=sys.stderr)
        for outcome in report.outcomes:
            print(_line(outcome))
        print(text)
    return 1 if report.errors else 0
