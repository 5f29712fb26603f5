"""Host names for tenant objects: virtual (namespace, name) -> one name in the tenant's host namespace.

Every tenant object that lands in the host (toHost copies, exported and imported followers) is named
`<readable prefix>-<hash>`: the prefix is `<name>-x-<namespace>-x-<vcluster>` (cluster-scoped: `<name>-x-<vcluster>`)
mapped to DNS-label characters and truncated to fit `naming.max_length`; the hash covers the exact (vcluster,
namespace-or-cluster-marker, name) triple, so two different triples never share a name even when their prefixes are
equal after truncation or because "-x-" occurs inside a name. The readable part is for humans only; the way back is
read from bookkeeping, never parsed out of the name.

The hash is the tenant boundary, not the prefix: a tenant controls its names, so it can pad one (dashes, any
length) until the truncated prefix equals a victim's, and the two host names then differ only in the hash. Taking a
victim's host name therefore needs a second preimage of the hash, ~2^(5 * hash_length) SHA-256 evaluations. The default
is 16 characters (80 bits: far beyond any attacker); the schema refuses fewer than MIN_HASH_LENGTH = 13 (65 bits;
8 characters, 40 bits, are a GPU-minute of work and 10, 50 bits, a GPU-day). Both leave a 63-character DNS label
room for a readable part.

Pure and deterministic. Failure mode: host_name raises ValueError for a Naming that cannot hold a hash (the spec loader
rejects those first, and every hash too short to be a boundary: MIN_HASH_LENGTH <= hash_length <= 32 and
hash_length + 2 <= max_length <= 253). host_name itself accepts 1 <= hash_length <= MAX_HASH_LENGTH, so tests can
make collisions cheap on purpose.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache

from crdsync.spec.model import Naming

MAX_HASH_LENGTH = 52  # base32 characters in a SHA-256 digest (256 bits / 5, rounded down)
# The schema's hashLength minimum (kept equal by a test): 65 bits, past brute force for a second preimage.
MIN_HASH_LENGTH = 13
MAX_NAME_LENGTH = 253  # the Kubernetes limit for object names (DNS-1123 subdomain)
SEPARATOR = "-x-"

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
    digest = hashlib.sha256(encoded.encode("utf-8")).digest()
    # Only a prefix is needed: take the leading length*5 bits as one integer (base64.b32encode is pure Python and
    # would encode all 256 bits every time).
    bits = length * 5
    value = int.from_bytes((digest + b"\0")[: (bits + 7) // 8], "big") >> ((8 - bits % 8) % 8)
    return "".join(_B32[(value >> shift) & 31] for shift in range(bits - 5, -1, -5))


def _readable(vcluster: str, namespace: str | None, name: str) -> str:
    parts = [name] if namespace is None else [name, namespace]
    parts.append(vcluster)
    return _NOT_LABEL_CHAR.sub("-", SEPARATOR.join(parts).lower())


@lru_cache(maxsize=16384)
def host_name(tenant: Tenant, namespace: str | None, name: str, naming: Naming) -> str:
    """The host name of virtual `name` in `namespace` (None: cluster-scoped) for `tenant`.

    Always ends in "-" + hash (or is the hash alone when nothing readable fits); always at most naming.max_length
    characters of [a-z0-9-], starting and ending alphanumeric: a DNS-1123 label when max_length <= 63, a subdomain
    otherwise. Cached: the engine asks for the same names on every resync.
    """
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
