"""Unit tests of the benchmark's pure parts: percentiles, metrics and /proc parsing, idle detection, profile summaries,
verdicts and the rendered report, and the command's argument checks (which must fail before touching any cluster)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pytest

from devkit.benchmark.metrics import (
    ParseError,
    RequestKey,
    busy_until,
    count_writes,
    cpu_percent,
    parse_log_time,
    parse_meminfo_total_kb,
    parse_proc_stat,
    parse_request_totals,
    parse_status_kb,
    percentile,
    request_delta,
    write_delta,
)
from devkit.benchmark.profile import ProfileError, summarize_collapsed
from devkit.benchmark.report import (
    TARGETS,
    evaluate,
    fmt,
    judge,
    latency_summary,
    lookup,
    median_document,
    memory_figures,
    render_table,
    server_cost,
)
from devkit.cli import build_parser
from devkit.commands import bench


def series(verb: str, group: str, resource: str, value: str, *, code: str = "200", subresource: str = "",
           version: str = "v1") -> str:
    labels = (f'code="{code}",component="apiserver",dry_run="",group="{group}",resource="{resource}",'
              f'scope="resource",subresource="{subresource}",verb="{verb}",version="{version}"')
    return f"apiserver_request_total{{{labels}}} {value}"


METRICS = "\n".join([
    "# HELP apiserver_request_total [STABLE] Counter of apiserver requests.",
    "# TYPE apiserver_request_total counter",
    series("POST", "bench.crdsync.io", "items", "500", code="201"),
    series("POST", "bench.crdsync.io", "items", "5", code="201", version="v2"),
    series("APPLY", "bench.crdsync.io", "items", "3", subresource="status"),
    series("PUT", "coordination.k8s.io", "leases", "977"),
    series("LIST", "", "namespaces", "12"),
    series("POST", "", "events", "1.5e+01", code="409"),
    series("DELETECOLLECTION", "", "pods", "1", code="0"),
    'apiserver_request_duration_seconds_bucket{verb="POST",le="0.1"} 999',
    "",
])


# -- percentiles ---------------------------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0


def test_percentile_ignores_input_order_and_handles_one_sample() -> None:
    assert percentile([30.0, 10.0, 20.0], 50) == 20.0
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("q", [-1.0, 100.5, float("nan")])
def test_percentile_rejects_ranks_outside_0_to_100(q: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0, 2.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_latency_summary_names_and_rounds() -> None:
    summary = latency_summary([10.0, 20.0, 30.0, 40.0], "create")
    assert summary == {"create_p50": 25.0, "create_p99": 39.7}


# -- apiserver metrics ---------------------------------------------------------------------------------------------


def test_request_totals_sum_over_versions_and_ignore_other_metrics() -> None:
    totals = parse_request_totals(METRICS)
    assert totals[RequestKey("POST", "bench.crdsync.io", "items", "", "201")] == 505
    assert totals[RequestKey("LIST", "", "namespaces", "", "200")] == 12
    assert all(key.verb != "" for key in totals)  # the histogram line was not read as a request count
    assert len(totals) == 6


def test_count_writes_counts_mutating_verbs_of_any_code_but_not_leases() -> None:
    # 505 creates + 3 status applies + 15 event creates (409s too) + 1 deletecollection; leases and LIST left out.
    assert count_writes(METRICS) == 505 + 3 + 15 + 1


def test_label_values_may_hold_escaped_quotes_and_commas() -> None:
    text = 'apiserver_request_total{resource="a\\"b,c",verb="PUT",group="g"} 2\n'
    totals = parse_request_totals(text)
    assert totals == {RequestKey("PUT", "g", 'a\\"b,c', "", ""): 2.0}


def test_write_delta_groups_by_request_and_drops_unchanged_rows() -> None:
    before = parse_request_totals(METRICS)
    after = dict(before)
    after[RequestKey("APPLY", "bench.crdsync.io", "items", "status", "200")] += 2
    after[RequestKey("APPLY", "bench.crdsync.io", "items", "status", "409")] = 1  # a new series
    after[RequestKey("PUT", "coordination.k8s.io", "leases", "", "200")] += 50  # ignored
    after[RequestKey("LIST", "", "namespaces", "", "200")] += 4  # a read
    assert write_delta(before, after) == {"APPLY bench.crdsync.io/items/status": 3}
    assert write_delta(before, before) == {}
    assert request_delta(before, after) == {
        "APPLY bench.crdsync.io/items/status": 3,
        "LIST namespaces": 4,
        "PUT coordination.k8s.io/leases": 50,
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('apiserver_request_total{verb="POST" 3', "no closing brace"),
        ('apiserver_request_total{verb="POST"}', "no sample value"),
        ('apiserver_request_total{verb="POST"} many', "not a number"),
    ],
)
def test_malformed_metrics_lines_are_located(line: str, message: str) -> None:
    with pytest.raises(ParseError, match=rf"line 2: .*{message}"):
        parse_request_totals("# a comment\n" + line + "\n")


def test_request_key_reads_like_the_request() -> None:
    key = RequestKey("APPLY", "bench.crdsync.io", "items", "status", "200")
    assert str(key) == "APPLY bench.crdsync.io/items/status"
    assert str(RequestKey("POST", "", "events", "", "201")) == "POST events"


# -- /proc ---------------------------------------------------------------------------------------------------------

# A real /proc/<pid>/stat line, with a command name holding a space and a parenthesis.
STAT = "4242 (python (x) y) S 1 4242 4242 0 -1 4194560 9650 0 0 0 731 122 0 0 20 0 9 0 27336 1139380224 21542"


def test_proc_stat_counts_fields_after_the_command_name() -> None:
    cpu = parse_proc_stat(STAT)
    assert (cpu.utime, cpu.stime, cpu.ticks) == (731, 122, 853)


@pytest.mark.parametrize("text", ["4242 python S 1 2 3", "4242 (python) S 1 2 3"])
def test_proc_stat_rejects_truncated_lines(text: str) -> None:
    with pytest.raises(ParseError, match="/proc stat"):
        parse_proc_stat(text)


def test_status_fields_in_kb() -> None:
    status = "Name:\tpython\nVmHWM:\t  90412 kB\nVmRSS:\t   81236 kB\nThreads:\t12\n"
    assert parse_status_kb(status) == 81236
    assert parse_status_kb(status, "VmHWM") == 90412
    assert parse_meminfo_total_kb("MemTotal:       24684632 kB\nMemFree:  1 kB\n") == 24684632


def test_status_without_the_field_or_with_a_bad_unit_is_an_error() -> None:
    with pytest.raises(ParseError, match="no VmRSS line"):
        parse_status_kb("Name:\tkthreadd\nState:\tS\n")
    with pytest.raises(ParseError, match="expected '<number> kB'"):
        parse_status_kb("VmRSS:\t12 MB\n")


def test_cpu_percent_is_of_one_core() -> None:
    assert cpu_percent(ticks=120, seconds=60, ticks_per_second=100) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        cpu_percent(1, 0, 100)


# -- log timestamps and idle detection -------------------------------------------------------------------------------


def test_log_time_reads_the_logging_default_asctime_in_local_time() -> None:
    line = "2025-11-27 18:20:01,123 INFO crdsync.engine: initial sync complete: 5000 keys in 3.2s"
    expected = time.mktime(time.strptime("2025-11-27 18:20:01", "%Y-%m-%d %H:%M:%S")) + 0.123
    assert parse_log_time(line) == pytest.approx(expected)
    assert parse_log_time("Traceback (most recent call last):") is None
    assert parse_log_time("2025-13-45 99:99:99,000 INFO x") is None


def test_busy_until_finds_the_last_growth_before_the_first_idle_gap() -> None:
    samples = [(0.0, 0), (0.1, 5), (0.2, 9), (0.3, 14), (0.4, 14), (0.5, 14), (0.6, 14), (0.9, 14), (1.0, 15)]
    assert busy_until(samples, after=0.0, gap=0.25) == 0.3


def test_busy_until_ignores_work_before_start_and_reports_no_gap() -> None:
    samples = [(0.0, 0), (0.1, 10), (0.2, 10), (0.3, 10), (0.4, 11)]
    # Idle from the start on: the work ended when we began looking.
    assert busy_until(samples, after=0.15, gap=0.1) == 0.15
    assert busy_until([(0.0, 0), (0.1, 1), (0.2, 2)], after=0.0, gap=0.5) is None


# -- profiles ------------------------------------------------------------------------------------------------------


def test_profile_summary_separates_self_from_inclusive_time() -> None:
    text = "\n".join([
        'process 1:"python";thread (0x1);main (cli.py);reconcile (reconcile.py);needs_write (compare.py) 6',
        'process 1:"python";thread (0x1);main (cli.py);reconcile (reconcile.py);apply (client.py) 3',
        'process 1:"python";main (cli.py);reconcile (reconcile.py) 1',
        "",
    ])
    summary = summarize_collapsed(text, top=2)
    assert summary.samples == 10
    own = [(s.frame, s.samples) for s in summary.self_top]
    assert own == [("needs_write (compare.py)", 6), ("apply (client.py)", 3)]
    assert summary.self_top[0].share == pytest.approx(0.6)
    inclusive = [(s.frame, s.samples) for s in summary.inclusive_top]
    assert inclusive == [("main (cli.py)", 10), ("reconcile (reconcile.py)", 10)]
    doc = summary.as_json()
    assert doc["samples"] == 10
    assert doc["self"] == [{"frame": "needs_write (compare.py)", "samples": 6, "pct": 60.0},
                           {"frame": "apply (client.py)", "samples": 3, "pct": 30.0}]


def test_profile_recursion_counts_once_per_stack_inclusively() -> None:
    summary = summarize_collapsed("walk (a.py);walk (a.py);walk (a.py) 4\n")
    assert [(s.frame, s.samples) for s in summary.inclusive_top] == [("walk (a.py)", 4)]


def test_profile_stacks_without_python_frames_are_skipped() -> None:
    summary = summarize_collapsed(" 1\nprocess 1:\"python\" 2\nf (a.py) 3\n")
    assert summary.samples == 3
    assert [(s.frame, s.samples) for s in summary.self_top] == [("f (a.py)", 3)]


def test_profile_line_without_count_is_located() -> None:
    with pytest.raises(ProfileError, match="line 2"):
        summarize_collapsed("a (x.py) 1\nb (y.py)\n")


# -- verdicts and the report ---------------------------------------------------------------------------------------


def good_results() -> dict[str, Any]:
    return {
        "n": 5000,
        "raw_create_s": 20.0,
        "raw_concurrency": 16,
        "raw_apply_s": 25.0,
        "bulk_sync_s": 22.0,
        "bulk_ratio": 0.91,
        "bulk_breakdown": {"startup_s": 1.2, "lists_s": 0.3, "copies_s": 20.5},
        "live_sync_s": 24.0,
        "latency_ms": {"create_p50": 12.0, "create_p99": 40.0, "update_p50": 13.0, "update_p99": 41.0,
                       "status_p50": 18.0, "status_p99": 60.0},
        "quiet": {"writes": 0, "cpu_pct": 0.3},
        "restart": {"converge_s": 2.0, "writes": 0, "list_s": 1.5, "ratio": 1.33},
        "rss_mb": {"n": 80.0, "2n": 120.0, "per_object_kb": 8.19, "at_10k": 120.0},
        "machine": {"cores": 2, "memory_gb": 23.5, "python": "3.11.7", "platform": "Linux",
                    "load_avg": {"start": 1.5, "end": 2.25}},
        "versions": {"crdsync": "0.1.0", "kube-apiserver": "v1.36.3"},
    }


def test_every_target_passes_on_good_results() -> None:
    verdicts = evaluate(good_results())
    assert [v.status for v in verdicts] == ["ok"] * len(TARGETS)


def test_misses_and_unmeasured_figures_are_told_apart() -> None:
    results = good_results()
    results["bulk_ratio"] = 0.5
    results["quiet"]["writes"] = 3
    results["restart"]["writes"] = None  # metrics not readable
    del results["latency_ms"]
    by_path = {v.target.path: v.status for v in evaluate(results)}
    assert by_path["bulk_ratio"] == "MISS"
    assert by_path["quiet.writes"] == "MISS"
    assert by_path["restart.writes"] == "n/a"
    assert by_path["latency_ms.create_p50"] == "n/a"
    assert by_path["rss_mb.at_10k"] == "ok"


@pytest.mark.parametrize(
    ("op", "value", "limit", "status"),
    [("<=", 50.0, 50, "ok"), ("<=", 50.1, 50, "MISS"), ("<", 2.0, 2, "MISS"), ("<", 1.99, 2, "ok"),
     (">=", 0.8, 0.8, "ok"), (">=", 0.79, 0.8, "MISS"), ("==", 0.0, 0, "ok"), ("==", 1.0, 0, "MISS"),
     ("<=", None, 1, "n/a")],
)
def test_judge_applies_the_operator(op: str, value: float | None, limit: float, status: str) -> None:
    target = TARGETS[0].__class__("x", op, limit, "x")
    assert judge(target, value) == status


def test_lookup_follows_dots_and_tolerates_gaps() -> None:
    results = good_results()
    assert lookup(results, "latency_ms.status_p99") == 60.0
    assert lookup(results, "latency_ms.nope") is None
    assert lookup(results, "n.deeper") is None


def test_booleans_are_not_numbers_for_verdicts() -> None:
    results = good_results()
    results["quiet"]["writes"] = False
    assert {v.target.path: v.status for v in evaluate(results)}["quiet.writes"] == "n/a"


def test_fmt_keeps_integers_whole_and_rounds_floats() -> None:
    assert fmt(0) == "0"
    assert fmt(5000) == "5000"
    assert fmt(0.0) == "0.00"
    assert fmt(12.345, 1) == "12.3"
    assert fmt(None) == "n/a"
    assert fmt("local") == "local"


def test_table_shows_each_target_with_value_limit_and_verdict() -> None:
    results = good_results()
    results["bulk_ratio"] = 0.5
    table = render_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["target", "measured", "limit", "verdict"]
    bulk = next(line for line in lines if line.startswith("bulk sync vs raw create"))
    assert bulk.split()[-4:] == ["0.50", ">=", "0.80", "MISS"]
    quiet = next(line for line in lines if line.startswith("quiet: writes"))
    assert quiet.split()[-4:] == ["0", "==", "0", "ok"]
    assert "11 of 12 targets met; missed: bulk_ratio" in table
    assert "load average 1.50 at start, 2.25 at end" in table
    assert "kube-apiserver v1.36.3" in table


def test_table_renders_a_partial_document() -> None:
    table = render_table({"n": 10, "failed": "phase raw: boom"})
    assert "0 of 12 targets met; not measured: 12" in table
    assert "n/a" in table


def test_server_cost_is_host_and_etcd_cpu_per_object() -> None:
    cpu = {
        "raw_create": {"host": 16.0, "etcd": 2.0, "bench": 6.0, "wall_s": 30.0},
        "raw_apply": {"host": 21.0, "etcd": 3.0},
        "bulk": {"host": 24.0, "etcd": 4.0, "crdsync": 10.0},
        "quiet": {"host": 1.0},
    }
    cost = server_cost(cpu, 5000)
    assert cost["ms_per_object"] == {"raw_create": 3.6, "raw_apply": 4.8, "bulk": 5.6}
    assert cost["bulk_ratio"] == pytest.approx(3.6 / 5.6, abs=0.001)
    assert server_cost({"bulk": {"crdsync": 1.0}}, 10) == {"ms_per_object": {}, "bulk_ratio": None}


def test_memory_figures_extrapolate_linearly_to_10k() -> None:
    figures = memory_figures(rss_n_kb=100 * 1024, rss_2n_kb=140 * 1024, n=5000)
    assert figures == {"n": 100.0, "2n": 140.0, "per_object_kb": 8.19, "at_10k": 140.0}
    smaller = memory_figures(rss_n_kb=60 * 1024, rss_2n_kb=64 * 1024, n=500)
    assert smaller["per_object_kb"] == pytest.approx(8.19, abs=0.01)
    assert smaller["at_10k"] == pytest.approx(60 + 4 * 19, abs=0.1)
    with pytest.raises(ValueError):
        memory_figures(1, 2, 0)


# -- the command's arguments ----------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["bench", *argv])


def test_defaults_match_the_documented_benchmark() -> None:
    args = parse()
    assert (args.n, args.samples, args.quiet_seconds, args.workers) == (5000, 200, 60.0, None)
    assert args.json == Path("crdsync-bench.json")


@pytest.mark.parametrize("argv", [["--n", "0"], ["--n", "ten"], ["--workers", "-1"], ["--quiet-seconds", "-5"]])
def test_bad_numbers_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_one_kubeconfig_without_the_other_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "host.kubeconfig"
    kubeconfig.write_text("{}")
    out = tmp_path / "out.json"
    code = bench.run(parse("--host-kubeconfig", str(kubeconfig), "--json", str(out)))
    assert code == 2
    assert "--host-kubeconfig and --virtual-kubeconfig go together" in capsys.readouterr().err
    assert not out.exists()


def test_missing_kubeconfig_and_json_directory_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "v.kubeconfig"
    existing.write_text("{}")
    code = bench.run(parse("--host-kubeconfig", str(tmp_path / "nope"), "--virtual-kubeconfig", str(existing)))
    assert code == 2
    assert f"--host-kubeconfig {tmp_path / 'nope'}: no such file" in capsys.readouterr().err
    code = bench.run(parse("--json", str(tmp_path / "missing" / "r.json")))
    assert code == 2
    assert "does not exist" in capsys.readouterr().err



def test_median_document_takes_each_numbers_median_and_the_first_runs_text() -> None:
    runs = [
        {"mode": "peers", "n": 5000, "bulk_s": 5.0, "writes": 0, "ok": True, "peers": {"a": {"p99": 9.0}}},
        {"mode": "peers", "n": 5000, "bulk_s": 9.0, "writes": 3, "ok": False, "peers": {"a": {"p99": None}}},
        {"mode": "later", "n": 5000, "bulk_s": 6.0, "writes": 1, "peers": {"a": {"p99": 7.0}, "b": {"p99": 1.0}}},
    ]
    median = median_document(runs)
    assert median == {"mode": "peers", "n": 5000, "bulk_s": 6.0, "writes": 1, "ok": True,
                      "peers": {"a": {"p99": 8.0}, "b": {"p99": 1.0}}}
    assert isinstance(median["writes"], int)
    assert median_document([{"writes": 1}, {"writes": 2}]) == {"writes": 1.5}  # not truncated to an int
    assert runs[0]["bulk_s"] == 5.0  # inputs untouched
