"""`crdsync rbac`: print the least-privilege RBAC a mapping needs, for the host and the virtual cluster.

Thin IO around `crdsync.engine.rbac`: loads the mapping files (merged, as `crdsync run` loads them), derives the objects
and prints them as a multi-document YAML stream `kubectl apply -f -` accepts, each document preceded by a comment naming
the cluster it is for (`--cluster` prints one side only, to pipe it into that cluster's kubectl).

`-o values` prints the host side instead as values for the Helm chart (charts/crdsync): the chart cannot run Python, so
its Role and ClusterRole rules come from this output (`rbac.rules`, `rbac.clusterRules`), with the SHA-256 of the
mapping file they were derived from (`rbac.mappingSha256`), which the chart compares with the mapping it deploys so
that rules generated for another mapping fail the install instead of failing at run time with 403s. The Lease grant of
`--leader-elect` is left out: the chart adds it itself, limited to the Lease of the vcluster it is installed for.

Failure modes, all on stderr with exit 1 and never a traceback: mapping errors (located, like `crdsync validate`), a
malformed `--plural`, an invalid namespace or name, a mapping that needs a grant this RBAC refuses (a toHost rule
for a cluster-scoped kind), and `-o values` for the virtual cluster or with more than one mapping file (the chart
deploys one).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from crdsync.engine.rbac import (
    CLUSTER_ANNOTATION,
    DEFAULT_NAME,
    HOST,
    WHY_ANNOTATION,
    RbacError,
    parse_plural,
    rbac_objects,
)
from crdsync.spec.load import load_files
from crdsync.translate.names import is_dns1123_label


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mapping", action="append", required=True, metavar="FILE", help="mapping spec (repeatable)")
    parser.add_argument(
        "--host-namespace", default="default", metavar="NS", help="the tenant's host namespace (default: default)"
    )
    parser.add_argument(
        "--vcluster", metavar="NAME", help="the tenant's name; limits the leader-election grant to Lease crdsync-NAME"
    )
    parser.add_argument(
        "--name", default=DEFAULT_NAME, metavar="N", help=f"ServiceAccount and role name (default {DEFAULT_NAME})"
    )
    parser.add_argument(
        "--plural",
        action="append",
        default=[],
        metavar="KIND.GROUP=PLURAL",
        help="resource name of a kind whose plural is not the regular English one (repeatable)",
    )
    parser.add_argument(
        "--no-leader-elect", action="store_true", help="leave out the Lease grant (crdsync run without --leader-elect)"
    )
    parser.add_argument(
        "--cluster", choices=("host", "virtual", "all"), default="all", help="print the objects for one cluster only"
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("yaml", "values"),
        default="yaml",
        help="yaml: RBAC objects for kubectl apply; values: the host rules as values for charts/crdsync",
    )


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--host-namespace", args.host_namespace), ("--vcluster", args.vcluster)):
        if value is not None and not is_dns1123_label(value):
            print(f"crdsync rbac: {flag} {value!r} must be a DNS-1123 label", file=sys.stderr)
            return 1
    if not is_dns1123_label(args.name):
        # A ServiceAccount name; the ClusterRole adds ":<namespace>", which RBAC names allow.
        print(f"crdsync rbac: --name {args.name!r} must be a DNS-1123 label", file=sys.stderr)
        return 1
    plurals: dict[tuple[str, str], str] = {}
    for text in args.plural:
        try:
            key, plural = parse_plural(text)
        except ValueError as exc:
            print(f"crdsync rbac: --plural {exc}", file=sys.stderr)
            return 1
        plurals[key] = plural
    if args.output == "values":
        if args.cluster == "virtual":
            print("crdsync rbac: -o values is the host side only (the chart deploys into the host)", file=sys.stderr)
            return 1
        if len(args.mapping) != 1:
            print("crdsync rbac: -o values takes exactly one --mapping (the chart deploys one file)", file=sys.stderr)
            return 1
    loaded = load_files(args.mapping)
    if loaded.config is None:
        for error in sorted(loaded.errors):
            print(str(error), file=sys.stderr)
        return 1
    try:
        objects = rbac_objects(
            loaded.config,
            host_namespace=args.host_namespace,
            vcluster=args.vcluster,
            name=args.name,
            plurals=plurals,
            # The chart grants the Lease itself, by the name of the vcluster it is installed for.
            leader_elect=not args.no_leader_elect and args.output != "values",
        )
    except RbacError as exc:
        print(f"crdsync rbac: {exc}", file=sys.stderr)
        return 1
    if args.output == "values":
        path = args.mapping[0]
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as exc:  # loaded a moment ago; only a file replaced in between gets here
            print(f"crdsync rbac: {path}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        write_values(objects, digest, sys.stdout, path, args.plural)
        return 0
    if args.cluster != "all":
        objects = [o for o in objects if o["metadata"]["annotations"][CLUSTER_ANNOTATION] == args.cluster]
    header = f"RBAC for crdsync with mapping {loaded.config.name} ({', '.join(loaded.config.sources)})"
    write_yaml(objects, sys.stdout, header)
    return 0


def write_yaml(objects: Sequence[dict[str, Any]], out: TextIO, header: str) -> None:
    """A multi-document stream; each document starts with a comment naming its cluster."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 2**31 - 1  # never fold the why texts
    yaml.indent(mapping=2, sequence=4, offset=2)
    out.write(f"# {header}\n")
    for obj in objects:
        meta = obj["metadata"]
        annotations = dict(meta["annotations"])
        # Multi-line reasons print as a block, one engine action per line.
        annotations[WHY_ANNOTATION] = LiteralScalarString(annotations[WHY_ANNOTATION])
        shown = {**obj, "metadata": {**meta, "annotations": annotations}}
        buffer = io.StringIO()
        yaml.dump(shown, buffer)
        where = f"{meta['namespace']}/" if "namespace" in meta else ""
        out.write("---\n")
        out.write(f"# {annotations[CLUSTER_ANNOTATION]} cluster: {obj['kind']} {where}{meta['name']}\n")
        out.write(buffer.getvalue())


def write_values(
    objects: Sequence[dict[str, Any]], mapping_sha256: str, out: TextIO, mapping: str, plurals: Sequence[str]
) -> None:
    """The host Role's and ClusterRole's rules as a values file for charts/crdsync, each role's reasons as comments."""
    roles = {o["kind"]: o for o in objects if o["metadata"]["annotations"][CLUSTER_ANNOTATION] == HOST}
    yaml = YAML(typ="rt")
    yaml.width = 2**31 - 1
    yaml.indent(mapping=2, sequence=4, offset=2)
    command = " ".join(["crdsync rbac --mapping", mapping, *(f"--plural {p}" for p in plurals), "--cluster host"])
    out.write(f"# Generated by `{command} -o values`:\n")
    out.write("# the host RBAC of this mapping, for charts/crdsync. The chart adds the leader-election Lease grant\n")
    out.write("# itself, limited to the Lease of the vcluster it is installed for.\n")
    out.write("rbac:\n")
    out.write("  # false: the platform grants these rules some other way; the chart then renders no Role or binding.\n")
    out.write("  create: true\n")
    out.write("  # SHA-256 of the mapping file these rules were derived from: the chart refuses to deploy them with\n")
    out.write('  # another mapping ("" skips the check, for hand-written rules).\n')
    out.write(f"  mappingSha256: {mapping_sha256}\n")
    for key, kind in (("rules", "Role"), ("clusterRules", "ClusterRole")):
        role = roles.get(kind)
        if role is None:
            out.write(f"  {key}: []\n")
            continue
        out.writelines(
            f"  # {line}".rstrip() + "\n" for line in role["metadata"]["annotations"][WHY_ANNOTATION].splitlines()
        )
        rules = CommentedSeq()
        for rule in role["rules"]:
            shown = CommentedMap()
            for field, names in rule.items():
                flow = CommentedSeq(names)
                flow.fa.set_flow_style()  # one line per field: a rule reads as a row
                shown[field] = flow
            rules.append(shown)
        buffer = io.StringIO()
        yaml.dump({key: rules}, buffer)
        out.writelines(f"  {line}" for line in buffer.getvalue().splitlines(keepends=True))
