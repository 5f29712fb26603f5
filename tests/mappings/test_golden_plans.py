"""Golden `crdsync plan` output for every shipped mapping, on the operators' own documented examples.

Adding a mapping = adding `samples/<mapping name>/`: one or more multi-document YAML files of objects as a tenant
writes them in its virtual cluster (`*.host.yaml`: objects as the host admin writes them, planned `--from host`).
Each file's plan (vcluster `team-a`, host namespace `vc-team-a`) is checked in as `golden/<mapping>/<file>` and
compared here byte for byte, so every change of what a host receives shows up in review. Rule locations in the
plan's comments (`at mappings/x.yaml:12:7`) are left out: editing a mapping's comments must not touch the goldens.

Regenerate after an intended change with `CRDSYNC_UPDATE_GOLDEN=1 pytest tests/mappings` (or `--update-golden`),
then read the diff. A mapping without samples, samples without a mapping and goldens without samples all fail.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from crdsync.cli import main

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS_DIR = ROOT / "mappings"
HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "samples"
GOLDEN = HERE / "golden"
HOST_NAMESPACE, VCLUSTER = "vc-team-a", "team-a"
UPDATE_ENV = "CRDSYNC_UPDATE_GOLDEN"
_RULE_LOCATION = re.compile(r" at mappings/[^ :]+:\d+:\d+")


def mapping_names() -> list[str]:
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*/*.yaml"))


def from_host(sample: Path) -> bool:
    return sample.name.endswith(".host.yaml")


def golden_path(sample: Path) -> Path:
    return GOLDEN / sample.parent.name / sample.name


def plan_text(sample: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The plan of one sample file, as `crdsync plan` prints it, rule locations left out. Fails unless exit 0."""
    monkeypatch.chdir(ROOT)  # relative paths in the output, whatever the working directory of the run
    mapping = Path("mappings") / f"{sample.parent.name}.yaml"
    argv = ["plan", "--mapping", str(mapping), "--host-namespace", HOST_NAMESPACE, "--vcluster", VCLUSTER]
    argv += ["-f", str(sample.relative_to(ROOT)), "--from", "host" if from_host(sample) else "virtual"]
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, f"crdsync plan failed on {sample.relative_to(ROOT)}:\n{err}"
    return _RULE_LOCATION.sub("", out)


def updating(config: pytest.Config) -> bool:
    return bool(os.environ.get(UPDATE_ENV)) or bool(config.getoption("--update-golden", default=False))


@pytest.mark.parametrize("sample", sample_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_plan_matches_golden(
    sample: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = plan_text(sample, capsys, monkeypatch)
    golden = golden_path(sample)
    if updating(request.config):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
        return
    assert golden.is_file(), f"no golden plan {golden.relative_to(ROOT)}; run with {UPDATE_ENV}=1 and review it"
    assert text == golden.read_text(), (
        f"plan of {sample.relative_to(ROOT)} differs from {golden.relative_to(ROOT)}; if intended, regenerate with "
        f"{UPDATE_ENV}=1 and review the diff"
    )


def test_every_mapping_has_samples() -> None:
    missing = [name for name in mapping_names() if not list((SAMPLES / name).glob("*.yaml"))]
    assert missing == [], f"mappings without samples (add tests/mappings/samples/<name>/*.yaml): {missing}"


def test_every_samples_folder_has_a_mapping() -> None:
    orphans = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and p.name not in mapping_names())
    assert orphans == [], f"samples of no mapping in mappings/: {orphans}"


def test_every_golden_has_a_sample(request: pytest.FixtureRequest) -> None:
    samples = {golden_path(s) for s in sample_files()}
    stale = sorted(str(p.relative_to(ROOT)) for p in GOLDEN.glob("*/*.yaml") if p not in samples)
    if updating(request.config):
        for path in stale:
            (ROOT / path).unlink()
        return
    assert stale == [], f"goldens without a sample (delete them): {stale}"
