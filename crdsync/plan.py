"""`crdsync plan`: render offline what the other side would receive for some objects, and what would follow them.

Reads mapping files and a multi-document YAML (or JSON) stream of objects (`-f -` reads stdin; `kind: List` documents
are expanded), translates each object with the pure translation core exactly as `crdsync run` would for the given
vcluster and host namespace, and prints the results in a form `kubectl apply -f` accepts: multi-document YAML with a
comment per document saying where it goes (`-o yaml`, default), or a v1 List (`-o json`).

--from virtual (default): each object is matched against the toHost rules; the host copy is printed, followed by the
objects its references make follow: exported objects (follow: toHost) are printed in full when they are in the input,
otherwise as a stub, and imported ones (follow: fromHost) as the stub of the virtual copy that would appear, naming its
host source in bookkeeping. Every follower carries the annotation `crdsync.io/plan: follower`; stubs also carry
`crdsync.io/plan-stub` saying what the real object would hold.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ruamel.yaml import YAML

from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_files
from crdsync.spec.model import Direction, FollowDirection, Location, Rule, SyncConfig, SyncMode
from crdsync.spec.source import parse_yaml
from crdsync.translate.bookkeeping import PREFIX, carries_bookkeeping
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant, is_dns1123_label
from crdsync.translate.objects import FollowRef, followers, to_host, to_virtual
from crdsync.translate.selectors import selects_host, selects_virtual

ANN_PLAN = PREFIX + "plan"  # "follower" on every object printed because a reference names it
ANN_PLAN_STUB = PREFIX + "plan-stub"  # on stubs: what the real object would hold


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


@dataclass(frozen=True)
class _Input:
    obj: dict[str, Any]
    where: Location
    gvk: GroupVersionKind

    @property
    def namespace(self) -> str | None:
        ns = self.obj["metadata"].get("namespace")
        return ns if isinstance(ns, str) and ns else None

    @property
    def name(self) -> str:
        name: str = self.obj["metadata"]["name"]
        return name

    def describe(self) -> str:
        ns = self.namespace
        return f"{self.gvk.kind} {ns}/{self.name}" if ns else f"{self.gvk.kind} {self.name}"


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


def read_objects(filename: str) -> tuple[list[_Input], list[str]]:
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
    out: list[_Input] = []
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
            out.append(_Input(item, where, GroupVersionKind.from_api_version(item["apiVersion"], item["kind"])))
    return out, errors


# --- planning --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Output:
    obj: dict[str, Any]
    comment: str


@dataclass
class _Plan:
    outputs: list[_Output] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    translated: int = 0
    followers: int = 0


def _rule(config: SyncConfig, direction: Direction, gvk: GroupVersionKind) -> Rule | None:
    """The rule for the kind in `direction`, preferring the exact version (a CRD serves several)."""
    candidates = [r for r in config.rules_for_kind(gvk.group, gvk.kind) if r.direction is direction]
    if not candidates:
        return None
    return min(candidates, key=lambda r: r.gvk != gvk)


def _rule_where(rule: Rule) -> str:
    return f"{rule.direction.value} rule for {rule.gvk} at {rule.location}"


def _with_namespace(item: _Input, rule: Rule, default_namespace: str) -> _Input:
    if not rule.namespaced or item.namespace is not None:
        return item
    obj = {**item.obj, "metadata": {**item.obj["metadata"], "namespace": default_namespace}}
    return _Input(obj, item.where, item.gvk)


def _annotate(obj: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **extra}
    return {**obj, "metadata": meta}


def _stub(gvk: GroupVersionKind, namespace: str | None, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": gvk.api_version, "kind": gvk.kind, "metadata": meta}


def _ns_name(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


class _Planner:
    def __init__(self, config: SyncConfig, tenant: Tenant, default_namespace: str) -> None:
        self.config = config
        self.tenant = tenant
        self.default_namespace = default_namespace
        self.plan = _Plan()

    def _error(self, item: _Input, exc: TranslationError) -> None:
        self.plan.errors.append(f"{item.where}: {item.describe()}: {exc}")

    # --from virtual

    def from_virtual(self, items: Sequence[_Input]) -> _Plan:
        namespaces = {
            i.name: dict(i.obj["metadata"].get("labels") or {})
            for i in items
            if (i.gvk.group, i.gvk.kind) == ("", "Namespace")
        }
        # Pass 1: what every selected object references, so referenced objects given in the input print in full.
        follows: dict[int, tuple[FollowRef, ...]] = {}
        failed: set[int] = set()  # selected, but their references cannot be read: reported once, in pass 1
        by_identity = {(i.gvk.group, i.gvk.kind, i.namespace, i.name): i for i in items}
        for index, raw in enumerate(items):
            rule = _rule(self.config, Direction.TO_HOST, raw.gvk)
            if rule is None:
                continue
            item = _with_namespace(raw, rule, self.default_namespace)
            if rule.mode is SyncMode.REFERENCED:
                continue
            if not selects_virtual(rule, item.obj, namespaces.get(item.namespace or "")):
                continue
            try:
                follows[index] = followers(self.config, rule, item.obj, self.tenant)
            except TranslationError as exc:
                failed.add(index)
                self._error(item, exc)
        referenced = {
            (f.gvk.group, f.gvk.kind, f.virtual_namespace, f.virtual_name)
            for refs in follows.values()
            for f in refs
            if f.direction is FollowDirection.TO_HOST
        }
        done: set[FollowRef] = set()
        # Pass 2: in input order, each object followed by its followers.
        for index, raw in enumerate(items):
            rule = _rule(self.config, Direction.TO_HOST, raw.gvk)
            if rule is None:
                if (raw.gvk.group, raw.gvk.kind) == ("", "Namespace"):
                    self.plan.notes.append(
                        f"{raw.where}: {raw.describe()}: used as namespace context (no rule syncs it)"
                    )
                else:
                    self.plan.unmatched.append(f"{raw.where}: {raw.describe()}: no toHost rule for {raw.gvk}")
                continue
            item = _with_namespace(raw, rule, self.default_namespace)
            if rule.mode is SyncMode.REFERENCED:
                key = (raw.gvk.group, raw.gvk.kind, item.namespace, item.name)
                if key not in referenced:
                    self.plan.unmatched.append(
                        f"{raw.where}: {raw.describe()}: the {_rule_where(rule)} is mode referenced, and no object in "
                        "the input references it with follow: toHost"
                    )
                continue  # printed (in full) after the object that references it
            if index in failed:
                continue
            if index not in follows:
                self.plan.unmatched.append(
                    f"{raw.where}: {raw.describe()}: {self._why_not_virtual(rule, item, namespaces)}"
                )
                continue
            try:
                host = to_host(self.config, rule, item.obj, self.tenant)
            except TranslationError as exc:
                self._error(item, exc)
                continue
            self.plan.translated += 1
            comment = (
                f"host <- virtual {item.describe()} "
                f"({host['kind']} {_ns_name(host['metadata'].get('namespace'), host['metadata']['name'])}; "
                f"{_rule_where(rule)})"
            )
            self.plan.outputs.append(_Output(host, comment))
            for ref in follows[index]:
                if ref not in done:
                    done.add(ref)
                    self._follower(item, ref, by_identity)
        return self.plan

    def _why_not_virtual(self, rule: Rule, item: _Input, namespaces: dict[str, dict[str, str]]) -> str:
        if carries_bookkeeping(item.obj):
            return "it carries crdsync bookkeeping (it is a copy crdsync made), so it is never synced back"
        if rule.namespaced and rule.namespaces and item.namespace not in rule.namespaces:
            return f"namespace {item.namespace} is not among the namespaces of the {_rule_where(rule)}"
        if rule.namespaced and rule.namespace_selector is not None:
            if item.namespace not in namespaces:
                return (
                    f"the {_rule_where(rule)} has a namespaceSelector and the input has no Namespace "
                    f"{item.namespace} to read labels from"
                )
            return (
                f"the labels of namespace {item.namespace} do not match the namespaceSelector of the "
                f"{_rule_where(rule)}"
            )
        return f"its labels do not match the selector of the {_rule_where(rule)}"

    def _follower(self, referrer: _Input, ref: FollowRef, by_identity: dict[tuple[Any, ...], _Input]) -> None:
        try:
            obj, comment = self._render_follower(referrer, ref, by_identity)
        except TranslationError as exc:
            self._error(referrer, exc)
            return
        self.plan.followers += 1
        self.plan.outputs.append(_Output(obj, comment))

    def _render_follower(
        self, referrer: _Input, ref: FollowRef, by_identity: dict[tuple[Any, ...], _Input]
    ) -> tuple[dict[str, Any], str]:
        because = f"while {referrer.describe()} references it"
        virtual = f"{ref.gvk.kind} {_ns_name(ref.virtual_namespace, ref.virtual_name)}"
        host = f"{ref.gvk.kind} {_ns_name(ref.host_namespace, ref.host_name)}"
        if ref.direction is FollowDirection.TO_HOST:
            rule = _rule(self.config, Direction.TO_HOST, ref.gvk)
            given = by_identity.get((ref.gvk.group, ref.gvk.kind, ref.virtual_namespace, ref.virtual_name))
            if rule is not None and given is not None:
                obj = to_host(self.config, rule, _with_namespace(given, rule, self.default_namespace).obj, self.tenant)
                return _annotate(obj, {ANN_PLAN: "follower"}), f"host <- virtual {virtual} (exported {because})"
            if rule is not None:
                obj = to_host(self.config, rule, _stub(ref.gvk, ref.virtual_namespace, ref.virtual_name), self.tenant)
            else:
                obj = _stub(ref.gvk, ref.host_namespace, ref.host_name)
            stub = f"the content of virtual {virtual}, which is not in the input"
            return (
                _annotate(obj, {ANN_PLAN: "follower", ANN_PLAN_STUB: stub}),
                f"host <- virtual {virtual} (exported {because}; stub: {stub})",
            )
        rule = _rule(self.config, Direction.FROM_HOST, ref.gvk)
        if rule is not None and rule.mode is SyncMode.REFERENCED:
            target = (ref.virtual_namespace, ref.virtual_name)
            obj = to_virtual(self.config, rule, _stub(ref.gvk, ref.host_namespace, ref.host_name), self.tenant, target)
        else:
            obj = _stub(ref.gvk, ref.virtual_namespace, ref.virtual_name)
        stub = f"the content of host {host} once it exists"
        return (
            _annotate(obj, {ANN_PLAN: "follower", ANN_PLAN_STUB: stub}),
            f"virtual <- host {host} (imported {because}; stub: {stub})",
        )

    # --from host

    def from_host(self, items: Sequence[_Input]) -> _Plan:
        for raw in items:
            rule = _rule(self.config, Direction.FROM_HOST, raw.gvk)
            if rule is None:
                self.plan.unmatched.append(f"{raw.where}: {raw.describe()}: no fromHost rule for {raw.gvk}")
                continue
            item = _with_namespace(raw, rule, self.default_namespace)
            if rule.mode is SyncMode.REFERENCED:
                self.plan.unmatched.append(
                    f"{raw.where}: {raw.describe()}: the {_rule_where(rule)} is mode referenced: it is imported only "
                    "while a synced virtual object references it (plan that object with --from virtual)"
                )
                continue
            if not selects_host(rule, item.obj):
                self.plan.unmatched.append(f"{raw.where}: {raw.describe()}: {self._why_not_host(rule, item)}")
                continue
            try:
                obj = to_virtual(self.config, rule, item.obj, self.tenant)
            except TranslationError as exc:
                self._error(item, exc)
                continue
            self.plan.translated += 1
            meta = obj["metadata"]
            comment = (
                f"virtual <- host {item.describe()} ({obj['kind']} {_ns_name(meta.get('namespace'), meta['name'])}; "
                f"{_rule_where(rule)})"
            )
            self.plan.outputs.append(_Output(obj, comment))
        return self.plan

    def _why_not_host(self, rule: Rule, item: _Input) -> str:
        if carries_bookkeeping(item.obj):
            return "it carries crdsync bookkeeping (it is a copy crdsync made), so it is never synced back"
        if rule.namespaced and rule.host.namespaces and item.namespace not in rule.host.namespaces:
            return f"namespace {item.namespace} is not among host.namespaces of the {_rule_where(rule)}"
        if rule.host.name_patterns and selects_host(
            Rule(rule.direction, rule.gvk, scope=rule.scope, selector=rule.selector), item.obj
        ):
            return f"its name matches none of host.names of the {_rule_where(rule)}"
        return f"its labels do not match the selector of the {_rule_where(rule)}"


# --- output ----------------------------------------------------------------------------------------------------------


def _yaml_dumper() -> YAML:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 2**31 - 1  # never fold long strings (base64 data, PEM) across lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    # YAML 1.1 quoting rules: kubectl reads YAML 1.1, where unquoted yes/no/on/off are booleans.
    yaml.version = (1, 1)
    return yaml


def _write_yaml(outputs: Sequence[_Output], out: TextIO, header: str) -> None:
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


def _write_json(outputs: Sequence[_Output], out: TextIO) -> None:
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
    planner = _Planner(loaded.config, tenant, args.namespace)
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
