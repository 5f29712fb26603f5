"""Convert vcluster generic-sync configurations into crdsync mapping rules, reporting what does not carry over.

Pure: plain data in (`inputs.Source`), rules and located findings out. What each vcluster construct meant is taken
from its source (vcluster v0.14-v0.27 pkg/controllers/generic, pkg/patches; the plugin's pkg/syncer, pkg/patches):

- export (vcluster) / fromVirtualCluster (plugin) -> a toHost rule, mode all. vcluster always copied the host copy's
  whole status back (an implicit reverse patch) - crdsync's default; the plugin only when a reverse patch said so.
  `selector.labelSelector` -> selector.matchLabels (the plugin *excluded* matching objects - its objectMatches is
  negated - so one label becomes a NotIn requirement and more cannot be expressed).
- forward patches: remove, add and replace -> the same crdsync ops (vcluster's semantics); rewriteName -> a reference
  (namePath/namespacePath relative to each item, a `regex` of literal text as a `format`) of the kind it names (see
  `_reference_kind`), `sync.secret`/`sync.configmap` -> follow toHost plus a mode-referenced Secret/ConfigMap rule;
  copyFromObject copied from the *existing host copy*, which crdsync's copy does not do (reported).
- reverse patches: copyFromObject into status -> status (whole status is the default) or a toVirtual copy; set/remove
  under status -> toVirtual patches. vcluster also left every reverse-patched path out of the host copy (unless
  `ignore`, whose meaning the plugin inverted) -> a toHost remove. Outside status, an unconditional copy of a host
  field into the same field (copyFromObject, fromPath absent or equal) that vcluster left out of the host copy is a
  host-owned field -> reverse.paths (crdsync never sends it, so no remove), when crdsync's checks accept the path (a
  plain chain under spec or one annotation, no reference or toHost patch touching it); other reverse writes outside
  status are reported with the reason.
- replaceOnConflict: true on an export -> the toHost rule's replaceOnConflict (delete and recreate a copy the host
  refuses with 422); on an import (vcluster recreated the virtual copy) it is reported.
- import -> a fromHost rule, mode all. vcluster imported only in multi-namespace mode, from the host namespaces it
  created for virtual namespaces; crdsync has no such namespaces, so a namespaced import is written commented out
  for a human to choose host.namespaces (cluster-scoped ones convert as they are).
- plugin syncBack (objects the host operator creates, found by the rewritten name at `selectors[].name.rewrittenPath`)
  -> a follow: fromHost reference on the parent rule and a fromHost mode-referenced rule; its rewriteName patches
  become references mapped back to virtual names.
- conditions -> `when` with the same equal / notEqual / empty / path / subPath (crdsync has vcluster's semantics); a
  non-string operand never matched in vcluster (its YAML text ends in a newline): equal never holds, notEqual always.
- rewriteLabelKey / rewriteLabelSelector (a string map) / rewriteLabelExpressionsSelector -> rewriteLabelKey /
  rewriteLabelKeys / rewriteLabelSelector with keyStyle vclusterLegacy (v0.14-v0.19 configs, the plugin) or vcluster
  (v0.20-v0.27 values, noted), when converting with vcluster naming.
- hooks (vCluster Pro only), regex beyond literal text, and anything vcluster itself rejected -> findings.

Failure modes: none raised; malformed configs become findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crdsync.convert.emit import Commented, scalar, unwrap
from crdsync.convert.inputs import Source
from crdsync.convert.report import Finding, Severity
from crdsync.spec.checks.path_fields import reverse_overlaps as _reverse_overlaps
from crdsync.spec.checks.path_fields import reverse_path_problem as _reverse_path_problem
from crdsync.spec.checks.references import format_problem
from crdsync.spec.paths import path_error
from crdsync.spec.source import FieldPath

_API_VERSION = re.compile(
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?v[0-9]+((alpha|beta)[0-9]+)?$"
)
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


class _InvalidEntry(Exception):
    """An entry vcluster itself could not run; it is reported and converts to nothing."""


_PLAIN_REGEX = ("$NAME", "^$NAME$")
_CHAIN = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_-]*|\['[^'\]]*'\]|\[\"[^\"\]]*\"\])*$")

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
class _Context:
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


# --- paths and conditions --------------------------------------------------------------------------------------------


def jsonpath(path: str) -> str:
    """A vcluster (yaml-jsonpath) path as crdsync's JSONPath rooted at `$`: `spec.x` and `.spec.x` -> `$.spec.x`."""
    path = path.strip()
    if path.startswith("$"):
        return path
    if path.startswith(".") or path.startswith("["):
        return "$" + path
    return "$." + path


def relative(path: str) -> str:
    """A path relative to a match (namePath, subPath): `name`, `.name` or `$.name` -> `.name` (or `['k']`)."""
    path = path.strip()
    if path.startswith("$"):
        path = path[1:]
    if path.startswith(".") or path.startswith("["):
        return path
    return "." + path


def is_chain(path: str) -> bool:
    """True for a plain chain of fields (`$.a.b['c/d']`): exactly one match at most, creatable by set."""
    return bool(_CHAIN.match(path))


def _under_status(path: str) -> bool:
    return path == "$.status" or path.startswith("$.status.") or path.startswith("$.status[")


def _candidates(value: Any) -> list[Any]:
    """What a vcluster equal/notEqual matches: it compares the YAML text of the field, so "3" matches 3 and "3"."""
    text = value if isinstance(value, str) else ("true" if value is True else "false" if value is False else str(value))
    out: list[Any] = [text]
    if text in ("true", "True", "TRUE"):
        out.append(True)
    elif text in ("false", "False", "FALSE"):
        out.append(False)
    elif re.fullmatch(r"[-+]?[0-9]+", text):
        out.append(int(text))
    elif re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", text):
        out.append(float(text))
    return out


def _condition(raw: Any, base: str | None) -> tuple[dict[str, Any] | None, bool, str | None]:
    """One vcluster condition -> (crdsync condition or None when it always holds, never-holds flag, problem).

    crdsync's equal / notEqual / empty / subPath are vcluster's (pkg/patches/conditions.go), so a condition converts
    as it is, with two exceptions taken from vcluster's code: a non-string operand was compared through its YAML text,
    which ends in a newline, so `equal: 3` never held and `notEqual: 3` always held; and of several tests only the
    first of empty, equal, notEqual counted (a missing path held when empty: true or notEqual was set at all).
    """
    del base  # subPath is relative to each match in crdsync too
    if not isinstance(raw, dict):
        return None, False, "a condition must be a mapping with path/subPath and equal, notEqual or empty"
    unknown = sorted(set(raw) - {"path", "subPath", "equal", "notEqual", "empty"})
    if unknown:
        return None, False, f"unknown condition field(s) {', '.join(unknown)}: vcluster rejected the config"
    empty, equal, not_equal = raw.get("empty"), raw.get("equal"), raw.get("notEqual")
    if empty is not None and not isinstance(empty, bool):
        return None, False, "empty must be true or false"
    sub, path = raw.get("subPath"), raw.get("path")
    missing_holds = empty is True or not_equal is not None
    if isinstance(sub, str) and sub:
        key, target = "subPath", "$" + relative(sub)
    elif isinstance(path, str) and path:
        key, target = "path", jsonpath(path)
    else:
        return None, not missing_holds, None  # no path: no match
    error = path_error(target)
    if error is not None:
        return None, False, f"condition {key} {target!r}: {error}"
    cond: dict[str, Any] = {key: target}
    if empty is not None:
        if empty is False and not_equal is not None:
            return None, False, "empty: false with notEqual: vcluster held on a missing path, empty: false does not"
        cond["empty"] = empty
    elif equal is not None:
        if not isinstance(equal, str):
            return None, True, None
        cond["equal"] = equal
    elif not_equal is not None:
        if not isinstance(not_equal, str):
            return None, False, None
        cond["notEqual"] = not_equal
    else:
        return None, True, None
    return cond, False, None


def conditions(raw: Any, base: str | None) -> tuple[list[dict[str, Any]], bool, str | None]:
    """A patch's vcluster conditions -> (crdsync `when` list, never-holds flag, problem)."""
    if raw is None:
        return [], False, None
    if not isinstance(raw, list):
        return [], False, "conditions must be a list"
    when: list[dict[str, Any]] = []
    for item in raw:
        cond, never, problem = _condition(item, base)
        if problem is not None:
            return [], False, problem
        if never:
            return [], True, None
        if cond is not None:
            when.append(cond)
    return when, False, None


# --- kinds of rewritten names ----------------------------------------------------------------------------------------


def _words(path: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", path)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


_BUILTIN_NAMED = {"secret": ("Secret", "v1"), "configmap": ("ConfigMap", "v1")}


def infer_kind(path: str, known: dict[str, str]) -> tuple[str, str] | None:
    """The kind a name field most likely names, from the words of its path (`spec.issuerRef.name` -> Issuer).

    Kinds of the configuration win over Secret/ConfigMap; the word nearest the end of the path wins; two adjacent words
    may form a kind (`clusterIssuerRef` -> ClusterIssuer, `configMapName` -> ConfigMap).
    """
    words = _words(path)
    lowered = {k.lower(): (k, v) for k, v in known.items()}
    candidates = {**{k: v for k, v in _BUILTIN_NAMED.items()}, **lowered}
    for end in range(len(words), 0, -1):
        for width in (3, 2, 1):
            if end - width < 0:
                continue
            joined = "".join(words[end - width : end])
            if joined in candidates:
                return candidates[joined]
    return None


# --- the converter ---------------------------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _list(ctx: _Context, data: dict[str, Any], key: str, path: FieldPath) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.finding((*path, key), f"{key} must be a list", "fix the config: vcluster rejected it")
        return []
    return value


def _type(ctx: _Context, entry: Any, path: FieldPath) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        ctx.finding(path, "an entry must be a mapping with apiVersion and kind", "fix the config: vcluster rejected it")
        return None
    api_version, kind = _str(entry.get("apiVersion")), _str(entry.get("kind"))
    if api_version is None or kind is None:
        ctx.finding(path, "apiVersion and kind are required", "fix the config: vcluster rejected it")
        return None
    if not _API_VERSION.match(api_version) or not _KIND.match(kind):
        ctx.finding(path, f"{api_version} {kind} is not a valid apiVersion and kind", "fix the apiVersion or kind")
        return None
    return api_version, kind


def _naming(ctx: _Context, body: dict[str, Any]) -> None:
    if ctx.vcluster_naming:
        # vcluster's own host names, so the copies vcluster made are found and adopted, and names of objects
        # vcluster's syncer copies (Secrets, Services) resolve to what exists on the host.
        body["naming"] = {"style": "vcluster"}


def _labels_valid(entry: dict[str, Any]) -> bool:
    """False when the entry's labelSelector has a label vcluster could not parse (its syncer then never started)."""
    labels = _get_path(entry, "selector", "labelSelector")
    if not isinstance(labels, dict):
        return True
    return all(_LABEL_KEY.match(str(k)) and _LABEL_VALUE.match(_label_value(v)) for k, v in labels.items())


def _label_value(value: Any) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _selector(ctx: _Context, entry: dict[str, Any], path: FieldPath, inverted: bool) -> dict[str, Any] | None:
    raw = entry.get("selector")
    if raw is None:
        return None
    unknown = sorted(set(raw) - {"labelSelector"}) if isinstance(raw, dict) else []
    labels = raw.get("labelSelector") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or unknown or not isinstance(labels, dict):
        ctx.finding((*path, "selector"), "selector takes only labelSelector (a map of labels)", "fix the selector")
        return None
    match = {str(k): _label_value(v) for k, v in labels.items()}
    bad = [f"{k}={v}" for k, v in match.items() if not _LABEL_KEY.match(k) or not _LABEL_VALUE.match(v)]
    if bad:
        ctx.finding((*path, "selector"), f"invalid label(s) {', '.join(bad)}: vcluster failed to start this syncer",
                    "nothing converted for this entry; fix the selector and convert again")  # fmt: skip
        raise _InvalidEntry
    if not match:
        return None
    if not inverted:
        return {"matchLabels": match}
    # The plugin negated its selector: objects matching every label were left out.
    if len(match) == 1:
        ((key, value),) = match.items()
        ctx.finding(
            (*path, "selector"),
            "the plugin synced objects that do NOT match labelSelector (its objectMatches is negated); converted as "
            f"{key} NotIn [{value}]",
            f"if you meant to sync only objects labelled {key}={value}, write selector.matchLabels instead",
        )
        return {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}
    ctx.finding(
        (*path, "selector"),
        "the plugin synced objects that do NOT match all of these labels (its objectMatches is negated); a label "
        "selector cannot say 'not all of'",
        "write the selector you meant (matchLabels or matchExpressions) on the converted rule",
    )
    return None


@dataclass
class _RuleState:
    rule: OutRule
    path: FieldPath
    reference_paths: dict[str, int] = field(default_factory=dict)  # reference path -> index, for syncBack merging


def _ensure_referenced(ctx: _Context, direction: str, kind: str, api_version: str, why: str) -> None:
    """A mode-referenced rule for follow references (one per kind and direction, like the spec demands)."""
    for rule in ctx.out.rules:
        if rule.direction == direction and rule.body["kind"] == kind and rule.key[1] == api_version.rpartition("/")[0]:
            return
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "mode": "referenced"}
    _naming(ctx, body)
    ctx.out.rules.append(OutRule(direction, body, why))


def _reference(
    ctx: _Context,
    state: _RuleState,
    patch: dict[str, Any],
    path: FieldPath,
    when: list[dict[str, Any]],
    syncback_kinds: dict[str, tuple[str, str]],
    back: bool = False,
) -> None:
    """rewriteName -> references; `back` for host->virtual rewrites (syncBack patches of a fromHost rule)."""
    target = jsonpath(str(patch["path"]))
    regex = patch.get("regex")
    fmt: str | None = None
    if isinstance(regex, str) and regex.strip() and regex.strip() not in _PLAIN_REGEX:
        fmt, why_not = regex_format(regex)
        if fmt is None:
            ctx.finding(path, f"rewriteName with regex {regex.strip()!r}: {why_not}",
                        "write the reference's format by hand ($NAME, $NAMESPACE and literal text)")  # fmt: skip
            return
        ctx.finding(
            path,
            f"regex {regex.strip()!r} converted to format {fmt!r}: vcluster's regex matched anywhere in the value and "
            "'.' matched any character; crdsync matches the whole value literally and refuses an object whose value "
            "does not have the format",
            "nothing to do if the field always holds exactly this format",
            "note",
        )
    name_path, namespace_path = _str(patch.get("namePath")), _str(patch.get("namespacePath"))
    if namespace_path is not None and name_path is None:
        ctx.finding(path, "namespacePath without namePath", "add namePath (relative to each match of path)")
        return
    if name_path is not None and when:
        # vcluster tested a rewriteName's conditions with namePath on each item (path) and below the name (subPath);
        # crdsync's subPath is rooted at the item, so item paths carry over and name-relative ones cannot.
        if any("subPath" in cond for cond in when):
            ctx.finding(path, "a subPath condition of a rewriteName with namePath was tested below the name itself",
                        "write the condition on the item (subPath relative to each item) by hand")  # fmt: skip
            return
        when = [{"subPath": cond.pop("path"), **cond} for cond in when]
    raw_sync = patch.get("sync")
    sync: dict[str, Any] = raw_sync if isinstance(raw_sync, dict) else {}
    follow, kind_version, why = "none", None, ""
    if sync.get("secret") is True or sync.get("configmap") is True:
        kind_version = ("Secret", "v1") if sync.get("secret") is True else ("ConfigMap", "v1")
        follow = "toHost"
        if sync.get("secret") is True and sync.get("configmap") is True:
            ctx.finding(path, "sync.secret and sync.configmap both set", "converted as a Secret; add a ConfigMap one")
        if ctx.source.format == "generic":
            ctx.finding(
                (*path, "sync"),
                "vcluster declared sync.secret/configmap but only the plugin implemented it; crdsync exports the "
                f"named {kind_version[0]} while referenced",
                "nothing to do",
                "note",
            )
    elif target in syncback_kinds:
        kind_version, follow = syncback_kinds[target], "fromHost"
    else:
        kind_version = infer_kind(target + (relative(name_path) if name_path else ""), ctx.exported)
        if kind_version is None:
            ctx.finding(
                path,
                f"rewriteName of {target}: vcluster translated any name there, crdsync must know which kind it names",
                f"add a reference {{path: {target}, kind: <Kind>, apiVersion: <v>}} to the rule; the kind needs a rule",
            )
            return
        if kind_version[0] not in ctx.exported and back:
            ctx.finding(
                path,
                f"rewriteName of {target} back to a virtual name: it names a {kind_version[0]}, which this config "
                "does not sync, so crdsync cannot know its virtual name",
                "nothing converted; add a rule for that kind if the name must be mapped back",
            )
            return
        if kind_version[0] not in ctx.exported and not back:
            # Secrets and ConfigMaps vcluster's own syncer copied (when pods used them); crdsync has no such syncer.
            follow = "toHost"
            why = f"; exported while referenced (vcluster relied on its own {kind_version[0]} syncer)"
            ctx.finding(
                path,
                f"{target} names a {kind_version[0]} that vcluster's own syncer copied only when a pod used it "
                "(or with sync.*.all)",
                f"crdsync exports the {kind_version[0]} while referenced; nothing to do",
                "note",
            )
    kind, api_version = kind_version
    if follow == "toHost":
        _ensure_referenced(ctx, "toHost", kind, api_version, f"{kind}s named by follow: toHost references")
    refs: list[dict[str, Any]] = []
    if name_path is None:
        refs.append({"path": target})
    else:
        # crdsync's namePath, like vcluster's: relative to each item the path matches (a list match: its items).
        ref: dict[str, Any] = {"path": target, "namePath": "$" + relative(name_path)}
        if namespace_path is not None:
            ref["namespacePath"] = "$" + relative(namespace_path)
        refs.append(ref)
    for ref in refs:
        for key in ("path", "namePath", "namespacePath"):
            error = path_error(ref[key]) if key in ref else None
            if error is not None:
                ctx.finding(path, f"{key} {ref[key]!r}: {error}", "rewrite the path as JSONPath")
                return
        if fmt is not None:
            ref["format"] = fmt
    for ref in refs:
        ref.update({"kind": kind, "apiVersion": api_version, "follow": follow})
        if when:
            ref["when"] = when
        state.reference_paths.setdefault(ref["path"], len(state.rule.body.get("references", [])))
        state.rule.add("references", ref, ctx.where(path) + f" rewriteName{why}")


def _forward_patch(
    ctx: _Context,
    state: _RuleState,
    patch: Any,
    path: FieldPath,
    section: str,
    syncback_kinds: dict[str, tuple[str, str]],
    from_other: str,
) -> None:
    """A vcluster patch applied on the way the rule writes (toHost for exports, toVirtual for imports/syncBack)."""
    if not isinstance(patch, dict):
        ctx.finding(path, "a patch must be a mapping", "fix the config: vcluster rejected it")
        return
    op, raw_path = patch.get("op"), _str(patch.get("path"))
    known = {"copyFromObject", "add", "replace", "remove", "rewriteName", "rewriteLabelKey", "rewriteLabelSelector",
             "rewriteLabelExpressionsSelector"}  # fmt: skip
    if op not in known:
        ctx.finding(path, f"unknown patch op {op!r}: vcluster rejected the config", "remove or fix the patch")
        return
    if raw_path is None:
        ctx.finding(path, f"{op} without a path does nothing", "nothing to do", "note")
        return
    if op in ("add", "replace", "remove") and patch.get("fromPath"):
        ctx.finding(path, f"fromPath on {op}: vcluster rejected the config", "remove fromPath")
        return
    target = jsonpath(raw_path)
    error = path_error(target)
    if error is not None:
        ctx.finding(path, f"path {target!r}: {error}", "rewrite the path as JSONPath")
        return
    when, never, problem = conditions(patch.get("conditions"), target)
    if problem is not None:
        ctx.finding((*path, "conditions"), problem, "write the patch's when by hand")
        return
    if never:
        ctx.finding(path, "a condition without equal, notEqual or empty never held, so vcluster never applied this "
                    "patch", "nothing converted; remove the patch", "note")  # fmt: skip
        return
    origin = ctx.where(path)
    direction = "toHost" if section == "toHost" else "toVirtual"
    if op == "remove":
        item: dict[str, Any] = {"op": "remove", "path": target}
    elif op in ("replace", "add"):
        # crdsync's add and replace are vcluster's (merge into maps, append to lists, create where missing; replace
        # only existing matches).
        item = {"op": op, "path": target, "value": patch.get("value")}
    elif op == "copyFromObject":
        ctx.finding(
            path,
            f"copyFromObject here copied from the {from_other}, crdsync's copy reads the source object",
            "to keep a value the other side owns, remove the field from the copy ({op: remove}) so server-side "
            "apply leaves it alone; otherwise copy it in a patch of the other direction",
        )
        return
    elif op == "rewriteName":
        if section == "toVirtual" and state.rule.direction == "fromHost" and not syncback_kinds.get("__syncback__"):
            ctx.finding(path, "rewriteName in an import kept names as they are (vcluster's import resolver is the "
                        "identity for names)", "nothing to do", "note")  # fmt: skip
            return
        _reference(ctx, state, patch, path, when, syncback_kinds, back=section == "toVirtual")
        return
    else:
        if ctx.source.multi_namespace:
            ctx.finding(path, f"{op} kept label keys in multi-namespace mode", "nothing to do", "note")
            return
        if section != "toHost":
            ctx.finding(path, f"{op} on the way into the virtual cluster kept label keys (vcluster's import resolver)",
                        "nothing to do", "note")  # fmt: skip
            return
        if not ctx.vcluster_naming:
            ctx.finding(
                path,
                f"{op}: vcluster's hashed label keys go with its names (keyStyle needs naming style vcluster)",
                "convert with vcluster naming, or list each key and its host key in a keyMap",
            )
            return
        style, note = _key_style(ctx)
        ctx.finding(path, f"{op}: label keys translated with keyStyle {style}: {note}",
                    "check the vcluster version the config ran on", "note")  # fmt: skip
        item = {"op": _LABEL_OPS[op], "path": target, "keyStyle": style}
    if when:
        item["when"] = when
    state.rule.add("patches", item, f"{origin} {op}", sub=direction)


# vcluster's label ops -> crdsync's: rewriteLabelSelector took a plain string map (e.g. a Service's selector).
_LABEL_OPS = {
    "rewriteLabelKey": "rewriteLabelKey",
    "rewriteLabelSelector": "rewriteLabelKeys",
    "rewriteLabelExpressionsSelector": "rewriteLabelSelector",
}


def _key_style(ctx: _Context) -> tuple[str, str]:
    """Which vcluster label-key translation the config ran with (pkg/util/translate): every key hashed up to v0.20
    (ConvertLabelKey), only vcluster's own keys from v0.21 (HostLabel)."""
    if ctx.source.origin == "sync.generic.config":
        return "vclusterLegacy", "sync.generic.config is vcluster v0.14-v0.19, which hashed every key"
    if ctx.source.format == "plugin":
        return "vclusterLegacy", "the plugin's vcluster SDK hashed every key"
    return (
        "vcluster",
        "vcluster v0.21-v0.27 hashed only its own keys (release, vcluster.loft.sh/*); on v0.20 use vclusterLegacy",
    )


def regex_format(regex: str) -> tuple[str | None, str]:
    """A vcluster rewriteName regex as a crdsync reference format, or (None, why not).

    vcluster replaced $NAME/$NAMESPACE by capture groups and kept the rest as a regular expression (pkg/patches/regex
    PrepareRegex); the formats people wrote are literal text around them, with `.` or `\\.` for a dot and optional
    `^`/`$` anchors."""
    text = regex.strip()
    if text.startswith("^"):
        text = text[1:]
    if text.endswith("$") and not text.endswith("$NAME") and not text.endswith("$NAMESPACE"):
        text = text[:-1]
    text = text.replace("\\.", ".").replace("\\/", "/").replace("\\-", "-")
    if re.search(r"[\\\[\](){}*+?|^]", text):
        return None, "it uses regular-expression constructs beyond literal text, $NAME and $NAMESPACE"
    problem = format_problem(text)
    if problem is not None:
        return None, problem
    return text, ""


def _reverse_patches(ctx: _Context, state: _RuleState, patches: list[Any], path: FieldPath) -> bool:
    """Export reverse patches (host copy -> virtual object). Returns True when one copies the whole status back.

    Outside status, a copy of a host field into the same field (copyFromObject without fromPath, or with the same
    one), unconditional and left out of the host copy as vcluster did, is a host-owned field: reverse.paths when
    crdsync accepts the path (`_host_owned`); every other reverse write outside status is reported with the reason."""
    whole_status = False
    status_paths: list[str] = []
    host_owned: list[tuple[str, FieldPath]] = []
    for index, patch in enumerate(patches):
        ppath = (*path, index)
        if not isinstance(patch, dict):
            ctx.finding(ppath, "a patch must be a mapping", "fix the config: vcluster rejected it")
            continue
        op, raw = patch.get("op"), _str(patch.get("path"))
        if raw is None:
            continue
        target = jsonpath(raw)
        error = path_error(target)
        if error is not None:
            ctx.finding(ppath, f"path {target!r}: {error}", "rewrite the path as JSONPath")
            continue
        ignore = patch.get("ignore")
        # vcluster left reverse-patched paths out of the host copy unless ignore: true; the plugin unless ignore: false.
        keep_forward = ignore is True if ctx.source.format == "generic" else ignore is False
        when, never, problem = conditions(patch.get("conditions"), target)
        outside = not _under_status(target)
        not_owned: tuple[str, str] | None = None
        if outside and problem is None and not never:
            not_owned = _not_host_owned(patch, target, when, keep_forward)
            if not_owned is None:
                host_owned.append((target, ppath))
                continue
        if outside and not keep_forward:
            _leave_out(ctx, state, target, ppath)
        if problem is not None or never:
            ctx.finding((*ppath, "conditions"), problem or "a condition that never held", "write the when by hand")
            continue
        if not_owned is not None:
            ctx.finding(ppath, *not_owned)
            continue
        origin = ctx.where(ppath) + f" {op}"
        if op == "copyFromObject":
            source = jsonpath(_str(patch.get("fromPath")) or raw)
            if source == target and not when:
                if target == "$.status":
                    whole_status = True
                else:
                    status_paths.append(target)
                continue
            item: dict[str, Any] = {"op": "copy", "path": target, "from": source}
        elif op == "remove":
            item = {"op": "remove", "path": target}
        elif op in ("add", "replace"):
            item = {"op": op, "path": target, "value": patch.get("value")}
        else:
            ctx.finding(ppath, f"reverse {op}: vcluster could not translate names from host to virtual here",
                        "nothing converted; remove the patch")  # fmt: skip
            continue
        if when:
            item["when"] = when
        state.rule.add("patches", item, origin, sub="toVirtual")
    _host_owned(ctx, state, host_owned)
    if status_paths and not whole_status and ctx.source.format == "plugin":
        state.rule.body["status"] = {"paths": status_paths}
    return whole_status or bool(status_paths)


def _leave_out(ctx: _Context, state: _RuleState, target: str, ppath: FieldPath) -> None:
    """vcluster left a reverse-patched path out of the host copy: a toHost remove."""
    comment = ctx.where(ppath) + " flows back, so vcluster left it out of the host copy"
    state.rule.add("patches", {"op": "remove", "path": target}, comment, sub="toHost")


def _not_host_owned(
    patch: dict[str, Any], target: str, when: list[dict[str, Any]], keep_forward: bool
) -> tuple[str, str] | None:
    """(reason, what to do instead) when a reverse patch outside status is not a host-owned field crdsync can copy
    back (reverse.paths), or None when it is one as far as the patch itself says (the rule is checked later)."""
    op = patch.get("op")
    by_hand = "if the host owns the field, list it in the rule's reverse.paths by hand"
    if op != "copyFromObject":
        return (
            f"reverse {op} of {target}: outside status crdsync only copies host-owned fields back as they are "
            "(reverse.paths)",
            f"{by_hand}; otherwise let the tenant read the value from the host copy's status",
        )
    source = jsonpath(_str(patch.get("fromPath")) or str(patch.get("path")))
    if source != target:
        return (
            f"reverse copy of {source} into {target}: crdsync's reverse paths copy a host-owned field back into the "
            "same field",
            f"{by_hand}, or copy {source} into a status field (status flows back)",
        )
    if when:
        return (
            f"reverse copy of {target} under conditions: crdsync copies host-owned fields back always",
            f"{by_hand} if the condition may go",
        )
    if keep_forward:
        return (
            f"reverse copy of {target} with ignore: {scalar(patch.get('ignore'))}: vcluster also sent the tenant's "
            "value to the host (the field went both ways); crdsync's reverse paths are host-owned: the tenant's "
            "value is never sent and its edits are reverted",
            f"{by_hand}; otherwise drop the reverse patch (the tenant's value is sent to the host)",
        )
    reason = _reverse_path_problem(target)
    if reason is not None:
        return (
            f"reverse copy of {target}: {reason}",
            "let the tenant read the value from the host copy's status, or write the field back another way",
        )
    return None


def _at_or_below(path: Any, target: str) -> bool:
    return isinstance(path, str) and (path == target or path.startswith((f"{target}.", f"{target}[")))


def _host_owned(ctx: _Context, state: _RuleState, found: list[tuple[str, FieldPath]]) -> None:
    """Host-owned fields -> the rule's reverse.paths, unless a reference or toHost patch of the rule touches them.

    crdsync never sends a reverse path to the host, so vcluster's removal of the field from the host copy is implied,
    and any other toHost remove at or below it is moot (dropped, noted). A field a reference reads (a name) or a
    toHost patch writes cannot be host-owned (spec.checks): reported, and left out of the host copy as vcluster did."""
    rule = state.rule
    for target, ppath in found:
        patches: dict[str, Any] = rule.body.get("patches", {})
        forward: list[Any] = patches.get("toHost", [])
        moot = [p for p in forward if _plain(p).get("op") == "remove" and _at_or_below(_plain(p).get("path"), target)]
        kept = [p for p in forward if all(p is not m for m in moot)]
        clashes = _reverse_overlaps(unwrap({**rule.body, "patches": {**patches, "toHost": kept}}), target)
        if clashes:
            ctx.finding(
                ppath,
                f"reverse copy of {target} as a host-owned field (reverse.paths): "
                + "; ".join(message for _, message in clashes),
                "drop the reference or patch of that field, or let the tenant read the value from the host copy's "
                "status",
            )
            _leave_out(ctx, state, target, ppath)
            continue
        for item in moot:
            comment = item.comment.splitlines()[0] if isinstance(item, Commented) else ""
            ctx.finding(
                ppath,
                f"a toHost remove of {_plain(item).get('path')} ({comment}) is moot: crdsync never sends the "
                f"host-owned field {target} to the host",
                "nothing to do: it is dropped",
                "note",
            )
        if moot:
            if kept:
                patches["toHost"] = kept
            else:
                patches.pop("toHost")
                if not patches:
                    rule.body.pop("patches")
        rule.add("reverse", target, ctx.where(ppath) + " copyFromObject: host-owned, flows back", sub="paths")


def _plain(item: Any) -> dict[str, Any]:
    value = item.value if isinstance(item, Commented) else item
    return value if isinstance(value, dict) else {}


def _common(ctx: _Context, entry: dict[str, Any], path: FieldPath, kind: str, rule: OutRule) -> None:
    if "optional" in entry:
        ctx.finding(
            (*path, "optional"),
            f"optional: {scalar(entry['optional'])} (whether vcluster failed to start without the CRD)",
            "nothing to do: crdsync waits for a missing kind and syncs it once its CRD appears",
            "note",
        )
    replace = entry.get("replaceOnConflict")
    if replace is not None and not isinstance(replace, bool):
        ctx.finding((*path, "replaceOnConflict"), "replaceOnConflict must be true or false",
                    "fix the config: vcluster rejected it")  # fmt: skip
    elif replace is True and rule.direction == "toHost":
        # vcluster deleted and recreated a copy the apiserver rejected as invalid (422); crdsync's field does the same
        # for copies it can prove are this tenant's, with a Normal Event `Replaced`.
        rule.body["replaceOnConflict"] = True
    elif replace is True:
        ctx.finding(
            (*path, "replaceOnConflict"),
            f"replaceOnConflict on an import: vcluster deleted and recreated a virtual {kind} copy the virtual "
            "apiserver rejected as invalid; crdsync replaces only host copies (toHost rules)",
            "such an update shows as a Warning Event on the imported copy; delete that copy by hand and crdsync "
            "imports the host object again",
        )


_EXPORT_FIELDS = {"apiVersion", "kind", "optional", "replaceOnConflict", "patches", "reversePatches", "selector"}
_PLUGIN_FIELDS = {"apiVersion", "kind", "id", "patches", "reversePatches", "selector", "syncBack"}


def _unknown_fields(ctx: _Context, entry: dict[str, Any], path: FieldPath, allowed: set[str]) -> None:
    for key in sorted(set(entry) - allowed):
        ctx.finding((*path, key), f"unknown field {key}: vcluster's strict parsing rejected the config",
                    "remove it")  # fmt: skip


def _to_host_rule(
    ctx: _Context, entry: dict[str, Any], path: FieldPath, type_: tuple[str, str], plugin: bool
) -> _RuleState:
    api_version, kind = type_
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    selector = _selector(ctx, entry, path, inverted=plugin)
    if selector is not None:
        body["selector"] = selector
    _naming(ctx, body)
    rule = OutRule("toHost", body, ctx.where(path))
    ctx.out.rules.append(rule)
    return _RuleState(rule, path)


def _finish_status(ctx: _Context, state: _RuleState, reverse: list[Any], plugin: bool) -> None:
    copies_status = _reverse_patches(ctx, state, reverse, (*state.path, "reversePatches"))
    if plugin and not copies_status:
        # The plugin had no implicit status copy: status came back only through a reverse patch.
        state.rule.body["status"] = {"sync": False}


def _export(ctx: _Context, entry: Any, path: FieldPath) -> None:
    type_ = _type(ctx, entry, path)
    if type_ is None:
        return
    assert isinstance(entry, dict)
    _unknown_fields(ctx, entry, path, _EXPORT_FIELDS)
    state = _to_host_rule(ctx, entry, path, type_, plugin=False)
    _common(ctx, entry, path, type_[1], state.rule)
    for index, patch in enumerate(_list(ctx, entry, "patches", path)):
        _forward_patch(ctx, state, patch, (*path, "patches", index), "toHost", {}, "existing host copy")
    _finish_status(ctx, state, _list(ctx, entry, "reversePatches", path), plugin=False)


def _import(ctx: _Context, entry: Any, path: FieldPath) -> None:
    type_ = _type(ctx, entry, path)
    if type_ is None:
        return
    assert isinstance(entry, dict)
    _unknown_fields(ctx, entry, path, _EXPORT_FIELDS - {"selector"})
    api_version, kind = type_
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    namespaced = not cluster_scoped(kind)
    if not namespaced:
        body["scope"] = "Cluster"
    rule = OutRule("fromHost", body, ctx.where(path), active=not namespaced)
    state = _RuleState(rule, path)
    if namespaced:
        rule.comment += (
            "\nleft disabled: set host.namespaces (and host.virtualNamespace) to the host namespaces to import from, "
            "then enable"
        )
        ctx.finding(
            path,
            f"import of namespaced {kind}: vcluster imported (in multi-namespace mode only) from the host namespaces "
            "it created for virtual namespaces; crdsync has no such namespaces, and a rule without host.namespaces "
            "would import every host namespace's objects",
            "the rule is written commented out: set host.namespaces and host.virtualNamespace, then uncomment it",
        )
        if kind in ctx.exported:
            ctx.finding(
                path,
                f"{kind} is also exported; crdsync refuses one kind in both directions with mode all unless the "
                "selectors are disjoint (vcluster skipped objects its export made)",
                "give the import and the export disjoint selectors, or drop one",
            )
    else:
        ctx.finding(
            path,
            f"{kind} is assumed cluster-scoped (vcluster read the scope from the CRD)",
            "if it is namespaced, remove scope: Cluster and set host.namespaces",
            "note",
        )
    ctx.out.rules.append(rule)
    _common(ctx, entry, path, kind, rule)
    ctx.finding(
        path,
        "vcluster let tenants edit imported copies and deleted the host object when the tenant deleted its copy; "
        "crdsync keeps imports read-only and never deletes host objects through a fromHost rule",
        "set readOnly: false on the rule if tenants must edit their copies",
        "note",
    )
    for index, patch in enumerate(_list(ctx, entry, "patches", path)):
        _forward_patch(ctx, state, patch, (*path, "patches", index), "toVirtual", {}, "existing virtual copy")
    for index, _patch in enumerate(_list(ctx, entry, "reversePatches", path)):
        ctx.finding(
            (*path, "reversePatches", index),
            "import reverse patches wrote the tenant's changes into the host object; crdsync never writes host "
            "objects of a fromHost rule",
            "let the tenant own the object (export it instead), or change the host object outside crdsync",
        )


def _hooks(ctx: _Context, hooks: Any, path: FieldPath) -> None:
    if hooks is None:
        return
    if not isinstance(hooks, dict):
        ctx.finding(path, "hooks must be a mapping", "fix the config: vcluster rejected it")
        return
    for direction in ("hostToVirtual", "virtualToHost"):
        items = hooks.get(direction)
        for index, hook in enumerate(items if isinstance(items, list) else []):
            what = ""
            if isinstance(hook, dict):
                what = f" for {hook.get('kind')} ({', '.join(str(v) for v in hook.get('verbs') or []) or 'all verbs'})"
            ctx.finding(
                (*path, direction, index),
                f"a vCluster Pro hook{what}: it patched requests of vcluster's own syncer, and only vCluster Pro ran "
                "it",
                "crdsync has no request hooks: express the patches in the patches of the crdsync rule for that kind",
            )


def _syncback(
    ctx: _Context, parent: _RuleState, items: list[Any], path: FieldPath, rewritten: set[str]
) -> dict[str, tuple[str, str]]:
    """Plugin syncBack entries -> fromHost mode-referenced rules; returns rewrittenPath -> (kind, apiVersion)."""
    kinds: dict[str, tuple[str, str]] = {}
    for index, item in enumerate(items):
        ipath = (*path, index)
        type_ = _type(ctx, item, ipath)
        if type_ is None:
            continue
        assert isinstance(item, dict)
        _unknown_fields(ctx, item, ipath, {"apiVersion", "kind", "id", "patches", "reversePatches", "selectors"})
        api_version, kind = type_
        selectors = item.get("selectors")
        for sindex, selector in enumerate(selectors if isinstance(selectors, list) else []):
            spath = (*ipath, "selectors", sindex)
            raw = _get_path(selector, "name", "rewrittenPath")
            if not isinstance(raw, str) or not raw:
                ctx.finding(spath, "only name.rewrittenPath selectors ever selected anything in the plugin",
                            "remove the selector")  # fmt: skip
                continue
            target = jsonpath(raw)
            if target not in rewritten:
                ctx.finding(
                    spath,
                    f"syncBack of the {kind} named at {target}, which no rewriteName of the parent rewrites (the host "
                    "object carries the virtual name there, or metadata.name)",
                    "crdsync imports objects named by references only: add a rewriteName of that path, or write "
                    "the fromHost rule by hand",
                )
                continue
            kinds[target] = (kind, api_version)
        rule_key = ("fromHost", api_version.rpartition("/")[0], kind)
        rule = next((r for r in ctx.out.rules if r.key == rule_key), None)
        if rule is None:
            body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "mode": "referenced"}
            _naming(ctx, body)
            rule = OutRule("fromHost", body, ctx.where(ipath) + " syncBack: imported while the parent names it")
            ctx.out.rules.append(rule)
        state = _RuleState(rule, ipath)
        back_kinds = {"__syncback__": ("", "")}
        parent_kinds = {parent.rule.body["kind"]: parent.rule.body["apiVersion"]}
        saved = ctx.exported
        ctx.exported = {**saved, **parent_kinds}
        for pindex, patch in enumerate(_list(ctx, item, "patches", ipath)):
            _forward_patch(ctx, state, patch, (*ipath, "patches", pindex), "toVirtual", back_kinds,
                           "existing virtual copy")  # fmt: skip
        ctx.exported = saved
        for pindex, _patch in enumerate(_list(ctx, item, "reversePatches", ipath)):
            ctx.finding(
                (*ipath, "reversePatches", pindex),
                f"syncBack reverse patches wrote tenant changes into the host {kind}; crdsync keeps imported copies "
                "read-only and never writes them to the host",
                "let the host operator own the object",
            )
        if "id" in item:
            ctx.finding((*ipath, "id"), "id named the plugin's controller", "nothing to do: crdsync's bookkeeping "
                        "identifies its copies", "note")  # fmt: skip
    return kinds


def _get_path(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _rewritten_paths(entry: dict[str, Any]) -> set[str]:
    patches = entry.get("patches")
    out: set[str] = set()
    for patch in patches if isinstance(patches, list) else []:
        if isinstance(patch, dict) and patch.get("op") == "rewriteName" and _str(patch.get("path")):
            out.add(jsonpath(str(patch["path"])))
    return out


def _from_virtual(ctx: _Context, entry: Any, path: FieldPath) -> None:
    type_ = _type(ctx, entry, path)
    if type_ is None:
        return
    assert isinstance(entry, dict)
    _unknown_fields(ctx, entry, path, _PLUGIN_FIELDS)
    state = _to_host_rule(ctx, entry, path, type_, plugin=True)
    if "id" in entry:
        ctx.finding((*path, "id"), "id named the plugin's controller", "nothing to do: crdsync's bookkeeping "
                    "identifies its copies", "note")  # fmt: skip
    syncback_kinds = _syncback(ctx, state, _list(ctx, entry, "syncBack", path), (*path, "syncBack"),
                               _rewritten_paths(entry))  # fmt: skip
    for index, patch in enumerate(_list(ctx, entry, "patches", path)):
        _forward_patch(ctx, state, patch, (*path, "patches", index), "toHost", syncback_kinds, "existing host copy")
    _finish_status(ctx, state, _list(ctx, entry, "reversePatches", path), plugin=True)


def _from_host_cluster(ctx: _Context, entry: Any, path: FieldPath) -> None:
    type_ = _type(ctx, entry, path)
    if type_ is None:
        return
    assert isinstance(entry, dict)
    api_version, kind = type_
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    if cluster_scoped(kind):
        body["scope"] = "Cluster"
    selector = _selector(ctx, entry, path, inverted=False)
    if selector is not None:
        body["selector"] = selector
    namespace = _get_path(entry, "nameMapping", "namespace")
    if isinstance(namespace, str) and namespace:
        body["host"] = {"virtualNamespace": namespace}
    rule = OutRule("fromHost", body, ctx.where(path) + "\nleft disabled: the plugin never ran fromHostCluster",
                   active=False)  # fmt: skip
    ctx.out.rules.append(rule)
    ctx.finding(
        path,
        "fromHostCluster was declared by the plugin but never run (validate.go requires fromVirtualCluster, main.go "
        "starts only fromVirtualCluster syncers)",
        "the rule is written commented out; enable it (with host.namespaces for a namespaced kind) only if you want "
        "these host objects imported now",
    )


def convert_source(source: Source, vcluster_naming: bool) -> Conversion:
    """Rules and findings for one configuration (see the module docstring)."""
    out = Conversion()
    ctx = _Context(source, out, vcluster_naming)
    data = source.data
    if not isinstance(data, dict):
        ctx.finding((), "the configuration is not a mapping", "fix the config: vcluster rejected it")
        return out
    version = data.get("version")
    if version != "v1beta1":
        ctx.finding(("version",), f"version {version!r}: vcluster accepted only v1beta1", "set version: v1beta1")
    if source.format == "plugin":
        allowed = {"version", "mappings"}
        for key in sorted(set(data) - allowed):
            ctx.finding((key,), f"unknown field {key}: the plugin's strict parsing rejected the config", "remove it")
        mappings = _list(ctx, data, "mappings", ())
        for mapping in mappings:
            if isinstance(mapping, dict):
                virtual = mapping.get("fromVirtualCluster")
                if isinstance(virtual, dict) and _labels_valid(virtual):
                    kind, api = _str(virtual.get("kind")), _str(virtual.get("apiVersion"))
                    if kind and api:
                        ctx.exported[kind] = api
        for index, mapping in enumerate(mappings):
            mpath: FieldPath = ("mappings", index)
            if not isinstance(mapping, dict) or not ({"fromVirtualCluster", "fromHostCluster"} & set(mapping)):
                ctx.finding(mpath, "a mapping needs fromVirtualCluster", "fix the config: the plugin rejected it")
                continue
            try:
                if "fromVirtualCluster" in mapping:
                    _from_virtual(ctx, mapping["fromVirtualCluster"], (*mpath, "fromVirtualCluster"))
                if "fromHostCluster" in mapping:
                    _from_host_cluster(ctx, mapping["fromHostCluster"], (*mpath, "fromHostCluster"))
            except _InvalidEntry:
                continue
        return out
    allowed = {"version", "export", "import", "hooks", "role", "clusterRole"}
    for key in sorted(set(data) - allowed):
        ctx.finding((key,), f"unknown field {key}: vcluster's strict parsing rejected the config", "remove it")
    exports = _list(ctx, data, "export", ())
    for entry in exports:
        if (
            isinstance(entry, dict)
            and _str(entry.get("kind"))
            and _str(entry.get("apiVersion"))
            and _labels_valid(entry)
        ):
            ctx.exported.setdefault(str(entry["kind"]), str(entry["apiVersion"]))
    seen: dict[tuple[str, str], FieldPath] = {}
    for section, handler in (("export", _export), ("import", _import)):
        for index, entry in enumerate(_list(ctx, data, section, ())):
            path: FieldPath = (section, index)
            if isinstance(entry, dict):
                key = (section, f"{entry.get('apiVersion')}|{entry.get('kind')}")
                if key in seen:
                    ctx.finding(path, f"duplicate {section} of {entry.get('kind')}: vcluster rejected the config",
                                "remove one")  # fmt: skip
                    continue
                seen[key] = path
            try:
                handler(ctx, entry, path)
            except _InvalidEntry:
                continue
    _hooks(ctx, data.get("hooks"), ("hooks",))
    if source.multi_namespace and (exports or data.get("import")):
        ctx.finding(
            (),
            "multi-namespace mode: vcluster kept names and put each virtual namespace's copies in a host namespace of "
            "its own; crdsync puts a tenant's copies in one host namespace under translated names",
            "the copies vcluster made are not found: stop vcluster's generic sync and delete its host copies before "
            "crdsync creates its own",
        )
    return out
