"""Pure parsers and statistics for benchmark figures: the apiserver's request counter, /proc files, log timestamps.

Nothing here does IO: every function takes the text as it was read, so the e2e harness and `python -m devkit bench`
count writes and CPU the same way. Failure modes: text that is not what the kernel or apiserver writes raises
`ParseError` saying which line or field is wrong; `percentile` raises ValueError for no samples or a rank outside
0..100.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Verbs of apiserver_request_total that change state. SSA shows up as APPLY, not PATCH.
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"})
# The apiserver renews its own identity lease (and leader-election leases) all the time: never ours, never counted.
IGNORED_RESOURCES = frozenset({"leases"})

_METRIC = "apiserver_request_total"
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


class ParseError(ValueError):
    """Input text is not in the format its producer writes; the message says where."""


@dataclass(frozen=True, order=True)
class RequestKey:
    """One apiserver_request_total series with the labels that matter here (version, scope, component summed away)."""

    verb: str
    group: str
    resource: str
    subresource: str
    code: str

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS and self.resource not in IGNORED_RESOURCES

    def __str__(self) -> str:
        what = f"{self.group}/{self.resource}" if self.group else self.resource
        return f"{self.verb} {what}" + (f"/{self.subresource}" if self.subresource else "")


def parse_request_totals(text: str) -> dict[RequestKey, float]:
    """apiserver_request_total from a Prometheus text exposition, summed per `RequestKey`."""
    totals: dict[RequestKey, float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith(_METRIC + "{"):
            continue
        close = line.rfind("}")
        if close < 0:
            raise ParseError(f"metrics line {number}: no closing brace: {line[:120]!r}")
        labels = dict(_LABEL.findall(line[len(_METRIC) + 1 : close]))
        fields = line[close + 1 :].split()
        if not fields:
            raise ParseError(f"metrics line {number}: no sample value: {line[:120]!r}")
        try:
            value = float(fields[0])
        except ValueError:
            raise ParseError(f"metrics line {number}: sample value {fields[0]!r} is not a number") from None
        key = RequestKey(
            verb=labels.get("verb", ""),
            group=labels.get("group", ""),
            resource=labels.get("resource", ""),
            subresource=labels.get("subresource", ""),
            code=labels.get("code", ""),
        )
        totals[key] = totals.get(key, 0.0) + value
    return totals


def count_writes(metrics_text: str) -> int:
    """Mutating requests this apiserver has served since it started, leases excluded (any response code)."""
    return sum(int(v) for k, v in parse_request_totals(metrics_text).items() if k.is_write)


def write_delta(before: Mapping[RequestKey, float], after: Mapping[RequestKey, float]) -> dict[str, int]:
    """Writes between two snapshots, per `VERB group/resource[/subresource]` (codes summed); zero rows left out."""
    return request_delta(before, after, writes_only=True)


def request_delta(
    before: Mapping[RequestKey, float], after: Mapping[RequestKey, float], *, writes_only: bool = False
) -> dict[str, int]:
    """Requests between two snapshots, per `VERB group/resource[/subresource]` (codes summed); zero rows left out."""
    delta: dict[str, int] = {}
    for key, value in after.items():
        if writes_only and not key.is_write:
            continue
        grown = int(value - before.get(key, 0.0))
        if grown:
            label = str(key)
            delta[label] = delta.get(label, 0) + grown
    return dict(sorted(delta.items()))


@dataclass(frozen=True)
class ProcCpu:
    """CPU time of one process in clock ticks (user and system), from /proc/<pid>/stat."""

    utime: int
    stime: int

    @property
    def ticks(self) -> int:
        return self.utime + self.stime


def parse_proc_stat(text: str) -> ProcCpu:
    """utime and stime (fields 14 and 15) of a /proc/<pid>/stat line.

    The command name (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted
    from the last closing parenthesis.
    """
    close = text.rfind(")")
    if close < 0:
        raise ParseError(f"/proc stat: no command name in {text[:80]!r}")
    rest = text[close + 1 :].split()
    # rest[0] is field 3 (state); field k is rest[k - 3].
    if len(rest) < 13:
        raise ParseError(f"/proc stat: {len(rest) + 2} fields, need at least 15")
    try:
        return ProcCpu(utime=int(rest[11]), stime=int(rest[12]))
    except ValueError:
        raise ParseError(f"/proc stat: utime/stime {rest[11]!r}/{rest[12]!r} are not integers") from None


def parse_status_kb(text: str, field: str = "VmRSS") -> int:
    """A memory field of /proc/<pid>/status (VmRSS, VmHWM, ...) in kB."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name != field:
            continue
        parts = value.split()
        if len(parts) != 2 or parts[1] != "kB" or not parts[0].isdigit():
            raise ParseError(f"/proc status: {field} line is {line!r}, expected '<number> kB'")
        return int(parts[0])
    raise ParseError(f"/proc status: no {field} line (a kernel thread, or the process is a zombie)")


def parse_meminfo_total_kb(text: str) -> int:
    """MemTotal of /proc/meminfo in kB."""
    return parse_status_kb(text, "MemTotal")


def parse_log_time(line: str) -> float | None:
    """Epoch seconds of a line logged with crdsync's format (`%(asctime)s ...`, local time), or None if it has none."""
    match = _LOG_TIME.match(line)
    if match is None:
        return None
    try:
        struct = time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return time.mktime(struct) + int(match.group(2)) / 1000.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0 or math.isnan(q):
        raise ValueError(f"percentile rank {q} outside 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def busy_until(samples: Sequence[tuple[float, int]], after: float, gap: float) -> float | None:
    """When a process stopped working: the last time its CPU ticks grew before the first idle stretch of `gap` seconds
    that starts at or after `after`.

    `samples` are (monotonic time, cumulative ticks) in time order. None when no such idle stretch was sampled.
    """
    last_growth: float | None = None
    previous: int | None = None
    for at, ticks in samples:
        grew = previous is not None and ticks > previous
        previous = ticks
        if at < after:
            continue
        if last_growth is None:
            last_growth = after
        if grew:
            last_growth = at
        elif at - last_growth >= gap:
            return last_growth
    return None


def cpu_percent(ticks: int, seconds: float, ticks_per_second: int) -> float:
    """CPU used over a wall-clock interval as a percentage of one core."""
    if seconds <= 0:
        raise ValueError(f"interval of {seconds}s")
    return 100.0 * ticks / ticks_per_second / seconds


def parse_samples(text: str, metric: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of one metric (exact name, no suffix) in a Prometheus text exposition, as (labels, value)."""
    samples: list[tuple[dict[str, str], float]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith(metric) or line[len(metric) : len(metric) + 1] not in ("{", " "):
            continue
        close = line.rfind("}")
        labels = dict(_LABEL.findall(line[len(metric) + 1 : close])) if close >= 0 else {}
        fields = line[close + 1 :].split() if close >= 0 else line[len(metric) :].split()
        if not fields:
            raise ParseError(f"metrics line {number}: no sample value: {line[:120]!r}")
        try:
            samples.append((labels, float(fields[0])))
        except ValueError:
            raise ParseError(f"metrics line {number}: sample value {fields[0]!r} is not a number") from None
    return samples


def gauge_total(text: str, metric: str, **where: str) -> float | None:
    """The sum of a gauge's samples whose labels match `where` (e.g. verb="WATCH"); None when the apiserver does not
    export the metric at all (a removed or renamed metric must read as unmeasured, not as zero)."""
    samples = parse_samples(text, metric)
    if not samples:
        return None
    return sum(value for labels, value in samples if all(labels.get(k) == v for k, v in where.items()))
