"""Merge the converted rules of every configuration into one crdsync mapping, written as commented YAML and checked.

The rules of all inputs form one SyncConfig (as `crdsync run` would load them together): a kind converted twice in one
direction keeps the first rule (a mode-all rule wins over a mode-referenced one, which it covers) and reports the
others; an import of a kind that is also exported with mode all is disabled (crdsync refuses such loops). The text is
then loaded with crdsync's own loader; any error it finds is reported as a finding, so a converted mapping is never
silently invalid.

Pure apart from reading the mapping schema (to see whether `naming.style: vcluster` exists yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crdsync.convert.emit import Commented, dump
from crdsync.convert.inputs import Source
from crdsync.convert.report import Finding
from crdsync.convert.vcluster.config import convert_source
from crdsync.convert.vcluster.context import OutRule
from crdsync.spec.load import load_text
from crdsync.spec.model import API_VERSION, KIND, Location


def schema_has_vcluster_naming() -> bool:
    """True when crdsync's schema accepts `naming.style: vcluster` (vcluster's own host names)."""
    try:
        from crdsync.spec.schema import load_schema

        naming = load_schema()["$defs"]["naming"]["properties"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    style = naming.get("style") if isinstance(naming, dict) else None
    values = style.get("enum", []) if isinstance(style, dict) else []
    return "vcluster" in values


@dataclass(frozen=True)
class Result:
    text: str  # the mapping as YAML
    findings: tuple[Finding, ...]
    rules: int  # rules written (enabled ones)


def _merge(rules: list[OutRule], findings: list[Finding]) -> list[OutRule]:
    kept: dict[tuple[str, str, str], OutRule] = {}
    order: list[tuple[str, str, str]] = []
    for rule in rules:
        key = rule.key
        earlier = kept.get(key)
        if earlier is None:
            kept[key] = rule
            order.append(key)
            continue
        earlier_mode = earlier.body.get("mode", "all")
        mode = rule.body.get("mode", "all")
        if mode == "referenced" and earlier_mode == "referenced":
            continue  # the same follower rule asked for twice
        if earlier_mode == "referenced" and mode == "all":
            kept[key] = rule  # the mode-all rule syncs every object, followers included
            continue
        if mode == "referenced":
            continue
        first_line = rule.comment.splitlines()[0]
        findings.append(
            Finding(
                Location("<mapping>", 1, 1),
                "",
                f"{rule.body['kind']} is converted twice in direction {rule.direction} ({first_line}); crdsync takes "
                "one rule per kind and direction",
                f"kept the rule {earlier.comment.splitlines()[0]}; merge the other into it by hand",
            )
        )
    out = [kept[k] for k in order]
    _drop_dangling_references(out, findings)
    exported = {(r.key[1], r.key[2]) for r in out if r.direction == "toHost" and r.body.get("mode", "all") == "all"}
    for rule in out:
        both = (rule.key[1], rule.key[2]) in exported
        if rule.direction == "fromHost" and rule.active and rule.body.get("mode", "all") == "all" and both:
            rule.active = False
            rule.comment += "\nleft disabled: the kind is also exported with mode all"
    return out


def _drop_dangling_references(rules: list[OutRule], findings: list[Finding]) -> None:
    """A follow: none reference needs a rule for its kind; one whose kind converted to no rule is dropped, reported."""
    synced = {(r.key[1], r.key[2]) for r in rules if r.active}
    for rule in rules:
        refs = rule.body.get("references")
        if not isinstance(refs, list):
            continue
        kept: list[Any] = []
        for item in refs:
            ref = item.value if isinstance(item, Commented) else item
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            if ref.get("follow") == "none" and (group, ref.get("kind")) not in synced:
                comment = item.comment if isinstance(item, Commented) else ""
                findings.append(
                    Finding(
                        Location("<mapping>", 1, 1),
                        "",
                        f"a reference of {rule.body['kind']} to {ref.get('kind')} at {ref.get('path')} ({comment}) "
                        f"was dropped: no rule syncs {ref.get('kind')}",
                        "fix the entry of that kind (see the other findings) and convert again",
                    )
                )
                continue
            kept.append(item)
        if kept:
            rule.body["references"] = kept
        else:
            rule.body.pop("references")


def build(sources: Sequence[Source], name: str, vcluster_naming: bool) -> Result:
    findings: list[Finding] = []
    rules: list[OutRule] = []
    for source in sources:
        converted = convert_source(source, vcluster_naming)
        rules.extend(converted.rules)
        findings.extend(converted.findings)
    merged = _merge(rules, findings)
    spec: dict[str, Any] = {}
    for direction in ("toHost", "fromHost"):
        items = [Commented(r.comment, r.body, r.active) for r in merged if r.direction == direction]
        if items:
            spec[direction] = items
    document = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}
    header = (
        "Converted by `crdsync convert` from a vcluster generic-sync configuration. Every rule, reference and patch\n"
        "says where it came from; the report (stderr) lists what did not carry over."
    )
    text = dump(document, header)
    if merged and not vcluster_naming and sources:
        first = sources[0]
        findings.append(
            Finding(
                first.where(()),
                first.describe(()),
                "host copies get crdsync's hashed names, not vcluster's (name-x-namespace-x-vcluster): the copies "
                "vcluster made are not found, and names that vcluster's own syncer gives Secrets and Services differ",
                "stop vcluster's generic sync and delete its host copies before running crdsync, or use "
                "naming.style: vcluster once crdsync has it",
                "note",
            )
        )
    result = load_text(text, "<converted mapping>")
    for error in result.errors:
        findings.append(
            Finding(
                error.location,
                error.field_path,
                f"the converted mapping does not load: {error.message}",
                "fix the mapping by hand (and report this as a crdsync convert bug)",
            )
        )
    return Result(text, tuple(findings), sum(1 for r in merged if r.active))
