"""The least-privilege RBAC a mapping needs, on the host and in the virtual cluster, derived from what the engine does.

Pure: a loaded SyncConfig and the tenant's names in, plain-dict RBAC objects out (no IO, no client models). Every
grant is a `Need` — one verb on one resource on one side — with the engine action that issues the request, so the
objects can say why each rule exists (annotation `crdsync.io/why`) and tests can compare verbs with the engine's calls.

What the engine does, per kind (one informer per side, keyed by group and kind like engine.KindRuntime):
- host informer: list + watch, in the tenant's host namespace unless a fromHost `mode: all` rule picks host objects
  elsewhere — then cluster-wide, even with `host.namespaces` set (the engine lists all namespaces and filters);
- virtual informer: list + watch, cluster-wide (tenant objects live in any virtual namespace);
- toHost: create (a new copy is a plain POST), get (a create that finds the name taken checks the object is our
  copy before applying over it), patch (server-side apply; the create's ownership record converted to
  Apply by a JSON patch; Orphan releases), delete (Delete policy; a copy of a deleted-and-recreated source is
  replaced whatever the policy), get (also with a finalizer: the copy's absence is confirmed with the server), update
  (only with conflict Overwrite: PUT); in the virtual cluster, the status of the source through `/status` (mode all with
  status sync), the finalizer, and the source itself (patch: an apply of its reverse paths, with or without status);
- fromHost: in the virtual cluster create + patch (apply creates the copy; the apiserver authorizes such a patch as a
  create too), delete or patch (Delete / Orphan release), update (Overwrite), `/status` (the host object's status is
  written through the subresource), namespaces get + create (imports land in namespaces that may not exist yet); the
  host side is only read — crdsync never writes a host object it did not create;
- CRDs (kinds with an API group): get of the host CRD (mirrored on start and re-read every few seconds), get + create
  + patch of the virtual one (an apply that may create it); namespaces list + watch in the virtual cluster only for
  rules with a namespaceSelector; Events create + patch + get (aggregated repeats), in the virtual cluster only (the
  engine reports on the tenant's objects, never on host objects);
  Leases get + create + update in the host namespace for `--leader-elect`.

Discovery (`/api`, `/apis/...`) needs no grant: the default `system:discovery` role allows it to every authenticated
user.

Scope is the mapping's declared `scope` (the engine asks discovery; the two must agree). Resource names are the
kind's plural, guessed the way CRD authors almost always write it (lowercase, English plural) unless `plurals`
overrides it: a wrong plural shows at run time as 403s on the misnamed resource.

Failure modes: `RbacError` when the mapping needs what this RBAC refuses to grant — a toHost rule for a cluster-scoped
kind would write cluster-wide on the host, which no tenant's sync should be allowed to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crdsync.spec.model import ConflictPolicy, DeletionPolicy, Direction, Rule, SyncConfig, SyncMode

HOST = "host"
VIRTUAL = "virtual"
WHY_ANNOTATION = "crdsync.io/why"
CLUSTER_ANNOTATION = "crdsync.io/cluster"  # which cluster an object is for: "host" or "virtual"
READ_VERBS = frozenset({"get", "list", "watch"})
DEFAULT_NAME = "crdsync"
# Where the ServiceAccount crdsync's virtual kubeconfig authenticates as lives, e.g. made by
# `vcluster connect NAME --print --service-account kube-system/crdsync`.
VIRTUAL_SA_NAMESPACE = "kube-system"

_RBAC_API = "rbac.authorization.k8s.io/v1"
_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
_EVENTS = ("", "events")
_LEASES = ("coordination.k8s.io", "leases")
_NAMESPACES = ("", "namespaces")

# Built-in core kinds that have no status subresource (and no status at all): no `/status` grant for them.
_NO_STATUS = frozenset({("", "Secret"), ("", "ConfigMap"), ("", "ServiceAccount"), ("", "Endpoints")})
# Irregular plurals among built-in kinds a mapping may name.
_IRREGULAR = {"Endpoints": "endpoints"}


class RbacError(ValueError):
    """The mapping needs a grant this least-privilege RBAC will not give (message says which rule and why)."""


@dataclass(frozen=True, order=True)
class Need:
    """One verb on one resource that the engine uses, and why.

    `namespaced` (host only): granted by the Role in the tenant's host namespace, not by the ClusterRole.
    `resource_name`: the grant is limited to that object (None: any object of the resource).
    """

    cluster: str
    namespaced: bool
    group: str
    resource: str
    verb: str
    why: str
    resource_name: str | None = None


def plural_of(kind: str) -> str:
    """The resource name of `kind` as CRD authors write it: lowercase English plural (Policy -> policies)."""
    if kind in _IRREGULAR:
        return _IRREGULAR[kind]
    lower = kind.lower()
    if re.search(r"(s|x|z|ch|sh)$", lower):
        return lower + "es"
    if re.search(r"[^aeiou]y$", lower):
        return lower[:-1] + "ies"
    return lower + "s"


def needs(
    config: SyncConfig,
    *,
    vcluster: str | None = None,
    plurals: Mapping[tuple[str, str], str] | None = None,
    leader_elect: bool = True,
) -> list[Need]:
    """Every (side, resource, verb) the engine uses for `config`, with the action that needs it."""
    plurals = plurals or {}
    out: list[Need] = []
    kinds: dict[tuple[str, str], dict[Direction, Rule]] = {}
    for rule in config.rules:
        kinds.setdefault((rule.gvk.group, rule.gvk.kind), {})[rule.direction] = rule
    for (group, kind), rules in kinds.items():
        plural = plurals.get((group, kind)) or plural_of(kind)
        out += _kind_needs(group, kind, plural, rules)

    from_host = [r for r in config.rules if r.direction is Direction.FROM_HOST]
    if any(r.namespace_selector is not None for r in config.rules):
        why = "namespace informer: namespaceSelector rules match the virtual namespaces' labels"
        out += _virtual(_NAMESPACES, ("list", "watch"), why)
    if any(r.namespaced for r in from_host):
        why = "imported copies land in virtual namespaces that may not exist yet: checked (get), then created"
        out += _virtual(_NAMESPACES, ("get", "create"), why)
    if config.rules:
        # crdsync.engine.reconcile (Reconciler._report): Events go on the tenant's own virtual objects a key is about
        # (the source, the import, or whoever names a missing import), never on the host: what a tenant provokes must
        # not write into host namespaces it does not own.
        why = (
            "Warning Events on the tenant's objects that cannot be synced (kubectl describe): created, repeats "
            "counted by patch, read back after a restart"
        )
        out += _virtual(_EVENTS, ("create", "patch", "get"), why)
    if leader_elect:
        lease = f"{DEFAULT_NAME}-{vcluster}" if vcluster else None
        out += _host(True, _LEASES, ("create",), "--leader-elect: the Lease is created when missing")
        why = "--leader-elect: the Lease is read and renewed or taken over with a conditional PUT"
        out += _host(True, _LEASES, ("get", "update"), why, lease)
    return sorted(set(out))


def _host(
    namespaced: bool, resource: tuple[str, str], verbs: Iterable[str], why: str, resource_name: str | None = None
) -> list[Need]:
    """Host grants: `namespaced` ones go in the Role in the tenant's host namespace, the others in the ClusterRole."""
    group, name = resource
    return [Need(HOST, namespaced, group, name, verb, why, resource_name) for verb in verbs]


def _virtual(resource: tuple[str, str], verbs: Iterable[str], why: str, resource_name: str | None = None) -> list[Need]:
    """Virtual grants, all in one ClusterRole: the tenant's objects live in any virtual namespace."""
    group, name = resource
    return [Need(VIRTUAL, False, group, name, verb, why, resource_name) for verb in verbs]


def _kind_needs(group: str, kind: str, plural: str, rules: Mapping[Direction, Rule]) -> list[Need]:
    to_host = rules.get(Direction.TO_HOST)
    from_host = rules.get(Direction.FROM_HOST)
    # Rules go toHost or fromHost, so a kind has one or both; the toHost rule's scope decides.
    namespaced = (to_host or rules[Direction.FROM_HOST]).namespaced
    out = _informer_needs(kind, (group, plural), namespaced, from_host)
    if to_host is not None:
        out += _to_host_needs(group, kind, plural, to_host)
    if from_host is not None:
        out += _from_host_needs(group, kind, plural, from_host)
    if group:
        out += _crd_needs(group, plural)
    return out


def _informer_needs(kind: str, res: tuple[str, str], namespaced: bool, from_host: Rule | None) -> list[Need]:
    """One informer per side (crdsync.engine.activation): the host side stays in the tenant's namespace unless a
    fromHost mode-all rule picks host objects of any namespace; cluster-scoped kinds are always listed cluster-wide."""
    host_namespace_only = from_host is None or from_host.mode is SyncMode.REFERENCED
    in_namespace = namespaced and host_namespace_only
    where = "in the tenant's host namespace" if in_namespace else "cluster-wide"
    return [
        *_host(in_namespace, res, ("list", "watch"), f"host informer of {kind} ({where}): list, then watch"),
        *_virtual(res, ("list", "watch"), f"virtual informer of {kind}: list, then watch"),
    ]


def _to_host_needs(group: str, kind: str, plural: str, to_host: Rule) -> list[Need]:
    """Host copies (crdsync.engine.tohost, writes), and what flows back onto the tenant's source."""
    if not to_host.namespaced:
        raise RbacError(
            f"{to_host.location}: toHost rule for cluster-scoped {kind}: its host copies would be cluster-wide "
            "writes on the host, which a tenant's RBAC must not grant"
        )
    res = (group, plural)
    out = _host(True, res, ("create",), f"new host copies of {kind} objects are created with a plain POST")
    why = "a create that finds the name taken (cache behind) reads the object to prove it is our copy"
    out += _host(True, res, ("get",), why)
    why = "host copies are written by server-side apply; the create's field ownership is converted to Apply first"
    out += _host(True, res, ("patch",), why)
    why = "a host copy whose source was deleted and recreated (other uid) is replaced" + (
        "; deletion policy Delete removes copies" if to_host.deletion is DeletionPolicy.DELETE else ""
    )
    out += _host(True, res, ("delete",), why)
    if to_host.deletion is DeletionPolicy.ORPHAN:
        out += _host(True, res, ("patch",), "deletion policy Orphan strips crdsync's bookkeeping")
    if to_host.conflict is ConflictPolicy.OVERWRITE:
        out += _host(True, res, ("update",), "conflict policy Overwrite replaces a foreign object (PUT)")
    if to_host.finalizer and to_host.mode is SyncMode.ALL:
        why = "the finalizer is removed only after a GET confirms the host copy is gone"
        out += _host(True, res, ("get",), why)
        why = f"the {kind} source holds the crdsync.io/host-copy finalizer until its copy is gone (merge patch)"
        out += _virtual(res, ("patch",), why)
    return out + _sync_back_needs(group, kind, plural, to_host)


def _sync_back_needs(group: str, kind: str, plural: str, to_host: Rule) -> list[Need]:
    """What crdsync.engine.syncback writes onto the tenant's source: status, and the fields of reverse paths."""
    if to_host.mode is not SyncMode.ALL:
        return []
    res = (group, plural)
    out: list[Need] = []
    if to_host.status.enabled and (group, kind) not in _NO_STATUS:
        why = "status flows back from the host copy to the tenant's object (server-side apply)"
        # Discovery decides at run time; a CRD without a status subresource takes status in the object itself.
        out = _virtual((group, f"{plural}/status"), ("patch",), why + " through the status subresource") + _virtual(
            res, ("patch",), why + ", in the object when the kind has no /status"
        )
    if to_host.reverse_paths:
        # Host-owned fields go by an apply of the main resource, whether status syncs or not.
        why = "reverse paths: host-owned fields of the host copy flow back onto the tenant's object (apply)"
        out += _virtual(res, ("patch",), why)
    return out


def _from_host_needs(group: str, kind: str, plural: str, from_host: Rule) -> list[Need]:
    """Imported copies in the virtual cluster (crdsync.engine.fromhost, writes); the host side is only read."""
    res = (group, plural)
    why = "imported copies are written by server-side apply; the first apply creates one (authorized as create)"
    out = _virtual(res, ("create", "patch"), why)
    if from_host.read_only:
        why = "readOnly: fields a tenant added to an imported copy are removed (JSON patch)"
        out += _virtual(res, ("patch",), why)
    if from_host.deletion is DeletionPolicy.DELETE:
        why = "deletion policy Delete: an import goes when its host object is gone or no longer selected/referenced"
        out += _virtual(res, ("delete",), why)
    else:
        out += _virtual(res, ("patch",), "deletion policy Orphan strips crdsync's bookkeeping")
    if from_host.conflict is ConflictPolicy.OVERWRITE:
        why = "conflict policy Overwrite replaces a foreign virtual object (PUT)"
        out += _virtual(res, ("update",), why)
    if (group, kind) not in _NO_STATUS:
        why = "the host object's status is copied through the status subresource (server-side apply)"
        out += _virtual((group, f"{plural}/status"), ("patch",), why)
    return out


def _crd_needs(group: str, plural: str) -> list[Need]:
    """crdsync.engine.crds (CrdMirror.mirror / refresh): a kind with an API group may be a CRD, named
    `<plural>.<group>`; the grants are limited to that name."""
    crd = f"{plural}.{group}"
    why = (
        "the host CRD is read to mirror it into the virtual cluster (get) and watched by name for changes (list, "
        "watch with a metadata.name field selector, which the apiserver authorizes against resourceNames)"
    )
    out = _host(False, _CRDS, ("get", "list", "watch"), why, crd)
    why = "the mirrored CRD is compared with the host's (get) and server-side applied (patch; create when new)"
    return out + _virtual(_CRDS, ("get", "create", "patch"), why, crd)


# --- objects ---------------------------------------------------------------------------------------------------------


def rbac_objects(
    config: SyncConfig,
    *,
    host_namespace: str,
    vcluster: str | None = None,
    name: str = DEFAULT_NAME,
    plurals: Mapping[tuple[str, str], str] | None = None,
    leader_elect: bool = True,
) -> list[dict[str, Any]]:
    """The RBAC objects for both clusters, host first; each says which cluster it is for (CLUSTER_ANNOTATION).

    Host: ServiceAccount `name` in `host_namespace`, a Role + RoleBinding there (every write), and a read-only
    ClusterRole + ClusterRoleBinding `name:host_namespace` (one per tenant) for what is cluster-scoped or listed
    cluster-wide. Virtual: ServiceAccount `name` in kube-system and a ClusterRole + ClusterRoleBinding `name`.
    """
    all_needs = needs(config, vcluster=vcluster, plurals=plurals, leader_elect=leader_elect)
    host_role = [n for n in all_needs if n.cluster == HOST and n.namespaced]
    host_cluster = [n for n in all_needs if n.cluster == HOST and not n.namespaced]
    virtual = [n for n in all_needs if n.cluster == VIRTUAL]
    mapping = config.name
    out: list[dict[str, Any]] = []

    host_sa = _subject(name, host_namespace)
    out.append(_service_account(HOST, name, host_namespace, f"the identity crdsync runs as on the host ({mapping})"))
    if host_role:
        out.append(_role("Role", HOST, name, host_namespace, host_role, mapping))
        out.append(_binding("RoleBinding", HOST, name, host_namespace, "Role", host_sa, mapping))
    if host_cluster:
        cluster_name = f"{name}:{host_namespace}"
        out.append(_role("ClusterRole", HOST, cluster_name, None, host_cluster, mapping))
        out.append(_binding("ClusterRoleBinding", HOST, cluster_name, None, "ClusterRole", host_sa, mapping))

    out.append(
        _service_account(
            VIRTUAL, name, VIRTUAL_SA_NAMESPACE, f"the identity of crdsync's virtual kubeconfig ({mapping})"
        )
    )
    if virtual:
        virtual_sa = _subject(name, VIRTUAL_SA_NAMESPACE)
        out.append(_role("ClusterRole", VIRTUAL, name, None, virtual, mapping))
        out.append(_binding("ClusterRoleBinding", VIRTUAL, name, None, "ClusterRole", virtual_sa, mapping))
    return out


def _metadata(cluster: str, name: str, namespace: str | None, why: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {"app.kubernetes.io/name": "crdsync"}
    meta["annotations"] = {CLUSTER_ANNOTATION: cluster, WHY_ANNOTATION: why}
    return meta


def _subject(name: str, namespace: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _service_account(cluster: str, name: str, namespace: str, why: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(cluster, name, namespace, why)}


def _role(
    kind: str, cluster: str, name: str, namespace: str | None, grants: list[Need], mapping: str
) -> dict[str, Any]:
    """One rule per resource (and object name), verbs sorted; the why annotation has one line per rule."""
    grouped: dict[tuple[str, str, str | None], dict[str, list[str]]] = {}
    for need in grants:
        # `needs` has no duplicates, and a role's grants share cluster and scope: each reason comes once per verb.
        grouped.setdefault((need.group, need.resource, need.resource_name), {}).setdefault(need.verb, []).append(
            need.why
        )
    rules: list[dict[str, Any]] = []
    lines: list[str] = []
    # By group and resource, a rule for any object before those limited to one name (two names of one resource never
    # tie, so no None is compared with a name).
    by_resource = sorted(grouped.items(), key=lambda i: (i[0][0], i[0][1], i[0][2] is not None, i[0][2]))
    for (group, resource, resource_name), verbs in by_resource:
        rule: dict[str, Any] = {"apiGroups": [group], "resources": [resource]}
        if resource_name is not None:
            rule["resourceNames"] = [resource_name]
        rule["verbs"] = sorted(verbs)
        rules.append(rule)
        plural, _, subresource = resource.partition("/")
        shown = (f"{plural}.{group}" if group else plural) + (f"/{subresource}" if subresource else "")
        if resource_name is not None:
            shown += f" {resource_name}"
        lines.append(f"{shown}:")
        # Verbs sharing one reason are listed together, so the text reads as engine actions, not as verb lists.
        by_why: dict[str, list[str]] = {}
        for verb in sorted(verbs):
            for why in verbs[verb]:
                by_why.setdefault(why, []).append(verb)
        lines += [f"  {','.join(vs)}: {why}" for why, vs in by_why.items()]
    scope = "the tenant's host namespace" if namespace else "cluster-wide"
    header = f"what crdsync's engine does with mapping {mapping} ({cluster}, {scope}), per rule:"
    return {
        "apiVersion": _RBAC_API,
        "kind": kind,
        "metadata": _metadata(cluster, name, namespace, "\n".join([header, *lines]) + "\n"),
        "rules": rules,
    }


def _binding(
    kind: str, cluster: str, name: str, namespace: str | None, role_kind: str, subject: dict[str, Any], mapping: str
) -> dict[str, Any]:
    why = f"grants {role_kind} {name} to the ServiceAccount crdsync runs as ({mapping})"
    return {
        "apiVersion": _RBAC_API,
        "kind": kind,
        "metadata": _metadata(cluster, name, namespace, why),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
        "subjects": [subject],
    }


def parse_plural(text: str) -> tuple[tuple[str, str], str]:
    """`Kind.group=plural` (or `Kind=plural` for the core group) -> ((group, Kind), plural); ValueError if malformed."""
    key, sep, plural = text.partition("=")
    kind, _, group = key.partition(".")
    if not sep or not kind or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", plural):
        raise ValueError(f"{text!r}: expected Kind.group=plural (plural a lowercase DNS label)")
    return (group, kind), plural
