"""Named mutations: hand-written breaks of crdsync that the unit suite must catch, each applied and tested alone.

mutmut's mutants are generic (swap an operator, drop an argument); a named mutation is a specific, plausible mistake
someone wrote down with the reason it matters, e.g. "drop the AlreadyExists fallback". Every
`tests/**/named_mutations.json` holds a list of

    {"name": ..., "file": "crdsync/engine/reconcile.py", "before": "<exact snippet>", "after": "<its replacement>",
     "why": "what would break, in one sentence"}

For each entry, in a scratch copy of the repository (never the working tree): replace `before`, which must occur
exactly once in `file`, by `after`; run the unit tests (default tests/engine and tests/translate, `pytest -x`); the
mutation is *killed* when they fail and *survived* when they pass. The scratch copy is tested once unmutated first,
and must pass, or no verdict would mean anything; the copy's own `crdsync` must be the one imported (not the editable
install's), which is checked before any test runs.

Exit status: 0 when every mutation is killed; 1 when one survives, or an entry is malformed, its `before` is not found
exactly once, or its result is neither pass nor fail (a pytest usage or internal error, a mutated .py that does not
compile); 2 when the unmutated scratch copy fails its tests or does not import its own crdsync. A mutation whose tests
run past --timeout counts as killed (a hang fails any run with a timeout too) and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SPEC_GLOB = "tests/**/named_mutations.json"
DEFAULT_TESTS = ("tests/engine", "tests/translate")
FIELDS = ("name", "file", "before", "after", "why")
# Not needed by the unit tests and large, or outputs that would make a stale copy (bytecode is never written: see env).
_SKIP_DIRS = {
    ".git",
    ".venv",
    ".lock-venv",
    "mutants",
    "mutation-results",
    "chaos-results",
    "build",
    "dist",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
}


class SpecError(ValueError):
    """A named_mutations.json that is not a list of well-formed entries."""


@dataclass(frozen=True)
class NamedMutation:
    name: str
    file: str  # relative to the repository root, "/"-separated
    before: str
    after: str
    why: str
    spec: str  # the named_mutations.json it came from, for messages


@dataclass(frozen=True)
class Verdict:
    name: str
    verdict: str  # killed | survived | invalid | error
    detail: str  # the first failing test, or what is wrong
    seconds: float


def find_specs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob(SPEC_GLOB) if not _SKIP_DIRS.intersection(p.relative_to(root).parts))


def parse(text: str, spec: str) -> list[NamedMutation]:
    """The entries of one named_mutations.json; SpecError names the first thing wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{spec}: not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise SpecError(f"{spec}: must hold a list of mutations, not {type(data).__name__}")
    mutations = []
    for index, entry in enumerate(data):
        where = f"{spec}[{index}]"
        if not isinstance(entry, dict):
            raise SpecError(f"{where}: must be an object with {', '.join(FIELDS)}")
        # `after` may be empty (the mutation deletes `before`); every other field must say something.
        missing = [f for f in FIELDS if not isinstance(entry.get(f), str) or (f != "after" and not entry[f].strip())]
        if missing:
            raise SpecError(f"{where}: needs strings for {', '.join(missing)} (all but `after` non-empty)")
        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            raise SpecError(f"{where}: unknown fields {', '.join(unknown)}")
        if entry["before"] == entry["after"]:
            raise SpecError(f"{where} ({entry['name']}): after equals before, nothing would change")
        file = entry["file"]
        if Path(file).is_absolute() or ".." in Path(file).parts:
            raise SpecError(f"{where} ({entry['name']}): file must be relative to the repository root: {file}")
        mutations.append(NamedMutation(**{f: entry[f] for f in FIELDS}, spec=spec))
    return mutations


def load(specs: Sequence[Path], root: Path) -> list[NamedMutation]:
    mutations: list[NamedMutation] = []
    for path in specs:
        shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        mutations += parse(path.read_text(encoding="utf-8"), shown)
    seen: dict[str, str] = {}
    for m in mutations:
        if m.name in seen:
            raise SpecError(f"mutation name {m.name!r} used twice ({seen[m.name]} and {m.spec})")
        seen[m.name] = m.spec
    return mutations


def applied(source: str, mutation: NamedMutation) -> str:
    """`source` with the mutation's `before` replaced; ValueError unless it occurs exactly once."""
    count = source.count(mutation.before)
    if count != 1:
        raise ValueError(f"`before` occurs {count} times in {mutation.file}, not exactly once")
    return source.replace(mutation.before, mutation.after, 1)


def problem(root: Path, mutation: NamedMutation) -> str | None:
    """Why `mutation` cannot be applied to the tree at `root`, or None."""
    path = root / mutation.file
    if not path.is_file():
        return f"no file {mutation.file}"
    try:
        mutated = applied(path.read_text(encoding="utf-8"), mutation)
    except ValueError as exc:
        return str(exc)
    if path.suffix == ".py":
        try:
            compile(mutated, str(path), "exec")
        except SyntaxError as exc:
            return f"the mutated {mutation.file} does not compile: {exc.msg} (line {exc.lineno})"
    return None


@contextmanager
def scratch_copy(root: Path) -> Iterator[Path]:
    """A throwaway copy of the repository (symlinks kept as links, so crdsync/resources still points at mappings/)."""
    with tempfile.TemporaryDirectory(prefix="crdsync-named-") as tmp:
        dest = Path(tmp) / "repo"
        shutil.copytree(
            root,
            dest,
            symlinks=True,
            ignore=lambda _dir, names: [n for n in names if n in _SKIP_DIRS or n.endswith(".egg-info")],
        )
        yield dest


def _env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The copy's crdsync ahead of the editable install (whose finder comes after sys.path); and no bytecode: a
    # mutation can keep a file's size and mtime second, and a stale .pyc would then run the unmutated code.
    env["PYTHONPATH"] = str(scratch)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("MUTANT_UNDER_TEST", None)
    return env


def imports_copy(scratch: Path, python: str) -> str | None:
    """None when `import crdsync` in the scratch copy loads the copy; else where it came from."""
    done = subprocess.run(
        [python, "-c", "import crdsync; print(crdsync.__file__)"],
        cwd=scratch,
        env=_env(scratch),
        capture_output=True,
        text=True,
        check=False,
    )
    where = done.stdout.strip() or done.stderr.strip()
    if done.returncode == 0 and Path(where).resolve().is_relative_to(scratch.resolve()):
        return None
    return where


def run_tests(scratch: Path, tests: Sequence[str], python: str, timeout: float) -> tuple[int | None, str]:
    """pytest's exit status (None: timed out) and the first failing test or error line."""
    cmd = [python, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0"]
    try:
        done = subprocess.run(cmd, cwd=scratch, env=_env(scratch), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"no result after {timeout:.0f}s"
    return done.returncode, first_failure(done.stdout + done.stderr)


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1].split(" - ", 1)[0]
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def judge(status: int | None, evidence: str) -> tuple[str, str]:
    """(verdict, detail) for a mutation from pytest's exit status."""
    if status is None:
        return "killed", f"timeout: {evidence}"
    if status == 0:
        return "survived", "the tests pass"
    if status == 1:
        return "killed", evidence
    if status == 2:  # collection errors: the mutation broke an import the tests make
        return "killed", f"collection error: {evidence}"
    return "error", f"pytest exit status {status}: {evidence}"


def check(
    root: Path, mutations: Sequence[NamedMutation], tests: Sequence[str], python: str, timeout: float
) -> tuple[list[Verdict], str | None]:
    """Each mutation's verdict, or a reason no verdict can be given (the scratch copy itself is broken)."""
    verdicts = []
    runnable = []
    for m in mutations:
        why_not = problem(root, m)
        if why_not:
            verdicts.append(Verdict(m.name, "invalid", why_not, 0.0))
        else:
            runnable.append(m)
    if not runnable:
        return verdicts, None
    with scratch_copy(root) as scratch:
        where = imports_copy(scratch, python)
        if where is not None:
            return verdicts, f"the scratch copy imports crdsync from {where}, not from the copy"
        start = time.monotonic()
        status, evidence = run_tests(scratch, tests, python, timeout)
        if status != 0:
            return verdicts, f"the unmutated copy fails its tests (status {status}): {evidence}"
        print(f"unmutated: tests pass in {time.monotonic() - start:.0f}s", flush=True)
        for m in runnable:
            path = scratch / m.file
            original = path.read_text(encoding="utf-8")
            path.write_text(applied(original, m), encoding="utf-8")
            start = time.monotonic()
            try:
                status, evidence = run_tests(scratch, tests, python, timeout)
            finally:
                path.write_text(original, encoding="utf-8")
            verdict, detail = judge(status, evidence)
            verdicts.append(Verdict(m.name, verdict, detail, time.monotonic() - start))
            print(f"  {m.name}: {verdict}", flush=True)
    order = {m.name: i for i, m in enumerate(mutations)}
    return sorted(verdicts, key=lambda v: order[v.name]), None


def table(verdicts: Sequence[Verdict]) -> str:
    width = max([len("mutation"), *(len(v.name) for v in verdicts)])
    rows = [f"{'mutation':<{width}}  {'verdict':<8}  {'secs':>5}  evidence"]
    rows += [f"{v.name:<{width}}  {v.verdict:<8}  {v.seconds:5.0f}  {v.detail}" for v in verdicts]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.mutation.named", description=__doc__.split("\n")[0])
    parser.add_argument("specs", nargs="*", type=Path, help=f"named_mutations.json files (default: {SPEC_GLOB})")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: .)")
    parser.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="pytest arguments selecting tests")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one test run may take")
    parser.add_argument("--json", type=Path, help="also write the verdicts here")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    specs = [p.resolve() for p in args.specs] or find_specs(root)
    if not specs:
        print(f"named mutations: no {SPEC_GLOB} under {root}", file=sys.stderr)
        return 1
    try:
        mutations = load(specs, root)
    except (SpecError, OSError) as exc:
        print(f"named mutations: {exc}", file=sys.stderr)
        return 1
    print(f"named mutations: {len(mutations)} from {len(specs)} file(s); tests: {' '.join(args.tests)}", flush=True)
    verdicts, broken = check(root, mutations, args.tests, sys.executable, args.timeout)
    if broken:
        print(f"named mutations: no verdicts: {broken}", file=sys.stderr)
        return 2
    print(table(verdicts))
    by_name = {m.name: m for m in mutations}
    for v in verdicts:
        if v.verdict != "killed":
            m = by_name[v.name]
            print(f"\n{v.name} {v.verdict} ({m.spec}): {m.why}\n  {m.file}: {m.before!r} -> {m.after!r}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {"tests": args.tests, "mutations": [asdict(v) for v in verdicts]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    bad = [v for v in verdicts if v.verdict != "killed"]
    print(f"\nnamed mutations: {len(verdicts) - len(bad)} of {len(verdicts)} killed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
