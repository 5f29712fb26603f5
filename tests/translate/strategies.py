"""Hypothesis strategies for Kubernetes-shaped objects and names, shared by the translate tests.

Names are drawn from a tiny alphabet on purpose ("a", "x", "-", "0", "."), so separators like "-x-" occur inside
names and readable prefixes collide often: a naming scheme that is injective here is injective because of its hash,
not by luck of random characters.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from crdsync.translate.bookkeeping import PREFIX

_ALNUM = "ax0"
_INNER = "ax0-"


def _fix_ends(s: str) -> str:
    if not s:
        return "a"
    first = s[0] if s[0] in _ALNUM else "a"
    if len(s) == 1:
        return first
    last = s[-1] if s[-1] in _ALNUM else "0"
    return first + s[1:-1] + last


def _fix_dots(s: str) -> str:
    # A dot must sit between two alphanumerics (every dot-separated part is a label).
    chars = list(s)
    for i, c in enumerate(chars):
        if c == "." and (chars[i - 1] not in _ALNUM or chars[i + 1] not in _ALNUM):
            chars[i] = "x"
    return "".join(chars)


def dns_labels(max_size: int = 63) -> st.SearchStrategy[str]:
    """A DNS-1123 label; the maximum length is drawn often."""
    return st.one_of(
        st.text(alphabet=_INNER, min_size=max_size, max_size=max_size),
        st.text(alphabet=_INNER, min_size=1, max_size=max_size),
    ).map(_fix_ends)


def dns_subdomains(max_size: int = 253) -> st.SearchStrategy[str]:
    """A DNS-1123 subdomain of up to `max_size` characters (labels of any length); the maximum is drawn often."""
    return st.one_of(
        st.text(alphabet=_INNER + ".", min_size=max_size, max_size=max_size),
        st.text(alphabet=_INNER + ".", min_size=1, max_size=max_size),
    ).map(lambda s: _fix_dots(_fix_ends(s)))


label_values = st.text(alphabet="abx-._0", max_size=12).map(lambda s: s.strip("-._"))

# Label/annotation keys, including keys under crdsync.io/ that a tenant may try to forge.
label_keys = st.one_of(
    st.sampled_from(["app", "tier", "example.com/team", "kubernetes.io/name"]),
    dns_labels(max_size=12),
    st.builds(lambda s: PREFIX + s, st.sampled_from(["managed-by", "vcluster", "role", "source-name", "shared", "x"])),
)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**31), 2**31), st.text(max_size=8), st.floats(allow_nan=False, width=32)
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(alphabet="abcxyz", max_size=5), children, max_size=3),
        ),
        max_leaves=max_leaves,
    )


server_metadata = st.fixed_dictionaries(
    {
        "uid": st.uuids().map(str),
        "resourceVersion": st.integers(1, 10**9).map(str),
        "generation": st.integers(1, 100),
        "creationTimestamp": st.just("2024-01-01T00:00:00Z"),
        "managedFields": st.just([{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}]),
        "ownerReferences": st.just([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "o-1"}]),
        "finalizers": st.just(["example.com/keep"]),
        "deletionTimestamp": st.just("2024-01-02T00:00:00Z"),
        "deletionGracePeriodSeconds": st.just(30),
        "selfLink": st.just("/apis/x"),
    }
)
