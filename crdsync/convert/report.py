"""Findings of a conversion: what did not carry over (or carried over differently), each located in the input file.

A finding is `file:line:col: reason; what to do instead`. Severity `todo` means a human must act (the command exits 1);
`note` records a difference that needs no action (exit status unaffected). Unreadable input is not a finding: it is an
`InputError` (exit 2). Nothing here does IO; rendering returns strings and plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from crdsync.spec.model import Location

Severity = Literal["todo", "note"]


@dataclass(frozen=True, order=True)
class Finding:
    location: Location
    field: str  # where in the generic-sync config, e.g. `export[0].patches[2]`
    reason: str
    instead: str  # what to do instead (or why nothing is needed)
    severity: Severity = "todo"

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.location}: {self.severity}: {self.reason}{where}; {self.instead}"

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "field": self.field,
            "severity": self.severity,
            "reason": self.reason,
            "instead": self.instead,
        }


@dataclass(frozen=True, order=True)
class InputError:
    """Input that cannot be converted at all: unreadable, not YAML, or not a generic-sync configuration."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "message": self.message,
        }


def needs_human(findings: list[Finding]) -> bool:
    return any(f.severity == "todo" for f in findings)
