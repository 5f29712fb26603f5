"""Unit tests of the pure parts of `python -m devkit bench --peers` and `--tenants`: the side-by-side table and
comparisons, the per-tenant formula and its table, the JSON documents' shape, gauge parsing, and that the peer
copiers write what crdsync writes (same names, same bookkeeping), so the benchmark compares like with like."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from crdsync.spec.load import load_text
from crdsync.spec.model import Naming
from crdsync.translate import names
from crdsync.translate.objects import to_host
from devkit.benchmark.cluster import MAPPING, item
from devkit.benchmark.metrics import ParseError, gauge_total, parse_samples
from devkit.benchmark.peers.kopf_copier import desired_copy, drift, host_name, parse_args
from devkit.benchmark.peers.report import (
    BULK_RATIO_TARGET,
    ROWS,
    bulk_ratio_ceilings,
    peer_comparisons,
    peer_rows,
    per_object_ms,
    render_peer_table,
)
from devkit.benchmark.peers.runner import PEERS, controller_runtime_version, parse_peers
from devkit.benchmark.report import render_tenant_table, tenant_formula
from devkit.cli import build_parser
from devkit.commands import bench
from devkit.devplane.build import GO_DIR, TOOLS


def peer_results() -> dict[str, Any]:
    """A --peers document as the runner writes it (two syncers, the raw column, one figure missing)."""

    def syncer(bulk_s: float, cpu_ms: float, p99: float) -> dict[str, Any]:
        return {
            "bulk_s": bulk_s,
            "bulk_ratio": round(4.0 / bulk_s, 3),
            "syncer_ms_per_object": {"bulk": cpu_ms, "live": cpu_ms / 2},
            "server_ms_per_object": {"host": 2.5, "etcd": 0.5, "virtual": 0.25},
            "live_sync_s": bulk_s + 1,
            "latency_ms": {"create_p50": 8.0, "create_p99": p99, "update_p50": 9.5, "update_p99": p99,
                           "status_p50": 11.0, "status_p99": p99},
            "quiet": {"writes": 0, "cpu_pct": 0.03, "seconds": 60.0, "by_request": {}},
            "restart": {"ready_s": 1.25, "converge_s": 1.5, "ratio": 3.0, "writes_beyond_canary": 0},
            "rss_mb": {"n": 60.0, "2n": 70.0, "peak": 72.5, "per_object_kb": 2.0},
        }

    return {
        "mode": "peers",
        "n": 5000,
        "workers": 32,
        "raw_concurrency": 16,
        "peer_order": ["raw", "crdsync", "kopf"],
        "peers": {
            "raw": {"bulk_s": 4.0, "bulk_ratio": 1.0, "syncer_ms_per_object": {"bulk": 0.5},
                    "server_ms_per_object": {"host": 2.0, "etcd": 0.5, "virtual": 0.0}},
            "crdsync": syncer(5.0, 1.0, 20.0),
            "kopf": syncer(10.0, 3.0, 140.0),
        },
        "machine": {"cores": 2, "load_avg": {"start": 1.5, "end": 3.25}},
        "versions": {"crdsync": "0.1.0"},
        "peer_versions": {"kopf": "1.45.2"},
    }


def test_peer_table_has_a_column_per_peer_in_order_and_na_where_unmeasured() -> None:
    headers, rows = peer_rows(peer_results())
    assert headers == ("figure", "raw", "crdsync", "kopf")
    assert len(rows) == len(ROWS)
    by_label = {row[0]: row[1:] for row in rows}
    assert by_label["bulk sync N, s (spawn → all on host)"] == ("4.00", "5.00", "10.00")
    assert by_label["create → host p50 / p99 ms"] == ("n/a", "8.0 / 20.0", "8.0 / 140.0")
    assert by_label["syncer CPU ms/object: bulk (with start-up) / live"] == ("0.50 / n/a", "1.00 / 0.50", "3.00 / 1.50")
    assert by_label["restart: writes beyond the canary"] == ("n/a", "0", "0")


def test_peer_table_renders_a_partial_or_empty_document() -> None:
    partial = peer_results()
    partial["peer_order"].append("controller-runtime")  # announced, never measured (the run failed before it)
    partial["failed"] = "peer controller-runtime: phase bulk: timed out\nlog tail"
    text = render_peer_table(partial)
    assert "controller-runtime" in text.splitlines()[0]
    assert "run FAILED: peer controller-runtime: phase bulk: timed out" in text
    assert "log tail" not in text
    assert render_peer_table({}).splitlines()[0].startswith("figure")


def test_comparisons_put_crdsync_on_top() -> None:
    comparisons = peer_comparisons(peer_results())
    assert comparisons["crdsync_cpu_vs_raw"] == 2.0
    assert comparisons["crdsync_live_cpu_vs_raw"] == 1.0
    assert comparisons["crdsync_bulk_vs_kopf"] == 0.5
    assert comparisons["crdsync_live_vs_kopf"] == round(6 / 11, 3)
    assert comparisons["crdsync_bulk_vs_controller_runtime"] is None  # not in this run: unmeasured, not 0


def test_per_object_ms() -> None:
    assert per_object_ms(1.5, 500) == 3.0
    assert per_object_ms(None, 500) is None
    assert per_object_ms(1.0, 0) is None


def test_peer_document_survives_json_and_renders_the_same() -> None:
    results = peer_results()
    results["comparisons"] = peer_comparisons(results)
    again = json.loads(json.dumps(results, sort_keys=True))
    assert render_peer_table(again) == render_peer_table(results)
    assert set(again["peers"]) == set(again["peer_order"])


def tenant_results() -> dict[str, Any]:
    def window(cpu: float, requests: int, non_watch: int, watches: float) -> dict[str, Any]:
        return {"seconds": 60.0, "host_cpu_pct": cpu, "etcd_cpu_pct": 1.0, "crdsync_cpu_pct": 0.5,
                "requests": {"WATCH bench.crdsync.io/items": requests - non_watch}, "requests_total": requests,
                "non_watch_requests": non_watch, "registered_watchers": None, "longrunning_watches": watches}

    return {
        "mode": "tenants",
        "tenants": 10,
        "n": 500,
        "baseline": window(2.0, 0, 0, 35.0),
        "quiet_0": window(3.0, 20, 0, 45.0),
        "quiet_n": window(4.0, 25, 5, 46.0),
        "rss_idle_mb": [50.0, 52.0, 51.0],
        "rss_loaded_mb": [60.0, 62.0, 61.0],
        "load": {"sync_s": 30.0, "host_ms_per_object": 2.0, "etcd_ms_per_object": 0.5, "crdsync_ms_per_object": 1.2},
        "machine": {"cores": 2, "load_avg": {"start": 1.0, "end": 2.0}},
        "versions": {"kube-apiserver": "v1.36.3"},
    }


def test_tenant_formula_is_the_difference_over_the_baseline_per_tenant() -> None:
    formula = tenant_formula(tenant_results())
    assert formula["rss_idle_mb"] == 51.0
    assert formula["rss_loaded_mb"] == 61.0
    assert formula["rss_per_object_kb"] == round(10 * 1024 / 500, 2)
    assert formula["watches_per_tenant"] == 1.0
    assert formula["watchers_per_tenant"] is None  # the metric is gone from this apiserver: unmeasured
    assert formula["requests_per_tenant_per_min"] == 2.0
    assert formula["non_watch_requests_per_tenant_per_min"] == 0.0
    assert formula["loaded_non_watch_requests_per_tenant_per_min"] == 0.5
    assert formula["host_cpu_pct_per_tenant"] == 0.1
    assert formula["loaded_host_cpu_pct_per_tenant"] == 0.2
    assert formula["host_sync_ms_per_object"] == 2.0
    assert "51.0 MB + 20.5 kB x M" in formula["text"]
    assert "1.0 watches" in formula["text"]


def test_tenant_formula_and_table_survive_a_run_that_failed_early() -> None:
    formula = tenant_formula({"mode": "tenants", "tenants": 10, "n": 500, "failed": "phase start: boom"})
    assert formula["rss_idle_mb"] is None and formula["host_cpu_pct_per_tenant"] is None
    assert "n/a MB" in formula["text"]
    text = render_tenant_table({"mode": "tenants", "tenants": 10, "n": 500, "failed": "phase start: boom"})
    assert "run FAILED: phase start: boom" in text


def test_tenant_table_shows_each_window_and_the_formula() -> None:
    results = tenant_results()
    results["formula"] = tenant_formula(results)
    text = render_tenant_table(json.loads(json.dumps(results)))
    header = text.splitlines()[0]
    assert "no crdsync" in header and "10 idle" in header and "N each" in header
    assert results["formula"]["text"] in text
    assert "50.0, 52.0, 51.0" in text


def gauge(group: str, resource: str, verb: str, value: int, subresource: str = "") -> str:
    labels = (f'component="apiserver",group="{group}",resource="{resource}",scope="cluster",'
              f'subresource="{subresource}",verb="{verb}",version="v1"')
    return f"apiserver_longrunning_requests{{{labels}}} {value}"


METRICS = "\n".join([
    "# HELP apiserver_longrunning_requests [ALPHA] Gauge of all active long-running apiserver requests.",
    "# TYPE apiserver_longrunning_requests gauge",
    gauge("", "pods", "WATCH", 3),
    gauge("bench.crdsync.io", "items", "WATCH", 2),
    gauge("", "pods", "GET", 1, subresource="log"),
    "apiserver_longrunning_requests_total 9",
    "",
])


def test_gauges_sum_matching_samples_and_an_absent_metric_is_unmeasured() -> None:
    assert gauge_total(METRICS, "apiserver_longrunning_requests", verb="WATCH") == 5
    assert gauge_total(METRICS, "apiserver_longrunning_requests") == 6  # not the _total metric
    assert gauge_total(METRICS, "apiserver_registered_watchers") is None
    assert parse_samples("up 1\n", "up") == [({}, 1.0)]
    with pytest.raises(ParseError, match="not a number"):
        parse_samples('apiserver_longrunning_requests{verb="WATCH"} many\n', "apiserver_longrunning_requests")


# -- the peers write what crdsync writes ---------------------------------------------------------------------------


@pytest.mark.parametrize("namespace,name", [
    ("bench-bulk", "item-00001"), ("bench-latency", "lat-0199"), ("a", "b"),
    ("ns", "x" * 200), ("n-x-s", "name-x-with-separators."), ("ns", "-.-"),
])  # fmt: skip
def test_the_kopf_copier_names_copies_as_crdsync_does(namespace: str, name: str) -> None:
    tenant = names.Tenant("bench", "vc-bench")
    assert host_name("bench", namespace, name) == names.host_name(tenant, namespace, name, Naming())


def test_the_kopf_copier_writes_the_copy_crdsync_writes() -> None:
    loaded = load_text(MAPPING, "bench.yaml")
    assert loaded.config is not None
    source = item("bench-bulk", "item-00042", 42)
    source["metadata"].update({"uid": "0b0e-42", "generation": 3, "resourceVersion": "77"})
    expected = to_host(loaded.config, loaded.config.rules[0], source, names.Tenant("bench", "vc-bench"))
    copy = desired_copy(source, "bench", "vc-bench", "bench.crdsync.io")
    assert copy == expected
    assert not drift(copy, expected)
    changed = json.loads(json.dumps(expected))
    changed["spec"]["value"] = 43
    assert drift(copy, changed)


def test_the_kopf_copier_defaults_to_crdsyncs_worker_count() -> None:
    args = parse_args(["--virtual-kubeconfig", "v", "--host-kubeconfig", "h", "--host-namespace", "ns",
                       "--vcluster", "vc"])
    assert (args.workers, args.group, args.version, args.plural) == (32, "bench.crdsync.io", "v1", "items")


def test_the_controller_runtime_copier_is_a_registered_cached_tool_with_a_pinned_version() -> None:
    module_dir, package, _ = TOOLS["cr-copier"]
    assert module_dir == GO_DIR / "cr-copier" and package == "."
    go_mod = (module_dir / "go.mod").read_text()
    version = controller_runtime_version(go_mod)
    assert version is not None and version.startswith("v0.24.")  # the line built on k8s.io v0.36
    assert "k8s.io/client-go v0.36." in go_mod
    assert (module_dir / "go.sum").is_file()


# -- arguments -----------------------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["bench", *argv])


def test_peers_default_to_all_three_in_a_fixed_order() -> None:
    assert parse_peers(parse("--peers").peers) == PEERS == ("crdsync", "kopf", "controller-runtime")
    assert parse_peers("kopf, crdsync,kopf") == ("kopf", "crdsync")
    with pytest.raises(ValueError, match="unknown peer"):
        parse_peers("crdsync,operator-sdk")


@pytest.mark.parametrize("argv,message", [
    (["--peers", "crdsync,nope"], "--peers: unknown peer(s) nope"),
    (["--peers", "--tenants", "3"], "--peers and --tenants are separate runs"),
])  # fmt: skip
def test_bad_peer_and_tenant_arguments_are_refused_before_any_work(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    assert bench.run(parse(*argv, "--json", str(out))) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_tenants_refuse_given_clusters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "k"
    kubeconfig.write_text("{}")
    code = bench.run(parse("--tenants", "3", "--host-kubeconfig", str(kubeconfig), "--virtual-kubeconfig",
                           str(kubeconfig), "--json", str(tmp_path / "out.json")))
    assert code == 2
    assert "--tenants starts its own planes" in capsys.readouterr().err


def test_bulk_ratio_ceiling_is_the_machines_capacity_over_the_cpu_one_copy_costs() -> None:
    results = peer_results()  # raw: 4.0 s for 5000 on 2 cores = 1.6 ms of capacity per object; client 0.5 ms
    ceilings = bulk_ratio_ceilings(results)
    # crdsync's copies cost the servers 2.5 + 0.5 + 0.25 = 3.25 ms each
    assert ceilings["crdsync"] == {"free": round(1.6 / 3.25, 3), "at_raw_client": round(1.6 / 3.75, 3),
                                   "syncer_ms_for_target": round(1.6 / BULK_RATIO_TARGET - 3.25, 3)}
    assert set(ceilings) == {"crdsync", "kopf"}  # a column per syncer, none for the raw client itself
    del results["peers"]["kopf"]["server_ms_per_object"]["etcd"]
    assert ceilings != bulk_ratio_ceilings(results)
    assert bulk_ratio_ceilings(results)["kopf"] == {"free": None, "at_raw_client": None, "syncer_ms_for_target": None}
    del results["machine"]
    assert bulk_ratio_ceilings(results)["crdsync"]["free"] is None


def test_the_table_states_the_ceilings_it_was_given_or_computes_them() -> None:
    results = peer_results()
    text = render_peer_table(results)
    assert "crdsync 0.49 / 0.43, kopf 0.49 / 0.43" in text  # 1.6 / 3.25, 1.6 / 3.75
    results["ceilings"] = {"crdsync": {"free": 0.97, "at_raw_client": 0.84, "syncer_ms_for_target": 0.16}}
    assert "crdsync 0.97 / 0.84" in render_peer_table(results)
    assert "a bulk ratio of 0.9 allows (raw client per create: 0.50): crdsync 0.16" in render_peer_table(results)


def test_render_prints_the_median_of_earlier_runs_without_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = []
    for i, bulk_s in enumerate((5.0, 9.0, 6.0)):
        results = peer_results()
        results["peers"]["crdsync"]["bulk_s"] = bulk_s
        files.append(tmp_path / f"run{i}.json")
        files[-1].write_text(json.dumps(results))
    assert bench.run(parse("--render", *map(str, files))) == 0
    out = capsys.readouterr().out
    assert out.startswith("median of 3 runs")
    assert "bulk sync N, s (spawn → all on host)               4.00        6.00" in out
    assert "crdsync 0.49 / 0.43" in out


@pytest.mark.parametrize("content", ["{not json", json.dumps({"mode": "tenants"})])
def test_render_refuses_unreadable_or_mixed_files(tmp_path: Path, content: str) -> None:
    good, other = tmp_path / "good.json", tmp_path / "other.json"
    good.write_text(json.dumps(peer_results()))
    other.write_text(content)
    assert bench.run(parse("--render", str(good), str(other))) == 2
