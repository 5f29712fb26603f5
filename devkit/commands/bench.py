"""`python -m devkit bench`: sync performance as ratios to the apiserver's own write limit, side by side in one run.

By default it starts fresh local planes in a temporary directory (building the binaries on first use); with
`--host-kubeconfig` and `--virtual-kubeconfig` it runs on a pair of clusters you give it (it creates a CRD
`items.bench.crdsync.io`, host namespaces `<host-namespace>` and `<host-namespace>-raw`, and virtual namespaces
`bench-*`; `--cleanup` removes the namespaces afterwards). crdsync runs as a child process so its CPU and memory can be
read from /proc. The phases and the exact definition of every figure are in devkit/benchmark/runner.py.

`--peers` measures crdsync side by side with the copiers users would write instead (a kopf operator, a
controller-runtime controller) and the raw write limit, a column each (devkit/benchmark/peers/); `--tenants K` (local
planes only) measures the cost per tenant: K virtual apiservers against one host, K crdsync processes
(devkit/benchmark/tenants.py).

Prints a table (targets with verdicts, then the figures; with --peers a column per peer; with --tenants the per-tenant
figures and formula) on stdout and writes the full results as JSON.
Exit codes: 0 when the run completed (whether or not targets were met: it is a measurement, not a test), 1 when a
phase failed (the message names it, with crdsync's log tail), 2 for bad arguments. No traceback for any of these.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devkit.benchmark.peers.runner import PeerBench
    from devkit.benchmark.runner import Bench, Clusters, Options

# The runner (and through it the kube client, spec loader and translation core) is imported only when the command
# runs: the CLI imports every command module to build its parser, and `crdsync run` should not pay for this one.


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} must be zero or more")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=_positive_int, default=5000, help="objects per bulk/live phase (default 5000)")
    parser.add_argument("--json", type=Path, default=Path("crdsync-bench.json"), metavar="FILE",
                        help="where to write the results (default ./crdsync-bench.json)")
    parser.add_argument("--host-kubeconfig", type=Path, metavar="K", help="run on this host cluster (with --virtual-)")
    parser.add_argument("--host-context", metavar="C")
    parser.add_argument("--virtual-kubeconfig", type=Path, metavar="K", help="... and this virtual cluster")
    parser.add_argument("--virtual-context", metavar="C")
    parser.add_argument("--host-namespace", default="vc-bench", metavar="NS",
                        help="the tenant's host namespace (default vc-bench)")
    parser.add_argument("--workers", type=_positive_int, metavar="W", help="crdsync run --workers (default: its own)")
    parser.add_argument("--samples", type=_positive_int, default=200, help="latency samples per kind (default 200)")
    parser.add_argument("--quiet-seconds", type=_seconds, default=60.0, help="length of the quiet window (default 60)")
    parser.add_argument("--dir", type=Path, help="working directory for planes, logs and profiles (default: temp)")
    parser.add_argument("--keep-dir", action="store_true", help="keep the working directory (logs, profiles)")
    parser.add_argument("--profile", action="store_true",
                        help="record crdsync with py-spy in each phase (needs py-spy and ptrace rights)")
    parser.add_argument("--cleanup", action="store_true",
                        help="on given clusters: delete the benchmark's namespaces afterwards")
    parser.add_argument("--peers", nargs="?", const="crdsync,kopf,controller-runtime", metavar="LIST",
                        help="side by side with the peer copiers (default all: crdsync,kopf,controller-runtime)")
    parser.add_argument("--tenants", type=_positive_int, metavar="K",
                        help="cost per tenant: K virtual clusters against one host, K crdsync (local planes only)")
    parser.add_argument("--render", type=Path, nargs="+", metavar="JSON",
                        help="no run: print the table of earlier runs' JSON files; of several, every figure's median")


def _check(args: argparse.Namespace) -> str | None:
    given = (args.host_kubeconfig is not None, args.virtual_kubeconfig is not None)
    if any(given) and not all(given):
        return "--host-kubeconfig and --virtual-kubeconfig go together"
    for flag, path in (("--host-kubeconfig", args.host_kubeconfig), ("--virtual-kubeconfig", args.virtual_kubeconfig)):
        if path is not None and not path.is_file():
            return f"{flag} {path}: no such file"
    if args.json.parent and not args.json.parent.exists():
        return f"--json {args.json}: directory {args.json.parent} does not exist"
    if args.render and (args.peers is not None or args.tenants is not None or args.host_kubeconfig is not None):
        return "--render prints earlier results; it takes no run options"
    for path in args.render or []:
        if not path.is_file():
            return f"--render {path}: no such file"
    if args.peers is not None and args.tenants is not None:
        return "--peers and --tenants are separate runs"
    if args.tenants is not None and args.host_kubeconfig is not None:
        return "--tenants starts its own planes (it adds virtual apiservers); drop the kubeconfigs"
    if args.peers is not None:
        from devkit.benchmark.peers.runner import parse_peers

        try:
            parse_peers(args.peers)
        except ValueError as exc:
            return f"--peers: {exc}"
        if args.host_context or args.virtual_context:
            return "--peers: the peer copiers take kubeconfigs without contexts; drop --host-context/--virtual-context"
    return None


def run(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem:
        print(f"python -m devkit bench: {problem}", file=sys.stderr)
        return 2
    if args.render:
        return _render_files(args.render)
    from devkit.benchmark.runner import BenchFailed, Clusters, Options

    options = Options(
        n=args.n,
        samples=args.samples,
        quiet_seconds=args.quiet_seconds,
        workers=args.workers,
        host_namespace=args.host_namespace,
        profile=args.profile,
        cleanup=args.cleanup,
    )
    directory = args.dir or Path(tempfile.mkdtemp(prefix="crdsync-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    failure: str | None = "interrupted"  # until a run ends one way or the other (Ctrl-C leaves it so in the JSON)
    try:
        if args.tenants is not None:
            from devkit.benchmark.tenants import run_tenants

            results, failure = run_tenants(args.tenants, options, directory)
        elif args.host_kubeconfig is not None:
            clusters = Clusters(args.host_kubeconfig, args.virtual_kubeconfig, args.host_context,
                                args.virtual_context)
            bench = _make_bench(clusters, options, directory, args.peers)
            results = bench.results
            bench.run()
            failure = None
        else:
            results, failure = _on_local_planes(options, directory, args.peers)
    except BenchFailed as exc:
        failure = str(exc)
    finally:
        if results:
            results["failed"] = failure
            args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        if args.dir is None and not args.keep_dir and failure is None:
            shutil.rmtree(directory, ignore_errors=True)
    if results:
        print(_render(results))
        print(f"results written to {args.json}", file=sys.stderr)
    if failure is not None:
        print(f"python -m devkit bench: {failure}", file=sys.stderr)
        print(f"python -m devkit bench: logs kept in {directory}", file=sys.stderr)
        return 1
    return 0


def _render_files(paths: list[Path]) -> int:
    from devkit.benchmark.report import median_document

    documents = []
    for path in paths:
        try:
            documents.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"python -m devkit bench: --render {path}: {exc}", file=sys.stderr)
            return 2
    modes = {doc.get("mode") if isinstance(doc, dict) else None for doc in documents}
    if len(modes) > 1 or not all(isinstance(doc, dict) for doc in documents):
        print("python -m devkit bench: --render: the files are not results of one kind of run", file=sys.stderr)
        return 2
    if modes == {"peers"}:
        from devkit.benchmark.peers.report import bulk_ratio_ceilings

        for doc in documents:  # runs from before the ceilings existed: computed from their own figures, per run
            doc.setdefault("ceilings", bulk_ratio_ceilings(doc))
    if len(documents) > 1:
        print(f"median of {len(documents)} runs ({', '.join(str(p) for p in paths)}): each figure and each per-run "
              "ratio is the median of its values in the runs")
    print(_render(median_document(documents)))
    return 0


def _make_bench(clusters: Clusters, options: Options, directory: Path, peers: str | None) -> Bench | PeerBench:
    from devkit.benchmark.runner import Bench

    if peers is None:
        return Bench(clusters, options, directory)
    from devkit.benchmark.peers.runner import PeerBench, parse_peers

    return PeerBench(clusters, options, directory, parse_peers(peers))


def _render(results: dict[str, Any]) -> str:
    if results.get("mode") == "peers":
        from devkit.benchmark.peers.report import render_peer_table

        return render_peer_table(results)
    if results.get("mode") == "tenants":
        from devkit.benchmark.report import render_tenant_table

        return render_tenant_table(results)
    from devkit.benchmark.report import render_table

    return render_table(results)


def _on_local_planes(options: Options, directory: Path, peers: str | None) -> tuple[dict[str, Any], str | None]:
    from devkit.benchmark.runner import BenchFailed, Clusters
    from devkit.devplane.build import BuildError
    from devkit.devplane.launcher import PlanesError, local_planes

    results: dict[str, Any] = {}
    try:
        with local_planes(directory / "planes") as planes:
            clusters = Clusters(planes.kubeconfig("host"), planes.kubeconfig("virtual"), plane_pids=planes.pids,
                                local=True)
            bench = _make_bench(clusters, options, directory, peers)
            results = bench.results
            try:
                bench.run()
            except BenchFailed as exc:
                dead = planes.dead()
                extra = f"\nplanes that died: {', '.join(dead)}\n{planes.log_tails(20)}" if dead else ""
                return results, f"{exc}{extra}"
            results["plane_ready_s"] = dict(planes.ready_seconds)
    except (BuildError, PlanesError) as exc:
        return results, f"local planes did not start: {exc}"
    return results, None
