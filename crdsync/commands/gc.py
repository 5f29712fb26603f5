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

The search, the judging and the deletes are crdsync.engine.gc's; this module parses flags and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from crdsync.engine.gc import (
    ALREADY_GONE,
    CHANGED,
    DELETED,
    FAILED,
    LEFT_ALONE,
    WOULD_DELETE,
    Outcome,
    Report,
    gc,
)
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ConfigError
from crdsync.spec.load import load_files
from crdsync.spec.model import SyncConfig
from crdsync.translate.names import Tenant, is_dns1123_label

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
