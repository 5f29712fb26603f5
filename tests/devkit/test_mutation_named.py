"""devkit.mutation.named: reading named_mutations.json, applying a mutation, and judging it in a scratch copy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from devkit.mutation import named

ENTRY = {
    "name": "off-by-one",
    "file": "crdsync/calc.py",
    "before": "return a + b",
    "after": "return a + b + 1",
    "why": "sums must be exact",
}


def spec_text(*entries: dict[str, str]) -> str:
    return json.dumps(list(entries))


def test_parse_reads_every_field_and_remembers_the_spec() -> None:
    (m,) = named.parse(spec_text(ENTRY), "tests/x/named_mutations.json")
    assert (m.name, m.file, m.before, m.after, m.why) == tuple(ENTRY.values())
    assert m.spec == "tests/x/named_mutations.json"


def test_parse_accepts_an_empty_after_which_deletes_the_snippet() -> None:
    (m,) = named.parse(spec_text({**ENTRY, "after": ""}), "s")
    assert m.after == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        (json.dumps({"name": "x"}), "must hold a list"),
        (json.dumps(["x"]), "must be an object"),
        (spec_text({k: v for k, v in ENTRY.items() if k != "why"}), "needs strings for why"),
        (spec_text({**ENTRY, "name": " "}), "needs strings for name"),
        (spec_text({**ENTRY, "before": 3}), "needs strings for before"),  # type: ignore[dict-item]
        (spec_text({**ENTRY, "extra": "y"}), "unknown fields extra"),
        (spec_text({**ENTRY, "after": ENTRY["before"]}), "nothing would change"),
        (spec_text({**ENTRY, "file": "/etc/passwd"}), "relative to the repository root"),
        (spec_text({**ENTRY, "file": "../elsewhere.py"}), "relative to the repository root"),
    ],
)
def test_parse_refuses_malformed_specs(text: str, message: str) -> None:
    with pytest.raises(named.SpecError, match=message):
        named.parse(text, "s")


def test_load_refuses_a_name_used_twice_across_files(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "named_mutations.json").write_text(spec_text(ENTRY))
    with pytest.raises(named.SpecError, match="used twice"):
        named.load([tmp_path / "a" / "named_mutations.json", tmp_path / "b" / "named_mutations.json"], tmp_path)


def test_find_specs_looks_under_tests_only_and_skips_generated_trees(tmp_path: Path) -> None:
    for where in ("tests/engine", "tests/translate/deep", "mutants/tests/engine", "crdsync"):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "named_mutations.json").write_text("[]")
    found = [p.relative_to(tmp_path).as_posix() for p in named.find_specs(tmp_path)]
    assert found == ["tests/engine/named_mutations.json", "tests/translate/deep/named_mutations.json"]


def test_applied_replaces_the_one_occurrence() -> None:
    (m,) = named.parse(spec_text(ENTRY), "s")
    assert named.applied("def f(a, b):\n    return a + b\n", m) == "def f(a, b):\n    return a + b + 1\n"


@pytest.mark.parametrize("source", ["x = 1\n", "return a + b\nreturn a + b\n"])
def test_applied_refuses_a_snippet_not_found_exactly_once(source: str) -> None:
    (m,) = named.parse(spec_text(ENTRY), "s")
    with pytest.raises(ValueError, match=f"occurs {source.count(m.before)} times"):
        named.applied(source, m)


def test_problem_names_a_missing_file_a_missing_snippet_and_code_that_does_not_compile(tmp_path: Path) -> None:
    (tmp_path / "crdsync").mkdir()
    (m,) = named.parse(spec_text(ENTRY), "s")
    assert named.problem(tmp_path, m) == "no file crdsync/calc.py"
    (tmp_path / "crdsync" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    assert "occurs 0 times" in (named.problem(tmp_path, m) or "")
    (tmp_path / "crdsync" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    assert named.problem(tmp_path, m) is None
    (broken,) = named.parse(spec_text({**ENTRY, "after": "return a +"}), "s")
    assert "does not compile" in (named.problem(tmp_path, broken) or "")


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(0, "survived"), (1, "killed"), (2, "killed"), (None, "killed"), (3, "error"), (4, "error"), (5, "error")],
)
def test_judge_counts_only_failing_or_hanging_tests_as_a_kill(status: int | None, verdict: str) -> None:
    assert named.judge(status, "evidence")[0] == verdict


def test_first_failure_is_the_failing_test_id() -> None:
    output = "F\n=== short test summary info ===\nFAILED tests/test_calc.py::test_add - assert 4 == 3\n1 failed\n"
    assert named.first_failure(output) == "tests/test_calc.py::test_add"


def make_repo(root: Path) -> None:
    (root / "crdsync").mkdir(parents=True)
    (root / "crdsync" / "__init__.py").write_text("")
    (root / "crdsync" / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef unused():\n    return 1\n")
    (root / "tests").mkdir()
    test = "from crdsync.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    (root / "tests" / "test_calc.py").write_text(test)


def test_check_applies_each_mutation_in_a_copy_and_judges_it_by_the_tests(tmp_path: Path) -> None:
    make_repo(tmp_path)
    untested = {**ENTRY, "name": "untested", "before": "return 1", "after": "return 2"}
    missing = {**ENTRY, "name": "gone", "before": "return a * b"}
    mutations = named.parse(spec_text(ENTRY, untested, missing), "s")
    before = (tmp_path / "crdsync" / "calc.py").read_text()

    verdicts, broken = named.check(tmp_path, mutations, ["tests"], sys.executable, timeout=120)

    assert broken is None
    assert [(v.name, v.verdict) for v in verdicts] == [
        ("off-by-one", "killed"),
        ("untested", "survived"),
        ("gone", "invalid"),
    ]
    assert verdicts[0].detail == "tests/test_calc.py::test_add"
    assert (tmp_path / "crdsync" / "calc.py").read_text() == before  # the working tree is never touched


def test_check_gives_no_verdicts_when_the_unmutated_copy_fails(tmp_path: Path) -> None:
    make_repo(tmp_path)
    (tmp_path / "crdsync" / "calc.py").write_text("def add(a, b):\n    return a + b + 0 - 1\n")
    mutations = named.parse(spec_text({**ENTRY, "before": "+ 0", "after": "+ 2"}), "s")
    verdicts, broken = named.check(tmp_path, mutations, ["tests"], sys.executable, timeout=120)
    assert verdicts == []
    assert broken is not None and "unmutated copy fails" in broken


def test_main_exits_non_zero_when_a_mutation_survives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_repo(tmp_path)
    spec = tmp_path / "tests" / "named_mutations.json"
    spec.write_text(spec_text(ENTRY))
    assert named.main(["--root", str(tmp_path), "--tests", "tests"]) == 0
    spec.write_text(spec_text({**ENTRY, "before": "return 1", "after": "return 2"}))
    assert named.main(["--root", str(tmp_path), "--tests", "tests", "--json", str(tmp_path / "out.json")]) == 1
    assert json.loads((tmp_path / "out.json").read_text())["mutations"][0]["verdict"] == "survived"
    assert "0 of 1 killed" in capsys.readouterr().out
