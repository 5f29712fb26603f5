"""Write a mapping (plain dicts and lists) as block YAML with comments.

Comments ride on list items: a `Commented(comment, value)` item is written as `# comment` lines above its `- `, and a
`Commented` item with `active=False` is written entirely as comments (a rule left for a human to enable). Strings are
written plain when YAML would read them back as the same string, otherwise double-quoted (JSON escaping is valid YAML).
Keys keep insertion order. Pure: returns text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# Plain scalars that YAML 1.1/1.2 would read as something other than the string itself.
_RESERVED = re.compile(
    r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N"
    r"|[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|<<|=)$"
)
_PLAIN = re.compile(r"^[A-Za-z0-9_$/][A-Za-z0-9_$/.\-]*$")
# Characters JSON leaves raw that YAML refuses in a stream (DEL, C1 controls, BOM, non-characters, lone surrogates).
_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\ufeff\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Commented:
    comment: str
    value: Any
    active: bool = True


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.match(text) and not _RESERVED.match(text):
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _comment_lines(comment: str, indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in comment.splitlines() or [""]]


def _is_flow_leaf(value: Any) -> bool:
    return not isinstance(value, dict | list | Commented) or value in ({}, [])


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return scalar(value)


def _block(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, list) and item and all(isinstance(i, Commented) and not i.active for i in item):
                # Only disabled items: the key must still hold a list, so write it empty with the items below.
                lines.append(f"{pad}{scalar(key)}: []")
                lines.extend(_block(item, indent + 2))
            elif _is_flow_leaf(item):
                lines.append(f"{pad}{scalar(key)}: {_flow(item)}")
            else:
                lines.append(f"{pad}{scalar(key)}:")
                lines.extend(_block(item, indent + 2))
        return lines
    if isinstance(value, list):
        for item in value:
            comment, active = "", True
            if isinstance(item, Commented):
                comment, active, item = item.comment, item.active, item.value
            if comment:
                lines.extend(_comment_lines(comment, pad))
            body = [f"{pad}- {_flow(item)}"] if _is_flow_leaf(item) else _item(item, indent)
            lines.extend(body if active else [f"{pad}# {line[indent:]}".rstrip() for line in body])
        return lines
    return [f"{pad}{scalar(value)}"]


def _item(value: Any, indent: int) -> list[str]:
    inner = _block(value, indent + 2)
    first = inner[0]
    return [" " * indent + "- " + first[indent + 2 :], *inner[1:]]


def dump(document: dict[str, Any], header: str = "") -> str:
    lines = _comment_lines(header, "") if header else []
    lines.extend(_block(document, 0))
    return "\n".join(lines) + "\n"


def unwrap(value: Any) -> Any:
    """The plain data `dump` writes (inactive items dropped), e.g. to check it without parsing the text."""
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [
            unwrap(v.value if isinstance(v, Commented) else v)
            for v in value
            if not (isinstance(v, Commented) and not v.active)
        ]
    return value
