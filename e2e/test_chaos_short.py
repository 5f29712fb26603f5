"""The chaos suite's short plan inside `make test`: a kill, an apiserver restart, a proxy stall, a 410 and a mixed
cycle under churn, then every invariant (e2e/chaos). It runs its own planes (with audit logs and no watch cache for
the synced kinds) because it restarts them; the figures land in the test's tmp directory as JSON."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from e2e.chaos.run import run_and_report, short_plan

pytestmark = pytest.mark.timeout(400)


def test_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(1, 1_000_000)
    print(f"chaos seed {seed} (replay: python -m e2e.chaos --plan short --seed {seed})")
    figures = run_and_report(short_plan(seed), tmp_path / "run", tmp_path / "chaos.json")
    assert figures["faults"]["kill"] >= 1 and figures["faults"]["restart-host"] >= 1
    assert figures["faults"]["stall"] >= 1 and figures["watch_410_relists"] >= 1
    assert (figures["lost"], figures["duplicated"], figures["orphaned"], figures["stale"]) == (0, 0, 0, 0)
    assert figures["writes_after_convergence"] == {"host": 0, "virtual": 0}
    assert figures["non_leader_writes"] == 0
