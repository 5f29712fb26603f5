"""Semantic checks the JSON Schema cannot express, reported as located Problems like schema errors.

Checks within one rule: every JSONPath compiles (each condition of a `when`, written as one mapping or a list, is
checked and located on its own); naming leaves room for the hash (style hashed) and sets no lengths (style vcluster,
whose names have a fixed shape); status paths and observedGeneration paths stay under `$.status`; reverse paths are
plain chains of map fields under `$.spec` or one annotation (not crdsync's or kubectl's), and no reference or toHost
patch of the rule touches them (paths_overlap); fields that only make sense in one direction (`host`, `readOnly` and
`deletion.finalizer`, `status`, `reverse`, `replaceOnConflict`, virtual namespace selection, `patches.toHost`) or one
mode (`host` with `mode: all`, `naming` for renamed objects, `reverse` for mode all) are not used elsewhere. Checks
across all rules of all loaded files: one rule per kind and direction (any version); a kind in both directions with
`mode: all` in both needs selections that say which rule an object belongs to: label selectors provably disjoint, or
imports landing only outside the toHost rule's namespaces (_loop_problems says why copies never bounce either way);
every reference names a kind that some rule syncs in its `follow` direction, and an omitted apiVersion resolves to
exactly one version.

Everything here reads the raw (possibly schema-invalid) data defensively: a value of the wrong type is skipped, never
raised on, since the schema has already reported it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from jsonpath_ng import Child, Fields, Root

from crdsync.spec.model import Direction, FollowDirection, Location, Naming, NamingStyle
from crdsync.spec.paths import compile_path, path_error
from crdsync.spec.schema import defined_pattern
from crdsync.spec.source import Document, FieldPath, Problem

DIRECTION_KEYS: dict[str, Direction] = {"toHost": Direction.TO_HOST, "fromHost": Direction.FROM_HOST}


# The model's defaults, so a check of an omitted field judges what the loader will build.
DEFAULT_MAX_LENGTH = Naming().max_length
DEFAULT_HASH_LENGTH = Naming().hash_length


# The schema's own patterns: a rule the schema rejected for its apiVersion or kind is skipped here, not reported twice.
def _valid_api_version(value: Any) -> bool:
    return isinstance(value, str) and defined_pattern("apiVersion").match(value) is not None


def _valid_kind(value: Any) -> bool:
    return isinstance(value, str) and defined_pattern("kind").match(value) is not None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class RawRule:
    """A rule as written, with a well-formed apiVersion and kind (others are skipped by cross-rule checks)."""

    document: Document
    direction: Direction
    path: FieldPath  # ('spec', 'toHost', 3)
    data: dict[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.data["apiVersion"])

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def mode(self) -> str | None:
        mode = self.data.get("mode", "all")
        return mode if mode in ("all", "referenced") else None

    @property
    def location(self) -> Location:
        return self.document.positions.value(self.path)

    def problem(self, relative: FieldPath, message: str, at_key: bool = False) -> Problem:
        path = (*self.path, *relative)
        where = self.document.positions.key(path) if at_key else self.document.positions.value(path)
        return Problem(where, path, message, self.document.index)


def iter_rule_data(document: Document) -> Iterator[tuple[Direction, FieldPath, dict[str, Any]]]:
    """Every rule mapping in a document, with its direction and path, whatever its content."""
    data = document.data
    spec = data.get("spec") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        return
    for key, direction in DIRECTION_KEYS.items():
        rules = spec.get(key)
        if not isinstance(rules, list):
            continue
        for index, rule in enumerate(rules):
            if isinstance(rule, dict):
                yield direction, ("spec", key, index), rule


def raw_rules(documents: Sequence[Document]) -> list[RawRule]:
    """The rules of all documents, in load order, that have a well-formed apiVersion and kind."""
    return [
        RawRule(document, direction, path, rule)
        for document in documents
        for direction, path, rule in iter_rule_data(document)
        if _valid_api_version(rule.get("apiVersion")) and _valid_kind(rule.get("kind"))
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Checks within one rule


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def rooted(path: str) -> str:
    """A path written relative to a match (vcluster's `subPath`, `namePath`: `name`, `.name`, `[0]`, `@.name` or
    `$.name`) as a JSONPath rooted at that match: `$.name`. Anything else is returned unchanged for the path check."""
    stripped = path.strip()
    if stripped.startswith("@"):
        return "$" + stripped[1:]
    if stripped.startswith("$"):
        return stripped
    if stripped.startswith(".") or stripped.startswith("["):
        return "$" + stripped
    return "$." + stripped if stripped else stripped


def iter_conditions(when: Any) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """(path relative to `when`, condition mapping) of each condition in a `when`: one mapping or a list of them."""
    if isinstance(when, dict):
        yield (), when
    for i, condition in enumerate(_list(when)):
        if isinstance(condition, dict):
            yield (i,), condition


def iter_path_fields(rule: dict[str, Any]) -> Iterator[tuple[FieldPath, Any]]:
    """(relative field path, value) of every place in a rule where a JSONPath is accepted."""
    patches = _dict(rule.get("patches"))
    for side in ("toHost", "toVirtual"):
        for j, patch in enumerate(_list(patches.get(side))):
            patch = _dict(patch)
            for key in ("path", "from"):
                if key in patch:
                    yield ("patches", side, j, key), patch[key]
            for relative, condition in iter_conditions(patch.get("when")):
                if "path" in condition:
                    yield ("patches", side, j, "when", *relative, "path"), condition["path"]
                if isinstance(condition.get("subPath"), str):
                    yield ("patches", side, j, "when", *relative, "subPath"), rooted(condition["subPath"])
    for k, ref in enumerate(_list(rule.get("references"))):
        ref = _dict(ref)
        # With namePath, namePath and namespacePath are rooted at each item (written relative, like vcluster's).
        item_relative = "namePath" in ref
        for key in ("path", "namespacePath", "namePath"):
            if key in ref:
                value = ref[key]
                relative_here = key == "namePath" or (key == "namespacePath" and item_relative)
                yield ("references", k, key), rooted(value) if relative_here and isinstance(value, str) else value
        for relative, condition in iter_conditions(ref.get("when")):
            if "path" in condition:
                yield ("references", k, "when", *relative, "path"), condition["path"]
            if isinstance(condition.get("subPath"), str):
                yield ("references", k, "when", *relative, "subPath"), rooted(condition["subPath"])
    status = _dict(rule.get("status"))
    for key in ("paths", "observedGenerationPaths"):
        for m, status_path in enumerate(_list(status.get(key))):
            yield ("status", key, m), status_path
    for m, reverse_path in enumerate(_list(_dict(rule.get("reverse")).get("paths"))):
        yield ("reverse", "paths", m), reverse_path


def top_field(expr: str) -> str | None:
    """The single top-level field a (valid) JSONPath stays under (`$.status.x` -> 'status'), or None when it can
    reach several (`$..x`, `$.*`, `$`)."""
    node = compile_path(expr)
    segments: list[Any] = []
    while isinstance(node, Child):
        segments.append(node.right)
        node = node.left
    segments.append(node)
    segments.reverse()
    if len(segments) < 2 or not isinstance(segments[0], Root) or not isinstance(segments[1], Fields):
        return None
    fields = tuple(segments[1].fields)
    return str(fields[0]) if len(fields) == 1 and fields[0] != "*" else None


def is_under_status(expr: str) -> bool:
    """True when a (valid) JSONPath can only match inside `.status`: `$.status` or `$.status.<anything>`."""
    return top_field(expr) == "status"


def field_chain(expr: str) -> tuple[str, ...] | None:
    """The field names of a (valid) JSONPath that is a plain chain of map fields (`$.spec.a`,
    `$.metadata.annotations['k']`), or None when it has wildcards, filters, indices, `..` or is `$` itself."""
    node = compile_path(expr)
    chain: list[str] = []
    while isinstance(node, Child):
        right = node.right
        if not isinstance(right, Fields) or len(right.fields) != 1 or right.fields[0] == "*":
            return None
        chain.append(str(right.fields[0]))
        node = node.left
    if not isinstance(node, Root) or not chain:
        return None
    chain.reverse()
    return tuple(chain)


_ANY = None  # a step of a path that may match any field or item


def _steps(expr: str) -> tuple[str | None, ...] | None:
    """The steps of a (valid) JSONPath, a field name or _ANY (wildcards, indices, filters); None when the path can
    reach anywhere below its start (`..`, or a form this reading does not know): such a path overlaps everything."""
    node = compile_path(expr)
    steps: list[str | None] = []
    while isinstance(node, Child):
        right = node.right
        if isinstance(right, Fields) and len(right.fields) == 1 and right.fields[0] != "*":
            steps.append(str(right.fields[0]))
        elif type(right).__name__ in _ONE_STEP_NODES:
            steps.append(_ANY)
        else:
            return None
        node = node.left
    if not isinstance(node, Root):
        return None
    steps.reverse()
    return tuple(steps)


# jsonpath-ng node types that stand for exactly one step (any field or item), by name: their classes moved between
# jsonpath-ng versions, and a node not listed here is read as "anywhere below" (the safe answer for an overlap check).
_ONE_STEP_NODES = frozenset({"Wildcard", "Index", "Slice", "Filter", "StrictFilter", "Fields"})


def paths_overlap(first: str, second: str) -> bool:
    """True when two (valid) JSONPaths may touch the same field: one may match at or below what the other matches."""
    a, b = _steps(first), _steps(second)
    if a is None or b is None:
        return True
    return all(x is _ANY or y is _ANY or x == y for x, y in zip(a, b, strict=False))


# Annotation keys reverse paths may not write: crdsync's own (the tenant's copy of them is never trusted, and one
# written onto the virtual source would make it look like a copy, so no rule would select it any more), and kubectl's.
_RESERVED_ANNOTATION_PREFIX = "crdsync.io/"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _reverse_path_problem(value: str) -> str | None:
    """Why a (valid) reverse path is not one crdsync can write back without a loop or a leak, or None."""
    chain = field_chain(value)
    if chain is None:
        return (
            f"reverse path {value!r} must be a plain chain of field names (no wildcards, filters, list indices or "
            "'..'): server-side apply merges maps field by field, but a custom resource's lists are atomic, so a "
            "write into a list would replace the tenant's whole list"
        )
    if chain[0] == "spec" and len(chain) >= 2:
        return None
    if chain[:2] == ("metadata", "annotations") and len(chain) == 3:
        key = chain[2]
        if key.startswith(_RESERVED_ANNOTATION_PREFIX) or key == _LAST_APPLIED:
            return f"reverse path {value!r} names an annotation crdsync or kubectl reserves; pick another key"
        return None
    if chain[0] == "status":
        return f"reverse path {value!r} is under $.status: status flows back through `status.paths`"
    if chain[:2] == ("metadata", "labels"):
        return (
            f"reverse path {value!r} is a label: labels decide which rules select the object, so a host-owned "
            "label could make the tenant's object come and go; use an annotation"
        )
    return (
        f"reverse path {value!r} must be a field under $.spec (e.g. $.spec.assignedPort) or one annotation "
        "(e.g. $.metadata.annotations['example.com/endpoint'])"
    )


def _reverse_overlaps(rule: dict[str, Any], value: str) -> list[tuple[FieldPath, str]]:
    """(relative field path, message) for each reference or toHost patch of `rule` that touches reverse path
    `value`: a host-owned value must never be read as a name (it would name a host object the tenant could not name)
    and never be set by crdsync (the host owns it; the forward translation leaves it out)."""
    found: list[tuple[FieldPath, str]] = []
    for k, ref in enumerate(_list(rule.get("references"))):
        for key in ("path", "namespacePath"):
            other = _dict(ref).get(key)
            if isinstance(other, str) and path_error(other) is None and paths_overlap(value, other):
                found.append(
                    (
                        ("references", k, key),
                        f"reference {key} {other!r} overlaps reverse path {value!r}: a value the host owns must never "
                        "be read as a name (it is a host name, and could name a host object the tenant cannot name)",
                    )
                )
    for j, patch in enumerate(_list(_dict(rule.get("patches")).get("toHost"))):
        other = _dict(patch).get("path")
        if isinstance(other, str) and path_error(other) is None and paths_overlap(value, other):
            found.append(
                (
                    ("patches", "toHost", j, "path"),
                    f"patch path {other!r} overlaps reverse path {value!r}: the host owns that field, so crdsync "
                    "never sends it (the patch would have no effect)",
                )
            )
    return found


def _rule_local_problems(
    document: Document, direction: Direction, path: FieldPath, rule: dict[str, Any]
) -> list[Problem]:
    def problem(relative: FieldPath, message: str, at_key: bool = False) -> Problem:
        full = (*path, *relative)
        positions = document.positions
        return Problem(positions.key(full) if at_key else positions.value(full), full, message, document.index)

    problems: list[Problem] = []
    for relative, value in iter_path_fields(rule):
        if not isinstance(value, str):
            continue
        error = path_error(value)
        if error is not None:
            problems.append(problem(relative, error))
        elif relative[:2] == ("status", "paths") and not is_under_status(value):
            problems.append(
                problem(relative, f"status path {value!r} is outside $.status: only status flows back, e.g. $.status")
            )
        elif relative[:2] == ("reverse", "paths") and (reason := _reverse_path_problem(value)) is not None:
            problems.append(problem(relative, reason))
        elif relative[:2] == ("reverse", "paths"):
            problems.extend(problem(where, message) for where, message in _reverse_overlaps(rule, value))
        elif relative[:2] == ("status", "observedGenerationPaths") and not is_under_status(value):
            problems.append(
                problem(
                    relative,
                    f"observedGeneration path {value!r} is outside $.status: only status flows back, e.g. "
                    "$.status.observedGeneration",
                )
            )

    naming = rule.get("naming")
    if isinstance(naming, dict) and naming.get("style") == NamingStyle.VCLUSTER.value:
        # vcluster's names have a fixed shape (63 characters, 10 hex characters of hash): a length set here would be
        # silently ignored, and a reader would believe the hash guards tenants as in style hashed.
        for key in ("maxLength", "hashLength"):
            if key in naming:
                problems.append(
                    problem(
                        ("naming", key),
                        f"{key} applies to naming style hashed only: style vcluster gives vcluster's names exactly "
                        "(at most 63 characters, 10 hex characters of hash); remove it",
                        at_key=True,
                    )
                )
    elif isinstance(naming, dict):
        max_length = naming.get("maxLength", DEFAULT_MAX_LENGTH)
        hash_length = naming.get("hashLength", DEFAULT_HASH_LENGTH)
        if _is_int(max_length) and _is_int(hash_length) and hash_length + 2 > max_length:
            where = ("naming", "hashLength") if "hashLength" in naming else ("naming", "maxLength")
            problems.append(
                problem(
                    where,
                    f"hashLength {hash_length} does not fit in maxLength {max_length}: a host name needs at least one "
                    "readable character and '-' before the hash (hashLength + 2 <= maxLength)",
                )
            )

    mode = rule.get("mode", "all")
    if direction is Direction.TO_HOST:
        if mode == "referenced" and "reverse" in rule:
            problems.append(
                problem(
                    ("reverse",),
                    "reverse applies to mode: all only: an exported follower is the tenant's object named by another, "
                    "and nothing flows back onto it (neither status nor host-owned fields)",
                    at_key=True,
                )
            )
        if "host" in rule:
            problems.append(
                problem(
                    ("host",),
                    "host applies to fromHost rules only (which host objects to import); a toHost rule picks virtual "
                    "objects with selector, namespaceSelector and namespaces",
                    at_key=True,
                )
            )
        if "readOnly" in rule:
            problems.append(
                problem(
                    ("readOnly",),
                    "readOnly applies to fromHost rules only (imported copies); a toHost rule always converges the "
                    "host copy to the virtual object",
                    at_key=True,
                )
            )
    else:
        deletion = rule.get("deletion")
        if isinstance(deletion, dict) and deletion.get("finalizer") is True:
            problems.append(
                problem(
                    ("deletion", "finalizer"),
                    "finalizer applies to toHost rules only (it holds the virtual object until its host copy is "
                    "gone); remove it from this fromHost rule",
                )
            )
        for key in ("reverse", "replaceOnConflict"):
            if key in rule:
                problems.append(
                    problem(
                        (key,),
                        f"{key} applies to toHost rules only (host copies of tenant objects); a fromHost rule "
                        "writes only into the virtual cluster",
                        at_key=True,
                    )
                )
        if "status" in rule:
            problems.append(
                problem(
                    ("status",),
                    "status applies to toHost rules only; a fromHost rule imports the whole host object, status "
                    "included (use patches.toVirtual to drop parts)",
                    at_key=True,
                )
            )
        for key in ("namespaceSelector", "namespaces"):
            if key in rule:
                problems.append(
                    problem(
                        (key,),
                        f"{key} selects virtual namespaces for toHost rules; a fromHost rule picks host objects with "
                        "selector and host.namespaces",
                        at_key=True,
                    )
                )
        patches = rule.get("patches")
        if isinstance(patches, dict) and _list(patches.get("toHost")):
            problems.append(
                problem(
                    ("patches", "toHost"),
                    "a fromHost rule never writes to the host, so patches.toHost would never apply; use "
                    "patches.toVirtual",
                    at_key=True,
                )
            )
        if mode == "referenced" and "host" in rule:
            problems.append(
                problem(
                    ("host",),
                    "host applies to mode: all only; a mode: referenced rule imports exactly the objects its "
                    "references name",
                    at_key=True,
                )
            )
        if mode == "all" and "naming" in rule:
            problems.append(
                problem(
                    ("naming",),
                    "a fromHost rule with mode: all keeps host names, so naming would never apply; naming is for "
                    "toHost and mode: referenced rules",
                    at_key=True,
                )
            )
    return problems


_VCLUSTER_TESTS = ("empty", "equal", "notEqual")
_FORMAT_TOKEN = re.compile(r"\$(NAMESPACE|NAME)")
# Characters a namespace can hold (a DNS label): the text between $NAME and $NAMESPACE needs one outside them.
_NAMESPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def format_problem(fmt: str) -> str | None:
    """Why a reference `format` cannot be parsed back unambiguously, or None when it is fine."""
    tokens = _FORMAT_TOKEN.findall(fmt)
    if tokens.count("NAME") != 1:
        return "a format needs $NAME exactly once, e.g. $NAME.$NAMESPACE.svc or $NAMESPACE/$NAME"
    if tokens.count("NAMESPACE") > 1:
        return "a format may hold $NAMESPACE at most once"
    literal = _FORMAT_TOKEN.split(fmt)[::2]  # the text around the tokens
    if any("$" in part for part in literal):
        return "a format holds only $NAME and $NAMESPACE as placeholders; other '$' cannot be told from them"
    if len(tokens) == 2 and not set(literal[1]) - _NAMESPACE_CHARS:
        return (
            f"the text between ${tokens[0]} and ${tokens[1]} ({literal[1]!r}) must hold a character a namespace cannot "
            "(e.g. '.' or '/'), or a value could be split in more than one way"
        )
    return None


def _patch_reference_problems(
    document: Document, direction: Direction, path: FieldPath, rule: dict[str, Any]
) -> list[Problem]:
    """Checks of patches, conditions and references within one rule that the schema cannot express."""

    def problem(relative: FieldPath, message: str, at_key: bool = False) -> Problem:
        full = (*path, *relative)
        positions = document.positions
        return Problem(positions.key(full) if at_key else positions.value(full), full, message, document.index)

    problems: list[Problem] = []

    def check_when(where: FieldPath, when: Any) -> None:
        for relative, condition in iter_conditions(when):
            tests = [key for key in _VCLUSTER_TESTS if key in condition]
            if len(tests) > 1:
                # vcluster looked at the first of empty, equal, notEqual and ignored the rest; crdsync would test all,
                # so a converted or hand-written condition would silently mean something else.
                problems.append(
                    problem(
                        (*where, *relative, tests[1]),
                        f"one condition tests at most one of empty, equal and notEqual (here: {', '.join(tests)}); "
                        "write a list of conditions to test several",
                        at_key=True,
                    )
                )

    naming = _dict(rule.get("naming"))
    patches = _dict(rule.get("patches"))
    for side in ("toHost", "toVirtual"):
        for j, patch in enumerate(_list(patches.get(side))):
            patch = _dict(patch)
            check_when(("patches", side, j, "when"), patch.get("when"))
            if "keyStyle" not in patch:
                continue
            where: FieldPath = ("patches", side, j, "keyStyle")
            if "keyMap" in patch or "keyPrefix" in patch:
                problems.append(
                    problem(where, "keyStyle renames every key itself: remove keyMap and keyPrefix", at_key=True)
                )
            elif side != "toHost" or direction is not Direction.TO_HOST:
                problems.append(
                    problem(
                        where,
                        "keyStyle gives host label keys (vcluster translated keys only on the way to the host); use it "
                        "in patches.toHost of a toHost rule",
                        at_key=True,
                    )
                )
            elif naming.get("style") != NamingStyle.VCLUSTER.value:
                problems.append(
                    problem(
                        where,
                        "keyStyle reproduces the label keys vcluster's syncer gives its copies, which go with "
                        "vcluster's names: set naming: {style: vcluster} on this rule (or rename keys with keyMap / "
                        "keyPrefix)",
                        at_key=True,
                    )
                )
    for k, ref in enumerate(_list(rule.get("references"))):
        ref = _dict(ref)
        check_when(("references", k, "when"), ref.get("when"))
        fmt = ref.get("format")
        if isinstance(fmt, str):
            reason = format_problem(fmt)
            if reason is not None:
                problems.append(problem(("references", k, "format"), reason))
    return problems


def document_problems(document: Document) -> list[Problem]:
    """The checks that need only one document."""
    problems: list[Problem] = []
    for direction, path, rule in iter_rule_data(document):
        problems.extend(_rule_local_problems(document, direction, path, rule))
        problems.extend(_patch_reference_problems(document, direction, path, rule))
    return problems


# ---------------------------------------------------------------------------------------------------------------------
# Checks across all rules


Requirement = tuple[str, str, frozenset[str]]


def _requirements(selector: Any) -> list[Requirement]:
    if not isinstance(selector, dict):
        return []
    out: list[Requirement] = []
    for key, value in _dict(selector.get("matchLabels")).items():
        if isinstance(value, str):
            out.append((key, "In", frozenset([value])))
    for expression in _list(selector.get("matchExpressions")):
        expression = _dict(expression)
        label, operator = expression.get("key"), expression.get("operator")
        values = frozenset(v for v in _list(expression.get("values")) if isinstance(v, str))
        if isinstance(label, str) and operator in ("In", "NotIn", "Exists", "DoesNotExist"):
            out.append((label, str(operator), values))
    return out


def _conflicting(a: Requirement, b: Requirement) -> bool:
    """True when no label set can satisfy both requirements."""
    if a[0] != b[0]:
        return False
    for (_, op1, values1), (_, op2, values2) in ((a, b), (b, a)):
        if op1 == "In" and op2 == "In" and not values1 & values2:
            return True
        if op1 == "In" and op2 == "NotIn" and values1 <= values2:
            return True
        if op1 in ("In", "Exists") and op2 == "DoesNotExist":
            return True
    return False


def selectors_disjoint(first: Any, second: Any) -> bool:
    """True when no object's labels can match both selectors (decided per label key; conservative)."""
    return any(_conflicting(a, b) for a in _requirements(first) for b in _requirements(second))


def _landing_namespaces(rule: RawRule) -> frozenset[str] | None:
    """The virtual namespaces fromHost `rule` imports into, or None when that is any namespace: host.virtualNamespace,
    else the names of host.namespaces (an import keeps its namespace's name), else every namespace."""
    host = _dict(rule.data.get("host"))
    landing = host.get("virtualNamespace")
    if isinstance(landing, str):
        return frozenset([landing])
    namespaces = [n for n in _list(host.get("namespaces")) if isinstance(n, str)]
    return frozenset(namespaces) if namespaces else None


def namespaces_disjoint(to_host: RawRule, from_host: RawRule) -> bool:
    """True when the toHost rule exports only from virtual namespaces that the fromHost rule never imports into."""
    exported = frozenset(n for n in _list(to_host.data.get("namespaces")) if isinstance(n, str))
    landing = _landing_namespaces(from_host)
    return bool(exported) and landing is not None and not exported & landing


def _duplicate_problems(rules: Sequence[RawRule]) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[tuple[Direction, str, str], RawRule] = {}
    for rule in rules:
        key = (rule.direction, rule.group, rule.kind)
        earlier = first.setdefault(key, rule)
        if earlier is rule:
            continue
        group = rule.group or "the core group"
        problems.append(
            rule.problem(
                ("kind",),
                f"duplicate {rule.direction.value} rule for {rule.kind} ({group}): already defined at "
                f"{earlier.location}; write one rule per kind and direction (versions do not count)",
            )
        )
    return problems


def _loop_problems(rules: Sequence[RawRule]) -> list[Problem]:
    """A kind in both directions, mode all in both, needs selections that cannot pick the same object.

    No object bounces whatever the selectors say: every copy carries crdsync's bookkeeping (stamped after every patch,
    so no patch removes it) and an object carrying it is never selected on either side (translate.selectors), so an
    import is never exported, a host copy never imported, and nothing is a copy of a copy. What the selections must
    still settle is which rule an object belongs to, so that one standing where an import lands is unambiguous: the
    selectors are provably disjoint by labels (selectors_disjoint), or the imports land only in virtual namespaces the
    toHost rule does not export from (namespaces_disjoint; the toHost rule lists its `namespaces`). Patches do not
    matter here: they change what a copy holds, never that it carries bookkeeping. (The engine adds that an import
    never takes the place of a tenant object the toHost rule exports, nor an export that of a host object the
    fromHost rule imports, whatever the conflict policies say.)
    """
    problems: list[Problem] = []
    to_host = {(r.group, r.kind): r for r in reversed(rules) if r.direction is Direction.TO_HOST and r.mode == "all"}
    reported: set[tuple[str, str]] = set()
    for rule in rules:
        key = (rule.group, rule.kind)
        if rule.direction is not Direction.FROM_HOST or rule.mode != "all" or key in reported or key not in to_host:
            continue
        other = to_host[key]
        if selectors_disjoint(other.data.get("selector"), rule.data.get("selector")) or namespaces_disjoint(
            other, rule
        ):
            continue
        reported.add(key)
        relative: FieldPath = ("mode",) if "mode" in rule.data else ("kind",)
        problems.append(
            rule.problem(
                relative,
                f"{rule.kind} is synced in both directions with mode: all (toHost rule at {other.location}), and "
                "nothing says which rule an object belongs to. Make one of the rules mode: referenced, give both "
                "selectors that no object can match at once (e.g. matchLabels {k: a} here and {k: b} there), or "
                "import into virtual namespaces the toHost rule does not export from (host.virtualNamespace here, "
                "namespaces there)",
            )
        )
    return problems


_FOLLOW_DIRECTIONS: dict[str, tuple[Direction, ...]] = {
    FollowDirection.TO_HOST.value: (Direction.TO_HOST,),
    FollowDirection.FROM_HOST.value: (Direction.FROM_HOST,),
    FollowDirection.NONE.value: (Direction.TO_HOST, Direction.FROM_HOST),
}


def candidate_api_versions(rules: Sequence[RawRule], kind: str, follow: str) -> list[str]:
    """Distinct apiVersions of the rules for `kind` (any group) a reference with this `follow` may resolve to."""
    directions = _FOLLOW_DIRECTIONS.get(follow, ())
    versions: list[str] = []
    for rule in rules:
        if rule.direction in directions and rule.kind == kind and rule.api_version not in versions:
            versions.append(rule.api_version)
    return versions


def _where(follow: str) -> str:
    return {"toHost": "toHost", "fromHost": "fromHost"}.get(follow, "toHost or fromHost")


def _reference_problems(rules: Sequence[RawRule]) -> list[Problem]:
    problems: list[Problem] = []
    for rule in rules:
        for k, ref in enumerate(_list(rule.data.get("references"))):
            if not isinstance(ref, dict) or not _valid_kind(ref.get("kind")):
                continue
            kind = str(ref["kind"])
            follow = ref.get("follow", "none")
            if not isinstance(follow, str) or follow not in _FOLLOW_DIRECTIONS:
                continue
            directions = _FOLLOW_DIRECTIONS[follow]
            if "apiVersion" not in ref:
                versions = candidate_api_versions(rules, kind, follow)
                if len(versions) == 1:
                    continue
                if not versions:
                    message = (
                        f"apiVersion omitted, and no {_where(follow)} rule has kind {kind} to take it from: add a "
                        f"{_where(follow)} rule for {kind}"
                        + (" (usually mode: referenced)" if follow != "none" else "")
                        + " or fix the kind"
                    )
                else:
                    message = (
                        f"apiVersion omitted, but rules for kind {kind} use several: {', '.join(versions)}; write the "
                        "one this reference names"
                    )
                # The key is absent, so this locates at the reference mapping, where it should be added.
                problems.append(rule.problem(("references", k, "apiVersion"), message))
                continue
            api_version = ref["apiVersion"]
            if not _valid_api_version(api_version):
                continue
            group = str(api_version).rpartition("/")[0]
            same_kind = [r for r in rules if r.direction in directions and r.group == group and r.kind == kind]
            if not same_kind:
                if follow == "none":
                    message = (
                        f"no rule syncs {kind} ({api_version}): a follow: none reference only renames by that kind's "
                        f"own rule; add a rule for {kind}, or follow: toHost / fromHost with a mode: referenced rule"
                    )
                else:
                    verb = "export" if follow == "toHost" else "import"
                    message = (
                        f"no {follow} rule for {kind} ({api_version}): a follow: {follow} reference needs one to "
                        f"{verb} the named object; add {{apiVersion: {api_version}, kind: {kind}, mode: referenced}} "
                        f"under spec.{follow}"
                    )
                problems.append(rule.problem(("references", k, "kind"), message))
            elif follow == "fromHost" and not any(r.mode == "referenced" for r in same_kind):
                # A fromHost rule in mode all keeps host names, so an import by reference would hand the tenant any
                # host object of the kind it can name, not one made for it.
                other = same_kind[0]
                problems.append(
                    rule.problem(
                        ("references", k, "follow"),
                        f"{kind} is imported by the mode-all rule at {other.location}, which keeps host names: a "
                        f"follow: fromHost reference would import whatever host {kind} a tenant names; use follow: "
                        "none (the name is checked against what that rule shares) or a mode: referenced rule",
                    )
                )
            elif not any(r.api_version == api_version for r in same_kind):
                other = same_kind[0]
                problems.append(
                    rule.problem(
                        ("references", k, "apiVersion"),
                        f"{kind} is synced as {other.api_version} by the rule at {other.location}, but this reference "
                        f"says {api_version}: use the rule's version",
                    )
                )
    return problems


def cross_problems(documents: Sequence[Document]) -> list[Problem]:
    """The checks that look at all rules of all documents loaded together."""
    rules = raw_rules(documents)
    return [*_duplicate_problems(rules), *_loop_problems(rules), *_reference_problems(rules)]
