"""The mapping spec as frozen, validated values: what the loader produces and everything downstream consumes.

Nothing here does IO or parsing; construction never fails on its own (the loader validates first and reports located
errors). All collections are tuples so every spec object is hashable and immutable, and can be shared between
threads of the reconciler without copying.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from crdsync.gvk import GroupVersionKind

# JSON-compatible value as found in Kubernetes objects (dict / list / str / int / float / bool / None).
JSON = Any

API_VERSION = "crdsync.io/v1alpha1"
KIND = "SyncConfig"


@dataclass(frozen=True, order=True)
class Location:
    """Where a spec element was written: 1-based line and column, like editors show them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


UNKNOWN_LOCATION = Location("<unknown>", 0, 0)


class Direction(enum.Enum):
    """Which way objects of a rule flow."""

    TO_HOST = "toHost"  # virtual -> host (tenant-owned objects, e.g. a Certificate)
    FROM_HOST = "fromHost"  # host -> virtual (host-owned objects, e.g. a shared ClusterIssuer)


class FollowDirection(enum.Enum):
    """Which way the object named by a reference moves."""

    TO_HOST = "toHost"  # the tenant wrote it in virtual; export it (e.g. Issuer.spec.ca.secretName)
    FROM_HOST = "fromHost"  # the host operator writes it; import it (e.g. Certificate.spec.secretName)
    NONE = "none"  # rewrite the name only; the object is synced by its own rule or not at all


class Scope(enum.Enum):
    NAMESPACED = "Namespaced"
    CLUSTER = "Cluster"


class SyncMode(enum.Enum):
    """Which objects of the kind a rule syncs."""

    ALL = "all"  # every object that matches the rule's selection
    REFERENCED = "referenced"  # only objects named by a reference of another rule, while referenced


class DeletionPolicy(enum.Enum):
    DELETE = "Delete"  # the copy is deleted with its source
    ORPHAN = "Orphan"  # the copy is released: bookkeeping removed, object left in place


class ConflictPolicy(enum.Enum):
    """What to do when the target object exists and carries no bookkeeping of ours."""

    ADOPT = "Adopt"  # take it over (add bookkeeping, then converge it)
    ABORT = "Abort"  # leave it alone and report an Event on the source
    OVERWRITE = "Overwrite"  # replace its content with ours


class SelectorOperator(enum.Enum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True)
class SelectorRequirement:
    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector; an empty selector matches everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[SelectorRequirement, ...] = ()


# A scalar a condition's equal / notEqual compares with (null is not one: vcluster read null as "no test").
Scalar = str | int | float | bool


@dataclass(frozen=True)
class Condition:
    """One guard on a patch or reference, tested on the matches of `path`; every set test must hold.

    `path` is rooted at the whole object, or, with `relative` (written `subPath`), at each match of the patch's or
    reference's own path (a missing match has no matches). Tests, as in translate.patches.condition_holds:
    - `in_` / `not_in`: the first match (None when there is none) is / is not one of the values;
    - `exists`: the path has a match or not;
    - `equal` / `not_equal` / `empty` (vcluster's tests): some match's text equals / differs from the operand's
      text / is empty (`empty` True) or not (False); with no match at all, `not_equal` and `empty: True` hold and
      `equal` and `empty: False` do not.
    A `when` is a tuple of these, all of which must hold (empty: always).
    """

    path: str
    # JSON values may be dicts or lists (unhashable): compared, never hashed.
    in_: tuple[JSON, ...] | None = field(default=None, hash=False)
    not_in: tuple[JSON, ...] | None = field(default=None, hash=False)
    exists: bool | None = None
    equal: Scalar | None = None
    not_equal: Scalar | None = None
    empty: bool | None = None
    relative: bool = False  # `path` is rooted at each match of the patch's / reference's path (subPath)
    location: Location = UNKNOWN_LOCATION


class PatchOp(enum.Enum):
    SET = "set"  # write `value` at `path`
    COPY = "copy"  # write the value found at `from_path` in the *other* side's object at `path`
    REMOVE = "remove"  # delete what `path` matches
    ADD = "add"  # vcluster's add: merge `value` into matched maps, append it to matched lists, create it where missing
    REPLACE = "replace"  # write `value` over existing matches only
    REWRITE_LABEL_KEYS = "rewriteLabelKeys"  # `path` names a string map; rename keys by `key_map` / `key_prefix`
    REWRITE_LABEL_SELECTOR = "rewriteLabelSelector"  # `path` names a LabelSelector; rename its keys likewise
    REWRITE_LABEL_KEY = "rewriteLabelKey"  # `path` names strings that hold label keys; rename them likewise


class KeyStyle(enum.Enum):
    """vcluster's own label-key translation (translate.patches.vcluster_label_key), for the label-key rewrite ops."""

    VCLUSTER = "vcluster"  # v0.21-v0.27: only vcluster's own keys (release, vcluster.loft.sh/*-by, namespace) hashed
    VCLUSTER_LEGACY = "vclusterLegacy"  # v0.14-v0.20: every key hashed


@dataclass(frozen=True)
class Patch:
    op: PatchOp
    path: str  # JSONPath (jsonpath-ng syntax, wildcards and filters allowed)
    value: JSON = field(default=None, hash=False)  # for SET / ADD / REPLACE; any JSON value, compared, never hashed
    from_path: str | None = None  # for COPY
    key_map: tuple[tuple[str, str], ...] = ()  # for the rewrite ops: exact key -> new key
    key_prefix: str | None = None  # for the rewrite ops: prefix added to every key not in key_map
    key_style: KeyStyle | None = None  # for the rewrite ops instead of key_map / key_prefix: vcluster's hashed keys
    when: tuple[Condition, ...] = ()  # all must hold; empty: always
    location: Location = UNKNOWN_LOCATION


@dataclass(frozen=True)
class Reference:
    """A field that names another object; rewritten by the referenced kind's naming rule."""

    path: str  # JSONPath to the name (may match several fields, e.g. a wildcard over a list); with name_path, items
    kind: str
    api_version: str  # resolved by the loader when the spec leaves it out and the kind is unambiguous
    follow: FollowDirection = FollowDirection.NONE
    # JSONPath to the referenced object's namespace; default: the referrer's. With name_path: rooted at each item.
    namespace_path: str | None = None
    # JSONPath rooted at each item `path` matches (a list match stands for its items): where the name is in it.
    name_path: str | None = None
    # The name field holds a formatted value: literal text with `$NAME` once and `$NAMESPACE` at most once, e.g.
    # `$NAME.$NAMESPACE.svc` (translate.formats.parse_format); None: the field is the name itself.
    format: str | None = None
    when: tuple[Condition, ...] = ()  # all must hold; empty: always
    location: Location = UNKNOWN_LOCATION

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind.from_api_version(self.api_version, self.kind)


class NamingStyle(enum.Enum):
    """How host names are formed (translate.names)."""

    HASHED = "hashed"  # crdsync's own: readable prefix + hash of the exact triple; injective, the tenant boundary
    VCLUSTER = "vcluster"  # vcluster's single-namespace names, byte for byte; NOT injective (migration from vcluster)


@dataclass(frozen=True)
class Naming:
    """How virtual (namespace, name) becomes a host name in the tenant's host namespace (toHost and followers).

    Style hashed (default): a readable prefix built from name, namespace and vcluster, truncated to fit, followed by a
    hash of the exact (vcluster, namespace, name) triple; the way back is recorded in bookkeeping annotations, never
    parsed. The hash alone separates tenants (a name padded to truncate to another's readable prefix shares that
    prefix), so its default is 16 base32 characters, 80 bits: a second preimage (another triple with a victim's hash)
    costs ~2^80 SHA-256 evaluations, out of reach; the schema refuses fewer than 13 (65 bits).

    Style vcluster: exactly the names vcluster's syncer gives (`<name>-x-<namespace>-x-<vcluster>`, over 63
    characters cut to 52 + "-" + 10 hex of SHA-256), so crdsync finds the copies vcluster made. max_length and
    hash_length do not apply (the loader refuses them); two sources can share a name (the engine refuses the second).
    """

    max_length: int = 63
    hash_length: int = 16
    style: NamingStyle = NamingStyle.HASHED


DEFAULT_OBSERVED_GENERATION_PATHS = ("$.status.observedGeneration", "$.status.conditions[*].observedGeneration")


@dataclass(frozen=True)
class StatusSync:
    """Which status paths flow back from the host copy to the virtual object (toHost rules).

    `observed_generation_paths` name the observedGeneration values among them that are mapped from the host copy's
    generations to the virtual object's (see translate.status.virtual_status); empty: values flow back verbatim.
    """

    enabled: bool = True
    paths: tuple[str, ...] = ("$.status",)
    observed_generation_paths: tuple[str, ...] = DEFAULT_OBSERVED_GENERATION_PATHS


@dataclass(frozen=True)
class HostSelection:
    """Which host objects a fromHost rule (mode all) picks and where they land in the virtual cluster.

    `namespaces` empty means every host namespace (namespaced kinds) or is ignored (cluster-scoped kinds).
    `name_patterns` are shell-style globs; empty means every name.
    `virtual_namespace` is the virtual namespace namespaced objects land in; None keeps the host namespace name.
    """

    namespaces: tuple[str, ...] = ()
    name_patterns: tuple[str, ...] = ()
    virtual_namespace: str | None = None


@dataclass(frozen=True)
class Rule:
    direction: Direction
    gvk: GroupVersionKind
    scope: Scope = Scope.NAMESPACED
    mode: SyncMode = SyncMode.ALL
    selector: LabelSelector | None = None  # labels of the source object
    # Virtual-side namespace selection (toHost): both must hold when set.
    namespace_selector: LabelSelector | None = None  # labels of the virtual namespace
    namespaces: tuple[str, ...] = ()  # explicit virtual namespace names; empty means any
    host: HostSelection = field(default_factory=HostSelection)  # fromHost only
    naming: Naming = field(default_factory=Naming)
    patches_to_host: tuple[Patch, ...] = ()
    patches_to_virtual: tuple[Patch, ...] = ()
    status: StatusSync = field(default_factory=StatusSync)
    # toHost mode all: fields of the host copy the host owns (plain chains under $.spec or metadata.annotations),
    # written back onto the virtual source, never sent forward (translate.reverse_paths: forward_view, reverse_fields).
    reverse_paths: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    deletion: DeletionPolicy = DeletionPolicy.DELETE
    finalizer: bool = False  # toHost: hold the virtual object until its host copy is gone
    conflict: ConflictPolicy = ConflictPolicy.ABORT
    # toHost: when the host refuses an update of a proven copy as invalid (422, e.g. an immutable field), delete it
    # (uid precondition) and create it again, with a Normal Event `Replaced` on the virtual source.
    replace_on_conflict: bool = False
    read_only: bool = True  # fromHost: revert tenant edits of the imported copy
    location: Location = UNKNOWN_LOCATION

    @property
    def key(self) -> tuple[Direction, GroupVersionKind]:
        return (self.direction, self.gvk)

    @property
    def namespaced(self) -> bool:
        return self.scope is Scope.NAMESPACED


@dataclass(frozen=True)
class SyncConfig:
    """One or more mapping files merged: the rules the engine executes."""

    name: str
    rules: tuple[Rule, ...]
    sources: tuple[str, ...] = ()  # files it was loaded from

    def rule_for(self, direction: Direction, gvk: GroupVersionKind) -> Rule | None:
        for rule in self.rules:
            if rule.direction is direction and rule.gvk == gvk:
                return rule
        return None

    def rules_for_kind(self, group: str, kind: str) -> tuple[Rule, ...]:
        """Rules for a kind in any version (CRDs serve several versions; the rule names the one we speak)."""
        return tuple(r for r in self.rules if r.gvk.group == group and r.gvk.kind == kind)


@dataclass(frozen=True, order=True)
class SpecError:
    """One located problem in a mapping file. `field_path` is like `spec.toHost[0].references[1].path`."""

    location: Location
    field_path: str
    message: str

    def __str__(self) -> str:
        where = f" ({self.field_path})" if self.field_path else ""
        return f"{self.location}: {self.message}{where}"
