"""The benchmark itself: every figure of `python -m devkit bench`, measured side by side in one run on one cluster pair.

Phases, in order (each builds on the state the previous one left):
  setup     bench CRD on the host, host namespace, a first short crdsync run that mirrors the CRD into the virtual
            cluster (so the virtual side is ready before any timed phase), background writes without crdsync.
  raw       the write limit: creates of N host copies straight to the host with KubeClient, at the best of a few
            thread counts (calibrated on a sample first); also the same N by server-side apply, as crdsync writes.
  bulk      N objects already in virtual, crdsync spawned → all N copies seen on the host (a watch on the host
            namespace timestamps the N-th). bulk_ratio = raw_create_s / bulk_sync_s.
  quiet     converged; writes to both apiservers (their own apiserver_request_total, leases excluded) and crdsync's
            CPU over `quiet_seconds`.
  restart   SIGTERM, spawn again with N in sync → its log says "initial sync complete" (converge_s is spawn → that
            line's own timestamp; it covers interpreter start, both lists and one reconcile of every key); writes over
            the restart; list_s: both sides listed at once with the same client, as the engine's informers do.
  rss n     after the restart settles (CPU idle), N synced.
  latency   one at a time: create in virtual → copy on host, update in virtual → change on host, status written on
            host → status in virtual; each from just before the request is sent to the watch event that shows it.
  live      N more created in virtual while crdsync runs → all 2N on host (from the first create).
  rss 2n    after it settles, 2N synced.

Failure modes: a crdsync that exits, a wait that runs out, an API error, all raise `BenchFailed` naming the phase
(with crdsync's log tail where it matters); whatever was started is stopped. Write counts are None when the
apiservers' /metrics cannot be read (a user's cluster without the RBAC for it); the run goes on without them.

Why ~600 lines, one module: the phases above are methods of one `Bench` on purpose - each starts from the state the
previous one left (objects, the crdsync process, the write counters) - and the peers and tenants runs subclass or
reuse it; the pure parts (metrics, report, profile) and the process and cluster helpers are already modules of
their own.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crdsync import __version__
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ApiError, ConfigError
from crdsync.kube.resource import Resource
from crdsync.spec.load import load_text
from crdsync.spec.model import Naming, Rule, SyncConfig
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import to_host
from devkit.benchmark.cluster import (
    ITEM_GVK,
    MAPPING,
    MetricsReader,
    MetricsUnavailable,
    Observer,
    delete_all,
    delete_namespace,
    ensure_namespace,
    install_crd,
    item,
    item_crd,
    list_seconds,
    require_resource,
    run_concurrently,
)
from devkit.benchmark.metrics import RequestKey, busy_until, parse_meminfo_total_kb, request_delta, write_delta
from devkit.benchmark.procs import (
    CLOCK_TICKS,
    ChildProcess,
    CpuMeter,
    CpuSampler,
    CrdsyncProcess,
    ProcessDied,
    Profiler,
    ProfilerUnavailable,
    WaitTimeout,
)
from devkit.benchmark.profile import ProfileError, summarize_collapsed
from devkit.benchmark.report import latency_summary, memory_figures, server_cost

JSONDict = dict[str, Any]
ANNOUNCE = r"syncing .*Item"  # the engine's "syncing <kinds>; waiting for ..." line: informers listed, workers start
COMPLETE = r"initial sync complete"


class BenchFailed(Exception):
    """A phase could not be completed; the message names it and carries the evidence."""


@dataclass(frozen=True)
class Clusters:
    """Where to run: a host and a virtual apiserver, and (local planes only) their processes to meter."""

    host_kubeconfig: Path
    virtual_kubeconfig: Path
    host_context: str | None = None
    virtual_context: str | None = None
    plane_pids: Mapping[str, int] = field(default_factory=dict)
    local: bool = False


@dataclass(frozen=True)
class Options:
    n: int = 5000
    samples: int = 200
    quiet_seconds: float = 60.0
    baseline_seconds: float = 10.0
    workers: int | None = None  # None: crdsync run's default
    concurrency_levels: tuple[int, ...] = (4, 8, 16, 32)
    host_namespace: str = "vc-bench"
    vcluster: str = "bench"
    profile: bool = False
    cleanup: bool = False  # delete what the benchmark created (user clusters)

    @property
    def wait_s(self) -> float:
        # Generous: a wait this long means something is stuck, not slow.
        return max(180.0, self.n * 0.2)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, clusters: Clusters, options: Options, workdir: Path,
                 progress: Callable[[str], None] = say) -> None:
        self.clusters = clusters
        self.options = options
        self.workdir = workdir
        self.say = progress
        self.results: JSONDict = {"n": options.n, "samples": options.samples}
        self.tenant = Tenant(options.vcluster, options.host_namespace)
        self.raw_namespace = f"{options.host_namespace}-raw"
        self.ns_bulk, self.ns_live, self.ns_latency = "bench-bulk", "bench-live", "bench-latency"
        self.mapping = workdir / "mapping.yaml"
        self.concurrency = options.concurrency_levels[0]
        self._runs = 0
        self._proc: ChildProcess | None = None  # crdsync, or (devkit.benchmark.peers) the peer under measurement
        self._observers: list[Observer] = []
        self._profiles: dict[str, Any] = {}
        self._rss_n_kb = 0
        # Set in setup:
        self.host: KubeClient
        self.virtual: KubeClient
        self.host_res: Resource
        self.virtual_res: Resource
        self.host_copies: Observer
        self.config: SyncConfig
        self.rule: Rule
        self.metrics: dict[str, MetricsReader] = {}

    # -- driver ---------------------------------------------------------------------------------------------------

    def run(self) -> JSONDict:
        """All phases; returns the results document (also when a phase failed: then BenchFailed is raised after
        everything is stopped, and `self.results` holds what was measured)."""
        try:
            for name, phase in (
                ("setup", self.setup),
                ("raw", self.raw),
                ("bulk", self.bulk),
                ("quiet", self.quiet),
                ("restart", self.restart),
                ("latency", self.latency),
                ("live", self.live),
            ):
                self.say(f"phase {name}")
                try:
                    phase()
                except BenchFailed:
                    raise
                except (ApiError, ConfigError, WaitTimeout, ProcessDied, MetricsUnavailable, OSError) as exc:
                    raise BenchFailed(f"phase {name}: {exc}") from exc
        finally:
            self.teardown()
            if "machine" in self.results:
                self.results["machine"]["load_avg"]["end"] = round(os.getloadavg()[0], 2)
        return self.results

    def teardown(self) -> None:
        if self._proc is not None:
            self._proc.kill()
        for observer in self._observers:
            observer.stop()
        if self.options.cleanup and hasattr(self, "host"):
            self.say("removing the benchmark's namespaces")
            for client, names in (
                (self.host, (self.options.host_namespace, self.raw_namespace)),
                (self.virtual, (self.ns_bulk, self.ns_live, self.ns_latency)),
            ):
                for name in names:
                    try:
                        delete_namespace(client, name)
                    except ApiError as exc:
                        self.say(f"could not delete namespace {name}: {exc}")

    # -- helpers --------------------------------------------------------------------------------------------------

    def _client(self, kubeconfig: Path, context: str | None) -> KubeClient:
        # Enough pooled connections for the largest thread count plus the observers' watches.
        size = max(self.options.concurrency_levels) + 8
        return KubeClient.from_kubeconfig(str(kubeconfig), context, field_manager="crdsync-bench", pool_maxsize=size)

    def _start_crdsync(self) -> CrdsyncProcess:
        self._runs += 1
        extra = []
        if self.clusters.host_context:
            extra += ["--host-context", self.clusters.host_context]
        if self.clusters.virtual_context:
            extra += ["--virtual-context", self.clusters.virtual_context]
        if self.options.workers is not None:
            extra += ["--workers", str(self.options.workers)]
        proc = CrdsyncProcess(
            mappings=[self.mapping],
            host_kubeconfig=self.clusters.host_kubeconfig,
            virtual_kubeconfig=self.clusters.virtual_kubeconfig,
            host_namespace=self.options.host_namespace,
            vcluster=self.options.vcluster,
            log_path=self.workdir / f"crdsync-{self._runs}.log",
            extra=extra,
        )
        self._proc = proc.start()
        return proc

    def _stop_crdsync(self) -> float:
        """SIGTERM the running crdsync; returns the seconds it took to exit. A non-zero exit fails the phase."""
        assert self._proc is not None
        started = time.monotonic()
        code = self._proc.stop(timeout=60)
        if code != 0:
            raise BenchFailed(f"crdsync exited with {code} on SIGTERM:\n{self._proc.log_tail()}")
        return round(time.monotonic() - started, 2)

    def _proc_alive(self) -> ChildProcess:
        assert self._proc is not None
        self._proc.assert_alive()
        return self._proc

    def _await(self, expectation: Any, timeout: float | None = None) -> float:
        """Wait for an observer expectation, checking every second that crdsync is still alive."""
        deadline = time.monotonic() + (timeout or self.options.wait_s)
        while True:
            self._proc_alive()
            try:
                at: float = expectation.wait(min(1.0, max(0.0, deadline - time.monotonic())))
                return at
            except WaitTimeout:
                if time.monotonic() >= deadline:
                    raise WaitTimeout(
                        f"timed out waiting for {expectation.what}; crdsync log:\n{self._proc_alive().log_tail(30)}"
                    ) from None

    def _writes(self) -> dict[str, dict[RequestKey, float]] | None:
        if not self.metrics:
            return None
        return {side: reader.totals() for side, reader in self.metrics.items()}

    @staticmethod
    def _write_figures(
        before: dict[str, dict[RequestKey, float]] | None, after: dict[str, dict[RequestKey, float]] | None
    ) -> tuple[int | None, dict[str, dict[str, int]]]:
        if before is None or after is None:
            return None, {}
        by_side = {side: write_delta(before[side], after[side]) for side in after}
        return sum(sum(rows.values()) for rows in by_side.values()), {s: r for s, r in by_side.items() if r}

    def _meter(self, proc: ChildProcess | None) -> CpuMeter:
        pids = {**self.clusters.plane_pids, "bench": os.getpid()}
        if proc is not None:
            pids["crdsync"] = proc.pid
        return CpuMeter(pids).start()

    @contextmanager
    def _phase_cpu(self, phase: str, proc: ChildProcess | None, into: JSONDict | None = None) -> Iterator[None]:
        """CPU seconds of every metered process over the block (and a py-spy profile of crdsync with --profile),
        recorded under `phase` in `into` (default: the results' "cpu_s"); the process under measurement is metered
        as "crdsync" whichever it is."""
        meter = self._meter(proc)
        profiler = None
        if self.options.profile and proc is not None and proc.python:
            try:
                profiler = Profiler(proc.pid, self.workdir / f"profile-{phase}.txt").start()
            except ProfilerUnavailable as exc:
                raise BenchFailed(str(exc)) from None
        try:
            yield
        finally:
            cpu = self.results.setdefault("cpu_s", {}) if into is None else into
            cpu[phase] = {**meter.stop(), "load1": round(os.getloadavg()[0], 2)}
            if profiler is not None:
                text = profiler.stop()
                if text:
                    try:
                        self._profiles[phase] = summarize_collapsed(text).as_json()
                    except ProfileError as exc:
                        self._profiles[phase] = {"error": str(exc)}
                    self.results["profiles"] = self._profiles
                    self.results.setdefault("profile_files", {})[phase] = str(profiler.output)

    def _host_body(self, tenant: Tenant, namespace: str, name: str, value: int) -> JSONDict:
        """Exactly what crdsync writes to the host for a virtual Item (bookkeeping and all), for another tenant."""
        source = item(namespace, name, value)
        source["metadata"]["uid"] = str(uuid.uuid4())
        return to_host(self.config, self.rule, source, tenant)

    # -- phases ---------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        options = self.options
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mapping.write_text(MAPPING)
        loaded = load_text(MAPPING, str(self.mapping))
        if loaded.config is None:
            raise BenchFailed("the built-in bench mapping does not load: " + "; ".join(map(str, loaded.errors)))
        self.config, self.rule = loaded.config, loaded.config.rules[0]
        clusters = self.clusters
        self.host = self._client(clusters.host_kubeconfig, clusters.host_context)
        self.virtual = self._client(clusters.virtual_kubeconfig, clusters.virtual_context)
        for side, kubeconfig, context in (
            ("host", clusters.host_kubeconfig, clusters.host_context),
            ("virtual", clusters.virtual_kubeconfig, clusters.virtual_context),
        ):
            reader = MetricsReader(str(kubeconfig), context)
            try:
                reader.text()
            except MetricsUnavailable as exc:
                self.say(f"write counts unavailable ({exc}); they will be reported as n/a")
                self.metrics = {}
                break
            self.metrics[side] = reader
        self.results["machine"] = machine()
        self.results["versions"] = {
            "crdsync": __version__,
            "kube-apiserver": self.host.server_version().get("gitVersion"),
            "kube-apiserver-virtual": self.virtual.server_version().get("gitVersion"),
        }
        self.results["workers"] = options.workers
        self.results["planes"] = "local" if clusters.local else "given"

        self.host_res = install_crd(self.host, item_crd())
        for namespace in (options.host_namespace, self.raw_namespace):
            ensure_namespace(self.host, namespace)
            delete_all(self.host, self.host_res, namespace)  # leftovers of an interrupted run on a user's cluster

        # A first crdsync run mirrors the CRD into the virtual cluster, as it would for a tenant; the timed runs
        # then start against a virtual cluster that already serves the kind.
        proc = self._start_crdsync()
        self.virtual_res = require_resource(self.virtual, ITEM_GVK, timeout=options.wait_s)
        proc.wait_log(rf"{ANNOUNCE}|Item\S*: available now", options.wait_s)
        self._stop_crdsync()
        for namespace in (self.ns_bulk, self.ns_live, self.ns_latency):
            ensure_namespace(self.virtual, namespace)
            delete_all(self.virtual, self.virtual_res, namespace)

        self.host_copies = Observer(self.host, self.host_res, options.host_namespace, "bench host copies").start()
        self._observers.append(self.host_copies)
        if len(self.host_copies):
            raise BenchFailed(f"host namespace {options.host_namespace} still holds {len(self.host_copies)} Items")

        if self.metrics and options.baseline_seconds > 0:
            before = self._writes()
            time.sleep(options.baseline_seconds)
            writes, rows = self._write_figures(before, self._writes())
            self.results["baseline"] = {"writes": writes, "seconds": options.baseline_seconds, "by_request": rows}

    def raw(self) -> None:
        options = self.options
        raw_tenant = Tenant("raw", self.raw_namespace)
        host, res = self.host, self.host_res

        def bodies(prefix: str, count: int) -> list[JSONDict]:
            return [self._host_body(raw_tenant, "raw", f"{prefix}-{i:05d}", i) for i in range(count)]

        def create(obj: JSONDict) -> object:
            return host.create(res, obj)

        def apply(obj: JSONDict) -> object:
            return host.apply(res, obj, force=True)

        # Warm the apiserver's paths (CRD handler, admission, etcd) before anything is timed.
        run_concurrently(create, bodies("warm", 50), options.concurrency_levels[0])
        sample = min(max(options.n // 10, 100), 500)
        calibration: dict[str, float] = {}
        for level in options.concurrency_levels:
            seconds = run_concurrently(create, bodies(f"cal{level}", sample), level)
            calibration[str(level)] = round(sample / seconds, 1)
            self.say(f"raw create at {level} threads: {calibration[str(level)]:.0f}/s")
        self.concurrency = int(max(calibration, key=lambda k: calibration[k]))
        self.results["raw_calibration"] = {"sample": sample, "per_s": calibration}
        self.results["raw_concurrency"] = self.concurrency
        delete_all(host, res, self.raw_namespace)

        objects = bodies("raw", options.n)
        with self._phase_cpu("raw_create", None):
            self.results["raw_create_s"] = round(run_concurrently(create, objects, self.concurrency), 3)
        self.say(f"raw create of {options.n}: {self.results['raw_create_s']:.2f}s")
        delete_all(host, res, self.raw_namespace)
        with self._phase_cpu("raw_apply", None):
            self.results["raw_apply_s"] = round(run_concurrently(apply, objects, self.concurrency), 3)
        self.say(f"raw apply of {options.n}: {self.results['raw_apply_s']:.2f}s")
        delete_all(host, res, self.raw_namespace)

    def bulk(self) -> None:
        options = self.options
        virtual, res = self.virtual, self.virtual_res
        objects = [item(self.ns_bulk, f"item-{i:05d}", i) for i in range(options.n)]
        seconds = run_concurrently(lambda obj: virtual.create(res, obj), objects, self.concurrency)
        self.results["virtual_seed_s"] = round(seconds, 3)

        done = self.host_copies.expect_count(options.n, f"{options.n} host copies")
        before = self._writes()
        proc = self._start_crdsync()
        with self._phase_cpu("bulk", proc):
            at = self._await(done)
        after = self._writes()
        if before is not None and after is not None:
            # Every request of the phase, reads too: what the sync asked of each apiserver besides the N writes.
            self.results["bulk_requests"] = {side: request_delta(before[side], after[side]) for side in after}
        bulk_s = at - proc.started_mono
        self.results["bulk_sync_s"] = round(bulk_s, 3)
        self.results["bulk_ratio"] = round(self.results["raw_create_s"] / bulk_s, 3)
        announce = proc.wait_log(ANNOUNCE, options.wait_s)
        startup = proc.lines()[0].wall - proc.started_wall
        lists = announce.wall - proc.started_wall - startup
        self.results["bulk_breakdown"] = {
            "startup_s": round(startup, 3),  # spawn → first log line: interpreter, imports, kubeconfigs
            "lists_s": round(lists, 3),  # → informers listed both sides, workers start
            "copies_s": round(bulk_s - startup - lists, 3),  # → the N-th copy seen on the host
        }
        self.say(f"bulk sync of {options.n}: {bulk_s:.2f}s (ratio {self.results['bulk_ratio']:.2f})")
        complete = proc.wait_log(COMPLETE, options.wait_s)
        self.results["bulk_breakdown"]["complete_log_s"] = round(complete.wall - proc.started_wall, 3)
        proc.wait_idle(timeout=options.wait_s)
        self.results.setdefault("rss_extra_mb", {})["after_bulk"] = round(proc.memory_kb() / 1024, 1)

    def quiet(self) -> None:
        self.results["quiet"] = self.measure_quiet()
        quiet = self.results["quiet"]
        self.say(f"quiet {quiet['seconds']:.0f}s: {quiet['writes']} writes, {quiet['cpu_pct']}% CPU")

    def measure_quiet(self, phase: str = "quiet", cpu_into: JSONDict | None = None) -> JSONDict:
        """The quiet window against whichever process runs (crdsync or a peer); returns its figures."""
        proc = self._proc_alive()
        seconds = self.options.quiet_seconds
        before = self._writes()
        ticks = proc.cpu_ticks()
        started = time.monotonic()
        with self._phase_cpu(phase, proc, cpu_into):
            while time.monotonic() - started < seconds:
                time.sleep(min(1.0, seconds - (time.monotonic() - started)))
                self._proc_alive()
        elapsed = time.monotonic() - started
        used = proc.cpu_ticks() - ticks
        writes, rows = self._write_figures(before, self._writes())
        return {
            "writes": writes,
            "cpu_pct": round(100.0 * used / CLOCK_TICKS / elapsed, 2),
            "seconds": round(elapsed, 1),
            "by_request": rows,
        }

    def restart(self) -> None:
        options = self.options
        sides = [(self.virtual, self.virtual_res, None), (self.host, self.host_res, options.host_namespace)]
        runs = [list_seconds(sides) for _ in range(3)]
        listed = runs[0][1]
        if listed != 2 * options.n:
            raise BenchFailed(f"listing both sides found {listed} objects, expected {2 * options.n}")
        list_s = statistics.median(seconds for seconds, _ in runs)
        sequential = time.monotonic()
        for side in sides:
            list_seconds([side])
        sequential_s = time.monotonic() - sequential

        before = self._writes()
        stop_s = self._stop_crdsync()
        proc = self._start_crdsync()
        sampler = CpuSampler(proc.pid).start()
        with self._phase_cpu("restart", proc):
            complete = proc.wait_log(COMPLETE, options.wait_s)
        time.sleep(2.0)  # anything the restart still writes lands in the count; the sampler sees the idle stretch
        samples = sampler.stop()
        writes, rows = self._write_figures(before, self._writes())
        converge = complete.wall - proc.started_wall
        announce = proc.wait_log(ANNOUNCE, 5)
        announced_mono = proc.started_mono + (announce.wall - proc.started_wall)
        # The engine logs completion from a thread that looks every 2 s; CPU going idle shows when the work ended.
        drained = busy_until(samples, announced_mono, gap=0.5)
        self.results["restart"] = {
            "converge_s": round(converge, 3),
            "writes": writes,
            "list_s": round(list_s, 3),
            "ratio": round(converge / list_s, 2),
            "list_sequential_s": round(sequential_s, 3),
            "startup_s": round(proc.lines()[0].wall - proc.started_wall, 3),
            "lists_done_s": round(announce.wall - proc.started_wall, 3),
            "drain_cpu_s": None if drained is None else round(drained - proc.started_mono, 3),
            "stop_s": stop_s,
            "by_request": rows,
        }
        if len(self.host_copies) != options.n:
            raise BenchFailed(f"after the restart the host holds {len(self.host_copies)} copies, not {options.n}")
        self.say(f"restart: converged in {converge:.2f}s (lists {list_s:.2f}s), {writes} writes")
        proc.wait_idle(timeout=options.wait_s)
        self._rss_n_kb = proc.memory_kb()

    def latency(self) -> None:
        self.results["latency_ms"] = self.measure_latency()
        self.say(f"latency ms: {self.results['latency_ms']}")

    def measure_latency(self, phase: str = "latency", cpu_into: JSONDict | None = None) -> JSONDict:
        """The latency phase against whichever process runs (crdsync or a peer); returns the latency figures."""
        options = self.options
        ns = self.ns_latency
        naming = Naming()
        tenant_view = Observer(self.virtual, self.virtual_res, ns, "bench virtual latency").start()
        self._observers.append(tenant_view)
        copies = self.host_copies
        host_ns = options.host_namespace
        names = [f"lat-{i:04d}" for i in range(options.samples)]
        host_names = {n: host_name(self.tenant, ns, n, naming) for n in names}
        creates: list[float] = []
        updates: list[float] = []
        statuses: list[float] = []
        with self._phase_cpu(phase, self._proc_alive(), cpu_into):
            for name in names:
                expectation = copies.expect_exists(host_ns, host_names[name])
                sent = time.monotonic()
                self.virtual.create(self.virtual_res, item(ns, name, 0))
                creates.append(1000 * (self._await(expectation, 60) - sent))
            for value, name in enumerate(names, 1):
                expectation = copies.expect_field(host_ns, host_names[name], "spec", "value", value)
                sent = time.monotonic()
                self.virtual.patch(self.virtual_res, ns, name, {"spec": {"value": value}})
                updates.append(1000 * (self._await(expectation, 60) - sent))
            for value, name in enumerate(names, 1):
                expectation = tenant_view.expect_field(ns, name, "status", "value", value)
                sent = time.monotonic()
                self.host.patch(self.host_res, host_ns, host_names[name], {"status": {"value": value}},
                                subresource="status")
                statuses.append(1000 * (self._await(expectation, 60) - sent))
        figures = {
            **latency_summary(creates, "create"),
            **latency_summary(updates, "update"),
            **latency_summary(statuses, "status"),
            "create_max": round(max(creates), 1),
            "update_max": round(max(updates), 1),
            "status_max": round(max(statuses), 1),
        }
        tenant_view.stop()
        self._observers.remove(tenant_view)
        gone = copies.expect_count(options.n, f"latency copies removed (back to {options.n})")
        delete_all(self.virtual, self.virtual_res, ns)
        self._await(gone)
        return figures

    def live(self) -> None:
        options = self.options
        proc = self._proc_alive()
        virtual, res = self.virtual, self.virtual_res
        objects = [item(self.ns_live, f"item-{i:05d}", i) for i in range(options.n)]
        done = self.host_copies.expect_count(2 * options.n, f"{2 * options.n} host copies")
        with self._phase_cpu("live", proc):
            started = time.monotonic()
            self.results["live_create_s"] = round(
                run_concurrently(lambda obj: virtual.create(res, obj), objects, self.concurrency), 3
            )
            self.results["live_sync_s"] = round(self._await(done) - started, 3)
        self.say(f"live sync of {options.n}: {self.results['live_sync_s']:.2f}s")
        proc.wait_idle(timeout=options.wait_s)
        rss_2n_kb = proc.memory_kb()
        self.results["rss_mb"] = memory_figures(self._rss_n_kb, rss_2n_kb, options.n)
        self.results["rss_extra_mb"]["peak"] = round(proc.memory_kb("VmHWM") / 1024, 1)
        self.results["crdsync_stop_s"] = self._stop_crdsync()
        if self.clusters.plane_pids:
            self.results["server_cpu"] = server_cost(self.results["cpu_s"], options.n)


def machine() -> JSONDict:
    try:
        memory_gb: float | None = round(parse_meminfo_total_kb(Path("/proc/meminfo").read_text()) / 1024 / 1024, 1)
    except (OSError, ValueError):
        memory_gb = None
    return {
        "cores": os.cpu_count(),
        "memory": f"{memory_gb} GB" if memory_gb is not None else None,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "load_avg": {"start": round(os.getloadavg()[0], 2)},
        "platform": platform.platform(),
    }


__all__ = ["Bench", "BenchFailed", "Clusters", "Options"]
