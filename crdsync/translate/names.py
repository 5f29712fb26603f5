"""Host names for tenant objects: virtual (namespace, name) -> one name in the tenant's host namespace.

host_name dispatches on naming.style, so every caller (translation, references, the tenant boundary, gc, plan)
follows the rule's style. Two styles:

Style hashed (the default). Every tenant object that lands in the host (toHost copies, exported and imported
followers) is named `<readable prefix>-<hash>`: the prefix is `<name>-x-<namespace>-x-<vcluster>` (cluster-scoped:
`<name>-x-<vcluster>`) mapped to DNS-label characters and truncated to fit `naming.max_length`; the hash covers the
exact (vcluster, namespace-or-cluster-marker, name) triple, so two different triples never share a name even when
their prefixes are equal after truncation or because "-x-" occurs inside a name. The readable part is for humans
only; the way back is read from bookkeeping, never parsed out of the name.

The hash is the tenant boundary, not the prefix: a tenant controls its names, so it can pad one (dashes, any
length) until the truncated prefix equals a victim's, and the two host names then differ only in the hash. Taking a
victim's host name therefore needs a second preimage of the hash, ~2^(5 * hash_length) SHA-256 evaluations. The default
is 16 characters (80 bits: far beyond any attacker); the schema refuses fewer than MIN_HASH_LENGTH = 13 (65 bits;
8 characters, 40 bits, are a GPU-minute of work and 10, 50 bits, a GPU-day). Both leave a 63-character DNS label
room for a readable part.

Style vcluster. vcluster's single-namespace translation, byte for byte (vcluster v0.14-v0.28, unchanged in all of
them; read at tag v0.27.0: pkg/util/translate/translate.go SafeConcatName, pkg/util/translate/single_namespace.go
SingleNamespaceHostName and HostNameCluster), so crdsync finds the copies vcluster's generic sync made and names new
ones as vcluster would:

    namespaced:      SafeConcatName(name, "x", namespace, "x", vcluster)
    cluster-scoped:  SafeConcatName("vcluster", name, "x", host namespace, "x", vcluster)
    SafeConcatName:  join the parts with "-"; when that is longer than 63 bytes, keep its first 52 bytes, append "-"
                     and the first 10 hex digits of SHA-256 of the whole joined string, then replace every ".-" with
                     "-" (so a cut right after a dot gives 62 characters).

This form is not injective: `a-x-b` in `c` and `a` in `b-x-c` share `a-x-b-x-c-x-<vcluster>`, so a name no longer
proves which source a copy belongs to; the engine reads the copy's bookkeeping and refuses a second source with
NameTaken (engine.tohost). Across tenants sharing a host namespace only the vcluster name keeps names apart: when
one vcluster's name ends in "-x-" + another's, the other tenant reaches its names with dashes of its own, and a name
over 63 characters is matched with ~2^40 SHA-256 evaluations against its 10 hex digits. Fine where each tenant has
its own host namespace (vcluster's own layout), not as a boundary between tenants.

Pure and deterministic. Failure mode: host_name raises ValueError for a hashed Naming that cannot hold a hash (the spec
loader rejects those first, and every hash too short to be a boundary: MIN_HASH_LENGTH <= hash_length <= 32 and
hash_length + 2 <= max_length <= 253). host_name itself accepts 1 <= hash_length <= MAX_HASH_LENGTH, so tests can
make collisions cheap on purpose. Style vcluster never raises; for names that are not ASCII (never valid Kubernetes
names) it cuts at a byte like vcluster and decodes a split character as U+FFFD, and the apiserver refuses the result.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache

from crdsync.spec.model import Naming, NamingStyle

MAX_HASH_LENGTH = 52  # base32 characters in a SHA-256 digest (256 bits / 5, rounded down)
# The schema's hashLength minimum (kept equal by a test): 65 bits, past brute force for a second preimage.
MIN_HASH_LENGTH = 13
MAX_NAME_LENGTH = 253  # the Kubernetes limit for object names (DNS-1123 subdomain)
SEPARATOR = "-x-"

# vcluster's SafeConcatName: names up to 63 bytes stay whole; longer ones keep 52 bytes, "-" and 10 hex digits.
VCLUSTER_MAX_LENGTH = 63
VCLUSTER_KEEP = 52
VCLUSTER_HASH_HEX = 10

_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NOT_LABEL_CHAR = re.compile(r"[^a-z0-9-]")


@dataclass(frozen=True)
class Tenant:
    """One virtual cluster: its name and the host namespace its objects land in."""

    vcluster: str
    host_namespace: str


def is_dns1123_label(s: str) -> bool:
    """A valid DNS-1123 label (namespace names, most name-like fields): [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63."""
    return 0 < len(s) <= 63 and _LABEL_RE.fullmatch(s) is not None


def is_dns1123_subdomain(s: str) -> bool:
    """A valid DNS-1123 subdomain (most object names): dot-separated labels, at most 253 characters."""
    return 0 < len(s) <= MAX_NAME_LENGTH and _SUBDOMAIN_RE.fullmatch(s) is not None


_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def name_hash(vcluster: str, namespace: str | None, name: str, length: int) -> str:
    """The first `length` characters of lowercase base32 (RFC 4648 alphabet) of SHA-256 over an unambiguous encoding
    of the triple (JSON: null marks cluster scope, so no namespace string can stand for it)."""
    if not 1 <= length <= MAX_HASH_LENGTH:
        raise ValueError(f"naming.hashLength must be between 1 and {MAX_HASH_LENGTH}, not {length}")
    encoded = json.dumps([vcluster, namespace, name], separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(encoded.encode()).digest()  # str.encode: UTF-8
    # Only a prefix is needed: take the leading length*5 bits as one integer (base64.b32encode is pure Python and
    # would encode all 256 bits every time).
    bits = length * 5
    value = int.from_bytes((digest + b"\0")[: (bits + 7) // 8], "big") >> ((8 - bits % 8) % 8)
    return "".join(_B32[(value >> shift) & 31] for shift in range(bits - 5, -1, -5))


def _readable(vcluster: str, namespace: str | None, name: str) -> str:
    parts = [name] if namespace is None else [name, namespace]
    parts.append(vcluster)
    return _NOT_LABEL_CHAR.sub("-", SEPARATOR.join(parts).lower())


def safe_concat_name(*parts: str) -> str:
    """vcluster's SafeConcatName: the parts joined with "-", shortened to 52 bytes + "-" + 10 hex digits of SHA-256
    of the whole when longer than 63 bytes, then every ".-" replaced by "-" (only in the shortened form)."""
    joined = "-".join(parts)
    raw = joined.encode()  # UTF-8
    if len(raw) <= VCLUSTER_MAX_LENGTH:
        return joined
    digest = hashlib.sha256(raw).hexdigest()[:VCLUSTER_HASH_HEX]
    return (raw[:VCLUSTER_KEEP].decode(errors="replace") + "-" + digest).replace(".-", "-")


def vcluster_host_name(tenant: Tenant, namespace: str | None, name: str) -> str:
    """The name vcluster's single-namespace syncer gives virtual `name` in `namespace` (None: cluster-scoped)."""
    if not name:
        return ""  # as vcluster: no name, no host name (crdsync never asks for one)
    if namespace is None:
        return safe_concat_name("vcluster", name, "x", tenant.host_namespace, "x", tenant.vcluster)
    return safe_concat_name(name, "x", namespace, "x", tenant.vcluster)


def vcluster_cluster_marker(tenant: Tenant) -> str:
    """The vcluster.loft.sh/managed-by value vcluster puts on its cluster-scoped host objects (on namespaced ones it is
    the vcluster name itself)."""
    return safe_concat_name(tenant.host_namespace, "x", tenant.vcluster)


@lru_cache(maxsize=16384)
def host_name(tenant: Tenant, namespace: str | None, name: str, naming: Naming) -> str:
    """The host name of virtual `name` in `namespace` (None: cluster-scoped) for `tenant`, in naming.style.

    Style hashed: always ends in "-" + hash (or is the hash alone when nothing readable fits); always at most
    naming.max_length characters of [a-z0-9-], starting and ending alphanumeric: a DNS-1123 label when max_length <=
    63, a subdomain otherwise. Style vcluster: vcluster_host_name (at most 63 characters; dots kept). Cached: the
    engine asks for the same names on every resync.
    """
    if naming.style is NamingStyle.VCLUSTER:
        return vcluster_host_name(tenant, namespace, name)
    max_length, hash_length = naming.max_length, naming.hash_length
    if not hash_length + 2 <= max_length <= MAX_NAME_LENGTH:
        raise ValueError(
            f"naming.maxLength must be between hashLength + 2 ({hash_length + 2}) and {MAX_NAME_LENGTH}, "
            f"not {max_length}"
        )
    digest = name_hash(tenant.vcluster, namespace, name, hash_length)
    budget = max_length - hash_length - 1
    prefix = _readable(tenant.vcluster, namespace, name)[:budget].strip("-")
    return f"{prefix}-{digest}" if prefix else digest
