"""The pure conversion of several files: (filename, text) pairs -> one mapping, its findings, or the input errors.

What `crdsync convert` does between reading its files and printing: every file's generic-sync configurations are
found (crdsync.convert.inputs) and converted together into one mapping (crdsync.convert.mapping). No IO. An
unreadable configuration is an InputError and no mapping is built; nothing raises for bad input.
"""

from __future__ import annotations

from crdsync.convert.inputs import Source, find_sources
from crdsync.convert.mapping import Result, build
from crdsync.convert.report import Finding, InputError


def convert_texts(
    texts: list[tuple[str, str]], name: str, vcluster_naming: bool
) -> tuple[Result | None, list[Finding], list[InputError]]:
    """(filename, text) pairs -> mapping result, findings, input errors (then no result)."""
    sources: list[Source] = []
    findings: list[Finding] = []
    errors: list[InputError] = []
    for filename, text in texts:
        found = find_sources(text, filename)
        sources.extend(found.sources)
        findings.extend(found.findings)
        errors.extend(found.errors)
    if errors:
        return None, findings, errors
    result = build(sources, name, vcluster_naming)
    return result, [*findings, *result.findings], []
