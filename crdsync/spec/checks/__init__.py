"""Semantic checks the JSON Schema cannot express, reported as located Problems like schema errors.

Within one rule (`document_problems`): its JSONPaths (path_fields), its naming (naming), the fields of its direction
and mode (directions), its patches and conditions (patches) and its references' formats (references). Across all
rules of all loaded files (`cross_problems`): one rule per kind and direction and disjoint selections for a kind in
both directions (selections), and references that resolve to a rule (references). `rules` reads the rules as written.

Everything here reads the raw (possibly schema-invalid) data defensively: a value of the wrong type is skipped, never
raised on, since the schema has already reported it. The loader drops a check's problem that lies at or below a field
the schema (or the YAML reader) already reported.
"""

from __future__ import annotations

from collections.abc import Sequence

from crdsync.spec.checks.directions import direction_problems
from crdsync.spec.checks.naming import naming_problems
from crdsync.spec.checks.patches import patch_problems
from crdsync.spec.checks.path_fields import path_problems
from crdsync.spec.checks.references import reference_problems, reference_rule_problems
from crdsync.spec.checks.rules import document_rules, raw_rules
from crdsync.spec.checks.selections import duplicate_problems, loop_problems
from crdsync.spec.source import Document, Problem


def document_problems(document: Document) -> list[Problem]:
    """The checks that need only one document."""
    problems: list[Problem] = []
    for rule in document_rules(document):
        problems.extend(path_problems(rule))
        problems.extend(naming_problems(rule))
        problems.extend(direction_problems(rule))
        problems.extend(patch_problems(rule))
        problems.extend(reference_rule_problems(rule))
    return problems


def cross_problems(documents: Sequence[Document]) -> list[Problem]:
    """The checks that look at all rules of all documents loaded together."""
    rules = raw_rules(documents)
    return [*duplicate_problems(rules), *loop_problems(rules), *reference_problems(rules)]
