"""Formatted reference values (a Reference's `format`, vcluster's rewriteName `regex`): a name inside literal text.

A format holds `$NAME` and at most one `$NAMESPACE` in literal text, e.g. `$NAME.$NAMESPACE.svc.cluster.local`.
parse_format reads (name, namespace) out of a value of the whole format (anchored, literal; `$NAME` a Kubernetes name,
`$NAMESPACE` a DNS label, so `$NAME.$NAMESPACE` splits one way); render_format writes them back in. The spec checks a
format when it is loaded (spec.checks.references.format_problem).

Pure. Failure modes: TranslationError for a format the spec would refuse (a rule built in code); a value that does
not have the format parses to None (the caller decides: translate.references refuses it).
"""

from __future__ import annotations

import re
from functools import lru_cache

from crdsync.spec.checks.references import format_problem
from crdsync.spec.model import Reference
from crdsync.translate.errors import TranslationError

_FORMAT_TOKEN = re.compile(r"\$(NAMESPACE|NAME)")
_FORMAT_PARTS = {
    "NAME": r"(?P<name>[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)",
    "NAMESPACE": r"(?P<namespace>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)",
}
_MAX_NAME, _MAX_NAMESPACE = 253, 63


@lru_cache(maxsize=256)
def _format_regex(fmt: str) -> re.Pattern[str]:
    problem = format_problem(fmt)
    if problem is not None:
        raise TranslationError(f"format {fmt!r}: {problem}")
    pieces = _FORMAT_TOKEN.split(fmt)  # literal, token, literal, ...
    return re.compile("".join(_FORMAT_PARTS[piece] if i % 2 else re.escape(piece) for i, piece in enumerate(pieces)))


def parse_format(fmt: str, value: str) -> tuple[str, str | None] | None:
    """(name, namespace or None) of a value of the whole format `fmt`, or None when it does not have it.

    Values longer than any valid one are refused before the regular expression sees them (its backtracking is
    quadratic in the length, and a tenant writes the value)."""
    if len(value) > len(fmt) + _MAX_NAME + _MAX_NAMESPACE:
        return None
    match = _format_regex(fmt).fullmatch(value)
    if match is None:
        return None
    name, namespace = match.group("name"), match.groupdict().get("namespace")
    if len(name) > _MAX_NAME or (namespace is not None and len(namespace) > _MAX_NAMESPACE):
        return None
    return name, namespace


def render_format(fmt: str, name: str, namespace: str | None) -> str:
    """`fmt` with $NAME and $NAMESPACE replaced (the inverse of parse_format)."""
    return _FORMAT_TOKEN.sub(lambda m: name if m.group(1) == "NAME" else namespace or "", fmt)


def has_namespace_part(ref: Reference) -> bool:
    return ref.format is not None and "$NAMESPACE" in ref.format
