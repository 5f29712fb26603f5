"""rewriteName patches -> crdsync references.

vcluster translated any name at a rewriteName's path; crdsync must know which kind the name names: the kind of
`sync.secret` / `sync.configmap`, of a plugin syncBack entry, or one read from the words of the path (`infer_kind`).
A named Secret or ConfigMap the configuration does not export is followed toHost with a mode-referenced rule (vcluster's
own syncer copied them). A `regex` of literal text around $NAME / $NAMESPACE becomes a `format` (`regex_format`).

Failure modes: none raised; a rewriteName crdsync cannot express (unknown kind, a regex beyond literal text, a path
that is not JSONPath, a subPath condition below the name) is a finding and converts to nothing.
"""

from __future__ import annotations

import re
from typing import Any

from crdsync.convert.vcluster.conditions import jsonpath, relative
from crdsync.convert.vcluster.context import Context, RuleState, ensure_referenced, nonempty_str
from crdsync.spec.checks.references import format_problem
from crdsync.spec.paths import path_error
from crdsync.spec.source import FieldPath

_PLAIN_REGEX = ("$NAME", "^$NAME$")


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


def rewrite_name(
    ctx: Context,
    state: RuleState,
    patch: dict[str, Any],
    path: FieldPath,
    when: list[dict[str, Any]],
    syncback_kinds: dict[str, tuple[str, str]],
    back: bool = False,
) -> None:
    """rewriteName -> a reference; `back` for host->virtual rewrites (syncBack patches of a fromHost rule)."""
    target = jsonpath(str(patch["path"]))
    converted, fmt = _format(ctx, patch.get("regex"), path)
    if not converted:
        return
    name_path, namespace_path = nonempty_str(patch.get("namePath")), nonempty_str(patch.get("namespacePath"))
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
    named = _named_kind(ctx, patch, path, target + (relative(name_path) if name_path else ""), syncback_kinds, back)
    if named is None:
        return
    (kind, api_version), follow, why = named
    if follow == "toHost":
        ensure_referenced(ctx, "toHost", kind, api_version, f"{kind}s named by follow: toHost references")
    ref: dict[str, Any] = {"path": target}
    if name_path is not None:
        # crdsync's namePath, like vcluster's: relative to each item the path matches (a list match: its items).
        ref["namePath"] = "$" + relative(name_path)
        if namespace_path is not None:
            ref["namespacePath"] = "$" + relative(namespace_path)
    for key in ("path", "namePath", "namespacePath"):
        error = path_error(ref[key]) if key in ref else None
        if error is not None:
            ctx.finding(path, f"{key} {ref[key]!r}: {error}", "rewrite the path as JSONPath")
            return
    if fmt is not None:
        ref["format"] = fmt
    ref.update({"kind": kind, "apiVersion": api_version, "follow": follow})
    if when:
        ref["when"] = when
    state.reference_paths.setdefault(ref["path"], len(state.rule.body.get("references", [])))
    state.rule.add("references", ref, ctx.where(path) + f" rewriteName{why}")


def _format(ctx: Context, regex: Any, path: FieldPath) -> tuple[bool, str | None]:
    """(converted, format) of a rewriteName's regex: (True, None) for none or a plain $NAME, (False, None) when it
    cannot be a format (reported)."""
    if not isinstance(regex, str) or not regex.strip() or regex.strip() in _PLAIN_REGEX:
        return True, None
    fmt, why_not = regex_format(regex)
    if fmt is None:
        ctx.finding(path, f"rewriteName with regex {regex.strip()!r}: {why_not}",
                    "write the reference's format by hand ($NAME, $NAMESPACE and literal text)")  # fmt: skip
        return False, None
    ctx.finding(
        path,
        f"regex {regex.strip()!r} converted to format {fmt!r}: vcluster's regex matched anywhere in the value and "
        "'.' matched any character; crdsync matches the whole value literally and refuses an object whose value "
        "does not have the format",
        "nothing to do if the field always holds exactly this format",
        "note",
    )
    return True, fmt


def _named_kind(
    ctx: Context,
    patch: dict[str, Any],
    path: FieldPath,
    name_field: str,
    syncback_kinds: dict[str, tuple[str, str]],
    back: bool,
) -> tuple[tuple[str, str], str, str] | None:
    """((kind, apiVersion), follow, why) of the object a rewriteName names, or None when crdsync cannot tell
    (reported). `name_field` is the path of the name: the rewriteName's path, with its namePath when it has one."""
    target = jsonpath(str(patch["path"]))
    raw_sync = patch.get("sync")
    sync: dict[str, Any] = raw_sync if isinstance(raw_sync, dict) else {}
    if sync.get("secret") is True or sync.get("configmap") is True:
        kind_version = ("Secret", "v1") if sync.get("secret") is True else ("ConfigMap", "v1")
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
        return kind_version, "toHost", ""
    if target in syncback_kinds:
        return syncback_kinds[target], "fromHost", ""
    inferred = infer_kind(name_field, ctx.exported)
    if inferred is None:
        ctx.finding(
            path,
            f"rewriteName of {target}: vcluster translated any name there, crdsync must know which kind it names",
            f"add a reference {{path: {target}, kind: <Kind>, apiVersion: <v>}} to the rule; the kind needs a rule",
        )
        return None
    if inferred[0] in ctx.exported:
        return inferred, "none", ""
    if back:
        ctx.finding(
            path,
            f"rewriteName of {target} back to a virtual name: it names a {inferred[0]}, which this config "
            "does not sync, so crdsync cannot know its virtual name",
            "nothing converted; add a rule for that kind if the name must be mapped back",
        )
        return None
    # Secrets and ConfigMaps vcluster's own syncer copied (when pods used them); crdsync has no such syncer.
    ctx.finding(
        path,
        f"{target} names a {inferred[0]} that vcluster's own syncer copied only when a pod used it "
        "(or with sync.*.all)",
        f"crdsync exports the {inferred[0]} while referenced; nothing to do",
        "note",
    )
    return inferred, "toHost", f"; exported while referenced (vcluster relied on its own {inferred[0]} syncer)"
