"""Load mapping files into one SyncConfig, or report every problem in them at once, each with file:line:column.

Pipeline per file: read (UTF-8) -> parse YAML with ruamel's round-trip loader (keeps positions) -> plain JSON data ->
JSON Schema (schemas/mapping.schema.json, Draft 2020-12, all errors via iter_errors) -> semantic checks within a
document -> checks across all rules of all files (duplicates, loops, references) -> the frozen model. A semantic
problem inside a value the schema already rejected is not reported again.

Failure modes: none raised. Missing or unreadable files, invalid UTF-8, YAML syntax errors, schema violations,
semantic problems, a missing schema file and even an internal error while building the model all come back as
`SpecError`s in `LoadResult.errors` (sorted by location); `config` is None exactly when there are errors.
`LoadResult.raise_for_errors()` turns them into a `SpecLoadError` for callers that prefer an exception.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crdsync.spec import schema as _schema
from crdsync.spec.build import build_config
from crdsync.spec.checks import cross_problems, document_problems
from crdsync.spec.model import Location, SpecError, SyncConfig
from crdsync.spec.source import Document, Problem, parse_yaml, read_text

__all__ = ["LoadResult", "SpecLoadError", "load_files", "load_schema", "load_text"]


def load_schema() -> dict[str, Any]:
    """The mapping JSON Schema (schemas/mapping.schema.json) as a dict; raises SchemaNotFoundError if missing."""
    return _schema.load_schema()


class SpecLoadError(ValueError):
    """Raised by `LoadResult.raise_for_errors`; `errors` holds every located problem, `str()` lists them."""

    def __init__(self, errors: Sequence[SpecError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors) or "invalid mapping")


@dataclass(frozen=True)
class LoadResult:
    """The merged configuration, or every problem found. `config` is None exactly when `errors` is non-empty."""

    config: SyncConfig | None
    errors: tuple[SpecError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> SyncConfig:
        """The config, or SpecLoadError listing every error."""
        if self.config is None or self.errors:
            raise SpecLoadError(self.errors)
        return self.config


def _covered(problem: Problem, primary: set[tuple[str, int, tuple[Any, ...]]]) -> bool:
    key_file, key_doc = problem.location.file, problem.document
    return any((key_file, key_doc, problem.path[:end]) in primary for end in range(len(problem.path) + 1))


def _schema_failure(exc: Exception) -> LoadResult:
    if isinstance(exc, _schema.SchemaNotFoundError):
        where, message = Location(_schema.SCHEMA_FILENAME, 1, 1), str(exc)
    else:
        where = Location(str(_schema.schema_candidates()[0]), 1, 1)
        message = f"cannot use the mapping schema: {exc}"
    return LoadResult(None, (SpecError(where, "", message),))


def _load(sources: Sequence[tuple[str, str | None, list[Problem]]]) -> LoadResult:
    try:
        _schema.validator()
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        return _schema_failure(exc)

    problems: list[Problem] = []
    documents: list[Document] = []
    for name, text, read_problems in sources:
        problems.extend(read_problems)
        if text is None:
            continue
        parsed, file_problems = parse_yaml(text, name)
        problems.extend(file_problems)
        documents.extend(parsed)

    primary: list[Problem] = []
    secondary: list[Problem] = []
    for document in documents:
        primary.extend(document.problems)
        primary.extend(_schema.schema_problems(document))
        secondary.extend(document_problems(document))
    secondary.extend(cross_problems(documents))
    primary_paths = {(p.location.file, p.document, p.path) for p in primary}
    problems.extend(primary)
    problems.extend(p for p in secondary if not _covered(p, primary_paths))

    if not problems:
        try:
            config = build_config(documents, [name for name, _text, _problems in sources])
        except Exception as exc:  # a gap between checks and builder must still not surface as a traceback
            where = documents[0].positions.value(()) if documents else Location("<input>", 1, 1)
            problems.append(Problem(where, (), f"internal error building the configuration: {exc!r}"))
        else:
            return LoadResult(config, ())
    errors = sorted({p.to_error() for p in problems})
    return LoadResult(None, tuple(errors))


def load_text(text: str, filename: str = "<string>") -> LoadResult:
    """Load one mapping given as text; `filename` is only used in error locations and `SyncConfig.sources`."""
    return _load([(filename, text, [])])


def load_files(paths: Sequence[str | Path]) -> LoadResult:
    """Load and merge mapping files (each may hold several YAML documents); rules keep file order.

    A path given twice (same resolved file) is loaded once.
    """
    if isinstance(paths, str | Path):  # a lone path is a common slip; a str would otherwise be iterated per char
        paths = [paths]
    if not paths:
        return LoadResult(None, (SpecError(Location("<no files>", 1, 1), "", "no mapping files given"),))
    sources: list[tuple[str, str | None, list[Problem]]] = []
    seen: set[Path] = set()
    for path in paths:
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):
            resolved = Path(path)
        if resolved in seen:
            continue
        seen.add(resolved)
        text, read_problems = read_text(path)
        sources.append((str(path), text, read_problems))
    return _load(sources)
