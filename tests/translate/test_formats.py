"""Formatted reference values: a name (and namespace) read out of literal text and written back, within the limits of
Kubernetes names, for any value a tenant writes."""

from __future__ import annotations

import pytest

from crdsync.spec.model import Reference
from crdsync.translate.errors import TranslationError
from crdsync.translate.formats import has_namespace_part, parse_format, render_format

SERVICE = "$NAME.$NAMESPACE.svc.cluster.local"


def test_a_value_of_the_format_reads_back_and_renders_again() -> None:
    assert parse_format(SERVICE, "web.apps.svc.cluster.local") == ("web", "apps")
    assert render_format(SERVICE, "web-x", "vc-host") == "web-x.vc-host.svc.cluster.local"
    assert parse_format("https://$NAME:8443", "https://api.example.com:8443") == ("api.example.com", None)
    assert render_format("https://$NAME:8443/$NAMESPACE", "api", None) == "https://api:8443/"


@pytest.mark.parametrize(
    "value",
    [
        "web.apps.svc.cluster.localx",  # anchored at both ends
        "-web.apps.svc.cluster.local",
        "Web.apps.svc.cluster.local",  # not a Kubernetes name
        "web.apps-.svc.cluster.local",
        "web.apps.svcXcluster.local",  # the literal dots are literal
    ],
)
def test_a_value_without_the_format_reads_as_none(value: str) -> None:
    assert parse_format(SERVICE, value) is None


def test_names_and_namespaces_longer_than_kubernetes_allows_read_as_none() -> None:
    assert parse_format(SERVICE, f"{'a' * 253}.apps.svc.cluster.local") == ("a" * 253, "apps")
    assert parse_format(SERVICE, f"{'a' * 254}.apps.svc.cluster.local") is None
    assert parse_format(SERVICE, f"web.{'b' * 63}.svc.cluster.local") == ("web", "b" * 63)
    assert parse_format(SERVICE, f"web.{'b' * 64}.svc.cluster.local") is None
    assert parse_format(SERVICE, "a" * 100_000 + ".apps.svc.cluster.local") is None  # refused before the regex


@pytest.mark.parametrize("fmt", ["no-token", "$NAME$NAME", "$NAMESPACE-only"])
def test_a_format_the_spec_refuses_is_a_translation_error(fmt: str) -> None:
    with pytest.raises(TranslationError, match="format"):
        parse_format(fmt, "anything")


def test_only_formats_with_a_namespace_part_name_a_namespace() -> None:
    assert has_namespace_part(Reference("$.spec.url", "Service", "v1", format=SERVICE))
    assert not has_namespace_part(Reference("$.spec.url", "Service", "v1", format="$NAME.svc"))
    assert not has_namespace_part(Reference("$.spec.name", "Service", "v1"))
