"""devkit.mutation.report: reading mutmut's verdicts and the kill rate's formula."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from devkit.mutation import report

# mutmut exit codes: 1 killed, 0 survived, 33 no tests, 36 timeout, 34 skipped, None not checked
RECONCILE = {
    "crdsync.engine.reconcile.xǁReconcilerǁreconcile__mutmut_1": 1,
    "crdsync.engine.reconcile.xǁReconcilerǁreconcile__mutmut_2": 1,
    "crdsync.engine.reconcile.xǁReconcilerǁreconcile__mutmut_3": 36,
    "crdsync.engine.reconcile.x_stray_paths__mutmut_1": 0,
    "crdsync.engine.reconcile.x_stray_paths__mutmut_2": 33,
    "crdsync.engine.reconcile.x_stray_paths__mutmut_3": 34,
}
NAMES = {"crdsync.translate.names.x_name_hash__mutmut_1": 1, "crdsync.translate.names.x_name_hash__mutmut_2": 1}


def write_meta(mutants: Path, source: str, codes: Mapping[str, int | None]) -> None:
    meta = mutants / f"{source}.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {}}))


def test_kill_rate_counts_timeouts_as_kills_and_untested_mutants_as_survivors(tmp_path: Path) -> None:
    write_meta(tmp_path, "crdsync/engine/reconcile.py", RECONCILE)
    write_meta(tmp_path, "crdsync/translate/names.py", NAMES)
    summary, _ = report.summarize(report.read_results(tmp_path), diffs=False)
    engine = summary["packages"]["crdsync.engine"]
    assert (engine["caught"], engine["judged"], engine["kill_rate"]) == (3, 5, 60.0)  # the skipped one is left out
    assert summary["packages"]["crdsync.translate"]["kill_rate"] == 100.0
    assert summary["overall"]["kill_rate"] == round(100 * 5 / 7, 2)
    survivors = {(s["function"], s["status"]) for s in summary["survivors"]}
    assert survivors == {("stray_paths", "survived"), ("stray_paths", "no tests")}


def test_a_mutant_not_checked_leaves_no_rate(tmp_path: Path) -> None:
    write_meta(tmp_path, "crdsync/translate/names.py", {**NAMES, "crdsync.translate.names.x_f__mutmut_1": None})
    summary, _ = report.summarize(report.read_results(tmp_path), diffs=False)
    assert summary["overall"]["kill_rate"] is None
    assert report.main(["--mutants", str(tmp_path), "--out", str(tmp_path / "out"), "--no-diffs"]) == 2


def test_main_fails_below_the_threshold_and_reads_only_the_named_sample(tmp_path: Path) -> None:
    write_meta(tmp_path, "crdsync/engine/reconcile.py", RECONCILE)
    out = tmp_path / "out"
    args = ["--mutants", str(tmp_path), "--out", str(out), "--no-diffs"]
    assert report.main(args) == 1  # 60%
    assert report.main([*args, "--threshold", "60"]) == 0
    sample = tmp_path / "sample.txt"
    sample.write_text("crdsync.engine.reconcile.xǁReconcilerǁreconcile__mutmut_1\n")
    assert report.main([*args, "--names-file", str(sample)]) == 0
    assert json.loads((out / "summary.json").read_text())["overall"]["judged"] == 1


def test_function_names_read_back_from_mutmut_names() -> None:
    mutant = report.Mutant("crdsync.engine.queue.xǁWorkQueueǁget__mutmut_7", "crdsync/engine/queue.py", "killed", None)
    assert (mutant.package, mutant.function) == ("crdsync.engine", "WorkQueue.get")
    method = report.Mutant("crdsync.engine.keys.xǁReferenceIndexǁupdate__mutmut_1", "crdsync/engine/keys.py", "", None)
    assert method.function == "ReferenceIndex.update"  # a class name ending in x
    function = report.Mutant("crdsync.translate.names.x_x_name__mutmut_1", "crdsync/translate/names.py", "killed", None)
    assert function.function == "x_name"
