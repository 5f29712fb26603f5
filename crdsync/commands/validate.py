"""`crdsync validate FILE...`: check mapping files against the schema and the semantic rules, offline.

The files are loaded together, as `crdsync run` would merge them (so cross-file duplicates count); `--each` checks
every file as a configuration of its own instead. Prints one `file:line:col: message (field.path)` line per error,
sorted, then a one-line summary; `-o json` prints a single JSON document instead. Exit status: 0 when valid, 1 when
any error was found. Failure modes: none beyond that; unreadable files are reported like any other error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from crdsync.spec.load import LoadResult, load_files
from crdsync.spec.model import Direction, SpecError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="mapping YAML files (merged into one configuration)")
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="text: one line per error and a summary (default); json: one machine-readable document",
    )
    parser.add_argument(
        "--each", action="store_true", help="validate every FILE as a separate configuration instead of merging them"
    )


def _error_json(error: SpecError) -> dict[str, Any]:
    return {
        "file": error.location.file,
        "line": error.location.line,
        "column": error.location.column,
        "field": error.field_path,
        "message": error.message,
    }


def _config_json(result: LoadResult) -> dict[str, Any] | None:
    config = result.config
    if config is None:
        return None
    return {
        "name": config.name,
        "sources": list(config.sources),
        "rules": [
            {"direction": r.direction.value, "apiVersion": r.gvk.api_version, "kind": r.gvk.kind, "mode": r.mode.value}
            for r in config.rules
        ],
    }


def _summary(results: Sequence[tuple[Sequence[str], LoadResult]]) -> str:
    files = sorted({f for paths, _ in results for f in paths})
    errors = [e for _, r in results for e in r.errors]
    if errors:
        bad_files = {e.location.file for e in errors}
        noun = "error" if len(errors) == 1 else "errors"
        # Errors can sit outside the given files (e.g. a missing schema); count those as one more bad place.
        bad = len(bad_files & set(files)) or len(bad_files)
        return f"invalid: {len(errors)} {noun} in {bad} of {len(files)} file(s)"
    parts = []
    for _, result in results:
        config = result.config
        if config is None:
            continue
        to_host = sum(1 for r in config.rules if r.direction is Direction.TO_HOST)
        from_host = len(config.rules) - to_host
        parts.append(f"{config.name}: {len(config.rules)} rules ({to_host} toHost, {from_host} fromHost)")
    return f"valid: {len(files)} file(s); " + "; ".join(parts)


def run(args: argparse.Namespace) -> int:
    paths: list[str] = list(args.files)
    groups: list[list[str]] = [[p] for p in paths] if args.each else [paths]
    results = [(group, load_files(group)) for group in groups]
    errors = sorted(e for _, r in results for e in r.errors)
    if args.output == "json":
        document = {
            "valid": not errors,
            "files": paths,
            "configs": [_config_json(r) for _, r in results],
            "errors": [_error_json(e) for e in errors],
            "summary": _summary(results),
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for error in errors:
            print(error)
        print(_summary(results))
    return 1 if errors else 0
