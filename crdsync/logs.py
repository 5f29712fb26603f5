"""Logging setup for every command: text lines for people, or one JSON object per line for log pipelines.

Text is `<time> <LEVEL> <logger>: <message>`, the format the benchmark and the e2e harness parse timestamps from.
JSON lines carry `time` (RFC 3339, UTC, milliseconds), `level`, `logger` and `msg`, plus `key`, `kind`, `namespace`
and `name` when the log call passed them (`extra=key_fields(key)`, carried as one `fields` attribute because LogRecord
already has a `name`), and `exc` with the traceback when there is one.

Failure modes: an unknown format or level is a ValueError naming the choices (the caller turns it into a usage
error before anything runs). A value that JSON cannot encode is written as its str(); a log line is never lost to
formatting.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Protocol

FORMATS = ("text", "json")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Structured fields a log call may pass with `extra=`; anything else on the record stays out of the JSON object.
FIELDS = ("key", "kind", "namespace", "name")


class KeyLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def name(self) -> str: ...


def key_fields(key: KeyLike) -> dict[str, Any]:
    """`extra=` for a log call about one work-queue key: JSON logs then carry it as fields, not only in the text."""
    fields: dict[str, Any] = {"key": str(key), "kind": key.kind, "name": key.name}
    if key.namespace:
        fields["namespace"] = key.namespace
    return {"fields": fields}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = record.__dict__.get("fields")
        if isinstance(fields, dict):
            entry.update((k, fields[k]) for k in FIELDS if fields.get(k) is not None)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        # ensure_ascii keeps every line 7-bit clean; default=str never lets an odd value drop the line.
        return json.dumps(entry, default=str)


def level_of(name: str) -> int:
    try:
        return LEVELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"log level {name!r}: expected one of {', '.join(LEVELS)}") from None


def setup(fmt: str = "text", level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Configure the root logger: crdsync's one handler (on `stream`, stderr by default) in `fmt`, at `level`.

    Called once by the CLI and again by `crdsync run` when its settings name a format: the second call re-formats the
    handler the first installed. Handlers somebody else installed first (pytest's capture, an embedding program) are
    left alone, like logging.basicConfig does, and crdsync then adds none of its own.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    numeric = level_of(level) if isinstance(level, str) else level
    root = logging.getLogger()
    ours: list[logging.Handler] = [h for h in root.handlers if getattr(h, "crdsync_handler", False)]
    if stream is not None:
        for old in ours:
            root.removeHandler(old)
        ours = []
    if not ours and (stream is not None or not root.handlers):
        created = logging.StreamHandler(stream if stream is not None else sys.stderr)
        created.crdsync_handler = True  # type: ignore[attr-defined]
        root.addHandler(created)
        ours = [created]
    for handler in ours:
        handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(numeric)
