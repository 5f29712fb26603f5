"""`python -m devkit bench --tenants K`: what one more tenant costs, with K virtual clusters against one host.

On fresh local planes: one host apiserver and K virtual apiservers (`tenant-01` ...; added one at a time to the same
etcd, so start-up does not pile K cold apiservers onto two cores at once), and K `crdsync run` processes, tenant i
syncing the bench Item kind from its virtual cluster into host namespace `vc-t<i>` (vcluster `t<i>`). Phases:

  baseline  all apiservers up, no crdsync yet: the host apiserver's CPU (and etcd's), its registered watchers and
            long-running WATCH requests, and its requests by verb/resource (leases excluded) over `quiet_seconds`.
  start     K crdsync started together; each mirrors the CRD into its virtual cluster and lists; then idle.
            RSS idle (0 objects) per process.
  quiet 0   as baseline, with K idle crdsync running: the differences over baseline, divided by K, are the quiet cost
            per tenant (watches, requests, host CPU).
  load      N objects created in every virtual cluster (tenant after tenant, the creates of each tenant from the
            benchmark's thread pool) → KxN copies seen on the host; host CPU per synced object.
  quiet N   as quiet 0, with N objects synced per tenant. RSS loaded per process (after its CPU settled).
Then every crdsync gets SIGTERM. The per-tenant formula (devkit.benchmark.report.tenant_formula) is part of the
results and of the printed table.

Failure modes: `BenchFailed` naming the phase (a crdsync that exits, with its log tail; a wait that runs out; an API
error); `PlanesError`/`BuildError` when the planes do not start; all returned as the failure message with whatever
was measured. Every process started is stopped. Progress goes to stderr, one line per step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ApiError, ConfigError
from devkit.benchmark.cluster import (
    ITEM_GVK,
    MAPPING,
    MetricsReader,
    MetricsUnavailable,
    Observer,
    ensure_namespace,
    install_crd,
    item,
    item_crd,
    require_resource,
    run_concurrently,
)
from devkit.benchmark.metrics import gauge_total, parse_request_totals, request_delta
from devkit.benchmark.procs import CpuMeter, CrdsyncProcess, ProcessDied, WaitTimeout
from devkit.benchmark.report import tenant_formula
from devkit.benchmark.runner import ANNOUNCE, BenchFailed, Options, machine, say

JSONDict = dict[str, Any]
NAMESPACE = "bench"  # the virtual namespace of every tenant's objects


def plane_name(index: int) -> str:
    return f"tenant-{index:02d}"


class TenantBench:
    def __init__(self, k: int, options: Options, workdir: Path, progress: Callable[[str], None] = say) -> None:
        self.k, self.options, self.workdir, self.say = k, options, workdir, progress
        self.results: JSONDict = {"mode": "tenants", "tenants": k, "n": options.n,
                                  "quiet_seconds": options.quiet_seconds}
        self.procs: list[CrdsyncProcess] = []
        self.mapping = workdir / "mapping.yaml"
        self.observer: Observer | None = None

    def run(self, planes: Any) -> None:
        """All phases on running planes (devkit.devplane.launcher.Planes with `host` and `tenant-01` up)."""
        try:
            phases: list[tuple[str, Callable[[], None]]] = [
                ("planes", lambda: self.add_planes(planes)),
                ("baseline", lambda: self.setup(planes)),
                ("start", self.start),
                ("quiet 0", lambda: self.quiet("quiet_0")),
                ("load", self.load),
                ("quiet N", lambda: self.quiet("quiet_n")),
                ("stop", self.stop),
            ]
            for label, phase in phases:
                self.say(f"phase {label}")
                try:
                    phase()
                except BenchFailed:
                    raise
                except (ApiError, ConfigError, WaitTimeout, ProcessDied, MetricsUnavailable, OSError) as exc:
                    raise BenchFailed(f"phase {label}: {exc}") from exc
            self.results["formula"] = tenant_formula(self.results)
        finally:
            for proc in self.procs:
                proc.kill()
            if self.observer is not None:
                self.observer.stop()
            if "machine" in self.results:
                self.results["machine"]["load_avg"]["end"] = round(os.getloadavg()[0], 2)

    # -- phases ---------------------------------------------------------------------------------------------------

    def add_planes(self, planes: Any) -> None:
        self.results["machine"] = machine()
        started = time.monotonic()
        for index in range(2, self.k + 1):
            self.say(f"adding virtual apiserver {index} of {self.k}")
            planes.add_apiserver(plane_name(index))
        self.results["planes_added_s"] = round(time.monotonic() - started, 1)
        self.pids = dict(planes.pids)
        self.kubeconfigs = [planes.kubeconfig(plane_name(i)) for i in range(1, self.k + 1)]
        self.host_kubeconfig = planes.kubeconfig("host")

    def setup(self, planes: Any) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mapping.write_text(MAPPING)
        self.host = KubeClient.from_kubeconfig(str(self.host_kubeconfig), None, field_manager="crdsync-bench",
                                               pool_maxsize=40)
        self.host_res = install_crd(self.host, item_crd())
        for index in range(1, self.k + 1):
            ensure_namespace(self.host, f"vc-t{index}")
        self.metrics = MetricsReader(str(self.host_kubeconfig))
        self.results["versions"] = {"kube-apiserver": self.host.server_version().get("gitVersion")}
        self.results["baseline"] = self._window("baseline")

    def start(self) -> None:
        options = self.options
        for index, kubeconfig in enumerate(self.kubeconfigs, 1):
            extra = ["--workers", str(options.workers)] if options.workers else []
            proc = CrdsyncProcess(
                mappings=[self.mapping], host_kubeconfig=self.host_kubeconfig, virtual_kubeconfig=kubeconfig,
                host_namespace=f"vc-t{index}", vcluster=f"t{index}", log_path=self.workdir / f"crdsync-t{index}.log",
                extra=extra,
            )  # fmt: skip
            self.procs.append(proc.start())
        started = time.monotonic()
        self.virtuals: list[KubeClient] = []
        for index, (proc, kubeconfig) in enumerate(zip(self.procs, self.kubeconfigs, strict=True), 1):
            client = KubeClient.from_kubeconfig(str(kubeconfig), None, field_manager="crdsync-bench", pool_maxsize=20)
            self.virtuals.append(client)
            proc.wait_log(rf"{ANNOUNCE}|Item\S*: available now", options.wait_s)
            require_resource(client, ITEM_GVK, timeout=options.wait_s)
            ensure_namespace(client, NAMESPACE)
            self.say(f"crdsync t{index} syncing")
        self.results["start_all_s"] = round(time.monotonic() - started, 1)
        for proc in self.procs:
            proc.wait_idle(timeout=options.wait_s)
        self.results["rss_idle_mb"] = [round(proc.memory_kb() / 1024, 1) for proc in self.procs]
        self.say(f"RSS idle MB: {self.results['rss_idle_mb']}")

    def load(self) -> None:
        options, k, n = self.options, self.k, self.options.n
        self.observer = Observer(self.host, self.host_res, None, "bench host copies (all tenants)").start()
        done = self.observer.expect_count(k * n, f"{k * n} host copies")
        meter = CpuMeter(self._pids()).start()
        started = time.monotonic()
        for index, client in enumerate(self.virtuals, 1):
            res = client.resource_for(ITEM_GVK)
            if res is None:
                raise BenchFailed(f"tenant t{index}: the virtual cluster does not serve {ITEM_GVK}")
            objects = [item(NAMESPACE, f"item-{i:05d}", i) for i in range(n)]
            run_concurrently(lambda obj, c=client, r=res: c.create(r, obj), objects, 8)  # type: ignore[misc]
            self.say(f"created {n} in tenant t{index} ({len(self.observer)} of {k * n} copies on the host)")
        deadline = time.monotonic() + options.wait_s
        while True:
            for proc in self.procs:
                proc.assert_alive()
            try:
                at = done.wait(1.0)
                break
            except WaitTimeout:
                if time.monotonic() > deadline:
                    raise
        cpu = meter.stop()
        self.results["load"] = {
            "sync_s": round(at - started, 2),
            "cpu_s": cpu,
            "host_ms_per_object": round(1000 * cpu.get("host", 0.0) / (k * n), 3),
            "etcd_ms_per_object": round(1000 * cpu.get("etcd", 0.0) / (k * n), 3),
            "crdsync_ms_per_object": round(
                1000 * sum(v for key, v in cpu.items() if key.startswith("crdsync-")) / (k * n), 3),
        }
        for proc in self.procs:
            proc.wait_idle(timeout=options.wait_s)
        self.results["rss_loaded_mb"] = [round(proc.memory_kb() / 1024, 1) for proc in self.procs]
        self.say(f"{k * n} copies in {at - started:.1f}s; RSS loaded MB: {self.results['rss_loaded_mb']}")

    def quiet(self, key: str) -> None:
        self.results[key] = self._window(key)

    def stop(self) -> None:
        codes = [proc.stop(timeout=60) for proc in self.procs]
        self.results["exit_codes"] = codes

    # -- helpers --------------------------------------------------------------------------------------------------

    def _pids(self) -> dict[str, int]:
        pids = {name: pid for name, pid in self.pids.items() if name in ("host", "etcd")}
        pids.update({f"crdsync-t{i}": proc.pid for i, proc in enumerate(self.procs, 1)})
        return pids

    def _window(self, label: str) -> JSONDict:
        """The host apiserver over one quiet window: CPU, requests by verb/resource (leases excluded), watchers."""
        seconds = self.options.quiet_seconds
        for proc in self.procs:
            proc.assert_alive()
        before_text = self.metrics.text()
        meter = CpuMeter(self._pids()).start()
        time.sleep(seconds)
        cpu = meter.stop()
        after_text = self.metrics.text()
        for proc in self.procs:
            proc.assert_alive()
        before, after = parse_request_totals(before_text), parse_request_totals(after_text)
        ours = {key: value for key, value in after.items() if key.resource not in ("leases", "")}
        requests = request_delta({k: v for k, v in before.items() if k in ours}, ours)
        wall = cpu.pop("wall_s")
        figures: JSONDict = {
            "seconds": wall,
            "host_cpu_pct": round(100 * cpu.get("host", 0.0) / wall, 2),
            "etcd_cpu_pct": round(100 * cpu.get("etcd", 0.0) / wall, 2),
            "crdsync_cpu_pct": round(100 * sum(v for k, v in cpu.items() if k.startswith("crdsync-")) / wall, 2),
            "requests": requests,
            "requests_total": sum(requests.values()),
            "non_watch_requests": sum(v for label_, v in requests.items() if not label_.startswith("WATCH ")),
            "registered_watchers": gauge_total(after_text, "apiserver_registered_watchers"),
            "longrunning_watches": gauge_total(after_text, "apiserver_longrunning_requests", verb="WATCH"),
        }
        self.say(f"{label}: host {figures['host_cpu_pct']}% CPU, {figures['requests_total']} requests "
                 f"({figures['non_watch_requests']} not WATCH), watchers {figures['registered_watchers']}, "
                 f"long-running WATCH {figures['longrunning_watches']}")
        return figures


def run_tenants(k: int, options: Options, directory: Path) -> tuple[JSONDict, str | None]:
    """The whole `--tenants K` run on fresh local planes; returns (results, failure message or None)."""
    from devkit.devplane.build import BuildError
    from devkit.devplane.launcher import PlanesError, local_planes

    bench = TenantBench(k, options, directory)
    try:
        with local_planes(directory / "planes", names=("host", plane_name(1))) as planes:
            try:
                bench.run(planes)
            except BenchFailed as exc:
                dead = planes.dead()
                extra = f"\nplanes that died: {', '.join(dead)}\n{planes.log_tails(20)}" if dead else ""
                return bench.results, f"{exc}{extra}"
            except PlanesError as exc:
                return bench.results, f"adding a virtual apiserver failed: {exc}"
    except (BuildError, PlanesError) as exc:
        return bench.results, f"local planes did not start: {exc}"
    return bench.results, None


__all__ = ["TenantBench", "plane_name", "run_tenants"]
