"""`crdsync plan`: render offline what the other side would receive for some objects, and what would follow them.

Reads mapping files and a multi-document YAML (or JSON) stream of objects (`-f -` reads stdin; `kind: List` documents
are expanded), translates each object with the pure translation core exactly as `crdsync run` would for the given
vcluster and host namespace, and prints the results in a form `kubectl apply -f` accepts: multi-document YAML with a
comment per document saying where it goes (`-o yaml`, default), or a v1 List (`-o json`).

--from virtual (default): each object is matched against the toHost rules; the host copy is printed, followed by the
objects its references make follow: exported objects (follow: toHost) are printed in full when they are in the input,
otherwise as a stub, and imported ones (follow: fromHost) as the stub of the virtual copy that would appear, naming its
host source in bookkeeping. Every follower carries the annotation `crdsync.io/plan: follower`; stubs also carry
`crdsync.io/plan-stub` saying what the real object would hold. The planning is crdsync.translate.plan's; this
module reads the input and prints.
--from host: each object is matched against the fromHost rules (mode all) and its virtual copy is printed.

A host copy records the input object's metadata.generation, when it has one, in `crdsync.io/source-generation`, as
`crdsync run` does for the observedGeneration the status flowing back reports.

Namespaced objects without a namespace are taken to be in `--namespace` (default "default", like kubectl). Rules with
a namespaceSelector see the labels of Namespace objects given in the input (a Namespace that no rule syncs is only
used as such context); a namespace not given has no labels.

Failure modes, all reported on stderr with a location (`objects.yaml:12:1: Certificate apps/web: ...`) and never as a
traceback: mapping errors (printed like `crdsync validate`), unreadable input, YAML errors, documents that are not
Kubernetes objects, objects no rule matches (each named, never dropped silently), and translation errors (also naming
the spec element that failed). Exit status: 0 when every object was translated, 1 otherwise (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ruamel.yaml import YAML

from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_files
from crdsync.spec.source import parse_yaml
from crdsync.translate.names import Tenant, is_dns1123_label
from crdsync.translate.plan import PlanInput, Planner, PlanOutput


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mapping", action="append", required=True, metavar="FILE", help="mapping file (repeatable; merged)"
    )
    parser.add_argument("--host-namespace", required=True, metavar="NS", help="the tenant's namespace on the host")
    parser.add_argument("--vcluster", required=True, metavar="NAME", help="the virtual cluster's name")
    parser.add_argument(
        "-f", "--filename", required=True, metavar="OBJECTS", help="multi-document YAML/JSON of objects; - for stdin"
    )
    parser.add_argument(
        "--from",
        dest="source",
        choices=("virtual", "host"),
        default="virtual",
        help="which side the objects are on (default: virtual)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default="default",
        metavar="NS",
        help="namespace of namespaced objects that name none (default: default)",
    )
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="output format")


# --- input -----------------------------------------------------------------------------------------------------------


def _read_text(filename: str) -> tuple[str, str]:
    """(display name, text); raises OSError / UnicodeDecodeError with the file named by the caller."""
    if filename == "-":
        return "<stdin>", sys.stdin.read()
    return filename, Path(filename).read_bytes().decode("utf-8-sig")


def _object_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"expected a Kubernetes object (a map), found a {type(data).__name__}"
    if not isinstance(data.get("apiVersion"), str) or not data["apiVersion"]:
        return "object has no apiVersion"
    if not isinstance(data.get("kind"), str) or not data["kind"]:
        return "object has no kind"
    meta = data.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        return f"{data['kind']} has no metadata.name"
    return None


def read_objects(filename: str) -> tuple[list[PlanInput], list[str]]:
    """The objects in `filename` (List documents expanded) and located problems; never raises."""
    try:
        name, text = _read_text(filename)
    except OSError as exc:
        return [], [f"{filename}: cannot read objects: {exc.strerror or exc}"]
    except UnicodeDecodeError as exc:
        return [], [f"{filename}: not valid UTF-8 at byte offset {exc.start}"]
    documents, problems = parse_yaml(text, name)
    if not documents:
        if problems and any(p.path or not p.message.startswith("empty") for p in problems):
            return [], [str(p.to_error()) for p in problems]
        return [], [f"{name}:1:1: no objects in the input"]
    out: list[PlanInput] = []
    errors = [str(p.to_error()) for p in problems]
    for document in documents:
        if document.problems:
            errors.extend(str(p.to_error()) for p in document.problems)
            continue
        data = document.data
        items: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
        is_list = isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"].endswith("List")
        if is_list and isinstance(data.get("items"), list):
            items = [(item, ("items", i)) for i, item in enumerate(data["items"])]
        for item, path in items:
            where = document.positions.value(path)
            problem = _object_problem(item)
            if problem is not None:
                errors.append(f"{where}: {problem}")
                continue
            out.append(PlanInput(item, where, GroupVersionKind.from_api_version(item["apiVersion"], item["kind"])))
    return out, errors


# --- output ----------------------------------------------------------------------------------------------------------


def _yaml_dumper() -> YAML:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 2**31 - 1  # never fold long strings (base64 data, PEM) across lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    # YAML 1.1 quoting rules: kubectl reads YAML 1.1, where unquoted yes/no/on/off are booleans.
    yaml.version = (1, 1)
    return yaml


def _write_yaml(outputs: Sequence[PlanOutput], out: TextIO, header: str) -> None:
    yaml = _yaml_dumper()
    out.write(f"# {header}\n")
    for output in outputs:
        buffer = io.StringIO()
        yaml.dump(output.obj, buffer)
        body = buffer.getvalue()
        body = body.split("---\n", 1)[1] if body.startswith("%YAML") else body  # the 1.1 directive is for quoting only
        out.write("---\n")
        out.write(f"# {output.comment}\n")
        out.write(body)


def _write_json(outputs: Sequence[PlanOutput], out: TextIO) -> None:
    json.dump({"apiVersion": "v1", "kind": "List", "items": [o.obj for o in outputs]}, out, indent=2)
    out.write("\n")


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--vcluster", args.vcluster), ("--host-namespace", args.host_namespace)):
        if not is_dns1123_label(value):
            print(f"crdsync plan: {flag} {value!r} is not a valid DNS-1123 label", file=sys.stderr)
            return 2
    loaded = load_files(args.mapping)
    if loaded.config is None:
        for error in loaded.errors:
            print(error, file=sys.stderr)
        noun = "error" if len(loaded.errors) == 1 else "errors"
        print(f"crdsync plan: invalid mapping: {len(loaded.errors)} {noun}", file=sys.stderr)
        return 1
    items, input_errors = read_objects(args.filename)
    tenant = Tenant(args.vcluster, args.host_namespace)
    planner = Planner(loaded.config, tenant, args.namespace)
    plan = planner.from_host(items) if args.source == "host" else planner.from_virtual(items)
    plan.errors[:0] = input_errors

    if args.output == "json":
        _write_json(plan.outputs, sys.stdout)
    else:
        header = f"crdsync plan: vcluster {tenant.vcluster}, host namespace {tenant.host_namespace}, from {args.source}"
        _write_yaml(plan.outputs, sys.stdout, header)
    sys.stdout.flush()
    for line in plan.notes:
        print(f"note: {line}", file=sys.stderr)
    for line in plan.unmatched:
        print(f"unmatched: {line}", file=sys.stderr)
    for line in plan.errors:
        print(f"error: {line}", file=sys.stderr)
    print(
        f"crdsync plan: {plan.translated} translated, {plan.followers} followers, {len(plan.unmatched)} unmatched, "
        f"{len(plan.errors)} errors",
        file=sys.stderr,
    )
    return 1 if plan.unmatched or plan.errors else 0
