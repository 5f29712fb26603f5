"""Kill rates from mutmut's results: per file, per package and overall; the survivors; a JSON summary.

mutmut 3 keeps one verdict per mutant in mutants/<source>.py.meta (its exit code; mutmut.stats maps codes to
statuses). The kill rate is

    (killed + timeout) / (killed + timeout + survived + no tests + suspicious + segfault)

A timeout is a kill (a hanging mutant fails any test run that has a time limit); a mutant no selected test reaches
("no tests") counts as surviving: the code it changes is untested. Mutants mutmut skipped or a type checker caught are
outside the fraction (this configuration produces neither). A mutant still "not checked" (or interrupted) means the run
did not finish: no rate is given for it and the check fails. Equal to mutmut's own score (`mutmut export-cicd-stats`,
`mutmut badge`) whenever the run is complete.

Writes DIR/summary.json (counts, rates, every survivor with its one-line change) and DIR/survivors.diff (each
survivor's diff as `mutmut show` prints it). Run from the repository root, after `mutmut run`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mutmut.stats import status_by_exit_code

CAUGHT = ("killed", "timeout")
MISSED = ("survived", "no tests", "suspicious", "segfault")
UNFINISHED = ("not checked", "check was interrupted by user")
THRESHOLD = 85.0


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's, e.g. crdsync.engine.reconcile.xǁReconcilerǁreconcile__mutmut_12
    source: str  # crdsync/engine/reconcile.py
    status: str
    seconds: float | None  # how long its tests ran

    @property
    def package(self) -> str:
        return ".".join(Path(self.source).parts[:2])

    @property
    def function(self) -> str:
        """The mutated function as mutmut names it, without the module and mutant number (Class.method or name)."""
        mangled = self.name.rpartition(".")[2].partition("__mutmut_")[0]
        if mangled.startswith("xǁ"):  # xǁClassǁmethod
            return mangled.removeprefix("xǁ").replace("ǁ", ".")
        return mangled.removeprefix("x_")


def read_results(mutants_dir: Path, only: Sequence[str] = (), names: Collection[str] | None = None) -> list[Mutant]:
    """Every mutant under `mutants_dir`; only those whose name matches one of the `only` globs, if any are given, and
    only those in `names`, if given."""
    found = []
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        source = meta.relative_to(mutants_dir).as_posix().removesuffix(".meta")
        durations: Mapping[str, float] = data.get("durations_by_key", {})
        for name, code in data["exit_code_by_key"].items():
            if only and not any(fnmatch.fnmatchcase(name, pattern) for pattern in only):
                continue
            if names is not None and name not in names:
                continue
            found.append(Mutant(name, source, status_by_exit_code[code], durations.get(name)))
    return found


def tally(mutants: Iterable[Mutant]) -> dict[str, Any]:
    counts = Counter(m.status for m in mutants)
    caught = sum(counts[s] for s in CAUGHT)
    judged = caught + sum(counts[s] for s in MISSED)
    unfinished = sum(counts[s] for s in UNFINISHED)
    rate = None if unfinished or not judged else caught / judged
    return {
        "mutants": sum(counts.values()),
        "counts": dict(sorted(counts.items())),
        "caught": caught,
        "judged": judged,
        "kill_rate": None if rate is None else round(100.0 * rate, 2),
        # For a random sample: the 95% normal-approximation half-width, in points, of the whole set's rate.
        "margin_95": None if rate is None else round(196.0 * (rate * (1 - rate) / judged) ** 0.5, 2),
        "unfinished": unfinished,
    }


def change(diff: str) -> str:
    """The first removed and added line of a diff, e.g. `if not name:` -> `if name:`."""
    lines = diff.splitlines()[2:]
    removed = next((line[1:].strip() for line in lines if line.startswith("-")), "")
    added = next((line[1:].strip() for line in lines if line.startswith("+")), "")
    return f"{removed} -> {added}"


def diff_of(mutant: Mutant) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # reads mutants/ relative to the current directory

    try:
        return get_diff_for_mutant(mutant.name, path=mutant.source)
    except Exception as exc:  # a report line, not a reason to lose the summary
        return f"(no diff: {exc})"


def summarize(mutants: Sequence[Mutant], diffs: bool = True) -> tuple[dict[str, Any], str]:
    """The summary (JSON-ready) and the survivors' diffs."""
    by_package: dict[str, list[Mutant]] = defaultdict(list)
    by_file: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        by_package[m.package].append(m)
        by_file[m.source].append(m)
    survivors = [m for m in mutants if m.status in MISSED]
    patches = {m.name: diff_of(m) for m in survivors} if diffs else {}
    timed = [m.seconds for m in mutants if m.seconds is not None and m.status not in ("no tests",)]
    summary = {
        "formula": "(killed + timeout) / (killed + timeout + survived + no tests + suspicious + segfault)",
        "overall": tally(mutants),
        "packages": {p: tally(ms) for p, ms in sorted(by_package.items())},
        "files": {f: tally(ms) for f, ms in sorted(by_file.items())},
        "seconds_per_tested_mutant": round(sum(timed) / len(timed), 2) if timed else None,
        "survivors": [
            {
                "name": m.name,
                "file": m.source,
                "function": m.function,
                "status": m.status,
                "change": change(patches[m.name]) if m.name in patches else None,
            }
            for m in survivors
        ],
    }
    return summary, "\n\n".join(f"# {name}\n{patch}" for name, patch in patches.items())


def render(summary: Mapping[str, Any], top: int = 5) -> str:
    def line(label: str, t: Mapping[str, Any]) -> str:
        rate = "incomplete" if t["kill_rate"] is None else f"{t['kill_rate']:6.2f}%"
        counts = ", ".join(f"{n} {s}" for s, n in t["counts"].items())
        return f"  {label:<40} {rate:>10}  {t['caught']:>5}/{t['judged']:<5}  ({counts})"

    out = [f"kill rate = {summary['formula']}"]
    out += [line(f, t) for f, t in summary["files"].items()]
    out += [line(p, t) for p, t in summary["packages"].items()]
    out.append(line("overall", summary["overall"]))
    by_file: dict[str, Counter[str]] = defaultdict(Counter)
    for s in summary["survivors"]:
        by_file[s["file"]][s["function"]] += 1
    if by_file:
        out.append(f"\nsurvivors by file (top {top} functions each; all in summary.json and survivors.diff):")
        for file, functions in sorted(by_file.items(), key=lambda kv: -sum(kv[1].values())):
            shown = ", ".join(f"{fn} {n}" for fn, n in functions.most_common(top))
            out.append(f"  {file} ({sum(functions.values())}): {shown}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.mutation.report", description=__doc__.split("\n")[0])
    parser.add_argument("only", nargs="*", help="report only mutants matching these globs (a partial run)")
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's output (default: mutants)")
    parser.add_argument("--out", type=Path, default=Path("mutation-results"), help="where summary.json goes")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="lowest passing overall kill rate, in %%")
    parser.add_argument("--no-diffs", action="store_true", help="skip the survivors' diffs (faster)")
    parser.add_argument("--names-file", type=Path, help="report only the mutants named in this file, one a line")
    args = parser.parse_args(argv)
    names = set(args.names_file.read_text(encoding="utf-8").split()) if args.names_file else None
    mutants = read_results(args.mutants, args.only, names)
    if not mutants:
        print(f"mutation report: no mutmut results in {args.mutants}", file=sys.stderr)
        return 2
    summary, diffs = summarize(mutants, diffs=not args.no_diffs)
    summary["threshold"] = args.threshold
    summary["only"] = list(args.only)
    summary["sample"] = None if names is None else {"names_file": str(args.names_file), "size": len(names)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "survivors.diff").write_text(diffs + "\n", encoding="utf-8")
    print(render(summary))
    rate = summary["overall"]["kill_rate"]
    if rate is None:
        print(f"mutation report: {summary['overall']['unfinished']} mutants not checked: the run did not finish")
        return 2
    verdict = "passes" if rate >= args.threshold else "FAILS"
    sampled = f" (a sample of {len(mutants)}: ±{summary['overall']['margin_95']} points, 95%)" if names else ""
    print(f"\noverall kill rate {rate:.2f}%{sampled} {verdict} the {args.threshold:g}% threshold")
    print(f"written: {args.out}/summary.json, {args.out}/survivors.diff")
    return 0 if rate >= args.threshold else 1


if __name__ == "__main__":
    sys.exit(main())
