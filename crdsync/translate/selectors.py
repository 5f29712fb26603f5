"""Which objects a rule selects, on either side. The engine lists and watches every object of a synced kind (no
label selector on the request) and decides here, per object, which ones a rule syncs.

Kubernetes label-selector semantics: all matchLabels and matchExpressions must hold; an empty selector, and no
selector at all, match everything. NotIn and DoesNotExist hold for objects without the key.

Objects carrying crdsync bookkeeping are never selected on either side: they are copies we made, and syncing them back
would make copies of copies (and let a tenant's object bounce off the host into another place). Rules in mode
`referenced` select nothing by themselves: their objects follow references of other rules (see objects.followers).

Pure; nothing raises: malformed metadata reads as "no labels".
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from crdsync.spec.model import Direction, LabelSelector, Rule, SelectorOperator, SyncMode
from crdsync.translate.bookkeeping import carries_bookkeeping, labels_of


def matches(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    """True when `labels` satisfy `selector` (None or empty selector: always)."""
    if selector is None:
        return True
    have: Mapping[str, str] = labels or {}
    for key, value in selector.match_labels:
        if have.get(key) != value:
            return False
    for req in selector.match_expressions:
        present = req.key in have
        if req.operator is SelectorOperator.IN:
            ok = present and have[req.key] in req.values
        elif req.operator is SelectorOperator.NOT_IN:
            ok = not present or have[req.key] not in req.values
        elif req.operator is SelectorOperator.EXISTS:
            ok = present
        else:  # DOES_NOT_EXIST
            ok = not present
        if not ok:
            return False
    return True


def _namespace_of(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return ns if isinstance(ns, str) else None


def _name_of(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) else None


def selects_virtual(rule: Rule, obj: Mapping[str, Any], namespace_labels: Mapping[str, str] | None) -> bool:
    """True when toHost `rule` (mode all) syncs virtual `obj`.

    `namespace_labels` are the labels of obj's virtual namespace (None: no labels). rule.namespaces and
    rule.namespace_selector only apply to namespaced rules.
    """
    if rule.direction is not Direction.TO_HOST or rule.mode is not SyncMode.ALL or carries_bookkeeping(obj):
        return False
    if rule.namespaced:
        namespace = _namespace_of(obj)
        if rule.namespaces and namespace not in rule.namespaces:
            return False
        if rule.namespace_selector is not None and not matches(rule.namespace_selector, namespace_labels):
            return False
    return matches(rule.selector, labels_of(obj))


def selects_host(rule: Rule, obj: Mapping[str, Any]) -> bool:
    """True when fromHost `rule` (mode all) imports host `obj`: host.namespaces, host.name_patterns, selector."""
    if rule.direction is not Direction.FROM_HOST or rule.mode is not SyncMode.ALL or carries_bookkeeping(obj):
        return False
    if rule.namespaced and rule.host.namespaces and _namespace_of(obj) not in rule.host.namespaces:
        return False
    if rule.host.name_patterns:
        name = _name_of(obj)
        # fnmatchcase: names are case-sensitive on every platform (fnmatch would fold case on Windows).
        if name is None or not any(fnmatch.fnmatchcase(name, pattern) for pattern in rule.host.name_patterns):
            return False
    return matches(rule.selector, labels_of(obj))
