"""Hypothesis strategies for mapping specs.

`from_mapping_schema()` draws instances from schemas/mapping.schema.json itself. It interprets the keywords the schema
uses (its own interpreter because hypothesis-jsonschema 0.23.1 crashes on object schemas with the installed
hypothesis: AttributeError: 'many' object has no attribute 'more'). Instances are schema-valid apart from JSONPaths,
which are sometimes arbitrary text, and they rarely pass the semantic checks (random references, duplicate kinds).

`valid_specs()` builds specs that are valid by construction: unique kinds per direction, no kind in both directions
with mode all, references naming rules in their follow direction, fields used only where they apply.
"""

from __future__ import annotations

import io
import string
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from crdsync.spec.schema import load_schema

SCHEMA = load_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]

VALID_PATHS = [
    "$.spec.secretName",
    "$.spec.issuerRef.name",
    "$.spec.items[*].name",
    "$.spec.things[?(@.local == true)]",
    "$.metadata.annotations['example.com/x']",
    "$.spec.a.b",
]
STATUS_PATHS = ["$.status", "$.status.conditions", "$.status.conditions[*].type", "$.status.ready"]

_SAFE_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_./:éß", max_size=12)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), _SAFE_TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_SAFE_TEXT, children, max_size=3)),
    max_leaves=6,
)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DEFS[schema["$ref"].removeprefix("#/$defs/")]
    return schema


def _validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "$defs": DEFS})


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema is DEFS["jsonPath"]:
        return st.one_of(st.sampled_from(VALID_PATHS + STATUS_PATHS), _SAFE_TEXT.filter(bool))
    if "pattern" in schema:
        max_length = min(schema.get("maxLength", 253), 253)
        return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= max_length)
    return st.text(
        alphabet=string.ascii_letters + string.digits + "-*.", min_size=schema.get("minLength", 0), max_size=12
    )


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = list(schema.get("required", []))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        keys = schema_strategy(schema["propertyNames"]) if "propertyNames" in schema else _SAFE_TEXT
        return st.dictionaries(keys, schema_strategy(extra), max_size=3)

    def with_required(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {k: schema_strategy(properties[k]) for k in keys},
            optional={k: schema_strategy(v) for k, v in properties.items() if k not in keys},
        )

    if "anyOf" in schema:  # our anyOfs only demand one of several keys
        strategy = st.one_of([with_required(required + list(b["required"])) for b in schema["anyOf"]])
    else:
        strategy = with_required(required)
    if "allOf" in schema:  # if/then constraints (selector requirement values) are easier to filter than to build
        validator = _validator_for(schema)
        strategy = strategy.filter(validator.is_valid)
    return strategy


def schema_strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    schema = resolve(schema)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([schema_strategy(branch) for branch in schema["oneOf"]])
    if "anyOf" in schema and "type" not in schema:  # alternatives by type (`when`: a condition or a list of them)
        return st.one_of([schema_strategy(branch) for branch in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "object":
        return _object(schema)
    if kind == "array":
        items = schema_strategy(schema["items"]) if "items" in schema else JSON_SCALARS
        min_size = schema.get("minItems", 0)
        max_size = min(schema.get("maxItems", 3), 3)
        unique = bool(schema.get("uniqueItems"))
        return st.lists(items, min_size=min_size, max_size=max(min_size, max_size), unique=unique)
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "boolean":
        return st.booleans()
    return JSON_VALUES


def from_mapping_schema() -> st.SearchStrategy[dict[str, Any]]:
    strategy: st.SearchStrategy[dict[str, Any]] = schema_strategy(SCHEMA)
    return strategy


def to_yaml(data: Any) -> str:
    yaml = YAML(typ="rt")  # keeps key order (the safe dumper sorts keys), so the loaded model can be compared in order
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------------
# Valid by construction

DNS_LABELS = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
LABEL_KEYS = st.sampled_from(["app", "tier", "example.com/team", "crdsync.io/shared", "k8s.io_x"])
LABEL_VALUES = st.sampled_from(["", "a", "true", "v1.2", "x_y-z"])


@st.composite
def label_selectors(draw: st.DrawFn) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    if draw(st.booleans()):
        selector["matchLabels"] = draw(st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2))
    if draw(st.booleans()):
        expressions = []
        for _ in range(draw(st.integers(0, 2))):
            operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
            expression: dict[str, Any] = {"key": draw(LABEL_KEYS), "operator": operator}
            if operator in ("In", "NotIn"):
                expression["values"] = draw(st.lists(LABEL_VALUES, min_size=1, max_size=2))
            elif draw(st.booleans()):
                expression["values"] = []
            expressions.append(expression)
        selector["matchExpressions"] = expressions
    return selector


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    condition: dict[str, Any] = {"path": draw(st.sampled_from(VALID_PATHS))}
    tests = draw(st.sets(st.sampled_from(["in", "notIn", "exists"]), min_size=1))
    for test in sorted(tests):
        condition[test] = draw(st.booleans()) if test == "exists" else draw(st.lists(JSON_SCALARS, max_size=3))
    return condition


def whens() -> st.SearchStrategy[Any]:
    """A `when` as written: one condition mapping, or a list of them (empty included: always holds)."""
    return st.one_of(conditions(), st.lists(conditions(), max_size=3))


@st.composite
def patches(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(["set", "copy", "remove", "rewriteLabelKeys", "rewriteLabelSelector"]))
    patch: dict[str, Any] = {"op": op, "path": draw(st.sampled_from(VALID_PATHS))}
    if op == "set":
        patch["value"] = draw(JSON_VALUES)
    elif op == "copy":
        patch["from"] = draw(st.sampled_from(VALID_PATHS))
    elif op.startswith("rewrite"):
        which = draw(st.sampled_from(["keyMap", "keyPrefix", "both"]))
        if which != "keyPrefix":
            patch["keyMap"] = draw(st.dictionaries(LABEL_KEYS, LABEL_KEYS, max_size=2))
        if which != "keyMap":
            patch["keyPrefix"] = draw(st.sampled_from(["vc.crdsync.io/", "tenant-"]))
    if draw(st.booleans()):
        patch["when"] = draw(whens())
    return patch


KIND_NAMES = st.from_regex(r"[A-Z][a-z]{2,7}", fullmatch=True)
API_VERSIONS = st.sampled_from(["v1", "example.com/v1", "example.com/v2beta1", "widgets.example.com/v1", "x.io/v3"])


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec that must load; rules are returned in spec.toHost / spec.fromHost order."""
    kinds = draw(st.lists(st.tuples(API_VERSIONS, KIND_NAMES), min_size=1, max_size=4, unique_by=lambda t: t[1]))
    to_host: list[dict[str, Any]] = []
    from_host: list[dict[str, Any]] = []
    for api_version, kind in kinds:
        placement = draw(st.sampled_from(["toHost", "fromHost", "both"]))
        modes = {d: draw(st.sampled_from(["all", "referenced"])) for d in ("toHost", "fromHost")}
        if placement == "both" and modes["toHost"] == modes["fromHost"] == "all":
            modes[draw(st.sampled_from(["toHost", "fromHost"]))] = "referenced"
        for direction in (["toHost", "fromHost"] if placement == "both" else [placement]):
            rule: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
            mode = modes[direction]
            if mode == "referenced" or draw(st.booleans()):
                rule["mode"] = mode
            if draw(st.booleans()):
                rule["scope"] = draw(st.sampled_from(["Namespaced", "Cluster"]))
            if draw(st.booleans()):
                rule["selector"] = draw(label_selectors())
            if (direction == "toHost" or mode == "referenced") and draw(st.booleans()):
                hash_length = draw(st.integers(13, 32))
                rule["naming"] = {"hashLength": hash_length, "maxLength": draw(st.integers(hash_length + 2, 253))}
            rule_patches: dict[str, Any] = {}
            if direction == "toHost" and draw(st.booleans()):
                rule_patches["toHost"] = draw(st.lists(patches(), max_size=2))
            if draw(st.booleans()):
                rule_patches["toVirtual"] = draw(st.lists(patches(), max_size=2))
            if rule_patches:
                rule["patches"] = rule_patches
            if direction == "toHost":
                if draw(st.booleans()):
                    rule["namespaceSelector"] = draw(label_selectors())
                if draw(st.booleans()):
                    rule["namespaces"] = draw(st.lists(DNS_LABELS, max_size=2, unique=True))
                if draw(st.booleans()):
                    status: dict[str, Any] = {"sync": draw(st.booleans())}
                    if draw(st.booleans()):
                        status["paths"] = draw(st.lists(st.sampled_from(STATUS_PATHS), min_size=1, max_size=2))
                    if draw(st.booleans()):
                        status["observedGenerationPaths"] = draw(st.lists(st.sampled_from(STATUS_PATHS), max_size=2))
                    rule["status"] = status
                if draw(st.booleans()):
                    rule["deletion"] = {
                        "policy": draw(st.sampled_from(["Delete", "Orphan"])),
                        "finalizer": draw(st.booleans()),
                    }
            else:
                if mode == "all" and draw(st.booleans()):
                    host: dict[str, Any] = {}
                    if draw(st.booleans()):
                        host["namespaces"] = draw(st.lists(DNS_LABELS, max_size=2, unique=True))
                    if draw(st.booleans()):
                        names = st.sampled_from(["a-*", "*", "shared-?"])
                        host["names"] = draw(st.lists(names, max_size=2, unique=True))
                    if draw(st.booleans()):
                        host["virtualNamespace"] = draw(DNS_LABELS)
                    rule["host"] = host
                if draw(st.booleans()):
                    rule["readOnly"] = draw(st.booleans())
                if draw(st.booleans()):
                    rule["deletion"] = {"policy": draw(st.sampled_from(["Delete", "Orphan"]))}
            if draw(st.booleans()):
                rule["conflict"] = draw(st.sampled_from(["Adopt", "Abort", "Overwrite"]))
            (to_host if direction == "toHost" else from_host).append(rule)

    all_rules = [("toHost", r) for r in to_host] + [("fromHost", r) for r in from_host]
    for _direction, rule in all_rules:
        if not draw(st.booleans()):
            continue
        references = []
        for _ in range(draw(st.integers(1, 3))):
            target_direction, target = draw(st.sampled_from(all_rules))
            follow = draw(st.sampled_from([target_direction, "none"]))
            if follow == "fromHost" and target.get("mode", "all") != "referenced":
                follow = "none"  # importing by reference through a mode-all rule is refused (tenant isolation)
            reference: dict[str, Any] = {"path": draw(st.sampled_from(VALID_PATHS)), "kind": target["kind"]}
            pool = [r for d, r in all_rules if follow == "none" or d == follow]
            versions = {r["apiVersion"] for r in pool if r["kind"] == target["kind"]}
            if len(versions) > 1 or draw(st.booleans()):
                reference["apiVersion"] = target["apiVersion"]
            if follow != "none" or draw(st.booleans()):
                reference["follow"] = follow
            if draw(st.booleans()):
                reference["namespacePath"] = draw(st.sampled_from(VALID_PATHS))
            if draw(st.booleans()):
                reference["when"] = draw(whens())
            references.append(reference)
        rule["references"] = references

    spec: dict[str, Any] = {}
    # len() rather than the list itself: `list or draw(...)` would make mypy expect draw to return a list.
    if len(to_host) > 0 or draw(st.booleans()):
        spec["toHost"] = to_host
    if len(from_host) > 0 or draw(st.booleans()):
        spec["fromHost"] = from_host
    name = draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True))
    return {"apiVersion": "crdsync.io/v1alpha1", "kind": "SyncConfig", "metadata": {"name": name}, "spec": spec}
