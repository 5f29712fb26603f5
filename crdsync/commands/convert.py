"""`crdsync convert FILE...`: turn vcluster generic-sync configurations into one crdsync mapping, with a report.

Reads every FILE (a bare generic-sync or plugin config, or vcluster Helm values holding one; see
crdsync.convert.inputs), converts them together (crdsync.convert.vcluster, .mapping) and prints the mapping on stdout
(`-o FILE` writes it there). The report goes to stderr: one `file:line:col: todo|note: reason (field); what to do
instead` line per finding and a summary, or one JSON document with `--report json`.

Exit status: 0 when everything converted (notes only), 1 when something needs a human (the mapping is still written),
2 when an input is unreadable (missing file, not UTF-8, bad YAML - also inside an embedded config string - or no
generic-sync configuration in it); then no mapping is written. Never a traceback: an unexpected internal error is
reported as exit 2 with its message.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from crdsync.convert.mapping import Result, schema_has_vcluster_naming
from crdsync.convert.report import Finding, InputError, needs_human
from crdsync.convert.texts import convert_texts
from crdsync.spec.model import Location
from crdsync.spec.source import read_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="generic-sync configs or vcluster/plugin Helm values")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the mapping to FILE instead of stdout")
    parser.add_argument("--report", choices=("text", "json"), default="text", help="report format on stderr")
    parser.add_argument("--name", help="metadata.name of the mapping (default: from the first file's name)")


def mapping_name(files: list[str], given: str | None) -> str:
    """A DNS-style name for the mapping: --name, else the first file's stem (`values-prod.yaml` -> values-prod)."""
    raw = given if given else Path(files[0]).stem if files else "converted"
    name = re.sub(r"[^a-z0-9.-]+", "-", raw.lower()).strip("-.")[:253].strip("-.")
    return name or "converted"


def _report(findings: list[Finding], errors: list[InputError], result: Result | None, fmt: str, code: int) -> None:
    todos = sum(1 for f in findings if f.severity == "todo")
    notes = len(findings) - todos
    if errors:
        summary = f"unreadable input: {len(errors)} error(s); no mapping written"
    else:
        rules = result.rules if result is not None else 0
        summary = f"converted {rules} rule(s); {todos} need a human, {notes} note(s)"
    if fmt == "json":
        document: dict[str, Any] = {
            "exitCode": code,
            "errors": [e.to_json() for e in sorted(errors)],
            "findings": [f.to_json() for f in sorted(findings)],
            "summary": summary,
        }
        sys.stderr.write(json.dumps(document, indent=2) + "\n")
        return
    for error in sorted(errors):
        print(f"{error}", file=sys.stderr)
    for finding in sorted(findings):
        print(f"{finding}", file=sys.stderr)
    print(summary, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    files: list[str] = list(args.files)
    texts: list[tuple[str, str]] = []
    errors: list[InputError] = []
    for filename in files:
        text, problems = read_text(filename)
        for problem in problems:
            errors.append(InputError(problem.location, problem.message.replace("mapping file", "file")))
        if text is not None:
            texts.append((filename, text))
    result: Result | None = None
    findings: list[Finding] = []
    if not errors:
        try:
            result, findings, errors = convert_texts(
                texts, mapping_name(files, args.name), schema_has_vcluster_naming()
            )
        except Exception as exc:  # the converter is meant to be total; if it is not, say so instead of a traceback
            errors = [InputError(Location(files[0], 1, 1), f"internal error in crdsync convert: {exc!r}")]
    if errors or result is None:
        _report(findings, errors, None, args.report, 2)
        return 2
    code = 1 if needs_human(findings) else 0
    if args.output:
        try:
            Path(args.output).write_text(result.text, encoding="utf-8")
        except OSError as exc:
            errors = [InputError(Location(args.output, 1, 1), f"cannot write the mapping: {exc.strerror or exc}")]
            _report(findings, errors, None, args.report, 2)
            return 2
    else:
        sys.stdout.write(result.text)
    _report(findings, [], result, args.report, code)
    return code
