"""`make mutation`: mutmut over crdsync/engine and crdsync/translate, the kill rates, then the named mutations.

Steps, each run even when an earlier one failed, so one run gives every figure:
1. `mutmut run` in a fresh mutants/ (its settings: pyproject.toml [tool.mutmut]). Fresh, because mutmut keeps a
   verdict until the mutated function's source changes: a mutant that survived stays "survived" after a test that
   kills it is added. `--reuse` keeps mutants/ for a quick re-run after changing only crdsync code.
2. devkit.mutation.report: kill rate per file, per package and overall, mutation-results/summary.json and
   survivors.diff; fails below --threshold (85%).
3. devkit.mutation.named: every tests/**/named_mutations.json entry must be killed (mutation-results/named.json).

Exit status: 0 when all pass, else the first failing step's status (1: a rate below the threshold or a surviving
named mutation; 2: a step could not give its figures, e.g. mutmut stopped or the unmutated tests fail).
`--only GLOB ...` restricts step 1 and 2 to the mutants whose mutmut names match (e.g. "crdsync.translate.names.*"),
for measuring one module; `--sample N` to N mutants drawn at random (fixed --seed) from all of them, after generating
them (devkit.mutation.generate), for an estimate of the whole set's rate with its 95% margin in a fraction of the
time. Either kind of partial run skips step 3 unless --named is given.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devkit.mutation import named, report


def run_mutmut(root: Path, max_children: int, only: Sequence[str]) -> int:
    mutmut = Path(sys.executable).with_name("mutmut")  # the console script: mutmut warns against `python -m mutmut`
    cmd = [str(mutmut), "run", "--max-children", str(max_children), *only]
    print("+", " ".join(cmd), flush=True)
    # Bytecode may be cached for this run (some shells set PYTHONDONTWRITEBYTECODE): each mutant's process imports its
    # test modules afresh, and pytest's assertion rewriting then reads them from mutants/tests/__pycache__ instead of
    # compiling them again, a large part of a mutant that its first test kills. Only files under mutants/ are new.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.monotonic()
    status = subprocess.run(cmd, cwd=root, env=env, check=False).returncode
    print(f"\nmutmut run: status {status} after {time.monotonic() - start:.0f}s", flush=True)
    return status


def draw_sample(root: Path, out: Path, size: int, seed: int, max_children: int) -> list[str]:
    """Generate every mutant (no tests run), draw `size` names at random, and write them to out/sample.txt."""
    cmd = [sys.executable, "-m", "devkit.mutation.generate", "--max-children", str(max_children)]
    subprocess.run(cmd, cwd=root, check=True, stdout=subprocess.DEVNULL)
    every = sorted(m.name for m in report.read_results(root / "mutants"))
    chosen = sorted(random.Random(seed).sample(every, min(size, len(every))))
    out.mkdir(parents=True, exist_ok=True)
    (out / "sample.txt").write_text("\n".join(chosen) + "\n", encoding="utf-8")
    print(f"sample: {len(chosen)} of {len(every)} mutants (seed {seed}) in {out / 'sample.txt'}", flush=True)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.mutation", description=__doc__.split("\n")[0])
    # The engine tests mostly wait (settle loops poll an idle engine), so a mutant's process uses well under a core:
    # a sampled run with 4 processes averaged under half a core. Several per core keep the cores busy.
    children = 4 * (os.cpu_count() or 1)
    parser.add_argument("--max-children", type=int, default=children, help=f"mutants tested at once ({children})")
    parser.add_argument("--threshold", type=float, default=report.THRESHOLD, help="lowest passing kill rate, in %%")
    parser.add_argument("--only", nargs="+", default=[], metavar="GLOB", help="only mutants whose names match")
    parser.add_argument("--sample", type=int, metavar="N", help="only N mutants drawn at random from all")
    parser.add_argument("--seed", type=int, default=14, help="the draw's seed (default: 14)")
    parser.add_argument("--reuse", action="store_true", help="keep mutants/ and mutmut's earlier verdicts")
    parser.add_argument("--named", action=argparse.BooleanOptionalAction, default=None, help="run step 3")
    parser.add_argument("--out", type=Path, default=Path("mutation-results"))
    args = parser.parse_args(argv)
    root = Path.cwd()
    if not args.reuse:
        shutil.rmtree(root / "mutants", ignore_errors=True)
    statuses = []
    selection = list(args.only)
    report_args = [*args.only, "--out", str(args.out), "--threshold", str(args.threshold)]
    if args.sample:
        selection += draw_sample(root, args.out, args.sample, args.seed, args.max_children)
        report_args += ["--names-file", str(args.out / "sample.txt")]
    mutmut_status = run_mutmut(root, args.max_children, selection)
    statuses.append(2 if mutmut_status else 0)
    statuses.append(report.main(report_args))
    partial = bool(args.only or args.sample)
    if args.named if args.named is not None else not partial:
        print("\n== named mutations", flush=True)
        statuses.append(named.main(["--json", str(args.out / "named.json")]))
    return next((s for s in statuses if s), 0)


if __name__ == "__main__":
    sys.exit(main())
