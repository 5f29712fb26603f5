"""One chaos run: set up, churn and inject faults cycle by cycle, measure convergence, check every invariant.

A `Plan` lists cycles; each cycle is a set of fault kinds injected together (one kind: the fault alone; several: mixed)
while tenants churn for `churn_seconds`. After a cycle the churn stops and every fault has healed; the time from then
until `checks.converged` holds is that cycle's convergence time (the "convergence after the last fault" samples). The
plans are built from the seed (`full_plan`, `short_plan`), so a seed replays the same schedule of faults and
operations (timings on a busy machine differ, the schedule does not).

Faults (`Chaos._inject`): `kill` SIGKILLs a replica (the leader when a killable one leads) and starts it again at once;
`pause` SIGSTOPs the leader for longer than the Lease duration and SIGCONTs it (its writes after waking are counted);
`restart-host`/`restart-virtual`/`restart-etcd` stop a process and start it again on the same port with the same
data; `stall` makes a proxy swallow all data, `reset` makes it reset connections, `latency` delays them; `compaction`
cuts every connection through the proxies, moves etcd's revision on and compacts etcd to it, so the informers
re-watch from a compacted resourceVersion and get 410 Gone (the synced kinds have no watch cache: their watches are
etcd's);
`unreachable` disables the virtual proxy for 60 s.

Failure modes: `InvariantFailed` (the figures, with the failing invariants, are written to the JSON first); a cycle
that does not converge within `converge_timeout` fails the run with the last verdict's examples.
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.benchmark.cluster import crd_definition
from devkit.benchmark.metrics import count_writes
from devkit.benchmark.procs import CrdsyncProcess
from devkit.devplane.launcher import Planes, local_planes
from e2e.chaos import checks
from e2e.chaos.cluster import Api, ApiStatus, Replica, Toxiproxy, identity_pid, proxied_kubeconfig
from e2e.chaos.workload import GROUP, HOST_NS, MAPPING, PLURAL, VCLUSTER, Operator, Tenants

FAULTS = (
    "kill",
    "pause",
    "restart-host",
    "restart-virtual",
    "restart-etcd",
    "stall",
    "reset",
    "latency",
    "compaction",
    "unreachable",
)
LEASE = (6.0, 4.0, 1.0)  # lease duration, renew deadline, retry period: short, so takeovers fit in a cycle
LEASE_NAME = f"crdsync-{VCLUSTER}"
NAMESPACES = ["ns-a", "ns-b", "ns-c", "ns-d"]


class InvariantFailed(AssertionError):
    pass


@dataclass(frozen=True)
class Plan:
    name: str
    seed: int
    cycles: tuple[tuple[str, ...], ...]
    churn_seconds: float = 8.0
    ops_per_second: float = 6.0
    target_per_namespace: int = 10
    quiet_seconds: float = 10.0
    converge_timeout: float = 240.0
    debug_logs: bool = False  # crdsync -v: every reconcile in the replicas' logs


def full_plan(seed: int) -> Plan:
    """Every fault alone, then mixed at random, 20 kills in all (about 12 minutes on 2 cores)."""
    rng = random.Random(seed)
    alone: list[tuple[str, ...]] = [(kind,) for kind in FAULTS]
    alone += [("kill",)] * 5 + [("pause",), ("stall",), ("restart-host",), ("compaction",)]
    mixable = [k for k in FAULTS if k not in ("unreachable", "kill")]
    mixed: list[tuple[str, ...]] = []
    kills = sum(c.count("kill") for c in alone)
    while kills < 20:
        combo = ["kill", *rng.sample(mixable, rng.choice((1, 2)))]
        if rng.random() < 0.3:
            combo.append("kill")
        mixed.append(tuple(combo))
        kills += combo.count("kill")
    rng.shuffle(alone)
    return Plan(name="full", seed=seed, cycles=(*alone, *mixed))


def short_plan(seed: int) -> Plan:
    """Inside `make test` (under 3 minutes): a kill, an apiserver restart, a proxy stall and a 410, then mixed."""
    return Plan(
        name="short",
        seed=seed,
        cycles=(("kill",), ("restart-host",), ("stall",), ("compaction",), ("kill", "reset")),
        churn_seconds=5.0,
        ops_per_second=5.0,
        target_per_namespace=5,
        quiet_seconds=8.0,
        converge_timeout=120.0,
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


@dataclass
class Figures:
    seed: int
    plan: str
    faults: Counter[str] = field(default_factory=Counter)
    convergence: list[float] = field(default_factory=list)
    cycles: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    writes_after_convergence: dict[str, int] = field(default_factory=dict)
    leadership: dict[str, Any] = field(default_factory=dict)
    paused_leader_writes_after_wake: int = 0
    watch_410_relists: int = 0
    rss_kb: dict[str, Any] = field(default_factory=dict)
    workload: dict[str, int] = field(default_factory=dict)
    operator_writes: int = 0
    duration_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "plan": self.plan,
            "passed": not self.failures,
            "failures": self.failures,
            "duration_s": round(self.duration_s, 1),
            "faults": dict(sorted(self.faults.items())),
            "faults_total": sum(self.faults.values()),
            "convergence_after_last_fault_s": {
                "p50": percentile(self.convergence, 0.5),
                "p99": percentile(self.convergence, 0.99),
                "max": round(max(self.convergence, default=0.0), 2),
                "mean": round(statistics.fmean(self.convergence), 2) if self.convergence else 0.0,
                "samples": len(self.convergence),
            },
            **self.final,
            "writes_after_convergence": self.writes_after_convergence,
            "non_leader_writes": len(self.leadership.get("violations", [])),
            "paused_leader_writes_after_wake": self.paused_leader_writes_after_wake,
            "lease_holders": len(self.leadership.get("holders", [])),
            "crdsync_writes_audited": self.leadership.get("writes_total", 0),
            "watch_410_relists": self.watch_410_relists,
            "rss_kb": self.rss_kb,
            "workload_ops": self.workload,
            "operator_writes": self.operator_writes,
            "cycles": self.cycles,
        }


def say(message: str) -> None:
    print(f"chaos: {message}", flush=True)


class Chaos:
    """The world of one run (planes, proxies, replicas, tenants, operator) and the run itself."""

    def __init__(self, plan: Plan, workdir: Path, *, progress: Callable[[str], None] = say) -> None:
        self.plan = plan
        self.workdir = workdir
        self.say = progress
        self.rng = random.Random(plan.seed + 1)
        self.figures = Figures(seed=plan.seed, plan=plan.name)
        self.pauses: list[tuple[str, float, float]] = []  # (identity, SIGSTOP wall, SIGCONT wall)
        self.replicas: dict[str, Replica] = {}
        self.unreadable = ""

    # -- set-up ------------------------------------------------------------------------------------------------------

    @contextmanager
    def world(self) -> Iterator[None]:
        with ExitStack() as stack:
            self.planes: Planes = stack.enter_context(
                local_planes(
                    self.workdir / "planes",
                    audit=True,
                    # The synced kinds' watches go to etcd, so a compaction reaches them as 410 Gone.
                    apiserver_flags=[f"--watch-cache-sizes={PLURAL}.{GROUP}#0,secrets#0"],
                )
            )
            self.host = Api(self.planes, "host")
            self.virtual = Api(self.planes, "virtual", user_agent="chaos-tenant")
            self.proxy = stack.enter_context(self._toxiproxy())
            self._install()
            self.operator = Operator(Api(self.planes, "host", user_agent="chaos-operator")).start()
            stack.callback(self.operator.stop)
            stack.callback(self._stop_replicas)
            self._start_replicas()
            yield

    @contextmanager
    def _toxiproxy(self) -> Iterator[Toxiproxy]:
        proxy = Toxiproxy(self.workdir).start()
        try:
            self.kubeconfigs = {}
            for name in ("host", "virtual"):
                listen = proxy.proxy(name, self.planes.url(name).removeprefix("https://"))
                self.kubeconfigs[name] = proxied_kubeconfig(
                    self.planes, name, listen, self.workdir / f"{name}-proxied.kubeconfig"
                )
            yield proxy
        finally:
            proxy.stop()

    def _install(self) -> None:
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        self.host.request("POST", path, crd_definition(GROUP, "Task"))
        self._wait(lambda: self._served(self.host), 60, "Task served on the host")
        for api, names in ((self.host, [HOST_NS]), (self.virtual, NAMESPACES)):
            for ns in names:
                api.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        (self.workdir / "mapping.yaml").write_text(MAPPING)

    @staticmethod
    def _served(api: Api) -> bool:
        try:
            api.get(f"/apis/{GROUP}/v1/{PLURAL}")
            return True
        except (ApiStatus, OSError):
            return False

    def _new_process(self, slot: str) -> CrdsyncProcess:
        duration, deadline, retry = LEASE
        return CrdsyncProcess(
            mappings=[self.workdir / "mapping.yaml"],
            host_kubeconfig=self.kubeconfigs["host"],
            virtual_kubeconfig=self.kubeconfigs["virtual"],
            host_namespace=HOST_NS,
            vcluster=VCLUSTER,
            log_path=self.workdir / f"crdsync-{slot}.log",
            verbosity=("-v",) if self.plan.debug_logs else (),
            extra=[
                "--leader-elect",
                f"--lease-duration={duration}",
                f"--renew-deadline={deadline}",
                f"--retry-period={retry}",
                "--workers=8",
                "--metrics-bind-address=0",
                "--health-probe-bind-address=0",
            ],
        )

    def _start_replicas(self) -> None:
        # a first, so it leads at the start and the first kill hits a leader. Kills target the leader unless c leads
        # (then a standby): c is never SIGKILLed, only paused when it leads, so its RSS spans the whole run.
        for slot in ("a", "b", "c"):
            replica = self.replicas[slot] = Replica(slot, self._new_process).start()
            if slot == "a" and replica.process is not None:
                replica.process.wait_log(r"leading as", 120)
        self._wait(lambda: self._served(self.virtual), 120, "Task mirrored into the virtual cluster")

    def _stop_replicas(self) -> None:
        for replica in self.replicas.values():
            try:
                replica.stop()
            except AssertionError:
                replica.kill()

    # -- helpers -----------------------------------------------------------------------------------------------------

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                raise InvariantFailed(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.5)
        return time.monotonic() - started

    def leader(self, timeout: float = 30.0) -> Replica | None:
        """The replica whose current process holds the Lease (from the host apiserver)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                lease = self.host.get_or_none(f"/apis/coordination.k8s.io/v1/namespaces/{HOST_NS}/leases/{LEASE_NAME}")
            except (ApiStatus, OSError):
                lease = None
            holder = ((lease or {}).get("spec") or {}).get("holderIdentity") or ""
            pid = identity_pid(holder)
            for replica in self.replicas.values():
                if replica.alive() and replica.pid == pid and not replica.paused:
                    return replica
            time.sleep(0.5)
        return None

    def verdict(self) -> checks.Verdict | None:
        """The convergence verdict, or None while an apiserver cannot be read (`unreadable` says why)."""
        try:
            return checks.converged(self.host, self.virtual, NAMESPACES)
        except (ApiStatus, OSError, KeyError) as exc:
            self.unreadable = f"{type(exc).__name__}: {exc}"
            return None

    # -- faults ------------------------------------------------------------------------------------------------------

    def _inject(self, kind: str) -> None:
        rng = self.rng
        if kind == "kill":
            leader = self.leader(10)
            target = leader if leader is not None and leader.slot != "c" else self.replicas[rng.choice("ab")]
            self.say(f"  SIGKILL crdsync {target.slot} (pid {target.pid})")
            target.kill()
            target.start()
        elif kind == "pause":
            leader = self.leader()
            if leader is None:
                self.say("  pause: no leader to pause")
                return
            identity = self._holder()
            seconds = LEASE[0] + 2 + rng.uniform(0, 2)
            self.say(f"  SIGSTOP leader {leader.slot} (pid {leader.pid}) for {seconds:.1f}s")
            stopped = time.time()
            leader.pause()
            time.sleep(seconds)
            leader.resume()
            self.pauses.append((identity, stopped, time.time()))
        elif kind in ("restart-host", "restart-virtual"):
            name = kind.removeprefix("restart-")
            took = self.planes.restart_apiserver(name, down_for=rng.uniform(0.5, 3.0))
            self.say(f"  {name} apiserver restarted ({took:.1f}s)")
        elif kind == "restart-etcd":
            took = self.planes.restart_etcd(down_for=rng.uniform(0.5, 2.0))
            self.say(f"  etcd restarted ({took:.1f}s)")
        elif kind == "stall":
            proxy, seconds = rng.choice(("host", "virtual")), rng.uniform(5, 9)
            self.say(f"  {proxy} proxy stalls every connection for {seconds:.1f}s")
            self._toxic(proxy, "timeout", {"timeout": 0}, seconds)
        elif kind == "reset":
            proxy = rng.choice(("host", "virtual"))
            self.say(f"  {proxy} proxy resets connections")
            self._toxic(proxy, "reset_peer", {"timeout": 0}, rng.uniform(0.5, 2.0))
        elif kind == "latency":
            proxy, seconds = rng.choice(("host", "virtual")), rng.uniform(6, 10)
            self.say(f"  {proxy} proxy delays data by ~300ms for {seconds:.1f}s")
            self._toxic(proxy, "latency", {"latency": 300, "jitter": 100}, seconds)
        elif kind == "compaction":
            # Cut every connection through the proxies first (disabling a proxy closes them all, idle watch streams
            # included), move etcd's revision past every informer's (writes straight to the host apiserver), then
            # compact to it: each informer re-watches from a compacted resourceVersion and gets 410 Gone.
            for proxy in ("host", "virtual"):
                self.proxy.enable(proxy, False)
            try:
                for _ in range(2):
                    self._bump_revision()
                revision = self._compact_etcd()
            finally:
                for proxy in ("host", "virtual"):
                    self.proxy.enable(proxy, True)
            self.say(f"  connections cut, etcd compacted at revision {revision}; watches resume from before it")
        elif kind == "unreachable":
            self.say("  virtual cluster unreachable for 60s")
            self.proxy.enable("virtual", False)
            time.sleep(60)
            self.proxy.enable("virtual", True)
        else:
            raise ValueError(f"unknown fault {kind!r}")
        self.figures.faults[kind] += 1

    def _holder(self) -> str:
        lease = self.host.get(f"/apis/coordination.k8s.io/v1/namespaces/{HOST_NS}/leases/{LEASE_NAME}")
        holder: str = lease["spec"]["holderIdentity"]
        return holder

    def _toxic(self, proxy: str, kind: str, attributes: dict[str, int], seconds: float) -> None:
        name = f"{kind}-{time.monotonic_ns()}"
        for stream in ("downstream", "upstream"):
            self.proxy.add(proxy, f"{name}-{stream}", kind, attributes, stream)
        time.sleep(seconds)
        for stream in ("downstream", "upstream"):
            self.proxy.remove(proxy, f"{name}-{stream}")

    def _bump_revision(self) -> None:
        marker = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chaos-marker", "namespace": "default"}}
        marker["data"] = {"at": str(time.time())}
        try:
            self.host.request("PUT", "/api/v1/namespaces/default/configmaps/chaos-marker", marker)
        except ApiStatus as exc:
            if exc.status != 404:
                raise
            self.host.request("POST", "/api/v1/namespaces/default/configmaps", marker)

    def _compact_etcd(self) -> int:
        """Compact etcd (its JSON gateway, plain HTTP on loopback) to the current revision; returns it."""
        url = self.planes.url("etcd")

        def post(path: str, body: dict[str, Any]) -> Any:
            request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())

        every_key = {"key": base64.b64encode(b"/").decode(), "range_end": base64.b64encode(b"0").decode()}
        revision = int(post("/v3/kv/range", {**every_key, "limit": 1, "keys_only": True})["header"]["revision"])
        post("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    # -- the run -----------------------------------------------------------------------------------------------------

    def _churn(self, tenants: Tenants, stop: threading.Event) -> None:
        interval = 1.0 / self.plan.ops_per_second
        while not stop.wait(interval):
            tenants.step()

    def run(self) -> dict[str, Any]:
        started = self._started = time.monotonic()
        self.say(f"seed {self.plan.seed} ({self.plan.name}: {len(self.plan.cycles)} cycles); replay with --seed")
        try:
            with self.world():
                tenants = Tenants(
                    self.virtual, random.Random(self.plan.seed + 2), NAMESPACES, self.plan.target_per_namespace
                )
                tenants.seed()
                took = self._converge("initial sync")
                self.say(f"initial population converged in {took:.1f}s")
                rss_start = self.replicas["c"].rss_kb()
                self._snapshot_410s()
                for number, cycle in enumerate(self.plan.cycles, 1):
                    self._cycle(number, cycle, tenants)
                self.figures.workload = dict(tenants.ops)
                self._final(rss_start)
        finally:
            self.figures.duration_s = time.monotonic() - started
        return self.figures.as_dict()

    def _cycle(self, number: int, faults: tuple[str, ...], tenants: Tenants) -> None:
        self.say(f"cycle {number}/{len(self.plan.cycles)}: {' + '.join(faults)}")
        stop = threading.Event()
        churn = threading.Thread(target=self._churn, args=(tenants, stop), daemon=True)
        churn.start()
        threads = []
        errors: list[BaseException] = []

        def inject(kind: str, delay: float) -> None:
            time.sleep(delay)
            try:
                self._inject(kind)
            except BaseException as exc:  # reported below, on the main thread
                errors.append(exc)

        for kind in faults:
            delay = self.rng.uniform(0.5, self.plan.churn_seconds * 0.6)
            threads.append(threading.Thread(target=inject, args=(kind, delay), daemon=True))
            threads[-1].start()
        time.sleep(self.plan.churn_seconds)
        for thread in threads:
            thread.join()
        stop.set()
        churn.join()
        if errors:
            raise errors[0]
        took = self._converge(f"cycle {number}")
        self.figures.convergence.append(took)
        at = round(time.monotonic() - self._started, 1)
        self.figures.cycles.append({"at_s": at, "faults": list(faults), "converged_s": round(took, 2)})
        self.say(f"  converged {took:.1f}s after the last fault healed")

    def _converge(self, what: str) -> float:
        started = time.monotonic()
        last: checks.Verdict | None = None
        while True:
            last = self.verdict() or last
            if last is not None and last.ok() and self.verdict() is not None:
                return time.monotonic() - started
            if time.monotonic() - started > self.plan.converge_timeout:
                details = last.summary() if last is not None else f"apiservers unreadable: {self.unreadable}"
                raise InvariantFailed(f"{what}: not converged within {self.plan.converge_timeout:.0f}s: {details}")
            time.sleep(0.5)

    def _snapshot_410s(self) -> None:
        self._410_base = self._count_410s()

    def _count_410s(self) -> int:
        total = 0
        for path in self.workdir.glob("crdsync-*.log"):
            total += sum(1 for line in path.read_text(errors="replace").splitlines() if "expired (" in line)
        return total

    def _final(self, rss_start: int) -> None:
        figures = self.figures
        verdict = checks.converged(self.host, self.virtual, NAMESPACES)
        figures.final = verdict.summary()
        if not verdict.ok():
            figures.failures.append(f"final state: {verdict.summary()}")
        # Zero writes after convergence, from the apiservers' own counters (Leases excluded).
        time.sleep(2)  # the last status round trip
        before = {name: count_writes(api.metrics()) for name, api in (("host", self.host), ("virtual", self.virtual))}
        time.sleep(self.plan.quiet_seconds)
        after = {name: count_writes(api.metrics()) for name, api in (("host", self.host), ("virtual", self.virtual))}
        figures.writes_after_convergence = {name: after[name] - before[name] for name in before}
        if any(figures.writes_after_convergence.values()):
            figures.failures.append(f"writes after convergence: {figures.writes_after_convergence}")
        figures.operator_writes = self.operator.writes
        # No write by a replica while another held the Lease; none by a paused leader after it woke.
        writes = checks.crdsync_writes(self.planes.audit_log("host"), "host")
        writes += checks.crdsync_writes(self.planes.audit_log("virtual"), "virtual")
        audit = checks.leader_audit(writes, LEASE_NAME)
        figures.leadership = {
            "holders": audit.holders,
            "violations": audit.violations,
            "writes_total": sum(audit.writes.values()),
        }
        if audit.violations:
            figures.failures.append(f"{len(audit.violations)} writes by a non-leader, e.g. {audit.violations[:3]}")
        stale: list[str] = []
        for identity, _stopped, resumed in self.pauses:
            again = next((since for since, holder in audit.holders if holder == identity and since > resumed), None)
            stale += checks.writes_by_after([w for w in writes if w.resource != "leases"], identity, resumed, again)
        figures.paused_leader_writes_after_wake = len(stale)
        if stale:
            figures.failures.append(f"a paused leader wrote after waking: {stale[:3]}")
        figures.watch_410_relists = self._count_410s() - self._410_base
        if figures.faults["compaction"] and not figures.watch_410_relists:
            figures.failures.append("compactions injected but no informer saw 410 Gone")
        rss_end = self.replicas["c"].rss_kb()
        figures.rss_kb = {"replica": "c (never killed)", "start": rss_start, "end": rss_end}
        # Growth allowance: the allocator keeps freed arenas; a leak across 30+ cycles shows far beyond this.
        if rss_end > rss_start * 1.5 + 30_000:
            figures.failures.append(f"RSS grew from {rss_start} kB to {rss_end} kB")


def run_and_report(plan: Plan, workdir: Path, out: Path | None) -> dict[str, Any]:
    """Run, print the figures, write them as JSON; raise InvariantFailed when an invariant does not hold."""
    chaos = Chaos(plan, workdir)
    try:
        figures = chaos.run()
    except BaseException as exc:
        chaos.figures.failures.append(f"{type(exc).__name__}: {exc}")
        figures = chaos.figures.as_dict()
        _report(figures, out)
        raise
    _report(figures, out)
    if figures["failures"]:
        raise InvariantFailed("; ".join(figures["failures"]))
    return figures


def _report(figures: dict[str, Any], out: Path | None) -> None:
    shown = {k: v for k, v in figures.items() if k != "cycles"}
    say("figures:\n" + json.dumps(shown, indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
        say(f"figures written to {out}")
