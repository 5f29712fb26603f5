"""The pure core of `crdsync plan`: given objects of one side, what the other side would receive, and what follows.

Each object is matched to its rule and translated exactly as `crdsync run` would (crdsync.translate.objects) for one
tenant; `Planner.from_virtual` adds the objects its references make follow (full when given, else a stub annotated
with what the real one would hold), `Planner.from_host` the virtual copies of host objects. Nothing is dropped
silently: an object no rule takes is listed in `Plan.unmatched` with the reason, a translation error in
`Plan.errors` with the object's location. No IO; crdsync.commands.plan reads the input and prints the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import (
    Direction,
    FollowDirection,
    Location,
    Rule,
    SyncConfig,
    SyncMode,
)
from crdsync.translate.bookkeeping import PREFIX, carries_bookkeeping, labels_of
from crdsync.translate.errors import TranslationError
from crdsync.translate.names import Tenant
from crdsync.translate.objects import FollowRef, followers, to_host, to_virtual
from crdsync.translate.selectors import matches, selects_host, selects_virtual

ANN_PLAN = PREFIX + "plan"  # "follower" on every object printed because a reference names it
ANN_PLAN_STUB = PREFIX + "plan-stub"  # on stubs: what the real object would hold


@dataclass(frozen=True)
class PlanInput:
    """One object of the input and where it was read (for located messages)."""

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


# --- planning --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOutput:
    obj: dict[str, Any]
    comment: str


@dataclass
class Plan:
    outputs: list[PlanOutput] = field(default_factory=list)
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


def _namespace_labels(items: Sequence[PlanInput]) -> dict[str, dict[str, str]]:
    """The labels of every Namespace in the input, by name (what namespaceSelectors match)."""
    return {
        i.name: dict(i.obj["metadata"].get("labels") or {})
        for i in items
        if (i.gvk.group, i.gvk.kind) == ("", "Namespace")
    }


def _with_namespace(item: PlanInput, rule: Rule, default_namespace: str) -> PlanInput:
    if not rule.namespaced or item.namespace is not None:
        return item
    obj = {**item.obj, "metadata": {**item.obj["metadata"], "namespace": default_namespace}}
    return PlanInput(obj, item.where, item.gvk)


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


class Planner:
    def __init__(self, config: SyncConfig, tenant: Tenant, default_namespace: str) -> None:
        self.config = config
        self.tenant = tenant
        self.default_namespace = default_namespace
        self.plan = Plan()

    def _error(self, item: PlanInput, exc: TranslationError) -> None:
        self.plan.errors.append(f"{item.where}: {item.describe()}: {exc}")

    # --from virtual

    def from_virtual(self, items: Sequence[PlanInput]) -> Plan:
        """Two passes: what every selected object references first, so referenced objects given in the input print
        in full; then, in input order, each object followed by its followers."""
        namespaces = _namespace_labels(items)
        follows, failed = self._references(items, namespaces)
        referenced = {
            (f.gvk.group, f.gvk.kind, f.virtual_namespace, f.virtual_name)
            for refs in follows.values()
            for f in refs
            if f.direction is FollowDirection.TO_HOST
        }
        by_identity = {(i.gvk.group, i.gvk.kind, i.namespace, i.name): i for i in items}
        done: set[FollowRef] = set()
        for index, raw in enumerate(items):
            rule = _rule(self.config, Direction.TO_HOST, raw.gvk)
            if rule is None:
                self._no_to_host_rule(raw)
                continue
            item = _with_namespace(raw, rule, self.default_namespace)
            if rule.mode is SyncMode.REFERENCED:
                if (raw.gvk.group, raw.gvk.kind, item.namespace, item.name) not in referenced:
                    self.plan.unmatched.append(
                        f"{raw.where}: {raw.describe()}: the {_rule_where(rule)} is mode referenced, and no object in "
                        "the input references it with follow: toHost"
                    )
                continue  # printed (in full) after the object that references it
            if index in failed:
                continue  # reported by the first pass
            if index not in follows:
                self.plan.unmatched.append(
                    f"{raw.where}: {raw.describe()}: {self._why_not_virtual(rule, item, namespaces)}"
                )
                continue
            if self._to_host(item, rule):
                for ref in follows[index]:
                    if ref not in done:
                        done.add(ref)
                        self._follower(item, ref, by_identity)
        return self.plan

    def _references(
        self, items: Sequence[PlanInput], namespaces: dict[str, dict[str, str]]
    ) -> tuple[dict[int, tuple[FollowRef, ...]], set[int]]:
        """(input index -> what it makes follow) of every object a mode-all toHost rule selects, and the indexes of
        those whose references cannot be read (each reported here, once)."""
        follows: dict[int, tuple[FollowRef, ...]] = {}
        failed: set[int] = set()
        for index, raw in enumerate(items):
            rule = _rule(self.config, Direction.TO_HOST, raw.gvk)
            if rule is None or rule.mode is SyncMode.REFERENCED:
                continue
            item = _with_namespace(raw, rule, self.default_namespace)
            if not selects_virtual(rule, item.obj, namespaces.get(item.namespace or "")):
                continue
            try:
                follows[index] = followers(self.config, rule, item.obj, self.tenant)
            except TranslationError as exc:
                failed.add(index)
                self._error(item, exc)
        return follows, failed

    def _no_to_host_rule(self, raw: PlanInput) -> None:
        if (raw.gvk.group, raw.gvk.kind) == ("", "Namespace"):
            self.plan.notes.append(f"{raw.where}: {raw.describe()}: used as namespace context (no rule syncs it)")
        else:
            self.plan.unmatched.append(f"{raw.where}: {raw.describe()}: no toHost rule for {raw.gvk}")

    def _to_host(self, item: PlanInput, rule: Rule) -> bool:
        """The host copy of `item` into the plan; False (and the error reported) when it cannot be translated."""
        try:
            host = to_host(self.config, rule, item.obj, self.tenant)
        except TranslationError as exc:
            self._error(item, exc)
            return False
        self.plan.translated += 1
        comment = (
            f"host <- virtual {item.describe()} "
            f"({host['kind']} {_ns_name(host['metadata'].get('namespace'), host['metadata']['name'])}; "
            f"{_rule_where(rule)})"
        )
        self.plan.outputs.append(PlanOutput(host, comment))
        return True

    def _why_not_virtual(self, rule: Rule, item: PlanInput, namespaces: dict[str, dict[str, str]]) -> str:
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

    def _follower(self, referrer: PlanInput, ref: FollowRef, by_identity: dict[tuple[Any, ...], PlanInput]) -> None:
        try:
            obj, comment = self._render_follower(referrer, ref, by_identity)
        except TranslationError as exc:
            self._error(referrer, exc)
            return
        self.plan.followers += 1
        self.plan.outputs.append(PlanOutput(obj, comment))

    def _render_follower(
        self, referrer: PlanInput, ref: FollowRef, by_identity: dict[tuple[Any, ...], PlanInput]
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

    def from_host(self, items: Sequence[PlanInput]) -> Plan:
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
            self.plan.outputs.append(PlanOutput(obj, comment))
        return self.plan

    def _why_not_host(self, rule: Rule, item: PlanInput) -> str:
        if carries_bookkeeping(item.obj):
            return "it carries crdsync bookkeeping (it is a copy crdsync made), so it is never synced back"
        if rule.namespaced and rule.host.namespaces and item.namespace not in rule.host.namespaces:
            return f"namespace {item.namespace} is not among host.namespaces of the {_rule_where(rule)}"
        if rule.host.name_patterns and matches(rule.selector, labels_of(item.obj)):  # all but the name would do
            return f"its name matches none of host.names of the {_rule_where(rule)}"
        return f"its labels do not match the selector of the {_rule_where(rule)}"
