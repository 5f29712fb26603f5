"""The model builder: documented defaults, locations, name merging."""

from __future__ import annotations

from crdsync.gvk import GroupVersionKind
from crdsync.spec.build import build_config
from crdsync.spec.model import Direction, HostSelection, Location, Naming, Rule, StatusSync
from crdsync.spec.source import parse_yaml

MINIMAL = """\
apiVersion: crdsync.io/v1alpha1
kind: SyncConfig
metadata: {name: one}
spec:
  toHost:
    - apiVersion: example.com/v1
      kind: Widget
  fromHost:
    - {apiVersion: v1, kind: ConfigMap, mode: referenced}
"""


def test_minimal_rules_get_the_model_defaults() -> None:
    documents, problems = parse_yaml(MINIMAL, "m.yaml")
    assert problems == []
    config = build_config(documents, ["m.yaml"])
    assert config.name == "one" and config.sources == ("m.yaml",)
    widget, config_map = config.rules
    expected = Rule(
        direction=Direction.TO_HOST,
        gvk=GroupVersionKind("example.com", "v1", "Widget"),
        location=Location("m.yaml", 6, 7),
    )
    assert widget == expected
    assert widget.naming == Naming() and widget.status == StatusSync() and widget.host == HostSelection()
    assert config_map.direction is Direction.FROM_HOST
    assert config_map.gvk == GroupVersionKind("", "v1", "ConfigMap")
    assert config_map.location == Location("m.yaml", 9, 7)
    assert hash(widget) == hash(expected)


def test_names_of_several_documents_are_joined_once_each() -> None:
    text = MINIMAL + "---\n" + MINIMAL.replace("name: one", "name: two").replace("Widget", "Gadget").replace(
        "ConfigMap", "Secret"
    ) + "---\n" + MINIMAL.replace("Widget", "Gizmo").replace("ConfigMap", "Service")
    documents, problems = parse_yaml(text, "m.yaml")
    assert problems == []
    config = build_config(documents, ["m.yaml"])
    assert config.name == "one+two"
    assert [r.gvk.kind for r in config.rules] == ["Widget", "ConfigMap", "Gadget", "Secret", "Gizmo", "Service"]
