"""Property tests: crdsync convert never raises, and whatever mapping it writes loads with crdsync's own loader."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdsync.convert.texts import convert_texts

_WORDS = [
    "version", "v1beta1", "export", "import", "hooks", "mappings", "fromVirtualCluster", "fromHostCluster", "syncBack",
    "selectors", "name", "rewrittenPath", "apiVersion", "kind", "optional", "replaceOnConflict", "selector",
    "labelSelector", "patches", "reversePatches", "op", "path", "fromPath", "value", "regex", "namePath",
    "namespacePath", "conditions", "subPath", "equal", "notEqual", "empty", "ignore", "sync", "secret", "configmap",
    "copyFromObject", "add", "replace", "remove", "rewriteName", "rewriteLabelKey", "rewriteLabelSelector",
    "rewriteLabelExpressionsSelector", "status", "spec.secretName", "spec.items[*].name", "$.status.x", "metadata.name",
    "Secret", "Issuer", "Certificate", "ClusterIssuer", "v1", "cert-manager.io/v1", "example.com/v1", "IngressClass",
    "hostToVirtual", "virtualToHost", "verbs", "$NAME", "id", "nameMapping", "namespace", "[", "'", "", "x y",
]  # fmt: skip

_scalars = st.one_of(st.sampled_from(_WORDS), st.booleans(), st.integers(-3, 3), st.none(), st.text(max_size=8))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_WORDS), inner, max_size=5)),
    max_leaves=40,
)


def _forms(config: Any) -> list[str]:
    text = json.dumps(config)
    embedded = json.dumps(text)
    return [
        text,
        json.dumps({"sync": {"generic": {"config": text}}, "multiNamespaceMode": {"enabled": True}}),
        json.dumps({"experimental": {"genericSync": config}}),
        json.dumps({"plugin": {"p": {"env": [{"name": "CONFIG", "value": text}]}}}),
        "sync:\n  generic:\n    config: |-\n" + "".join(f"      {line}\n" for line in text.splitlines()),
        f"plugin:\n  p:\n    env:\n      - name: CONFIG\n        value: {embedded}\n",
    ]


def _check(text: str) -> None:
    result, findings, errors = convert_texts([("f.yaml", text)], "converted", False)
    assert (result is None) == bool(errors)
    if result is not None:
        broken = [str(f) for f in findings if "does not load" in f.reason]
        assert not broken, (text, result.text, broken)
        for finding in findings:
            assert finding.location.line >= 1 and finding.location.column >= 1


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    _check(text)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {"version": st.sampled_from(["v1beta1", "v2"])},
        optional={"export": _values, "import": _values, "hooks": _values},
    )
)
def test_generic_configs_convert_to_loadable_mappings(config: dict[str, Any]) -> None:
    for text in _forms(config):
        _check(text)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({"version": st.just("v1beta1"), "mappings": _values}))
def test_plugin_configs_convert_to_loadable_mappings(config: dict[str, Any]) -> None:
    for text in _forms(config):
        _check(text)


_patch = st.fixed_dictionaries(
    {"op": st.sampled_from([*_WORDS[36:44], "bogus"])},
    optional={
        "path": st.sampled_from(
            ["spec.secretName", "spec.items[*].name", "status.x", "spec.a.b", "metadata.name", "["]
        ),
        "fromPath": st.sampled_from(["status", "spec.a", "status.y"]),
        "value": _scalars,
        "regex": st.sampled_from(["$NAME", "$NAME.$NAMESPACE"]),
        "namePath": st.just("name"),
        "namespacePath": st.just("namespace"),
        "conditions": st.lists(
            st.dictionaries(st.sampled_from(["path", "subPath", "equal", "notEqual", "empty"]), _scalars), max_size=2
        ),
        "ignore": st.booleans(),
        "sync": st.dictionaries(st.sampled_from(["secret", "configmap"]), st.booleans()),
    },
)
_entry = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(["v1", "example.com/v1"]), "kind": st.sampled_from(["Secret", "Widget", "Issuer"])},
    optional={
        "patches": st.lists(_patch, max_size=4),
        "reversePatches": st.lists(_patch, max_size=3),
        "selector": st.fixed_dictionaries({"labelSelector": st.dictionaries(st.sampled_from(["a", "b"]), _scalars)}),
        "optional": st.booleans(),
        "replaceOnConflict": st.booleans(),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_entry, max_size=4), st.lists(_entry, max_size=3))
def test_well_formed_configs_convert_to_loadable_mappings(exports: list[Any], imports: list[Any]) -> None:
    _check(json.dumps({"version": "v1beta1", "export": exports, "import": imports}))
    mappings = [
        {
            "fromVirtualCluster": {
                **e,
                "syncBack": [{**i, "selectors": [{"name": {"rewrittenPath": "spec.secretName"}}]}],
            }
        }
        for e, i in zip(exports, imports, strict=False)
    ]
    _check(json.dumps({"version": "v1beta1", "mappings": mappings}))
