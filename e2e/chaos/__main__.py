"""`python -m e2e.chaos [--plan full|short] [--seed N] [--out FILE] [--dir DIR]`: one chaos run (see e2e/chaos).

Prints the seed first and the figures last, writes them as JSON (default chaos-results/chaos-<seed>.json) and exits 0
when every invariant held, 1 otherwise; the working directory (planes, audit logs, crdsync logs) is kept for a failed
run and removed after a passing one unless --dir names it.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import sys
import tempfile
from pathlib import Path

from e2e.chaos.run import InvariantFailed, full_plan, run_and_report, short_plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.chaos", description=__doc__)
    parser.add_argument("--plan", choices=("full", "short"), default="full")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: a new random seed)")
    parser.add_argument("--out", type=Path, default=None, help="figures as JSON")
    parser.add_argument("--dir", type=Path, default=None, help="working directory to keep")
    parser.add_argument("--ops-per-second", type=float, default=None, help="churn rate (default: the plan's)")
    parser.add_argument("--objects", type=int, default=None, help="Tasks per virtual namespace (default: the plan's)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    plan = full_plan(seed) if args.plan == "full" else short_plan(seed)
    if args.ops_per_second is not None:
        plan = dataclasses.replace(plan, ops_per_second=args.ops_per_second)
    if args.objects is not None:
        plan = dataclasses.replace(plan, target_per_namespace=args.objects)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="crdsync-chaos-"))
    out = args.out or Path("chaos-results") / f"chaos-{args.plan}-{seed}.json"
    try:
        run_and_report(plan, workdir, out)
    except InvariantFailed as exc:
        print(f"chaos: FAILED (seed {seed}; logs in {workdir}): {exc}", file=sys.stderr)
        return 1
    except BaseException:
        print(f"chaos: aborted (seed {seed}; logs in {workdir})", file=sys.stderr)
        raise
    print(f"chaos: passed (seed {seed})")
    if args.dir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
