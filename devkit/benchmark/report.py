"""Pure rendering of benchmark results: the targets, each result judged against its target, and the printed table.

Results are the plain JSON document `python -m devkit bench` writes (see the runner for its keys); a figure that could
not be measured is null and is shown as "n/a" and judged "n/a", never as a pass. Nothing here raises for missing keys:
a partial document (a run that failed half way) still renders.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devkit.benchmark.metrics import percentile

Results = Mapping[str, Any]


@dataclass(frozen=True)
class Target:
    path: str  # dotted key into the results, e.g. "latency_ms.create_p50"
    op: str  # "<=", "<", ">=" or "=="
    limit: float
    label: str


@dataclass(frozen=True)
class Verdict:
    target: Target
    value: float | None
    status: str  # "ok", "MISS" or "n/a"


# The 2-core machine's targets from the project brief. RSS is judged at 10,000 synced objects, extrapolated linearly
# from the N and 2N measurements when 2N is not 10,000.
TARGETS: tuple[Target, ...] = (
    Target("bulk_ratio", ">=", 0.8, "bulk sync vs raw create (raw_s / sync_s)"),
    Target("latency_ms.create_p50", "<=", 50, "create → host, p50 ms"),
    Target("latency_ms.create_p99", "<=", 250, "create → host, p99 ms"),
    Target("latency_ms.update_p50", "<=", 50, "update → host, p50 ms"),
    Target("latency_ms.update_p99", "<=", 250, "update → host, p99 ms"),
    Target("latency_ms.status_p50", "<=", 50, "host status → virtual, p50 ms"),
    Target("latency_ms.status_p99", "<=", 250, "host status → virtual, p99 ms"),
    Target("quiet.writes", "==", 0, "quiet: writes to both apiservers"),
    Target("quiet.cpu_pct", "<", 2, "quiet: crdsync CPU % of one core"),
    Target("restart.writes", "==", 0, "restart: writes to both apiservers"),
    Target("restart.ratio", "<=", 1.5, "restart: converge / list time"),
    Target("rss_mb.at_10k", "<=", 250, "RSS MB at 10,000 objects"),
)


def lookup(results: Results, path: str) -> Any:
    node: Any = results
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def median_document(documents: Sequence[Any]) -> Any:
    """One results document whose every number is the median of that number over `documents` (runs of the same
    benchmark): how the README's "median of 3" tables are made. A number missing or not a number in some run is
    the median of the runs that have it; anything else (text, lists) is taken from the first run. Pure."""
    first = documents[0]
    if isinstance(first, Mapping):
        keys = list(first) + [k for doc in documents[1:] if isinstance(doc, Mapping) for k in doc if k not in first]
        return {key: median_document([doc[key] for doc in documents if isinstance(doc, Mapping) and key in doc])
                for key in dict.fromkeys(keys)}
    numbers = [value for value in documents if _number(value) is not None]
    if not numbers:
        return first
    middle = statistics.median(numbers)
    return int(middle) if all(isinstance(value, int) for value in numbers) and middle == int(middle) else middle


def judge(target: Target, value: float | None) -> str:
    if value is None:
        return "n/a"
    passed = {
        "<=": value <= target.limit,
        "<": value < target.limit,
        ">=": value >= target.limit,
        "==": value == target.limit,
    }[target.op]
    return "ok" if passed else "MISS"


def evaluate(results: Results, targets: tuple[Target, ...] = TARGETS) -> list[Verdict]:
    verdicts = []
    for target in targets:
        value = _number(lookup(results, target.path))
        verdicts.append(Verdict(target, value, judge(target, value)))
    return verdicts


def fmt(value: Any, digits: int = 2) -> str:
    number = _number(value)
    if number is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    return f"{number:.{digits}f}"


def _table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return lines


def figures(results: Results) -> list[tuple[str, str]]:
    """The measured figures worth a line each, as (name, value with unit)."""
    n = results.get("n")
    rows = [
        ("objects (N)", fmt(n)),
        ("raw create N on host",
         f"{fmt(results.get('raw_create_s'))} s at {fmt(results.get('raw_concurrency'))} threads"),
        ("raw apply N on host", f"{fmt(results.get('raw_apply_s'))} s"),
        ("bulk sync N (spawn → all on host)", f"{fmt(results.get('bulk_sync_s'))} s"),
        ("  of which start-up / lists / copies", " / ".join(
            fmt(lookup(results, f"bulk_breakdown.{k}")) for k in ("startup_s", "lists_s", "copies_s")) + " s"),
        ("live sync N (first create → all on host)", f"{fmt(results.get('live_sync_s'))} s"),
        ("host apiserver+etcd CPU ms/object: create / apply / bulk", " / ".join(
            fmt(lookup(results, f"server_cpu.ms_per_object.{k}")) for k in ("raw_create", "raw_apply", "bulk"))),
        ("restart converge / list both sides", f"{fmt(lookup(results, 'restart.converge_s'))} s / "
                                               f"{fmt(lookup(results, 'restart.list_s'))} s"),
        ("RSS with N / 2N", f"{fmt(lookup(results, 'rss_mb.n'), 1)} MB / {fmt(lookup(results, 'rss_mb.2n'), 1)} MB"),
        ("RSS per object", f"{fmt(lookup(results, 'rss_mb.per_object_kb'), 2)} kB"),
    ]  # fmt: skip
    return rows


def render_table(results: Results) -> str:
    """The human-readable report: targets with verdicts, then the raw figures, then the machine."""
    verdicts = evaluate(results)
    target_rows = [
        (v.target.label, fmt(lookup(results, v.target.path)), f"{v.target.op} {fmt(v.target.limit)}", v.status)
        for v in verdicts
    ]
    lines = _table(("target", "measured", "limit", "verdict"), target_rows)
    lines.append("")
    lines += _table(("figure", "value"), figures(results))
    machine = results.get("machine") or {}
    versions = results.get("versions") or {}
    lines.append("")
    load = machine.get("load_avg")
    busy = f"; load average {fmt(load.get('start'))} at start, {fmt(load.get('end'))} at end" if load else ""
    lines.append(
        f"machine: {machine.get('cores', '?')} cores, {fmt(machine.get('memory_gb'), 1)} GB{busy}, "
        f"Python {machine.get('python', '?')}, {machine.get('platform', '?')}; "
        f"crdsync {versions.get('crdsync', '?')}, kube-apiserver {versions.get('kube-apiserver', '?')}"
    )
    met = sum(v.status == "ok" for v in verdicts)
    missed = [v.target.path for v in verdicts if v.status == "MISS"]
    unmeasured = [v.target.path for v in verdicts if v.status == "n/a"]
    summary = f"{met} of {len(verdicts)} targets met"
    if missed:
        summary += "; missed: " + ", ".join(missed)
    if unmeasured:
        summary += f"; not measured: {len(unmeasured)}"
    lines.append(summary)
    return "\n".join(lines)


def server_cost(cpu_s: Mapping[str, Mapping[str, float]], n: int) -> dict[str, Any]:
    """Host apiserver + etcd CPU per object (ms) in each write phase, and raw create's cost over bulk sync's.

    Wall-clock ratios move with whatever else the machine runs; the servers' own CPU per object does not, so this is
    the steadier comparison of what a bulk sync asks of the host (local planes only, where those pids are known).
    """
    per_object: dict[str, float] = {}
    for phase in ("raw_create", "raw_apply", "bulk", "live"):
        used = cpu_s.get(phase) or {}
        if "host" in used and n > 0:
            per_object[phase] = round(1000 * (used["host"] + used.get("etcd", 0.0)) / n, 2)
    ratio = None
    if per_object.get("raw_create") and per_object.get("bulk"):
        ratio = round(per_object["raw_create"] / per_object["bulk"], 3)
    return {"ms_per_object": per_object, "bulk_ratio": ratio}


def latency_summary(samples_ms: list[float], prefix: str) -> dict[str, float]:
    """{prefix_p50, prefix_p99} in ms, rounded to 0.1 ms."""
    return {
        f"{prefix}_p50": round(percentile(samples_ms, 50), 1),
        f"{prefix}_p99": round(percentile(samples_ms, 99), 1),
    }


def memory_figures(rss_n_kb: int, rss_2n_kb: int, n: int) -> dict[str, float]:
    """RSS at N and 2N in MB, the slope per object in kB and the linear extrapolation to 10,000 objects."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    per_object_kb = (rss_2n_kb - rss_n_kb) / n
    at_10k_kb = rss_n_kb + per_object_kb * (10_000 - n)
    return {
        "n": round(rss_n_kb / 1024, 1),
        "2n": round(rss_2n_kb / 1024, 1),
        "per_object_kb": round(per_object_kb, 2),
        "at_10k": round(at_10k_kb / 1024, 1),
    }


# -- cost per tenant (python -m devkit bench --tenants) -----------------------------------------------------------


def _per_tenant(results: Results, window: str, key: str, k: int, *, per_minute: bool = False) -> float | None:
    """(window's figure - baseline's figure) / k, optionally per minute of the window; None if either is missing."""
    now, base = _number(lookup(results, f"{window}.{key}")), _number(lookup(results, f"baseline.{key}"))
    if now is None or base is None or k <= 0:
        return None
    value = (now - base) / k
    if per_minute:
        seconds = _number(lookup(results, f"{window}.seconds"))
        base_seconds = _number(lookup(results, "baseline.seconds"))
        if not seconds or not base_seconds:
            return None
        value = (now / seconds - base / base_seconds) * 60 / k
    return round(value, 3)


def tenant_formula(results: Results) -> dict[str, Any]:
    """Per-tenant costs from a `--tenants K` run and the formula they make, as figures and as one line of text.

    Differences over the baseline window (all apiservers up, no crdsync) divided by K: what one more tenant adds to
    the host when quiet, with no objects (quiet_0) and with N objects each (quiet_n). Memory: the median process's
    RSS idle and loaded, and the slope per object between them.
    """
    k = int(_number(results.get("tenants")) or 0)
    n = int(_number(results.get("n")) or 0)
    idle = [v for v in (results.get("rss_idle_mb") or []) if _number(v) is not None]
    loaded = [v for v in (results.get("rss_loaded_mb") or []) if _number(v) is not None]
    rss_idle = round(float(statistics.median(idle)), 1) if idle else None
    rss_loaded = round(float(statistics.median(loaded)), 1) if loaded else None
    per_object_kb = round((rss_loaded - rss_idle) * 1024 / n, 2) if rss_idle is not None and rss_loaded is not None \
        and n > 0 else None
    figures: dict[str, Any] = {
        "rss_idle_mb": rss_idle,
        "rss_loaded_mb": rss_loaded,
        "rss_per_object_kb": per_object_kb,
        "watchers_per_tenant": _per_tenant(results, "quiet_0", "registered_watchers", k),
        "watches_per_tenant": _per_tenant(results, "quiet_0", "longrunning_watches", k),
        "requests_per_tenant_per_min": _per_tenant(results, "quiet_0", "requests_total", k, per_minute=True),
        "non_watch_requests_per_tenant_per_min": _per_tenant(results, "quiet_0", "non_watch_requests", k,
                                                             per_minute=True),
        "loaded_non_watch_requests_per_tenant_per_min": _per_tenant(results, "quiet_n", "non_watch_requests", k,
                                                                    per_minute=True),
        "host_cpu_pct_per_tenant": _per_tenant(results, "quiet_0", "host_cpu_pct", k),
        "loaded_host_cpu_pct_per_tenant": _per_tenant(results, "quiet_n", "host_cpu_pct", k),
        "host_sync_ms_per_object": _number(lookup(results, "load.host_ms_per_object")),
        "crdsync_sync_ms_per_object": _number(lookup(results, "load.crdsync_ms_per_object")),
    }
    watches = figures["watches_per_tenant"]
    if watches is None:
        watches = figures["watchers_per_tenant"]
    figures["text"] = (
        f"per tenant (one crdsync, one synced kind), M objects: crdsync RSS ≈ {fmt(rss_idle, 1)} MB + "
        f"{fmt(per_object_kb, 1)} kB x M; on the host when quiet: {fmt(watches, 1)} watches, "
        f"{fmt(figures['non_watch_requests_per_tenant_per_min'], 2)} non-watch requests/min (leases excluded), "
        f"{fmt(figures['host_cpu_pct_per_tenant'], 2)} % of a core of apiserver CPU "
        f"({fmt(figures['loaded_host_cpu_pct_per_tenant'], 2)} % with {n} objects); syncing costs the host apiserver "
        f"{fmt(figures['host_sync_ms_per_object'], 2)} ms CPU per object"
    )
    return figures


def render_tenant_table(results: Results) -> str:
    """The `--tenants` report: per-window host figures, per-process memory, and the per-tenant formula."""
    windows = [(name, results.get(name) or {}) for name in ("baseline", "quiet_0", "quiet_n")]
    keys = (("host_cpu_pct", "host apiserver CPU % of a core"), ("etcd_cpu_pct", "etcd CPU %"),
            ("crdsync_cpu_pct", "all crdsync CPU %"), ("requests_total", "host requests (leases excluded)"),
            ("non_watch_requests", "  of which not WATCH"), ("registered_watchers", "apiserver_registered_watchers"),
            ("longrunning_watches", "long-running WATCH requests"), ("seconds", "window s"))
    rows = [(label, *(fmt(window.get(key)) for _, window in windows)) for key, label in keys]
    lines = _table(("host, quiet window", "no crdsync", f"{results.get('tenants')} idle", "N each"), rows)
    lines.append("")
    load = results.get("load") or {}
    lines += _table(("figure", "value"), [
        ("tenants (K) / objects each (N)", f"{fmt(results.get('tenants'))} / {fmt(results.get('n'))}"),
        ("RSS idle MB per crdsync", ", ".join(fmt(v, 1) for v in results.get("rss_idle_mb") or []) or "n/a"),
        ("RSS loaded MB per crdsync", ", ".join(fmt(v, 1) for v in results.get("rss_loaded_mb") or []) or "n/a"),
        ("load: KxN copies on the host, s", fmt(load.get("sync_s"))),
        ("load: host apiserver / etcd / crdsync CPU ms per object", " / ".join(
            fmt(load.get(key)) for key in ("host_ms_per_object", "etcd_ms_per_object", "crdsync_ms_per_object"))),
    ])  # fmt: skip
    formula = results.get("formula") or tenant_formula(results)
    lines.append("")
    lines.append(str(formula["text"]))
    machine = results.get("machine") or {}
    load_avg = machine.get("load_avg") or {}
    lines.append(f"machine: {machine.get('cores', '?')} cores, load average {fmt(load_avg.get('start'))} at start, "
                 f"{fmt(load_avg.get('end'))} at end; kube-apiserver "
                 f"{(results.get('versions') or {}).get('kube-apiserver', '?')}")
    if results.get("failed"):
        lines.append(f"run FAILED: {str(results['failed']).splitlines()[0]}")
    return "\n".join(lines)
