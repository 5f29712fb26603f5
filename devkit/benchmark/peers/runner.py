"""`python -m devkit bench --peers`: crdsync against the copiers users would otherwise write, side by side in one run.

Columns: `raw` (the apiserver's write limit: N creates straight to the host with crdsync's client, from the base
benchmark's raw phase), `crdsync` (`crdsync run` with the bench mapping), `kopf` (devkit.benchmark.peers.kopf_copier)
and `controller-runtime` (devkit/devplane/go/cr-copier, built and cached like the planes' binaries). Every syncer runs
on the same planes, against the same CRD and the same N virtual objects, one after the other, with the same worker
count (crdsync's --workers, default 32); they all write the same host copies (same names, same bookkeeping) to the same
host namespace, which is emptied between them.

Phases per syncer, each defined as in devkit.benchmark.runner unless said here:
  bulk     N objects already in virtual, syncer spawned → all N copies seen on the host. CPU per object of the syncer
           (start-up included) and of the host apiserver, etcd and the virtual apiserver, from /proc, over that span.
  quiet    writes to both apiservers and the syncer's CPU over `quiet_seconds`.
  restart  list both sides (median of 3) with N in sync; SIGTERM; one canary change in virtual (spec.value of the
           first object) while it is down; spawn → the canary's change seen on the host (`ready_s`: listed and
           working) → the syncer's CPU idle for 0.5 s after that (`converge_s`: every key handled; the same rule for
           every peer, since only crdsync logs when its initial sync is complete). Writes beyond the canary's two (our
           patch, the syncer's copy) should be 0. Beside it, the floor (median of 3): spawn → exit of
           devkit.benchmark.floor, a Python process that only imports crdsync's client and lists both sides; no
           Python syncer converges sooner.
  latency  as the base benchmark: create, update and host status, one at a time, p50/p99.
  live     N more created in virtual while it runs → 2N on the host; syncer CPU per object without start-up.
  rss      after bulk (N synced) and after live (2N), each once the syncer's CPU is idle; peak (VmHWM).
After each syncer: SIGTERM (stop time and exit code recorded), the live objects deleted in virtual and every copy on
the host, so the next one starts from the same state.

Failure modes: as the base benchmark, `BenchFailed` naming the peer and phase (with the syncer's log tail where it
matters); a missing kopf (the `bench` extra) or a Go build that fails stops the run before any plane work. Whatever
was started is stopped.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crdsync.kube.errors import ApiError, ConfigError
from crdsync.spec.model import Naming
from crdsync.translate.names import host_name
from devkit.benchmark.cluster import MetricsUnavailable, delete_all, item, list_seconds, run_concurrently, wait_until
from devkit.benchmark.metrics import busy_until, request_delta
from devkit.benchmark.peers.report import bulk_ratio_ceilings, peer_comparisons, per_object_ms
from devkit.benchmark.procs import ChildProcess, CpuSampler, CrdsyncProcess, ProcessDied, WaitTimeout
from devkit.benchmark.runner import Bench, BenchFailed, Clusters, Options, say
from devkit.devplane.build import GO_DIR, BuildError, find_binary

JSONDict = dict[str, Any]
PEERS = ("crdsync", "kopf", "controller-runtime")
DEFAULT_WORKERS = 32  # crdsync run's default; the peers get the same
CR_COPIER = "cr-copier"


def parse_peers(text: str) -> tuple[str, ...]:
    """A comma-separated subset of PEERS, in the order given; ValueError names an unknown one."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in PEERS]
    if unknown or not names:
        raise ValueError(f"unknown peer(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(PEERS)}")
    return tuple(dict.fromkeys(names))


def controller_runtime_version(go_mod: str) -> str | None:
    match = re.search(r"sigs\.k8s\.io/controller-runtime\s+(v\S+)", go_mod)
    return match.group(1) if match else None


class PeerBench:
    def __init__(self, clusters: Clusters, options: Options, workdir: Path, peers: Sequence[str] = PEERS,
                 progress: Callable[[str], None] = say) -> None:
        if clusters.host_context or clusters.virtual_context:
            raise ValueError("the peer copiers take kubeconfigs without contexts (--host-context, --virtual-context)")
        self.bench = Bench(clusters, options, workdir, progress)
        self.clusters, self.options, self.workdir, self.say = clusters, options, workdir, progress
        self.peers = tuple(peers)
        self.workers = options.workers or DEFAULT_WORKERS
        self.results = self.bench.results
        self.results.update({"mode": "peers", "peer_order": ["raw", *self.peers], "peers": {}})
        self._cr_binary: Path | None = None
        self._starts = 0

    # -- driver ---------------------------------------------------------------------------------------------------

    def run(self) -> JSONDict:
        bench = self.bench
        steps: list[tuple[str, Callable[[], None]]] = [
            ("prepare", self.prepare), ("setup", bench.setup), ("raw", self.raw), ("seed", self.seed),
        ]  # fmt: skip
        steps += [(f"peer {name}", lambda name=name: self.peer(name)) for name in self.peers]  # type: ignore[misc]
        try:
            for label, step in steps:
                self.say(label)
                try:
                    step()
                except BenchFailed as exc:
                    raise BenchFailed(f"{label}: {exc}") from exc
                except (ApiError, ConfigError, WaitTimeout, ProcessDied, MetricsUnavailable, OSError) as exc:
                    raise BenchFailed(f"{label}: {exc}") from exc
            self.results["comparisons"] = peer_comparisons(self.results)
            self.results["ceilings"] = bulk_ratio_ceilings(self.results)
        finally:
            bench.teardown()
            if "machine" in self.results:
                self.results["machine"]["load_avg"]["end"] = round(os.getloadavg()[0], 2)
        return self.results

    def prepare(self) -> None:
        """Everything that can fail without a cluster: kopf importable, the Go copier built (minutes when cold)."""
        versions: JSONDict = {}
        if "kopf" in self.peers:
            if importlib.util.find_spec("kopf") is None:
                raise BenchFailed("kopf is not installed: pip install 'crdsync[bench]' (or make install)")
            versions["kopf"] = importlib.metadata.version("kopf")
        if "controller-runtime" in self.peers:
            started = time.monotonic()
            try:
                self._cr_binary = find_binary(CR_COPIER)
            except BuildError as exc:
                raise BenchFailed(f"cannot build the controller-runtime copier: {exc}") from None
            self.results["cr_copier_build_s"] = round(time.monotonic() - started, 1)
            versions["controller-runtime"] = controller_runtime_version((GO_DIR / CR_COPIER / "go.mod").read_text())
        self.results["peer_versions"] = versions

    def raw(self) -> None:
        bench, n = self.bench, self.options.n
        bench.raw()
        cpu = bench.results["cpu_s"]["raw_create"]
        self.results["peers"]["raw"] = {
            "bulk_s": bench.results["raw_create_s"],
            "bulk_ratio": 1.0,
            "concurrency": bench.results["raw_concurrency"],
            # The raw client is this process: its CPU per create is the floor issue 15 holds crdsync to.
            "syncer_ms_per_object": {"bulk": per_object_ms(cpu.get("bench"), n)},
            "server_ms_per_object": {side: per_object_ms(cpu.get(side), n) for side in ("host", "etcd", "virtual")},
            "cpu_s": {"bulk": cpu},
        }

    def seed(self) -> None:
        bench = self.bench
        self.results["workers"] = self.workers  # after the base setup, which records crdsync's flag as given
        objects = [item(bench.ns_bulk, f"item-{i:05d}", i) for i in range(self.options.n)]
        seconds = run_concurrently(lambda obj: bench.virtual.create(bench.virtual_res, obj), objects,
                                   bench.concurrency)
        self.results["virtual_seed_s"] = round(seconds, 3)

    # -- one peer -------------------------------------------------------------------------------------------------

    def _spawn(self, name: str) -> ChildProcess:
        self._starts += 1
        clusters, options = self.clusters, self.options
        log_path = self.workdir / f"peer-{self._starts}-{name}.log"  # crdsync-<n>.log are the base setup's
        common = [
            "--host-kubeconfig", str(clusters.host_kubeconfig),
            "--virtual-kubeconfig", str(clusters.virtual_kubeconfig),
            "--host-namespace", options.host_namespace, "--vcluster", options.vcluster,
            "--workers", str(self.workers),
        ]  # fmt: skip
        proc: ChildProcess
        if name == "crdsync":
            proc = CrdsyncProcess(
                mappings=[self.bench.mapping], host_kubeconfig=clusters.host_kubeconfig,
                virtual_kubeconfig=clusters.virtual_kubeconfig, host_namespace=options.host_namespace,
                vcluster=options.vcluster, log_path=log_path, extra=["--workers", str(self.workers)],
            )  # fmt: skip
        elif name == "kopf":
            proc = ChildProcess("kopf copier", [sys.executable, "-m", "devkit.benchmark.peers.kopf_copier", *common],
                                log_path)
        else:
            assert self._cr_binary is not None
            proc = ChildProcess("controller-runtime copier", [str(self._cr_binary), *common], log_path, python=False)
        self.bench._proc = proc.start()
        return proc

    def _stop(self, proc: ChildProcess) -> tuple[float, int]:
        started = time.monotonic()
        code = proc.stop(timeout=60)
        self.bench._proc = None
        return round(time.monotonic() - started, 2), code

    def peer(self, name: str) -> None:
        bench, options, n = self.bench, self.options, self.options.n
        result: JSONDict = {"cpu_s": {}}
        self.results["peers"][name] = result
        cpu: JSONDict = {}

        def phase(step: str) -> Any:
            return bench._phase_cpu(f"{name}-{step}", bench._proc, cpu)

        # bulk
        if len(bench.host_copies):
            raise BenchFailed(f"the host namespace still holds {len(bench.host_copies)} copies")
        done = bench.host_copies.expect_count(n, f"{n} host copies")
        before = bench._writes()
        proc = self._spawn(name)
        with phase("bulk"):
            at = bench._await(done)
        after = bench._writes()
        if before is not None and after is not None:
            result["bulk_requests"] = {side: request_delta(before[side], after[side]) for side in after}
        result["bulk_s"] = round(at - proc.started_mono, 3)
        raw_s = self.results.get("raw_create_s")
        result["bulk_ratio"] = round(raw_s / result["bulk_s"], 3) if raw_s else None
        self.say(f"{name}: bulk sync of {n}: {result['bulk_s']:.2f}s")
        proc.wait_idle(timeout=options.wait_s)
        rss_n_kb = proc.memory_kb()

        # quiet
        result["quiet"] = bench.measure_quiet(f"{name}-quiet", cpu)
        self.say(f"{name}: quiet {result['quiet']['writes']} writes, {result['quiet']['cpu_pct']}% CPU")

        # restart
        result["restart"] = self._restart(name, proc)
        proc = self._proc()

        # latency
        result["latency_ms"] = bench.measure_latency(f"{name}-latency", cpu)
        self.say(f"{name}: latency ms {result['latency_ms']}")

        # live
        objects = [item(bench.ns_live, f"item-{i:05d}", i) for i in range(n)]
        done = bench.host_copies.expect_count(2 * n, f"{2 * n} host copies")
        with phase("live"):
            started = time.monotonic()
            result["live_create_s"] = round(run_concurrently(
                lambda obj: bench.virtual.create(bench.virtual_res, obj), objects, bench.concurrency), 3)
            result["live_sync_s"] = round(bench._await(done) - started, 3)
        self.say(f"{name}: live sync of {n}: {result['live_sync_s']:.2f}s")
        proc.wait_idle(timeout=options.wait_s)
        rss_2n_kb = proc.memory_kb()
        result["rss_mb"] = {
            "n": round(rss_n_kb / 1024, 1),
            "2n": round(rss_2n_kb / 1024, 1),
            "per_object_kb": round((rss_2n_kb - rss_n_kb) / n, 2),
            "peak": round(proc.memory_kb("VmHWM") / 1024, 1),
        }
        result["stop_s"], result["exit_code"] = self._stop(proc)

        result["cpu_s"] = {key.removeprefix(f"{name}-"): {("syncer" if k == "crdsync" else k): v
                                                           for k, v in used.items()} for key, used in cpu.items()}
        result["syncer_ms_per_object"] = {
            step: per_object_ms(result["cpu_s"].get(step, {}).get("syncer"), n) for step in ("bulk", "live")
        }
        bulk_cpu = result["cpu_s"].get("bulk", {})
        result["server_ms_per_object"] = {side: per_object_ms(bulk_cpu.get(side), n)
                                          for side in ("host", "etcd", "virtual")}
        self._reset()

    def _proc(self) -> ChildProcess:
        proc = self.bench._proc
        if proc is None:
            raise BenchFailed("no syncer is running")
        return proc

    def _restart(self, name: str, proc: ChildProcess) -> JSONDict:
        bench, options, n = self.bench, self.options, self.options.n
        sides = [(bench.virtual, bench.virtual_res, None), (bench.host, bench.host_res, options.host_namespace)]
        runs = [list_seconds(sides) for _ in range(3)]
        if runs[0][1] != 2 * n:
            raise BenchFailed(f"listing both sides found {runs[0][1]} objects, expected {2 * n}")
        list_s = statistics.median(seconds for seconds, _ in runs)
        floor_s = statistics.median(self._floor_s() for _ in range(3))

        before = bench._writes()
        stop_s, code = self._stop(proc)
        canary = "item-00000"
        value = -1000 * self._starts  # a value no earlier run wrote
        copy_name = host_name(bench.tenant, bench.ns_bulk, canary, Naming())
        changed = bench.host_copies.expect_field(options.host_namespace, copy_name, "spec", "value", value)
        bench.virtual.patch(bench.virtual_res, bench.ns_bulk, canary, {"spec": {"value": value}})
        proc = self._spawn(name)
        sampler = CpuSampler(proc.pid).start()
        with bench._phase_cpu(f"{name}-restart", proc, {}):
            ready = bench._await(changed)
        proc.wait_idle(timeout=options.wait_s)
        samples = sampler.stop()
        writes, rows = bench._write_figures(before, bench._writes())
        drained = busy_until(samples, ready, gap=0.5)
        converge = (drained if drained is not None else ready) - proc.started_mono
        figures: JSONDict = {
            "list_s": round(list_s, 3),
            "ready_s": round(ready - proc.started_mono, 3),
            "converge_s": round(converge, 3),
            "ratio": round(converge / list_s, 2) if list_s > 0 else None,
            "floor_s": round(floor_s, 3),
            "floor_ratio": round(floor_s / list_s, 2) if list_s > 0 else None,
            "writes": writes,
            "writes_beyond_canary": None if writes is None else writes - 2,
            "by_request": rows,
            "stop_s": stop_s,
            "exit_code": code,
        }
        if name == "crdsync":  # its own account, as the base benchmark reports it
            complete = proc.find_log(r"initial sync complete")
            if complete is not None:
                figures["complete_log_s"] = round(complete.wall - proc.started_wall, 3)
        self.say(f"{name}: restart ready {figures['ready_s']:.2f}s, converged {converge:.2f}s (lists {list_s:.2f}s),"
                 f" {figures['writes_beyond_canary']} writes beyond the canary")
        if len(bench.host_copies) != n:
            raise BenchFailed(f"after the restart the host holds {len(bench.host_copies)} copies, not {n}")
        return figures

    def _floor_s(self) -> float:
        """Spawn → exit of devkit.benchmark.floor: a fresh Python process that only lists both sides."""
        clusters, options = self.clusters, self.options
        command = [
            sys.executable, "-m", "devkit.benchmark.floor",
            "--host-kubeconfig", str(clusters.host_kubeconfig),
            "--virtual-kubeconfig", str(clusters.virtual_kubeconfig),
            "--host-namespace", options.host_namespace,
        ]  # fmt: skip
        proc = ChildProcess("restart floor", command, self.workdir / "restart-floor.log").start()
        assert proc.process is not None
        code = proc.process.wait(timeout=120)
        elapsed = time.monotonic() - proc.started_mono
        if code != 0:
            raise BenchFailed(f"the restart floor (listing both sides) exited with {code}:\n{proc.log_tail()}")
        return elapsed

    def _reset(self) -> None:
        """With no syncer running: the live objects gone from virtual, every copy gone from the host."""
        bench = self.bench
        delete_all(bench.virtual, bench.virtual_res, bench.ns_live)
        delete_all(bench.host, bench.host_res, self.options.host_namespace)
        wait_until(lambda: len(bench.host_copies) == 0, self.options.wait_s, "the host observer to see no copies")


__all__ = ["PEERS", "PeerBench", "parse_peers"]
